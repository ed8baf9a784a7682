"""wwebjs-api, a REST wrapper of whatsapp-web.js (flavor ``wwebjs_api``).

API spoken: the ``/session`` API of avoylenko/wwebjs-api 1.x (package.json 1.0.0, whatsapp-web.js
1.34). Sources read: avoylenko/wwebjs-api ``src/routes.js``, ``src/controllers/sessionController.js``,
``src/sessions.js`` (``validateSession``, ``setupSession``, ``reloadSession``),
``src/controllers/healthController.js``, ``src/utils.js`` (``sendErrorResponse``) and
``tests/api.test.js`` (status codes and bodies).

- key: header ``x-api-key`` (403 ``{"success": false, "error": "Invalid API key"}``);
- health: ``GET /ping`` -> ``{"success": true, "message": "pong"}`` (no key);
- sessions: one ``GET /session/status/:id`` per session the database holds (the service keeps its
  sessions in memory and lists only their names), answered 200 with ``{"success", "state",
  "message"}``: ``message`` ``session_not_found`` means the service does not hold it;
- re-create (a session the service does not hold): ``GET /session/start/:id`` -> 200 ``{"success":
  true, "message": "Session initiated successfully"}``; 422 ``{"success": false, "error": "Session
  already exists for: ..."}`` for a session it holds (-> ``exists``: a start never revives a held
  session). The call returns once the browser page is up, so the connection's ``timeout`` must
  cover that;
- restart (a session it holds but cannot run): ``GET /session/restart/:id`` (closes the browser,
  keeps the login, sets the session up again) -> 200 ``{"success": true, "message": "Restarted
  successfully"}``; 200 ``{"success": false, "message": "session_not_found"}`` when it vanished
  meanwhile (then it is re-created); 500 ``{"success": false, "error"}`` when it failed.

States (whatsapp-web.js ``WAState``): ``CONNECTED`` -> connected; ``OPENING``, ``PAIRING``,
``UNLAUNCHED`` and a client still loading (``state`` null) -> initializing (left alone);
``UNPAIRED``, ``UNPAIRED_IDLE`` (the page shows a QR code) -> qr_required (left alone after a
(re)start; on an account the database calls connected it means logged out: marked disconnected and
left, a person must scan the QR code again); ``CONFLICT``, ``TIMEOUT`` and a held session whose
``state`` is null with message ``browser tab closed`` or ``session closed`` (whatsapp-web.js
destroyed its page, Chromium died) -> disconnected, restarted; ``DEPRECATED_VERSION``,
``PROXYBLOCK``, ``TOS_BLOCK``, ``SMB_TOS_BLOCK`` -> failed, left with the reason (no restart helps:
a person must act, then scan the QR code again).

Booting: the service answers ``session_not_found`` for a session it is still restoring after a
restart (a session enters its map only once its browser is up), which cannot be told apart from a
lost session. Such a session is reported as not held, and the reconcile's flap guard
(``missing_checks_before_disconnect`` reads in a row, 5 minutes apart) is what lets it boot; with
many sessions to restore, raise that setting.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from include.health.whatsapp.client import HttpSessionService, Session, SessionRead

STATES = {"CONNECTED": "connected", "OPENING": "initializing", "PAIRING": "initializing",
          "UNLAUNCHED": "initializing", "UNPAIRED": "qr_required", "UNPAIRED_IDLE": "qr_required",
          "CONFLICT": "disconnected", "TIMEOUT": "disconnected", "DEPRECATED_VERSION": "failed",
          "PROXYBLOCK": "failed", "TOS_BLOCK": "failed", "SMB_TOS_BLOCK": "failed"}
CLOSED_MESSAGES = frozenset({"browser tab closed", "session closed"})
RESTARTABLE = frozenset({"CONFLICT", "TIMEOUT"}) | CLOSED_MESSAGES
# States no restart cures, and what a person must do.
NEEDS_PERSON = {
    "DEPRECATED_VERSION": "WhatsApp refuses the service's WhatsApp Web version; update the service, then a person "
                          "must scan the QR code again",
    "PROXYBLOCK": "WhatsApp blocks the service's proxy; fix the proxy, then a person must scan the QR code again",
    "TOS_BLOCK": "WhatsApp banned the number; a person must resolve it with WhatsApp and scan the QR code again",
    "SMB_TOS_BLOCK": "WhatsApp banned the business number; a person must resolve it with WhatsApp and scan the QR "
                     "code again",
}
NOT_FOUND = "session_not_found"


class WwebjsApiService(HttpSessionService):
    FLAVOR = "wwebjs_api"
    LABEL = "wwebjs-api"
    API_KEY_HEADER = "x-api-key"

    def health(self) -> dict[str, Any]:
        body = self._request("GET", "/ping", authenticated=False)
        if not isinstance(body, dict) or body.get("success") is not True:
            raise self._shape("GET /ping", "an object with 'success': true")
        return {"status": "ok", "service": "wwebjs_api"}

    def read_sessions(self, session_ids: Sequence[str]) -> SessionRead:
        return self._read_each(session_ids, self._status)

    def _status(self, session_id: str) -> Session | None:
        path = f"/session/status/{quote(session_id, safe='')}"
        what = f"GET {path}"
        body = self._request("GET", path)
        if not isinstance(body, dict) or not isinstance(body.get("message"), str) \
                or not isinstance(body.get("state"), (str, type(None))):
            raise self._shape(what, "an object with a 'message' string and a 'state'")
        if body["message"] == NOT_FOUND:
            return None
        state = body["state"]
        if state is None:
            native = body["message"] if body["message"] in CLOSED_MESSAGES else None
            status = "disconnected" if native else "initializing"
        else:
            native = state.strip().upper()
            status = STATES.get(native, state.strip().lower())
        return Session(session_id=session_id, status=status, native_status=native,
                       restartable=native in RESTARTABLE, needs_person=NEEDS_PERSON.get(native or ""))

    def create_session(self, session_id: str, workspace_id: int | str | None) -> str:
        path = f"/session/start/{quote(session_id, safe='')}"
        what = f"GET {path}"
        response = self._send("GET", path)
        self._raise_for_service_status(what, response)
        body = self._json_or_none(response)
        error = body.get("error") if isinstance(body, dict) else None
        if response.status_code == 422 and isinstance(error, str) and error.startswith("Session already exists"):
            return "exists"
        if 200 <= response.status_code < 300 and isinstance(body, dict) and body.get("success") is True:
            return "created"
        raise self._rejected(what, response)

    def restart_session(self, session: Session) -> str:
        path = f"/session/restart/{quote(session.session_id, safe='')}"
        what = f"GET {path}"
        response = self._send("GET", path)
        self._raise_for_service_status(what, response)
        body = self._json_or_none(response)
        if 200 <= response.status_code < 300 and isinstance(body, dict):
            if body.get("success") is True:
                return "restarted"
            if body.get("message") == NOT_FOUND:  # gone since it was read
                return self.create_session(session.session_id, session.workspace_id)
        raise self._rejected(what, response)
