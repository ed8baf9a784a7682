"""The WhatsApp accounts of ``app_db.whatsapp_accounts``: database status, the flap-guard counts,
the audit entries and the reconnect budget the health job keeps in each account's metadata."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from include.common.text import iso_utc, to_utc
from include.console.params import Page
from include.console.reader import Reader
from include.health.whatsapp import metadata as m
from include.health.whatsapp.accounts import ACCOUNTS
from include.health.whatsapp.settings import ReconcileSettings


def account_to_json(row: dict[str, Any], settings: ReconcileSettings) -> dict[str, Any]:
    meta, unparsed = m.parse_metadata(row.get("metadata"))
    attempts = m.count_value(meta.get(m.RECONNECT_ATTEMPTS))
    last = meta.get(m.LAST_RECONNECT_AT)
    next_at = None
    if last and attempts:
        try:
            next_at = iso_utc(to_utc(str(last)) + settings.backoff_after(attempts))
        except (TypeError, ValueError):
            next_at = None
    return {
        "id": int(row["id"]), "uuid": row.get("uuid"), "workspace_id": row.get("workspace_id"),
        "session_id": row.get("session_id"), "phone_number": row.get("phone_number"),
        "status": str(row.get("status") or "").lower(), "is_active": bool(row.get("is_active")),
        "updated_at": iso_utc(row.get("updated_at")),
        "missing_count": m.count_value(meta.get(m.MISSING_COUNT)),
        "connected_count": m.count_value(meta.get(m.CONNECTED_COUNT)),
        "auto_disconnected_at": meta.get(m.AUTO_DISCONNECTED_AT), "reason": meta.get(m.REASON),
        "auto_reconnect_at": meta.get(m.AUTO_RECONNECT_AT),
        "reconnect_triggered_by": meta.get(m.RECONNECT_TRIGGERED_BY),
        "auto_connected_at": meta.get(m.AUTO_CONNECTED_AT),
        "reconnect_pending": bool(meta.get(m.RECONNECT_PENDING)), "reconnect_attempts": attempts,
        "max_reconnect_attempts": settings.max_reconnect_attempts,
        "last_reconnect_at": last, "last_reconnect_error": meta.get(m.LAST_RECONNECT_ERROR),
        "next_reconnect_not_before": next_at, "metadata_unreadable": unparsed is not None,
    }


def list_accounts(r: Reader, workspace: int | None, page: Page,
                  settings: ReconcileSettings | None = None) -> dict[str, Any]:
    settings = settings or ReconcileSettings()
    table = r.quote(ACCOUNTS)
    where, params = ("WHERE workspace_id = %s", [workspace]) if workspace is not None else ("", [])
    total = int(r.scalar(f"SELECT COUNT(*) AS n FROM {table} {where}", params) or 0)
    per_status = r.fetch(f"SELECT workspace_id, status, COUNT(*) AS n FROM {table} {where} "
                         f"GROUP BY workspace_id, status", params)
    rows = r.fetch(f"SELECT id, uuid, workspace_id, session_id, phone_number, status, is_active, metadata, updated_at "
                   f"FROM {table} {where} ORDER BY workspace_id, id LIMIT %s OFFSET %s",
                   [*params, page.per_page, page.offset])
    workspaces: dict[str, dict[str, int]] = {}
    for row in per_status:
        workspaces.setdefault(str(row["workspace_id"]), {})[str(row["status"] or "").lower()] = int(row["n"])
    return {"total": total, "page": page.page, "per_page": page.per_page, "workspace": workspace,
            "workspaces": dict(sorted(workspaces.items())),
            "backoff": {"reconnect_backoff_seconds": settings.reconnect_backoff_seconds,
                        "first_retry_after": str(timedelta(seconds=settings.reconnect_backoff_seconds))},
            "accounts": [account_to_json(row, settings) for row in rows]}
