"""WAHA, the WhatsApp HTTP API (flavor ``waha``).

API spoken: WAHA's sessions API as of WAHA 2024.x-2025.x (Core and Plus; engines WEBJS, NOWEB,
GOWS alike). Sources read: the documentation page "Sessions" (https://waha.devlike.pro/docs/how-to/sessions/)
and devlikeapro/waha ``src/api/sessions.controller.ts``, ``src/api/ping.controller.ts``,
``src/structures/enums.dto.ts`` (``WAHASessionStatus``).

- key: header ``X-Api-Key`` (401 when wrong or missing);
- health: ``GET /ping`` -> ``{"message": "pong"}``;
- sessions: ``GET /api/sessions?all=true`` -> ``[{"name", "status", "config": {"metadata": {...}},
  "me": {"id": "62811801641@c.us", "pushName"} | null, ...}]`` (``all=true`` includes STOPPED ones);
- reconnect: ``POST /api/sessions/{name}/start`` (the documented start of an existing session;
  404 when it does not exist), else ``POST /api/sessions`` with ``{"name", "start": true,
  "config": {"metadata": {"workspace_id": ...}}}`` (201; 422 when it exists meanwhile).

States: ``WORKING`` -> connected, ``STARTING`` -> initializing, ``SCAN_QR_CODE`` -> qr_required,
``STOPPED`` -> disconnected (restartable: the reconcile may start it again), ``FAILED`` -> failed
(WAHA advises a restart or a new QR login: left to a human, as the seed's ``failed``).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from include.health.whatsapp.client import HttpSessionService, Session

STATUSES = {"WORKING": "connected", "STARTING": "initializing", "SCAN_QR_CODE": "qr_required",
            "STOPPED": "disconnected", "FAILED": "failed"}
RESTARTABLE = frozenset({"STOPPED"})


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
        path = f"/api/sessions/{quote(session_id, safe='')}/start"
        what = f"POST {path}"
        response = self._send("POST", path)
        self._raise_for_service_status(what, response)
        if 200 <= response.status_code < 300:
            return "started"
        if response.status_code != 404:
            raise self._rejected(what, response)
        what = f"POST /api/sessions for {session_id!r}"
        config: dict[str, Any] = {"metadata": {"workspace_id": str(workspace_id)}} if workspace_id is not None else {}
        response = self._send("POST", "/api/sessions", {"name": session_id, "start": True, "config": config})
        self._raise_for_service_status(what, response)
        if 200 <= response.status_code < 300:
            return "created"
        if response.status_code == 422 and b"already exists" in response.content:
            return "exists"
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
                       workspace_id=metadata.get("workspace_id"), restartable=raw in RESTARTABLE)
