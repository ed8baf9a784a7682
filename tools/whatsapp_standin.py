"""A stand-in for the Node.js WhatsApp session service: a real HTTP server speaking its API.

Endpoints (as in the design document, "The WhatsApp service and accounts"):

- ``GET /health`` -> ``{"status": "ok", "uptime": N, "sessions": {"total": T, "connected": C}}``
- ``GET /api/sessions?api_key=KEY`` (or header ``X-API-Key``) -> ``{"sessions": [...]}``
- ``POST /api/sessions?api_key=KEY`` with ``{"session_id", "workspace_id"}`` -> 201
  ``{"success": true, "status": "initializing"}`` (or ``qr_required``), 409 when it exists,
  401 on a wrong or missing key.

Failure switches, for tests and demos (``set_mode`` from Python, or ``POST /_control`` with JSON
``{"mode": ..., "path": ..., "method": ...}``; ``/_control`` needs no key, so bind to localhost):

- ``ok``: normal answers;
- ``down``: the connection is closed without an answer (a crashed process behind a proxy);
  :meth:`StandinService.stop` closes the port for a genuine "connection refused";
- ``slow``: answers only after ``slow_seconds`` (longer than a client's timeout);
- ``error500``: HTTP 500; ``malformed``: HTTP 200 with a body that is not JSON;
- ``wrong_shape``: HTTP 200 with valid JSON of the wrong structure.

A mode may be limited to one path and/or method (``set_mode("error500", path="/api/sessions",
method="POST")``). Received requests are logged as ``(method, path)`` without the query string, so
the key never appears in them.

Run for the demo: ``python -m tools.whatsapp_standin --port 3001 --api-key KEY --seed-sessions 3``.
"""

from __future__ import annotations

import argparse
import hmac
import json
import secrets
import string
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

MODES = ("ok", "down", "slow", "error500", "malformed", "wrong_shape")
CREATE_STATUSES = ("initializing", "qr_required")
SESSION_STATUSES = ("connected", "initializing", "qr_required", "disconnected", "failed")
CONTROL_PATH = "/_control"


class StandinService:
    """The stand-in server, run on a background thread; a context manager.

    ``port=0`` (the default) binds a random free port; read it back from :attr:`port` / :attr:`url`.
    """

    def __init__(self, api_key: str = "standin-api-key", *, host: str = "127.0.0.1", port: int = 0,
                 create_status: str = "initializing", slow_seconds: float = 5.0, verbose: bool = False):
        if create_status not in CREATE_STATUSES:
            raise ValueError(f"create_status must be one of {CREATE_STATUSES}, not {create_status!r}")
        self.api_key = api_key
        self.create_status = create_status
        self.slow_seconds = slow_seconds
        self.verbose = verbose
        self._lock = threading.Lock()
        self._sessions: dict[str, dict[str, Any]] = {}
        self._requests: list[tuple[str, str]] = []
        self._mode = "ok"
        self._mode_path: str | None = None
        self._mode_method: str | None = None
        # Set on stop and on every mode change, so a "slow" handler does not outlive its test.
        self._wake = threading.Event()
        self._started = time.monotonic()
        self._server = _Server((host, port), _Handler, self)
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------------
    def start(self) -> StandinService:
        if self._thread is None:
            self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                            name=f"whatsapp-standin-{self.port}", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the port: clients now get "connection refused"."""
        self._wake.set()
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> StandinService:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"StandinService(url={self.url!r}, mode={self.mode!r}, sessions={len(self._sessions)})"

    @property
    def host(self) -> str:
        return str(self._server.server_address[0])

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def connection_json(self, api_key: str | None = None, timeout: float | None = None) -> str:
        """An ``AIRFLOW_CONN_WHATSAPP_SERVICE`` value (JSON form) pointing at this stand-in."""
        conn: dict[str, Any] = {"conn_type": "http", "host": self.host, "port": self.port,
                                "password": self.api_key if api_key is None else api_key}
        if timeout is not None:
            conn["extra"] = {"timeout": timeout}
        return json.dumps(conn)

    # -- switches ----------------------------------------------------------------------------------
    @property
    def mode(self) -> str:
        return self._mode

    def set_mode(self, mode: str, *, path: str | None = None, method: str | None = None) -> None:
        """Switch failure mode; ``path`` / ``method`` limit it to matching requests."""
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; one of {', '.join(MODES)}")
        with self._lock:
            self._mode, self._mode_path = mode, path
            self._mode_method = method.upper() if method else None
            self._wake.set()
            self._wake = threading.Event()

    def mode_for(self, method: str, path: str) -> str:
        with self._lock:
            if self._mode_path is not None and path != self._mode_path:
                return "ok"
            if self._mode_method is not None and method != self._mode_method:
                return "ok"
            return self._mode

    # -- sessions ----------------------------------------------------------------------------------
    def add_session(self, session_id: str, status: str = "connected", phone_number: str | None = None,
                    workspace_id: int | str | None = 1) -> None:
        if status not in SESSION_STATUSES:
            raise ValueError(f"unknown session status {status!r}; one of {', '.join(SESSION_STATUSES)}")
        with self._lock:
            self._sessions[session_id] = {"session_id": session_id, "status": status,
                                          "phone_number": phone_number, "workspace_id": workspace_id}

    def set_session_status(self, session_id: str, status: str) -> None:
        if status not in SESSION_STATUSES:
            raise ValueError(f"unknown session status {status!r}; one of {', '.join(SESSION_STATUSES)}")
        with self._lock:
            self._sessions[session_id]["status"] = status

    def remove_session(self, session_id: str) -> None:
        with self._lock:
            self._sessions.pop(session_id, None)

    def clear_sessions(self) -> None:
        """What a restart of the real service does: every session gone from memory."""
        with self._lock:
            self._sessions.clear()

    @property
    def sessions(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {k: dict(v) for k, v in self._sessions.items()}

    @property
    def requests(self) -> list[tuple[str, str]]:
        """Requests received, as ``(method, path)`` without the query string (so without the key)."""
        with self._lock:
            return list(self._requests)

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    # -- used by the handler -----------------------------------------------------------------------
    def record(self, method: str, path: str) -> None:
        with self._lock:
            self._requests.append((method, path))

    def wait_slow(self) -> None:
        with self._lock:
            wake = self._wake
        wake.wait(self.slow_seconds)

    def authorized(self, key: str | None) -> bool:
        return key is not None and hmac.compare_digest(key.encode(), self.api_key.encode())

    def health_body(self) -> dict[str, Any]:
        with self._lock:
            connected = sum(1 for s in self._sessions.values() if s["status"] == "connected")
            total = len(self._sessions)
        return {"status": "ok", "uptime": int(time.monotonic() - self._started),
                "sessions": {"total": total, "connected": connected}}

    def create(self, session_id: str, workspace_id: Any) -> tuple[int, dict[str, Any]]:
        with self._lock:
            if session_id in self._sessions:
                return 409, {"success": False, "error": "Session already exists", "session_id": session_id}
            self._sessions[session_id] = {"session_id": session_id, "status": self.create_status,
                                          "phone_number": None, "workspace_id": workspace_id}
        return 201, {"success": True, "status": self.create_status, "session_id": session_id}

    def control(self, body: dict[str, Any]) -> dict[str, Any]:
        if "mode" in body:
            self.set_mode(str(body["mode"]), path=body.get("path"), method=body.get("method"))
        if "create_status" in body:
            if body["create_status"] not in CREATE_STATUSES:
                raise ValueError(f"create_status must be one of {CREATE_STATUSES}")
            self.create_status = body["create_status"]
        if "slow_seconds" in body:
            self.slow_seconds = float(body["slow_seconds"])
        if body.get("clear_sessions"):
            self.clear_sessions()
        return {"mode": self.mode, "create_status": self.create_status, "slow_seconds": self.slow_seconds,
                "sessions": len(self.sessions)}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], standin: StandinService):
        self.standin = standin
        super().__init__(address, handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that timed out and left makes the late answer fail with a broken pipe: expected.
        exc = sys.exc_info()[1]
        if isinstance(exc, (BrokenPipeError, ConnectionResetError, ConnectionAbortedError)):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "whatsapp-standin/1.0"

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        standin = self.server.standin
        parts = urlsplit(self.path)
        path = parts.path.rstrip("/") or "/"
        standin.record(method, path)
        if path == CONTROL_PATH:
            self._control(method)
            return
        mode = standin.mode_for(method, path)
        if mode == "down":
            self.close_connection = True  # nothing written: the client sees the connection drop
            return
        if mode == "slow":
            standin.wait_slow()
        elif mode == "error500":
            self._reply(500, {"error": "Internal Server Error"})
            return
        elif mode == "malformed":
            self._reply_raw(200, b'{"sessions": [{"session_id": "webjs_1_', "application/json")
            return
        elif mode == "wrong_shape":
            self._reply(200, {"data": {"items": "not what you expected"}})
            return
        self._route(method, path, parse_qs(parts.query))

    def _route(self, method: str, path: str, query: dict[str, list[str]]) -> None:
        standin = self.server.standin
        if path == "/health" and method == "GET":
            self._reply(200, standin.health_body())
            return
        if path != "/api/sessions" or method not in ("GET", "POST"):
            self._reply(404, {"error": f"Cannot {method} {path}"})
            return
        key = next(iter(query.get("api_key", [])), None) or self.headers.get("X-API-Key")
        if not standin.authorized(key):
            self._reply(401, {"error": "Unauthorized: invalid or missing API key"})
            return
        if method == "GET":
            self._reply(200, {"sessions": list(standin.sessions.values())})
            return
        body = self._read_json()
        if not isinstance(body, dict) or not isinstance(body.get("session_id"), str) or not body["session_id"]:
            self._reply(400, {"success": False, "error": "session_id is required"})
            return
        self._reply(*standin.create(body["session_id"], body.get("workspace_id")))

    def _control(self, method: str) -> None:
        standin = self.server.standin
        try:
            body = self._read_json() if method == "POST" else {}
            if not isinstance(body, dict):
                raise ValueError("control body must be a JSON object")
            self._reply(200, standin.control(body))
        except ValueError as exc:
            self._reply(400, {"error": str(exc)})

    def _read_json(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            return json.loads(raw or b"null")
        except ValueError:
            return None

    def _reply(self, code: int, body: Any) -> None:
        self._reply_raw(code, json.dumps(body).encode(), "application/json")

    def _reply_raw(self, code: int, payload: bytes, content_type: str) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        # The default writes the request line, query string (and key) included, to stderr.
        if self.server.standin.verbose:
            path = urlsplit(self.path).path if hasattr(self, "path") else "-"
            sys.stderr.write(f"{self.log_date_time_string()} {self.command or '-'} {path} "
                             f"{args[1] if len(args) > 1 else ''}\n")


def _webjs_session_id(workspace_id: int) -> str:
    """An id in the shape the Node.js service generates: ``webjs_<workspace>_<unix>_<8 chars>``."""
    tail = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(8))
    return f"webjs_{workspace_id}_{int(time.time())}_{tail}"


def _parse_session_arg(value: str) -> tuple[str, int, str]:
    """``ID[:WORKSPACE[:STATUS]]`` from the command line."""
    parts = value.split(":")
    session_id = parts[0]
    workspace = int(parts[1]) if len(parts) > 1 and parts[1] else 1
    status = parts[2] if len(parts) > 2 and parts[2] else "connected"
    return session_id, workspace, status


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tools.whatsapp_standin",
                                     description="Stand-in for the Node.js WhatsApp session service.")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (0.0.0.0 inside a container)")
    parser.add_argument("--port", type=int, default=3001, help="port (0 = a random free one)")
    parser.add_argument("--api-key", required=True, help="the key clients must send as api_key / X-API-Key")
    parser.add_argument("--seed-sessions", type=int, default=0, metavar="N",
                        help="start with N connected sessions in workspace 1")
    parser.add_argument("--session", action="append", default=[], metavar="ID[:WORKSPACE[:STATUS]]",
                        help="start with this session (repeatable)")
    parser.add_argument("--create-status", choices=CREATE_STATUSES, default="initializing",
                        help="status of sessions created by POST /api/sessions")
    parser.add_argument("--mode", choices=MODES, default="ok")
    parser.add_argument("--quiet", action="store_true", help="do not log requests")
    return parser.parse_args(argv)


def _seed(standin: StandinService, args: argparse.Namespace) -> Iterator[str]:
    for number in range(args.seed_sessions):
        session_id = _webjs_session_id(1)
        standin.add_session(session_id, "connected", f"628118016{number:02d}", 1)
        yield session_id
    for value in args.session:
        session_id, workspace, status = _parse_session_arg(value)
        standin.add_session(session_id, status, None, workspace)
        yield session_id


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    standin = StandinService(args.api_key, host=args.host, port=args.port, create_status=args.create_status,
                             verbose=not args.quiet)
    for session_id in _seed(standin, args):
        print(f"session {session_id}", flush=True)
    standin.set_mode(args.mode)
    standin.start()
    print(f"WhatsApp stand-in listening on {standin.url} (mode {args.mode}; Ctrl-C to stop)", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        standin.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
