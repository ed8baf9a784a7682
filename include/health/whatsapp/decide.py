"""What to do with one account given what the service says: a pure decision (no I/O), beside its
write side in ``reconcile.py``."""

from __future__ import annotations

from dataclasses import dataclass, field
from collections.abc import Mapping
from typing import Any

from include.health.whatsapp.accounts import Account
from include.health.whatsapp.client import Session
from include.health.whatsapp.metadata import (
    AUTO_CONNECTED_AT, AUTO_DISCONNECTED_AT, CONNECTED_COUNT, LAST_RECONNECT_ERROR, MISSING_COUNT, REASON,
    RECONNECT_ATTEMPTS, RECONNECT_PENDING, count_value, present_keys,
)
from include.health.whatsapp.settings import ReconcileSettings

# Statuses of a session that is starting up: the service is working on it, so wait.
TRANSITIONAL = frozenset({"initializing", "qr_required", "starting", "opening", "connecting"})
# Statuses of a session the service holds but that is not working.
BROKEN = frozenset({"disconnected", "failed"})

REASON_MISSING = "Session not found in WhatsApp service during health reconcile"


@dataclass(frozen=True)
class Decision:
    """The status/metadata change one observation calls for (pure; nothing written yet)."""

    action: str  # in_sync, awaiting_confirmation, mark_disconnected, mark_connected, skipped_initializing
    detail: str
    new_status: str | None = None
    set_meta: Mapping[str, Any] = field(default_factory=dict)
    drop_meta: tuple[str, ...] = ()
    mismatch: bool = False
    reconnect: bool = False  # a candidate for re-creation (if auto-reconnect is on and the gates allow)


def decide(account: Account, remote: Session | None, settings: ReconcileSettings, stamp: str) -> Decision:
    """What one observation of one account calls for. Pure, so tests and dry runs share it."""
    if remote is not None and remote.status in TRANSITIONAL:
        # Starting sessions are the service's business; a miss streak is broken by seeing it.
        return Decision("skipped_initializing", f"service reports {remote.status!r}; left alone while it starts",
                        drop_meta=present_keys(account.metadata, MISSING_COUNT, CONNECTED_COUNT))
    if remote is not None and remote.status == "connected":
        return _seen_connected(account, settings, stamp)
    if remote is not None and remote.status not in BROKEN:
        return Decision("skipped_initializing", f"service reports unknown status {remote.status!r}; left alone",
                        drop_meta=present_keys(account.metadata, MISSING_COUNT, CONNECTED_COUNT))
    return _seen_gone(account, remote, settings, stamp)


def _seen_connected(account: Account, settings: ReconcileSettings, stamp: str) -> Decision:
    meta = account.metadata
    if account.status == "connected":
        return Decision("in_sync", "connected in both",
                        drop_meta=present_keys(meta, MISSING_COUNT, CONNECTED_COUNT, RECONNECT_PENDING,
                                           RECONNECT_ATTEMPTS, LAST_RECONNECT_ERROR))
    seen = count_value(meta.get(CONNECTED_COUNT)) + 1
    needed = settings.connected_checks_before_connect
    if seen < needed:
        return Decision("awaiting_confirmation",
                        f"service reports connected, database {account.status!r}; seen {seen} of {needed} times",
                        set_meta={CONNECTED_COUNT: seen}, drop_meta=present_keys(meta, MISSING_COUNT), mismatch=True)
    return Decision("mark_connected", f"service reports connected; database said {account.status!r}",
                    new_status="connected", set_meta={AUTO_CONNECTED_AT: stamp},
                    drop_meta=present_keys(meta, MISSING_COUNT, CONNECTED_COUNT, RECONNECT_PENDING, RECONNECT_ATTEMPTS,
                                       LAST_RECONNECT_ERROR),
                    mismatch=True)


def _seen_gone(account: Account, remote: Session | None, settings: ReconcileSettings, stamp: str) -> Decision:
    """The service lacks the session (``remote is None``) or holds it ``disconnected``/``failed``."""
    meta = account.metadata
    # A missing session can be created again; one the service holds only if it can start it again
    # (WAHA STOPPED, Evolution close); the seed's service would answer 409.
    revivable = remote is None or remote.restartable
    where = "not found in service" if remote is None else f"service reports {remote.status!r}"
    if account.status != "connected":
        # In agreement. A session this module disconnected (pending) and the service still lacks
        # is retried; one the user disconnected is never re-created behind their back.
        retry = revivable and account.status == "disconnected" and meta.get(RECONNECT_PENDING) is True
        return Decision("in_sync", f"{where}; database {account.status!r}", reconnect=retry,
                        drop_meta=present_keys(meta, CONNECTED_COUNT))
    missed = count_value(meta.get(MISSING_COUNT)) + 1
    needed = settings.missing_checks_before_disconnect
    if missed < needed:
        return Decision("awaiting_confirmation", f"{where}; miss {missed} of {needed} before marking disconnected",
                        set_meta={MISSING_COUNT: missed}, drop_meta=present_keys(meta, CONNECTED_COUNT), mismatch=True)
    reason = REASON_MISSING if remote is None else \
        f"WhatsApp service reports session {remote.status!r} during health reconcile"
    return Decision("mark_disconnected", f"{where} on {missed} consecutive checks; database said 'connected'",
                    new_status="disconnected",
                    set_meta={AUTO_DISCONNECTED_AT: stamp, REASON: reason, RECONNECT_PENDING: revivable},
                    drop_meta=present_keys(meta, MISSING_COUNT, CONNECTED_COUNT), mismatch=True,
                    reconnect=revivable)
