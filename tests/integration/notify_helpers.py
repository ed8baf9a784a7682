"""Helpers for the notification tests: the Variable, and reading what the SMTP and HTTP servers got."""

from __future__ import annotations

import json
from typing import Any

from tests.integration.sync_helpers import fetch


def set_channels(monkeypatch: Any, **extra: Any) -> None:
    """``backoffice_notifications``: email to two operators, and the ``ops_webhook`` connection."""
    monkeypatch.setenv("AIRFLOW_VAR_BACKOFFICE_NOTIFICATIONS", json.dumps({
        "email": {"to": ["ops@branch.test", "lead@branch.test"]},
        "webhook": {"http_conn_id": "ops_webhook", "timeout_seconds": 5}, **extra}))


def mail_text(message: Any) -> str:
    return "".join(part.get_payload(decode=True).decode() for part in message.walk() if not part.is_multipart())


def notices(conn_id: str, batch_id: str) -> dict[tuple[str, str], dict[str, Any]]:
    return {(r["status"], r["channel"]): r for r in fetch(
        conn_id, "SELECT * FROM batch_notifications WHERE batch_id = %s", (batch_id,))}
