"""Every WhatsApp account as the health job sees it (``whatsapp-status`` and the web console):
database status, what the service last said (``whatsapp_service_sessions``), the flap-guard
counts, the last audit entries, reconnect attempts and back-off, and the uptime of the last 24
hours and 7 days with the checks it is based on (``whatsapp_session_checks``).
Read from ``app_db`` in three statements (the totals per workspace and status, the accounts,
optionally one page of them, and their checks per window); the rest is derived from each
account's ``metadata`` (pure). Plain dicts out, timestamps ISO-8601 UTC."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from include.common.clock import iso_z, parse_iso, utcnow
from include.common.db import Cursor, Database
from include.health.whatsapp import uptime
from include.health.whatsapp.accounts import ACCOUNTS
from include.health.whatsapp.metadata import (
    AUTO_CONNECTED_AT, AUTO_DISCONNECTED_AT, AUTO_RECONNECT_AT, CONNECTED_COUNT, LAST_RECONNECT_AT,
    LAST_RECONNECT_ERROR, MISSING_COUNT, REASON, RECONNECT_ATTEMPTS, RECONNECT_PENDING, RECONNECT_REQUESTED_AT,
    RECONNECT_REQUESTED_BY, RECONNECT_REQUESTED_OUTCOME, RECONNECT_TRIGGERED_BY, count_value, parse_metadata,
)
from include.health.whatsapp.settings import ReconcileSettings
from include.health.whatsapp.sightings import SIGHTINGS


def _iso(value: Any) -> str | None:
    parsed = parse_iso(value) if isinstance(value, str) else None
    return iso_z(parsed) if parsed else (None if value is None else str(value))


def _iso_ts(value: Any) -> str | None:
    parsed = Database.parse_ts(value)
    return iso_z(parsed) if parsed else None


def account_status(row: Mapping[str, Any], settings: ReconcileSettings, now: datetime,
                   checks: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """One account row (metadata as stored), and its :func:`uptime.uptime_rows` row, as the status
    dict (pure)."""
    meta, unparsed = parse_metadata(row.get("metadata"))
    attempts = count_value(meta.get(RECONNECT_ATTEMPTS))
    last = parse_iso(meta.get(LAST_RECONNECT_AT))
    cap = settings.max_reconnect_attempts
    next_at = last + settings.backoff_after(attempts) if attempts and last is not None and attempts < cap else None
    pending = meta.get(RECONNECT_PENDING) is True
    if attempts >= cap and pending:
        reconnect_state = "capped"  # needs a manual reconnect (scan the QR code again)
    elif next_at is not None and now < next_at and pending:
        reconnect_state = "backing_off"
    elif pending:
        reconnect_state = "due"
    else:
        reconnect_state = None
    return {
        "id": int(row["id"]), "uuid": row.get("uuid"), "workspace_id": row.get("workspace_id"),
        "session_id": row.get("session_id"), "phone_number": row.get("phone_number"),
        "status": str(row.get("status") or "").lower(), "is_active": bool(row.get("is_active")),
        "updated_at": _iso(row["updated_at"].isoformat() if isinstance(row.get("updated_at"), datetime)
                           else row.get("updated_at")),
        "flap_guard": {
            "missing_count": count_value(meta.get(MISSING_COUNT)),
            "missing_needed": settings.missing_checks_before_disconnect,
            "connected_count": count_value(meta.get(CONNECTED_COUNT)),
            "connected_needed": settings.connected_checks_before_connect,
        },
        "audit": {
            "auto_disconnected_at": _iso(meta.get(AUTO_DISCONNECTED_AT)), "reason": meta.get(REASON),
            "auto_reconnect_at": _iso(meta.get(AUTO_RECONNECT_AT)),
            "reconnect_triggered_by": meta.get(RECONNECT_TRIGGERED_BY),
            "auto_connected_at": _iso(meta.get(AUTO_CONNECTED_AT)),
        },
        "reconnect": {
            "pending": pending, "attempts": attempts, "max_attempts": cap,
            "last_attempt_at": _iso(meta.get(LAST_RECONNECT_AT)), "last_error": meta.get(LAST_RECONNECT_ERROR),
            "next_attempt_at": iso_z(next_at) if next_at is not None else None, "state": reconnect_state,
        },
        "service": {
            "status": row.get("service_status"), "since": _iso_ts(row.get("status_since")),
            "checked_at": _iso_ts(row.get("checked_at")),
        },
        "uptime": uptime.uptime(checks),
        "manual_reconnect": {"requested_at": _iso(meta.get(RECONNECT_REQUESTED_AT)),
                             "requested_by": meta.get(RECONNECT_REQUESTED_BY),
                             "outcome": meta.get(RECONNECT_REQUESTED_OUTCOME)},
        "metadata_unreadable": unparsed is not None,
    }


def whatsapp_status(db: Database, workspace: int | None = None, settings: ReconcileSettings | None = None,
                    now: datetime | None = None, *, limit: int | None = None, offset: int = 0) -> dict[str, Any]:
    """Every account (active or not), optionally of one workspace, in id order (a page of ``limit``
    from ``offset`` when given), plus totals per workspace and status over all of them (``total``
    accounts in all). Two statements in one transaction, whatever the number of accounts."""
    settings = settings or ReconcileSettings()
    now = (now or utcnow()).astimezone(timezone.utc)
    table = db.quote(ACCOUNTS)
    # both statements name the accounts table ``a``, so one filter serves them
    where, params = ("WHERE a.workspace_id = %s", [int(workspace)]) if workspace is not None else ("", [])
    page, page_params = ("", []) if limit is None else (" LIMIT %s OFFSET %s", [int(limit), int(offset)])

    def work(cur: Cursor) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[int, dict[str, Any]]]:
        totals = cur.fetch(f"SELECT a.workspace_id, a.status, COUNT(*) AS n FROM {table} a {where} "
                           f"GROUP BY a.workspace_id, a.status", params)
        rows = cur.fetch(f"SELECT a.id, a.uuid, a.workspace_id, a.session_id, a.phone_number, a.status, a.is_active, "
                         f"a.metadata, a.updated_at, s.service_status, s.status_since, s.checked_at FROM {table} a "
                         f"LEFT JOIN {db.quote(SIGHTINGS)} s ON s.account_id = a.id {where} "
                         f"ORDER BY a.id{page}", [*params, *page_params])
        checks = uptime.uptime_rows(db, cur, [int(r["id"]) for r in rows], now) if rows else {}
        return totals, rows, checks

    totals, rows, checks = db.run(work, what="read WhatsApp accounts")
    workspaces: dict[str, dict[str, int]] = {}
    for r in sorted(totals, key=lambda r: (str(r["workspace_id"]), str(r["status"] or "").lower())):
        counts = workspaces.setdefault(str(r["workspace_id"]), {})
        status = str(r["status"] or "").lower()
        counts[status] = counts.get(status, 0) + int(r["n"])
    return {"checked_at": iso_z(now), "workspace": workspace, "total": sum(int(r["n"]) for r in totals),
            "accounts": [account_status(r, settings, now, checks.get(int(r["id"]))) for r in rows],
            "workspaces": workspaces, "uptime_windows": list(uptime.WINDOWS),
            "settings": {"missing_checks_before_disconnect": settings.missing_checks_before_disconnect,
                         "connected_checks_before_connect": settings.connected_checks_before_connect,
                         "max_reconnect_attempts": settings.max_reconnect_attempts,
                         "reconnect_backoff_seconds": settings.reconnect_backoff_seconds}}
