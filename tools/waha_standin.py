"""A stand-in for WAHA (WhatsApp HTTP API): a real HTTP server speaking its sessions API.

As in devlikeapro/waha (see :mod:`include.health.whatsapp.adapters.waha`): header ``X-Api-Key`` (401
``{"message": "Unauthorized", "statusCode": 401}``); ``GET /ping`` -> ``{"message": "pong"}``;
``GET /api/sessions[?all=true]`` (STOPPED sessions only with ``all=true``); ``GET /api/sessions/{name}``;
``POST /api/sessions`` ``{"name", "start", "config"}`` -> 201 (422 when it exists);
``POST /api/sessions/{name}/start`` -> 201 for a STOPPED session, 422 ``Session 'x' is already
started.`` for one still assigned (any other state, FAILED included: WAHA Core's manager),
404 when it does not exist; ``POST /api/sessions/{name}/restart`` -> 201 (stop, then start; 404
when it does not exist). A session logged out (:meth:`StandinBase.log_out`) reports ``FAILED``
and its restart ends at ``SCAN_QR_CODE``. NestJS error bodies.
Plumbing, failure modes and ``/_control``: :mod:`tools.whatsapp_standin_base`.

Run: ``python -m tools.waha_standin --port 3000 --api-key KEY [--session NAME:WORKSPACE:STATUS]``.
"""

from __future__ import annotations

from typing import Any

from tools.whatsapp_standin_base import StandinBase, argument_parser, serve_forever

NATIVE = {"connected": "WORKING", "initializing": "STARTING", "qr_required": "SCAN_QR_CODE",
          "disconnected": "STOPPED", "failed": "FAILED"}


class WahaStandin(StandinBase):
    FLAVOR = "waha"
    SERVER_VERSION = "waha-standin/2025.1"
    NATIVE = NATIVE
    NATIVE_STATES = tuple(NATIVE.values())
    LOGGED_OUT = "FAILED"  # the engines' answer to a logout from the phone

    def api_key_from(self, handler: Any, query: dict[str, list[str]]) -> str | None:
        return handler.headers.get("X-Api-Key")

    def is_create(self, method: str, path: str) -> bool:
        return method == "POST" and path.startswith("/api/sessions/") and path.endswith("/start")

    def is_restart(self, method: str, path: str) -> bool:
        return method == "POST" and path.startswith("/api/sessions/") and path.endswith("/restart")

    def info(self, item: dict[str, Any]) -> dict[str, Any]:
        status = self.native(item["status"])
        phone = item.get("phone_number")
        me = {"id": f"{phone}@c.us", "pushName": "Stand-in"} if phone and status == "WORKING" else None
        metadata = {} if item.get("workspace_id") is None else {"workspace_id": str(item["workspace_id"])}
        return {"name": item["session_id"], "status": status, "config": {"metadata": metadata, "webhooks": []},
                "me": me, "engine": {"engine": "WEBJS"}}

    def route(self, handler: Any, method: str, path: str, query: dict[str, list[str]]) -> None:
        if path == "/ping" and method == "GET":
            handler.reply(200, {"message": "pong"})
            return
        if not path.startswith("/api/"):
            handler.reply(404, {"message": f"Cannot {method} {path}", "error": "Not Found", "statusCode": 404})
            return
        if not self.authorized(self.api_key_from(handler, query)):
            handler.reply(401, {"message": "Unauthorized", "statusCode": 401})
            return
        parts = path.split("/")[3:]  # after /api/sessions
        if path == "/api/sessions" and method == "GET":
            every = query.get("all", ["false"])[0] == "true"
            handler.reply(200, [self.info(s) for s in self.sessions.values()
                                if every or self.native(s["status"]) != "STOPPED"])
        elif path == "/api/sessions" and method == "POST":
            self._create(handler)
        elif path.startswith("/api/sessions/") and len(parts) == 1 and method == "GET":
            found = self.session(parts[0])
            handler.reply(*((200, self.info(found)) if found else self._not_found()))
        elif path.startswith("/api/sessions/") and len(parts) == 2 and parts[1] in ("start", "restart") \
                and method == "POST":
            found = self.session(parts[0])
            if found is None:
                handler.reply(*self._not_found())
                return
            if parts[1] == "start" and self.native(found["status"]) != "STOPPED":
                handler.reply(422, {"message": f"Session '{parts[0]}' is already started.",
                                    "error": "Unprocessable Entity", "statusCode": 422})
                return
            self.revive(parts[0])
            handler.reply(201, self.info(self.session(parts[0]) or found))
        else:
            handler.reply(404, {"message": f"Cannot {method} {path}", "error": "Not Found", "statusCode": 404})

    def _create(self, handler: Any) -> None:
        body = handler.read_json()
        if not isinstance(body, dict) or not isinstance(body.get("name"), str) or not body["name"]:
            handler.reply(400, {"message": ["name must be a string"], "error": "Bad Request", "statusCode": 400})
            return
        name = body["name"]
        metadata = (body.get("config") or {}).get("metadata") or {}
        with self._lock:
            if name in self._sessions:
                handler.reply(422, {"message": f"Session '{name}' already exists. Use PUT to update it.",
                                    "error": "Unprocessable Entity", "statusCode": 422})
                return
            self._sessions[name] = {"session_id": name,
                                    "status": self.create_status if body.get("start") else "disconnected",
                                    "phone_number": None, "workspace_id": metadata.get("workspace_id")}
        handler.reply(201, self.info(self.session(name) or {}))

    @staticmethod
    def _not_found() -> tuple[int, dict[str, Any]]:
        return 404, {"message": "Session not found", "error": "Not Found", "statusCode": 404}


def main(argv: list[str] | None = None) -> int:
    args = argument_parser("python -m tools.waha_standin", "Stand-in for WAHA.", default_port=3000).parse_args(argv)
    standin = WahaStandin(args.api_key, host=args.host, port=args.port, create_status=args.create_status,
                          verbose=not args.quiet)
    return serve_forever(standin, "WAHA", args)


if __name__ == "__main__":
    raise SystemExit(main())
