"""A stand-in for the Node.js WhatsApp session service of seed 003: a real HTTP server speaking its API.

Endpoints (as in the design document, "The WhatsApp service and accounts"):

- ``GET /health`` -> ``{"status": "ok", "uptime": N, "sessions": {"total": T, "connected": C}}``
- ``GET /api/sessions?api_key=KEY`` (or header ``X-API-Key``) -> ``{"sessions": [...]}``
- ``POST /api/sessions?api_key=KEY`` with ``{"session_id", "workspace_id"}`` -> 201
  ``{"success": true, "status": "initializing"}`` (or ``qr_required``), 409 when it exists,
  401 on a wrong or missing key.

The server plumbing, failure modes (``ok``, ``down``, ``slow``, ``error500``, ``malformed``,
``wrong_shape``) and the ``/_control`` endpoint are those of :mod:`tools.whatsapp_standin_base`.

Run for the demo: ``python -m tools.whatsapp_standin --port 3001 --api-key KEY --seed-sessions 3``.
"""

from __future__ import annotations

import secrets
import string
import time
from typing import Any

from tools.whatsapp_standin_base import (  # noqa: F401 - re-exported for the tests and the demo
    CONTROL_PATH,
    CREATE_STATUSES,
    MODES,
    SESSION_STATUSES,
    StandinBase,
    argument_parser,
    serve_forever,
)


class StandinService(StandinBase):
    """The stand-in of seed 003's Node.js service (flavor ``seed``)."""

    FLAVOR = "seed"

    def api_key_from(self, handler: Any, query: dict[str, list[str]]) -> str | None:
        return next(iter(query.get("api_key", [])), None) or handler.headers.get("X-API-Key")

    def is_create(self, method: str, path: str) -> bool:
        return (method, path) == ("POST", "/api/sessions")

    def health_body(self) -> dict[str, Any]:
        sessions = self.sessions
        return {"status": "ok", "uptime": self.uptime(),
                "sessions": {"total": len(sessions),
                             "connected": sum(1 for s in sessions.values() if s["status"] == "connected")}}

    def create(self, session_id: str, workspace_id: Any) -> tuple[int, dict[str, Any]]:
        with self._lock:
            if session_id in self._sessions:
                return 409, {"success": False, "error": "Session already exists", "session_id": session_id}
            self._sessions[session_id] = {"session_id": session_id, "status": self.create_status,
                                          "phone_number": None, "workspace_id": workspace_id}
        return 201, {"success": True, "status": self.create_status, "session_id": session_id}

    def route(self, handler: Any, method: str, path: str, query: dict[str, list[str]]) -> None:
        if path == "/health" and method == "GET":
            handler.reply(200, self.health_body())
            return
        if path != "/api/sessions" or method not in ("GET", "POST"):
            handler.reply(404, {"error": f"Cannot {method} {path}"})
            return
        if not self.authorized(self.api_key_from(handler, query)):
            handler.reply(401, {"error": "Unauthorized: invalid or missing API key"})
            return
        if method == "GET":
            handler.reply(200, {"sessions": list(self.sessions.values())})
            return
        body = handler.read_json()
        if not isinstance(body, dict) or not isinstance(body.get("session_id"), str) or not body["session_id"]:
            handler.reply(400, {"success": False, "error": "session_id is required"})
            return
        handler.reply(*self.create(body["session_id"], body.get("workspace_id")))


def _webjs_session_id(workspace_id: int) -> str:
    """An id in the shape the Node.js service generates: ``webjs_<workspace>_<unix>_<8 chars>``."""
    tail = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(8))
    return f"webjs_{workspace_id}_{int(time.time())}_{tail}"


def main(argv: list[str] | None = None) -> int:
    parser = argument_parser("python -m tools.whatsapp_standin",
                             "Stand-in for the Node.js WhatsApp session service.", default_port=3001)
    parser.add_argument("--seed-sessions", type=int, default=0, metavar="N",
                        help="start with N connected sessions in workspace 1")
    args = parser.parse_args(argv)
    standin = StandinService(args.api_key, host=args.host, port=args.port, create_status=args.create_status,
                             verbose=not args.quiet)
    for number in range(args.seed_sessions):
        session_id = _webjs_session_id(1)
        standin.add_session(session_id, "connected", f"628118016{number:02d}", 1)
        print(f"session {session_id}", flush=True)
    return serve_forever(standin, "WhatsApp", args)


if __name__ == "__main__":
    raise SystemExit(main())
