"""A stand-in for wwebjs-api (avoylenko/wwebjs-api): a real HTTP server speaking its session API.

As in avoylenko/wwebjs-api (see :mod:`include.health.whatsapp.adapters.wwebjs_api`): header ``x-api-key``
(403 ``{"success": false, "error": "Invalid API key"}``); ``GET /ping`` -> ``{"success": true,
"message": "pong"}``; ``GET /session/status/:id`` -> 200 ``{"success", "state", "message"}``
(``session_not_found`` for a session it does not hold, or one still booting; ``state`` null with
``browser tab closed`` / ``session closed`` for a held session whose page is gone: store those
words as the session's status); ``GET /session/start/:id`` -> 200 ``{"success": true, "message":
"Session initiated successfully"}``, 422 ``{"success": false, "error": "Session already exists
for: ..."}`` for a session it holds, whatever its state; ``GET /session/restart/:id`` -> 200
``{"success": true, "message": "Restarted successfully"}`` (the session boots again; a logged-out
one, :meth:`StandinBase.log_out`, ends at ``UNPAIRED``), 200 ``{"success": false, "state": null,
"message": "session_not_found"}`` for one it does not hold; ``GET /session/getSessions``; ids must
match ``[\\w-]+`` (422 ``Session should be alphanumerical or -``). Plumbing, failure modes and
``/_control``: :mod:`tools.whatsapp_standin_base`; :meth:`WwebjsApiStandin.boot` makes a session
answer ``session_not_found`` for its next N status reads, as while the service restores it.

Run: ``python -m tools.wwebjs_api_standin --port 3000 --api-key KEY [--session ID:WORKSPACE:STATUS]``.
"""

from __future__ import annotations

import re
from typing import Any

from tools.whatsapp_standin_base import StandinBase, argument_parser, serve_forever

NATIVE = {"connected": "CONNECTED", "initializing": "OPENING", "qr_required": "UNPAIRED",
          "disconnected": "CONFLICT", "failed": "TOS_BLOCK"}
# The WAState values, and the two answers for a held session whose page is gone (state null).
CLOSED = ("browser tab closed", "session closed")
NATIVE_STATES = ("CONNECTED", "OPENING", "PAIRING", "UNLAUNCHED", "UNPAIRED", "UNPAIRED_IDLE", "CONFLICT",
                 "TIMEOUT", "DEPRECATED_VERSION", "PROXYBLOCK", "TOS_BLOCK", "SMB_TOS_BLOCK") + CLOSED
VALID_ID = re.compile(r"^[\w-]+$")


class WwebjsApiStandin(StandinBase):
    FLAVOR = "wwebjs_api"
    SERVER_VERSION = "wwebjs-api-standin/1.0"
    NATIVE = NATIVE
    NATIVE_STATES = NATIVE_STATES
    LOGGED_OUT = "UNPAIRED"  # whatsapp-web.js reloads the page, which shows a QR code

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._booting: dict[str, int] = {}

    def boot(self, session_id: str, reads: int = 1) -> None:
        """The session answers ``session_not_found`` for its next ``reads`` status reads."""
        with self._lock:
            self._booting[session_id] = reads

    def api_key_from(self, handler: Any, query: dict[str, list[str]]) -> str | None:
        return handler.headers.get("x-api-key")

    def is_create(self, method: str, path: str) -> bool:
        return path.startswith("/session/start/")

    def is_restart(self, method: str, path: str) -> bool:
        return path.startswith("/session/restart/")

    def route(self, handler: Any, method: str, path: str, query: dict[str, list[str]]) -> None:
        if path == "/ping" and method == "GET":
            handler.reply(200, {"success": True, "message": "pong"})
            return
        if not path.startswith("/session/"):
            handler.reply(404, {"success": False, "error": f"Cannot {method} {path}"})
            return
        if not self.authorized(self.api_key_from(handler, query)):
            handler.reply(403, {"success": False, "error": "Invalid API key"})
            return
        parts = path.split("/")[2:]
        if parts == ["getSessions"] and method == "GET":
            handler.reply(200, {"success": True, "result": list(self.sessions)})
            return
        if len(parts) != 2 or parts[0] not in ("status", "start", "restart") or method != "GET":
            handler.reply(404, {"success": False, "error": f"Cannot {method} {path}"})
            return
        action, session_id = parts
        if not VALID_ID.match(session_id):
            handler.reply(422, {"success": False, "error": "Session should be alphanumerical or -"})
            return
        answer = {"status": self._status, "start": self._start, "restart": self._restart}[action]
        handler.reply(*answer(session_id))

    def _status(self, session_id: str) -> tuple[int, dict[str, Any]]:
        with self._lock:
            if self._booting.get(session_id, 0) > 0:
                self._booting[session_id] -= 1
                return 200, {"success": False, "state": None, "message": "session_not_found"}
        found = self.session(session_id)
        if found is None:
            return 200, {"success": False, "state": None, "message": "session_not_found"}
        state = self.native(found["status"])
        if state in CLOSED:
            return 200, {"success": False, "state": None, "message": state}
        if state == "CONNECTED":
            return 200, {"success": True, "state": state, "message": "session_connected"}
        return 200, {"success": False, "state": state, "message": "session_not_connected"}

    def _start(self, session_id: str) -> tuple[int, dict[str, Any]]:
        with self._lock:
            if session_id in self._sessions:
                return 422, {"success": False, "error": f"Session already exists for: {session_id}"}
            self._sessions[session_id] = {"session_id": session_id, "status": self.create_status,
                                          "phone_number": None, "workspace_id": None}
        return 200, {"success": True, "message": "Session initiated successfully"}

    def _restart(self, session_id: str) -> tuple[int, dict[str, Any]]:
        if self.session(session_id) is None:
            return 200, {"success": False, "state": None, "message": "session_not_found"}
        self.revive(session_id)  # reloadSession: browser closed, the session set up again
        return 200, {"success": True, "message": "Restarted successfully"}


def main(argv: list[str] | None = None) -> int:
    args = argument_parser("python -m tools.wwebjs_api_standin", "Stand-in for wwebjs-api.",
                           default_port=3000).parse_args(argv)
    standin = WwebjsApiStandin(args.api_key, host=args.host, port=args.port, create_status=args.create_status,
                               verbose=not args.quiet)
    return serve_forever(standin, "wwebjs-api", args)


if __name__ == "__main__":
    raise SystemExit(main())
