"""Evolution API (flavor ``evolution``).

API spoken: the ``/instance`` API of Evolution API v2 (2.1-2.3, Baileys integration). Sources
read: EvolutionAPI/evolution-api ``src/api/routes/index.router.ts`` (``GET /``, ``POST /verify-creds``,
guard order), ``src/api/routes/instance.router.ts``, ``src/api/controllers/instance.controller.ts``
(``connectionState``, ``connectToWhatsapp``, ``createInstance``), ``src/api/guards/instance.guard.ts``
and ``src/api/guards/auth.guard.ts``; the documentation at https://doc.evolution-api.com.

- key: header ``apikey`` (401). The service checks that an instance exists *before* it checks the
  key, so a wrong key would look like "every missing instance is missing": health therefore also
  proves the key with ``POST /verify-creds``;
- health: ``GET /`` -> ``{"status": 200, "message": "Welcome to the Evolution API, it is working!",
  "version": ...}``, then ``POST /verify-creds`` -> 200 (401 on a wrong key);
- sessions (instances, one per session id): one ``GET /instance/connectionState/:name`` per session
  the database holds -> ``{"instance": {"instanceName", "state"}}``; 404 ``The "x" instance does
  not exist`` means the service does not hold it;
- reconnect: ``GET /instance/connect/:name`` (the documented connect call; it answers 200 with the
  QR code, or with ``{"error": true, "message"}``), and for an instance that does not exist (404)
  ``POST /instance/create`` with ``{"instanceName", "integration": "WHATSAPP-BAILEYS", "qrcode": true}``
  (201; 403 ``already in use`` -> ``exists``).

States: ``open`` -> connected; ``connecting`` (booting, or waiting for the QR scan) and an instance
known but not loaded yet (no state: the service is booting) -> initializing; ``close`` ->
disconnected (restartable: the reconcile may connect it again); ``refused`` (QR code limit reached)
-> failed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from include.health.whatsapp.client import HttpSessionService, Session, SessionRead

STATES = {"open": "connected", "connecting": "initializing", "close": "disconnected", "refused": "failed"}
RESTARTABLE = frozenset({"close"})


class EvolutionService(HttpSessionService):
    FLAVOR = "evolution"
    LABEL = "Evolution API"
    API_KEY_HEADER = "apikey"

    def health(self) -> dict[str, Any]:
        body = self._request("GET", "/", authenticated=False)
        if not isinstance(body, dict) or body.get("status") != 200:
            raise self._shape("GET /", "an object with 'status': 200")
        self._request("POST", "/verify-creds")  # 401 on a wrong key: see the module docstring
        return {"status": "ok", "service": "evolution", "version": body.get("version")}

    def read_sessions(self, session_ids: Sequence[str]) -> SessionRead:
        return self._read_each(session_ids, self._state)

    def _state(self, name: str) -> Session | None:
        path = f"/instance/connectionState/{quote(name, safe='')}"
        what = f"GET {path}"
        response = self._send("GET", path)
        if response.status_code == 404 and self._does_not_exist(response):
            return None
        body = self._decode(what, response)
        instance = body.get("instance") if isinstance(body, dict) else None
        if not isinstance(instance, dict) or not isinstance(instance.get("state"), (str, type(None))):
            raise self._shape(what, "an object with an 'instance' object holding a 'state'")
        raw = (instance.get("state") or "").strip().lower()
        status = STATES.get(raw, raw) if raw else "initializing"
        return Session(session_id=name, status=status, restartable=raw in RESTARTABLE)

    def create_session(self, session_id: str, workspace_id: int | str | None) -> str:
        path = f"/instance/connect/{quote(session_id, safe='')}"
        what = f"GET {path}"
        response = self._send("GET", path)
        if response.status_code == 404 and self._does_not_exist(response):
            return self._create(session_id)
        self._raise_for_service_status(what, response)
        body = self._json_or_none(response)
        if 200 <= response.status_code < 300 and isinstance(body, dict) and body.get("error") is not True:
            return "started"
        raise self._rejected(what, response)

    def _create(self, session_id: str) -> str:
        what = f"POST /instance/create for {session_id!r}"
        response = self._send("POST", "/instance/create",
                              {"instanceName": session_id, "integration": "WHATSAPP-BAILEYS", "qrcode": True})
        if response.status_code == 403 and b"already in use" in response.content:
            return "exists"
        self._raise_for_service_status(what, response)
        if 200 <= response.status_code < 300:
            return "created"  # the answer holds the instance's own token: never logged, not kept
        raise self._rejected(what, response)

    @staticmethod
    def _does_not_exist(response: Any) -> bool:
        return b"does not exist" in response.content
