"""Tuning of the WhatsApp reconcile (from the ``health_reconcile`` Variable), validated: an unknown
key or a bad value is refused with its name."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import timedelta
from typing import Any
from collections.abc import Mapping


@dataclass(frozen=True)
class ReconcileSettings:
    """Tuning of the reconciliation; :meth:`from_mapping` builds it from a DAG param or Variable."""

    missing_checks_before_disconnect: int = 2
    connected_checks_before_connect: int = 2
    max_reconnect_attempts: int = 3
    max_reconnects_per_run: int = 5
    reconnect_backoff_seconds: float = 600.0
    triggered_by: str = "health_reconcile"

    def __post_init__(self) -> None:
        for name in ("missing_checks_before_disconnect", "connected_checks_before_connect"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be at least 1, not {getattr(self, name)!r}")
        for name in ("max_reconnect_attempts", "max_reconnects_per_run", "reconnect_backoff_seconds"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative, not {getattr(self, name)!r}")

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any] | None) -> ReconcileSettings:
        """Settings from e.g. a JSON Variable; unknown keys are refused (a typo must not be ignored)."""
        values = dict(values or {})
        known = {f.name: f.type for f in fields(cls)}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ValueError(f"unknown WhatsApp reconcile setting(s) {', '.join(unknown)}; known: {', '.join(known)}")
        converted: dict[str, Any] = {}
        for name, value in values.items():
            converted[name] = (str(value) if name == "triggered_by"
                               else float(value) if name == "reconnect_backoff_seconds" else int(value))
        return cls(**converted)

    def backoff_after(self, attempts: int) -> timedelta:
        """Wait before the next attempt once ``attempts`` were made: base, then doubling."""
        return timedelta(seconds=self.reconnect_backoff_seconds * 2 ** max(attempts - 1, 0))
