"""WAHA, the WhatsApp HTTP API (flavor ``waha``).

API spoken: WAHA's sessions API as of WAHA 2024.x-2025.x (Core and Plus; engines WEBJS, NOWEB,
GOWS alike). Sources read: the documentation page "Sessions" (https://waha.devlike.pro/docs/how-to/sessions/)
and devlikeapro/waha ``src/api/sessions.controller.ts`` (start, restart), ``src/api/ping.controller.ts``,
``src/structures/enums.dto.ts`` (``WAHASessionStatus``), ``src/core/manager.core.ts`` (a start of
a session still assigned is refused: 422) and the engines' ``session.noweb.core.ts`` /
``session.webjs.core.ts`` (``FAILED`` on a logout, a lost connection, a failed authentication).

- key: header ``X-Api-Key`` (401 when wrong or missing);
- health: ``GET /ping`` -> ``{"message": "pong"}``;
- sessions: ``GET /api/sessions?all=true`` -> ``[{"name", "status", "config": {"metadata": {...}},
  "me": {"id": "62811801641@c.us", "pushName"} | null, ...}]`` (``all=true`` includes STOPPED ones);
- re-create (a session WAHA does not hold): ``POST /api/sessions/{name}/start`` first (404 when it
  does not exist; it may have appeared meanwhile; 422 "already started" when it runs -> ``exists``), then ``POST /api/sessions`` with ``{"name",
  "start": true, "config": {"metadata": {"workspace_id": ...}}}`` (201; 422 when it exists meanwhile);
- restart (a session WAHA holds but does not run): ``STOPPED`` -> ``POST /api/sessions/{name}/start``
  (the documented start of an existing session); ``FAILED`` -> ``POST /api/sessions/{name}/restart``
  (stop, then start: what the Sessions page prescribes for ``FAILED``; a start would be refused
  with 422 "already started", the failed session object still being assigned). Both answer 201
  with the session; 404 when it vanished meanwhile (then it is re-created).

States: ``WORKING`` -> connected; ``STARTING`` -> initializing (left alone while it starts);
``SCAN_QR_CODE`` -> qr_required (left alone after a (re)start; on an account the database calls
connected it means logged out: marked disconnected and left, a person must scan the QR code
again); ``STOPPED`` -> disconnected, restarted (start); ``FAILED`` (the engine lost its connection,
failed to authenticate or was logged out) -> failed, restarted (restart). A FAILED session that
was logged out comes back as ``SCAN_QR_CODE`` from its restart, and is then left for a person.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from include.health.whatsapp.client import HttpSessionService, Session

STATUSES = {"WORKING": "connected", "STARTING": "initializing", "SCAN_QR_CODE": "qr_required",
            "STOPPED": "disconnected", "FAILED": "failed"}
RESTARTABLE = frozenset({"STOPPED", "FAILED"})


class WahaService(HttpSessionService):
    FLAVOR = "waha"
    LABEL = "WAHA"
    API_KEY_HEADER = "X-Api-Key"

    def health(self) -> dict[str, Any]:
        body = self._request("GET", "/ping")
        if not isinstance(body, dict) or body.get("message") != "pong":
            raise self._shape("GET /ping", "an object with 'message': 'pong'")
        return {"status": "ok", "service": "waha"}

    def sessions(self) -> list[Session]:
        what = "GET /api/sessions"
        body = self._request("GET", "/api/sessions", params={"all": "true"})
        if not isinstance(body, list):
            raise self._shape(what, "a list of sessions")
        return [self._session(what, item, index) for index, item in enumerate(body)]

    def create_session(self, session_id: str, workspace_id: int | str | None) -> str:
        started = self._start_call(session_id, "start")
        if started is not None:
            return started
        what = f"POST /api/sessions for {session_id!r}"
        config: dict[str, Any] = {"metadata": {"workspace_id": str(workspace_id)}} if workspace_id is not None else {}
        response = self._send("POST", "/api/sessions", {"name": session_id, "start": True, "config": config})
        self._raise_for_service_status(what, response)
        if 200 <= response.status_code < 300:
            return "created"
        if response.status_code == 422 and b"already exists" in response.content:
            return "exists"
        raise self._rejected(what, response)

    def restart_session(self, session: Session) -> str:
        call = "start" if session.native_status == "STOPPED" else "restart"
        outcome = self._start_call(session.session_id, call)
        return outcome if outcome is not None else self.create_session(session.session_id, session.workspace_id)

    def _start_call(self, session_id: str, call: str) -> str | None:
        """``POST /api/sessions/{name}/start|restart``: ``"started"``/``"restarted"`` (``"exists"``
        when a start finds it running), or None when WAHA does not hold the session (404)."""
        path = f"/api/sessions/{quote(session_id, safe='')}/{call}"
        what = f"POST {path}"
        response = self._send("POST", path)
        self._raise_for_service_status(what, response)
        if 200 <= response.status_code < 300:
            return "started" if call == "start" else "restarted"
        if response.status_code == 404:
            return None
        if call == "start" and response.status_code == 422 and b"already started" in response.content:
            return "exists"  # running meanwhile (started by someone else): the outcome we wanted
        raise self._rejected(what, response)

    def _session(self, what: str, item: Any, index: int) -> Session:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) \
                or not isinstance(item.get("status"), str):
            raise self._shape(what, f"entry {index} with a 'name' and a 'status' string")
        raw = item["status"].strip().upper()
        me = item.get("me") if isinstance(item.get("me"), dict) else {}
        phone = me.get("id").split("@", 1)[0] if isinstance(me.get("id"), str) else None
        config = item.get("config") if isinstance(item.get("config"), dict) else {}
        metadata = config.get("metadata") if isinstance(config.get("metadata"), dict) else {}
        return Session(session_id=item["name"], status=STATUSES.get(raw, raw.lower()), phone_number=phone,
                       workspace_id=metadata.get("workspace_id"), restartable=raw in RESTARTABLE, native_status=raw)
