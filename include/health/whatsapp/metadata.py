"""The account's ``metadata`` JSON: the audit keys this job writes, merged without touching any
other key, and text that is not a JSON object kept rather than overwritten."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

# Audit keys named by the design (seed 003's metadata example).
AUTO_DISCONNECTED_AT = "auto_disconnected_at"
REASON = "reason"
AUTO_RECONNECT_AT = "auto_reconnect_at"
RECONNECT_TRIGGERED_BY = "reconnect_triggered_by"
# Keys of this module: the audit of the other direction, the flap guard, the reconnect budget.
AUTO_CONNECTED_AT = "auto_connected_at"
MISSING_COUNT = "health_missing_count"
CONNECTED_COUNT = "health_connected_count"
RECONNECT_PENDING = "reconnect_pending"
RECONNECT_ATTEMPTS = "reconnect_attempts"
LAST_RECONNECT_AT = "last_reconnect_at"
LAST_RECONNECT_ERROR = "last_reconnect_error"
PREVIOUS_METADATA = "previous_metadata"
# A person's Reconnect on the console: when, who (their Airflow user name), what the service did.
RECONNECT_REQUESTED_AT = "reconnect_requested_at"
RECONNECT_REQUESTED_BY = "reconnect_requested_by"
RECONNECT_REQUESTED_OUTCOME = "reconnect_requested_outcome"
OWN_KEYS = (AUTO_DISCONNECTED_AT, REASON, AUTO_RECONNECT_AT, RECONNECT_TRIGGERED_BY, AUTO_CONNECTED_AT,
            MISSING_COUNT, CONNECTED_COUNT, RECONNECT_PENDING, RECONNECT_ATTEMPTS, LAST_RECONNECT_AT,
            LAST_RECONNECT_ERROR, PREVIOUS_METADATA, RECONNECT_REQUESTED_AT, RECONNECT_REQUESTED_BY,
            RECONNECT_REQUESTED_OUTCOME)


def parse_metadata(value: Any) -> tuple[dict[str, Any], str | None]:
    """The stored metadata as a dict, plus its raw text when it was not a JSON object (so a merge
    can keep it instead of overwriting it)."""
    if value is None:
        return {}, None
    if isinstance(value, Mapping):
        return dict(value), None
    if isinstance(value, (bytes, bytearray, memoryview)):
        value = bytes(value).decode("utf-8", "replace")
    text = str(value)
    if not text.strip():
        return {}, None
    try:
        parsed = json.loads(text)
    except ValueError:
        return {}, text
    if parsed is None:
        return {}, None
    return (parsed, None) if isinstance(parsed, dict) else ({}, text)


def merge_metadata(current: Mapping[str, Any], unparsed: str | None, set_meta: Mapping[str, Any],
                   drop_meta: tuple[str, ...] = ()) -> dict[str, Any]:
    """``current`` with ``set_meta`` merged in and this module's ``drop_meta`` keys removed; every
    other key is kept as it was."""
    own_drops = [key for key in drop_meta if key in OWN_KEYS]  # never remove a key of the web app
    merged = {k: v for k, v in current.items() if k not in own_drops}
    if unparsed is not None and PREVIOUS_METADATA not in merged:
        merged[PREVIOUS_METADATA] = unparsed
    merged.update(set_meta)
    return merged


def dump_metadata(metadata: Mapping[str, Any]) -> str:
    return json.dumps(metadata, separators=(",", ":"), default=str)


def count_value(value: Any) -> int:
    """A counter kept in metadata, as a non-negative int (0 for anything unreadable)."""
    try:
        return max(int(value), 0)
    except (TypeError, ValueError):
        return 0


def present_keys(meta: Mapping[str, Any], *keys: str) -> tuple[str, ...]:
    """The keys among ``keys`` that the metadata holds: dropping only those avoids no-op writes."""
    return tuple(key for key in keys if key in meta)
