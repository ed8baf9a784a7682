"""The WhatsApp page's action: Reconnect, as the signed-in user, through the job's own code
(:func:`include.health.whatsapp.manual.reconnect`, which re-creates or restarts through the adapter
the reconcile uses). A service that is down refuses the whole request (503) with nothing sent and
nothing written; each session's answer says what the service did or why it was refused."""

from __future__ import annotations

from typing import Any

from include.common.db import Database
from include.health.whatsapp.adapters import get_adapter
from include.health.whatsapp.client import ServiceUnavailable
from include.health.whatsapp.manual import MAX_AT_ONCE, reconnect as reconnect_sessions

__all__ = ["MAX_AT_ONCE", "reconnect"]


def reconnect(db: Database, account_ids: list[int], user: str) -> tuple[dict[str, Any], int]:
    """``(body, HTTP status)``: 200 with one result per account (each ``ok`` or not, with its
    message), or 503 when the WhatsApp service is down (nothing changed)."""
    try:
        results = reconnect_sessions(db, get_adapter(), account_ids, user)
    except ServiceUnavailable as exc:
        return {"detail": f"The WhatsApp service is down, nothing was sent and nothing changed: {exc}"}, 503
    done = sum(1 for r in results if r.status == 200)
    lines = [r.message for r in results]
    return {"results": [r.as_dict() for r in results], "asked": done, "refused": len(results) - done,
            "message": f"{done} of {len(results)} session(s) asked to reconnect. " + " ".join(lines)}, 200
