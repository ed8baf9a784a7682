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
- re-create (an instance that does not exist, 404): ``POST /instance/create`` with ``{"instanceName",
  "integration": "WHATSAPP-BAILEYS", "qrcode": true}`` (201; 403 ``already in use`` -> ``exists``);
- restart (an instance in state ``close``): ``GET /instance/connect/:name`` (the documented connect
  call: it reconnects with the stored login, or shows a QR code; it answers 200 with the QR code
  document or with ``{"error": true, "message"}``); an instance gone meanwhile (404) is re-created.
  Only a ``close`` instance is connected: for ``refused`` the service's connect does nothing;
- why an instance is closed: ``GET /instance/fetchInstances?instanceName=:name`` -> ``[{"name",
  "connectionStatus", "disconnectionReasonCode", ...}]``, read only for a ``close`` instance. The
  record also holds the instance's own token: it is read for the code and dropped, never logged.

States: ``open`` -> connected; ``connecting`` (booting, or waiting for the QR scan) and an instance
known but not loaded yet (no state: the service is booting) -> initializing (left alone);
``close`` -> disconnected, restarted (connect) unless its ``disconnectionReasonCode`` is one
Baileys does not reconnect after (401 logged out, 403 forbidden, 402, 406: the service's own
``codesToNotReconnect``), then left with the reason (a person must scan the QR code again);
``refused`` (QR code limit reached with no scan) -> failed, left with the reason. Instance
states, connect and the codes: ``src/api/integrations/channel/whatsapp/whatsapp.baileys.service.ts``
(``connectionUpdate``) and ``src/api/services/monitor.service.ts`` (``instanceInfo``, ``no.connection``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from include.health.whatsapp.client import HttpSessionService, Session, SessionRead

STATES = {"open": "connected", "connecting": "initializing", "close": "disconnected", "refused": "failed"}
RESTARTABLE = frozenset({"close"})
# Baileys' DisconnectReason codes after which Evolution does not reconnect by itself (its
# ``codesToNotReconnect``): connecting again only shows a QR code nobody is there to scan.
PERSON_CODES = {
    401: "logged out of WhatsApp (disconnection code 401); a person must scan the QR code again",
    402: "WhatsApp ended the session (disconnection code 402); a person must scan the QR code again",
    403: "WhatsApp refused the number (disconnection code 403, e.g. banned); a person must resolve it and scan "
         "the QR code again",
    406: "WhatsApp ended the session (disconnection code 406); a person must scan the QR code again",
}
REFUSED = "the QR code limit was reached with no scan; a person must scan the QR code again"


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
        needs_person = REFUSED if raw == "refused" else None
        if raw == "close":
            needs_person = PERSON_CODES.get(self._disconnection_code(name))  # type: ignore[arg-type]
        return Session(session_id=name, status=status, native_status=raw or None, needs_person=needs_person,
                       restartable=raw in RESTARTABLE and needs_person is None)

    def _disconnection_code(self, name: str) -> int | None:
        """Why a ``close`` instance closed (Baileys' status code), None when the service does not say."""
        path = "/instance/fetchInstances"
        what = f"GET {path} for {name!r}"
        response = self._send("GET", path, params={"instanceName": name})
        if response.status_code == 404:
            return None  # deleted since its state was read; the next read says so
        if not 200 <= response.status_code < 300:
            self._decode(what, response)  # raises, naming the status
        body = self._json_or_none(response)  # no snippet of this body in any message: it holds tokens
        if not isinstance(body, list):
            raise self._shape(what, "a list of instances")
        for item in body:
            if isinstance(item, dict) and item.get("name") == name:
                code = item.get("disconnectionReasonCode")
                return code if isinstance(code, int) and not isinstance(code, bool) else None
        return None

    def create_session(self, session_id: str, workspace_id: int | str | None) -> str:
        outcome = self._connect(session_id)
        return outcome if outcome is not None else self._create(session_id)

    def restart_session(self, session: Session) -> str:
        return self.create_session(session.session_id, session.workspace_id)

    def _connect(self, session_id: str) -> str | None:
        """``GET /instance/connect/:name``: ``"started"``, or None when the instance does not exist."""
        path = f"/instance/connect/{quote(session_id, safe='')}"
        what = f"GET {path}"
        response = self._send("GET", path)
        if response.status_code == 404 and self._does_not_exist(response):
            return None
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
