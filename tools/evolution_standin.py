"""A stand-in for Evolution API v2 (EvolutionAPI/evolution-api): a real HTTP server speaking its
instance API.

As in EvolutionAPI/evolution-api (see :mod:`include.health.whatsapp.adapters.evolution`): header
``apikey``; the instance's existence is checked *before* the key (404 ``The "x" instance does not
exist`` even with a wrong key), then the key (401); ``GET /`` -> welcome document (no key);
``POST /verify-creds`` -> 200 / 401; ``GET /instance/connectionState/:name`` -> ``{"instance":
{"instanceName", "state"}}``; ``GET /instance/connect/:name`` -> the QR code document (``close`` ->
``connecting``); ``POST /instance/create`` ``{"instanceName", "integration", "qrcode"}`` -> 201,
403 ``This name "x" is already in use.``; ``GET /instance/fetchInstances``. Error bodies
``{"status", "error", "response": {"message": [...]}}``. Plumbing, failure modes and ``/_control``:
:mod:`tools.whatsapp_standin_base`.

Run: ``python -m tools.evolution_standin --port 8080 --api-key KEY [--session NAME:WORKSPACE:STATUS]``.
"""

from __future__ import annotations

import uuid
from typing import Any

from tools.whatsapp_standin_base import StandinBase, argument_parser, serve_forever

NATIVE = {"connected": "open", "initializing": "connecting", "qr_required": "connecting",
          "disconnected": "close", "failed": "refused"}
VERSION = "2.3.7"


def _error(code: int, error: str, message: Any) -> tuple[int, dict[str, Any]]:
    return code, {"status": code, "error": error, "response": {"message": message}}


class EvolutionStandin(StandinBase):
    FLAVOR = "evolution"
    SERVER_VERSION = f"evolution-api-standin/{VERSION}"
    NATIVE = NATIVE
    NATIVE_STATES = ("open", "connecting", "close", "refused")
    LOGGED_OUT = "close"  # with disconnectionReasonCode 401 (Baileys' DisconnectReason.loggedOut)

    def api_key_from(self, handler: Any, query: dict[str, list[str]]) -> str | None:
        return handler.headers.get("apikey")

    def is_create(self, method: str, path: str) -> bool:
        return path.startswith("/instance/connect/")

    def is_restart(self, method: str, path: str) -> bool:
        return path.startswith("/instance/connect/")  # Evolution restarts a closed instance by connecting it

    def route(self, handler: Any, method: str, path: str, query: dict[str, list[str]]) -> None:
        if path == "/" and method == "GET":
            handler.reply(200, {"status": 200, "message": "Welcome to the Evolution API, it is working!",
                                "version": VERSION, "clientName": "evolution_standin",
                                "manager": f"{self.url}/manager", "documentation": "https://doc.evolution-api.com"})
            return
        key_ok = self.authorized(self.api_key_from(handler, query))
        if path == "/verify-creds" and method == "POST":
            handler.reply(*((200, {"status": 200, "message": "Credentials are valid"}) if key_ok
                            else _error(401, "Unauthorized", "Unauthorized")))
            return
        parts = path.split("/")[1:]
        if path == "/instance/create" and method == "POST":
            handler.reply(*self._create(handler, key_ok))
            return
        if path == "/instance/fetchInstances" and method == "GET":
            handler.reply(*(self._fetch(query.get("instanceName", [None])[0]) if key_ok
                            else _error(401, "Unauthorized", "Unauthorized")))
            return
        if len(parts) != 3 or parts[0] != "instance" or parts[1] not in ("connectionState", "connect") \
                or method != "GET":
            handler.reply(*_error(404, "Not Found", [f"Cannot {method} {path}"]))
            return
        name = parts[2]
        found = self.session(name)
        if found is None:  # the guard order of the real service: existence first, then the key
            handler.reply(*_error(404, "Not Found", [f'The "{name}" instance does not exist']))
            return
        if not key_ok:
            handler.reply(*_error(401, "Unauthorized", "Unauthorized"))
            return
        state = self.native(found["status"])
        if parts[1] == "connectionState":
            handler.reply(200, {"instance": {"instanceName": name, "state": state}})
        elif state == "open":
            handler.reply(200, {"instance": {"instanceName": name, "state": "open"}})
        elif state == "close":
            self.revive(name)
            handler.reply(200, self._qrcode())
        elif state == "connecting":
            handler.reply(200, self._qrcode())
        else:  # connectToWhatsapp answers any other state as it is, and does nothing
            handler.reply(200, {"instance": {"instanceName": name, "status": state}, "qrcode": self._qrcode()})

    def _create(self, handler: Any, key_ok: bool) -> tuple[int, dict[str, Any]]:
        body = handler.read_json()
        name = body.get("instanceName") if isinstance(body, dict) else None
        if not isinstance(name, str) or not name:
            return _error(400, "Bad Request", ['"instanceName" is required'])
        if self.session(name) is not None:  # instanceLoggedGuard runs before the key check
            return _error(403, "Forbidden", [f'This name "{name}" is already in use.'])
        if not key_ok:
            return _error(401, "Unauthorized", "Unauthorized")
        with self._lock:
            self._sessions[name] = {"session_id": name, "status": self.create_status, "phone_number": None,
                                    "workspace_id": None}
        return 201, {"instance": {"instanceName": name, "instanceId": str(uuid.uuid4()),
                                  "integration": body.get("integration", "WHATSAPP-BAILEYS"), "status": "created"},
                     "hash": str(uuid.uuid4()).upper(), "settings": {"rejectCall": False},
                     "qrcode": self._qrcode() if body.get("qrcode") else None}

    def _fetch(self, name: str | None) -> tuple[int, Any]:
        sessions = self.sessions
        if name is not None and name not in sessions:
            return _error(404, "Not Found", [f'Instance "{name}" not found'])
        return 200, [{"id": f"standin-{s['session_id']}", "name": s["session_id"],
                      "connectionStatus": self.native(s["status"]), "ownerJid": None, "integration": "WHATSAPP-BAILEYS",
                      "token": f"instance-token-{s['session_id']}",
                      "disconnectionReasonCode": 401 if self.is_logged_out(s["session_id"]) else None,
                      "disconnectionAt": None}
                     for s in sessions.values() if name is None or s["session_id"] == name]

    @staticmethod
    def _qrcode() -> dict[str, Any]:
        return {"pairingCode": None, "code": "2@standin", "base64": "data:image/png;base64,iVBORw0KGgo=", "count": 1}


def main(argv: list[str] | None = None) -> int:
    args = argument_parser("python -m tools.evolution_standin", "Stand-in for Evolution API v2.",
                           default_port=8080).parse_args(argv)
    standin = EvolutionStandin(args.api_key, host=args.host, port=args.port, create_status=args.create_status,
                               verbose=not args.quiet)
    return serve_forever(standin, "Evolution API", args)


if __name__ == "__main__":
    raise SystemExit(main())
