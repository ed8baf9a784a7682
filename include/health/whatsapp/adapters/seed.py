"""The default adapter: the Node.js service of seed 003 (``GET /health``, ``GET /api/sessions``,
``POST /api/sessions``, API key as query parameter ``api_key``), as ``shared/design.md`` specifies
(API version: the design document's; seed 003's ``whatsapp:sync-sessions``).

States: the service speaks the reconcile's vocabulary. Re-created: a session it does not hold
(``POST /api/sessions``; 409 when it exists -> ``exists``). Restarted: none, the service has no
restart call (its own ``AutoReconnect.js`` reconnects on a ``disconnected`` event). Left, with the
reason in the account's metadata: ``disconnected`` and ``failed`` sessions it holds (a create would
be refused with 409; a person must reconnect it and scan the QR code again), and ``qr_required`` on
an account the database calls connected (logged out: a person must scan the QR code again);
``initializing`` and ``qr_required`` after a re-create are left alone while they start.
"""

from __future__ import annotations

from typing import Any

from include.health.whatsapp.client import HttpSessionService, Session


class WhatsAppService(HttpSessionService):
    """The Node.js service of seed 003 (flavor ``seed``); the key goes as query parameter ``api_key``."""

    FLAVOR = "seed"

    # -- the calls -------------------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        body = self._request("GET", "/health", authenticated=False)
        if not isinstance(body, dict) or not isinstance(body.get("status"), str):
            raise self._shape("GET /health", "an object with a 'status' string")
        if body["status"].lower() != "ok":
            raise self._fail("GET /health", f"reports status {body['status']!r}, not 'ok'", "unhealthy")
        return body

    def sessions(self) -> list[Session]:
        body = self._request("GET", "/api/sessions")
        items = body.get("sessions") if isinstance(body, dict) else None
        if not isinstance(items, list):
            raise self._shape("GET /api/sessions", "an object with a 'sessions' list")
        return [self._session(item, index) for index, item in enumerate(items)]

    def create_session(self, session_id: str, workspace_id: int | str | None) -> str:
        what = f"POST /api/sessions for {session_id!r}"
        response = self._send("POST", "/api/sessions", {"session_id": session_id, "workspace_id": workspace_id})
        if response.status_code == 409:
            return "exists"  # a session is started once; "already exists" is the outcome we wanted
        self._raise_for_service_status(what, response)
        if 200 <= response.status_code < 300:
            body = self._json_or_none(response)
            if isinstance(body, dict) and body.get("success") is False:
                raise self._rejected(what, response, "")
            return "created"
        raise self._rejected(what, response)

    def _session(self, item: Any, index: int) -> Session:
        """One list entry; anything but an object with string ``session_id`` and ``status`` fails
        the whole read, because a half-understood list would flip the sessions it dropped."""
        if not isinstance(item, dict) or not isinstance(item.get("session_id"), str) \
                or not isinstance(item.get("status"), str):
            raise self._fail("GET /api/sessions", f"answered with an unexpected shape (entry {index} lacks a "
                             "'session_id' or 'status' string)", "bad_shape")
        phone = item.get("phone_number")
        return Session(
            session_id=item["session_id"],
            status=item["status"].strip().lower(),
            phone_number=None if phone is None else str(phone),
            workspace_id=item.get("workspace_id"),
        )
