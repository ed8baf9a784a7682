"""The server plumbing every WhatsApp stand-in shares: a real HTTP server on a background thread,
failure modes, a session store, a request log and a control endpoint.

A flavor (``tools/whatsapp_standin.py`` for seed 003's Node.js service, ``waha_standin.py``,
``wwebjs_api_standin.py``, ``evolution_standin.py``) subclasses :class:`StandinBase` and implements
:meth:`StandinBase.route` (its paths, headers, status codes and bodies), :meth:`StandinBase.api_key_from`
and :meth:`StandinBase.is_create`.

Sessions are kept in the reconcile's vocabulary (``connected``, ``initializing``, ``qr_required``,
``disconnected``, ``failed``) or as one of the flavor's own states (:attr:`StandinBase.NATIVE_STATES`);
each flavor answers with its native state (:meth:`StandinBase.native`).

Failure switches, for tests and demos (:meth:`StandinBase.set_mode` from Python, or ``POST /_control``
with JSON ``{"mode": ..., "path": ..., "method": ...}``; ``/_control`` needs no key, so bind to
localhost):

- ``ok``: normal answers;
- ``down``: the connection is closed without an answer (a crashed process behind a proxy);
  :meth:`StandinBase.stop` closes the port for a genuine "connection refused";
- ``slow``: answers only after ``slow_seconds``;
- ``error500``: HTTP 500; ``malformed``: HTTP 200 with a body that is not JSON;
- ``wrong_shape``: HTTP 200 with valid JSON of the wrong structure.

A mode may be limited to one path (``path="/x"``, or a prefix: ``path="/session/status/*"``)
and/or method. A wrong key: set :attr:`StandinBase.api_key` to another value. ``/_control`` also
takes ``add_session`` (``{"session_id", "status", "phone_number", "workspace_id"}``),
``remove_session`` (an id), ``set_status`` (``{"session_id", "status"}``), ``log_out`` (an id:
its login is gone, as after a logout from the phone; see :meth:`StandinBase.log_out`), ``clear_sessions``,
``create_status`` and ``slow_seconds``. Received requests are logged as ``(method, path)`` without
the query string (:attr:`StandinBase.requests`), so the key never appears in them;
:attr:`StandinBase.max_in_flight` is the most requests it answered at once.
"""

from __future__ import annotations

import hmac
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

MODES = ("ok", "down", "slow", "error500", "malformed", "wrong_shape")
CREATE_STATUSES = ("initializing", "qr_required")
SESSION_STATUSES = ("connected", "initializing", "qr_required", "disconnected", "failed")
CONTROL_PATH = "/_control"


class StandinBase:
    """A stand-in server, run on a background thread; a context manager.

    ``port=0`` (the default) binds a random free port; read it back from :attr:`port` / :attr:`url`.
    """

    FLAVOR = ""
    SERVER_VERSION = "whatsapp-standin/1.0"
    NATIVE: dict[str, str] = {}  # reconcile status -> the flavor's own state
    NATIVE_STATES: tuple[str, ...] = ()
    LOGGED_OUT = "qr_required"  # what the flavor reports for a session whose login is gone

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
        self._logged_out: set[str] = set()  # sessions whose WhatsApp login is gone: a restart shows a QR code
        self._requests: list[tuple[str, str]] = []
        self._in_flight = 0
        self.max_in_flight = 0
        self._mode = "ok"
        self._mode_path: str | None = None
        self._mode_method: str | None = None
        # Set on stop and on every mode change, so a "slow" handler does not outlive its test.
        self._wake = threading.Event()
        self._started = time.monotonic()
        self._server = _Server((host, port), _Handler, self)
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------------
    def start(self) -> StandinBase:
        if self._thread is None:
            self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                            name=f"{self.FLAVOR}-standin-{self.port}", daemon=True)
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

    def __enter__(self) -> Any:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(url={self.url!r}, mode={self.mode!r}, sessions={len(self._sessions)})"

    @property
    def host(self) -> str:
        return str(self._server.server_address[0])

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def connection_json(self, api_key: str | None = None, timeout: float | None = None, **extra: Any) -> str:
        """An ``AIRFLOW_CONN_WHATSAPP_SERVICE`` value (JSON form) pointing at this stand-in; ``extra``
        (e.g. ``concurrency``, ``budget_seconds``) goes to the connection's extra with the flavor."""
        conn: dict[str, Any] = {"conn_type": "http", "host": self.host, "port": self.port,
                                "password": self.api_key if api_key is None else api_key}
        extra = {**({"flavor": self.FLAVOR} if self.FLAVOR != "seed" else {}), **extra}
        if timeout is not None:
            extra["timeout"] = timeout
        if extra:
            conn["extra"] = extra
        return json.dumps(conn)

    # -- switches ----------------------------------------------------------------------------------
    @property
    def mode(self) -> str:
        return self._mode

    def set_mode(self, mode: str, *, path: str | None = None, method: str | None = None) -> None:
        """Switch failure mode; ``path`` (exact, or a prefix ending in ``*``) / ``method`` limit it."""
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; one of {', '.join(MODES)}")
        with self._lock:
            self._mode, self._mode_path = mode, path
            self._mode_method = method.upper() if method else None
            self._wake.set()
            self._wake = threading.Event()

    def mode_for(self, method: str, path: str) -> str:
        with self._lock:
            wanted = self._mode_path
            if wanted is not None and not (path.startswith(wanted[:-1]) if wanted.endswith("*") else path == wanted):
                return "ok"
            if self._mode_method is not None and method != self._mode_method:
                return "ok"
            return self._mode

    # -- sessions ----------------------------------------------------------------------------------
    def _check_status(self, status: str) -> None:
        if status not in SESSION_STATUSES and status not in self.NATIVE_STATES:
            raise ValueError(f"unknown session status {status!r}; one of "
                             f"{', '.join(SESSION_STATUSES + self.NATIVE_STATES)}")

    def add_session(self, session_id: str, status: str = "connected", phone_number: str | None = None,
                    workspace_id: int | str | None = 1) -> None:
        self._check_status(status)
        with self._lock:
            self._sessions[session_id] = {"session_id": session_id, "status": status,
                                          "phone_number": phone_number, "workspace_id": workspace_id}
            self._logged_out.discard(session_id)

    def set_session_status(self, session_id: str, status: str) -> None:
        self._check_status(status)
        with self._lock:
            self._sessions[session_id]["status"] = status

    def remove_session(self, session_id: str) -> None:
        with self._lock:
            self._sessions.pop(session_id, None)
            self._logged_out.discard(session_id)

    def log_out(self, session_id: str) -> None:
        """What a logout from the phone does: the login is gone, the session shows the flavor's
        :attr:`LOGGED_OUT` state, and a restart or start of it ends at a QR code."""
        self.set_session_status(session_id, self.LOGGED_OUT)
        with self._lock:
            self._logged_out.add(session_id)

    def is_logged_out(self, session_id: str) -> bool:
        with self._lock:
            return session_id in self._logged_out

    def revive(self, session_id: str) -> None:
        """A (re)start of a held session: it boots with its login (``create_status``), or shows a
        QR code when the login is gone."""
        self.set_session_status(session_id, "qr_required" if self.is_logged_out(session_id) else self.create_status)

    def clear_sessions(self) -> None:
        """What a restart of the real service does: every session gone from memory."""
        with self._lock:
            self._sessions.clear()
            self._logged_out.clear()

    @property
    def sessions(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {k: dict(v) for k, v in self._sessions.items()}

    def session(self, session_id: str) -> dict[str, Any] | None:
        with self._lock:
            found = self._sessions.get(session_id)
            return None if found is None else dict(found)

    def native(self, status: str) -> str:
        """The flavor's own state for a stored status."""
        return self.NATIVE.get(status, status)

    @property
    def requests(self) -> list[tuple[str, str]]:
        """Requests received, as ``(method, path)`` without the query string (so without the key)."""
        with self._lock:
            return list(self._requests)

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    @property
    def create_attempts(self) -> int:
        """Requests that ask the service to create or start a session (one per reconnect)."""
        return sum(1 for method, path in self.requests if self.is_create(method, path))

    @property
    def restart_attempts(self) -> int:
        """Requests that ask the service to restart a session it holds (its own restart call)."""
        return sum(1 for method, path in self.requests if self.is_restart(method, path))

    @property
    def changing_requests(self) -> int:
        """Every request that asks the service to change a session (create, start, restart)."""
        return sum(1 for method, path in self.requests if self.is_create(method, path) or self.is_restart(method, path))

    # -- to implement per flavor -------------------------------------------------------------------
    def route(self, handler: _Handler, method: str, path: str, query: dict[str, list[str]]) -> None:
        raise NotImplementedError

    def api_key_from(self, handler: _Handler, query: dict[str, list[str]]) -> str | None:
        raise NotImplementedError

    def is_create(self, method: str, path: str) -> bool:
        raise NotImplementedError

    def is_restart(self, method: str, path: str) -> bool:
        """The flavor's restart call; the seed's service has none."""
        return False

    # -- used by the handlers ----------------------------------------------------------------------
    def record(self, method: str, path: str) -> None:
        with self._lock:
            self._requests.append((method, path))

    def entered(self, delta: int) -> None:
        with self._lock:
            self._in_flight += delta
            self.max_in_flight = max(self.max_in_flight, self._in_flight)

    def wait_slow(self) -> None:
        with self._lock:
            wake = self._wake
        wake.wait(self.slow_seconds)

    def authorized(self, key: str | None) -> bool:
        return key is not None and hmac.compare_digest(key.encode(), self.api_key.encode())

    def uptime(self) -> int:
        return int(time.monotonic() - self._started)

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
        if isinstance(body.get("add_session"), dict):
            item = body["add_session"]
            self.add_session(str(item["session_id"]), str(item.get("status", "connected")), item.get("phone_number"),
                             item.get("workspace_id", 1))
        if body.get("remove_session"):
            self.remove_session(str(body["remove_session"]))
        if body.get("log_out"):
            try:
                self.log_out(str(body["log_out"]))
            except KeyError:
                raise ValueError("log_out needs an existing session id") from None
        if isinstance(body.get("set_status"), dict):
            try:
                self.set_session_status(str(body["set_status"]["session_id"]), str(body["set_status"]["status"]))
            except KeyError:
                raise ValueError("set_status needs an existing 'session_id' and a 'status'") from None
        return {"mode": self.mode, "create_status": self.create_status, "slow_seconds": self.slow_seconds,
                "sessions": len(self.sessions)}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], standin: StandinBase):
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

    @property
    def server_version(self) -> str:  # type: ignore[override]
        return self.server.standin.SERVER_VERSION

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        standin = self.server.standin
        parts = urlsplit(self.path)
        path = unquote(parts.path.rstrip("/")) or "/"
        standin.record(method, path)
        if path == CONTROL_PATH:
            self._control(method)
            return
        standin.entered(1)
        try:
            mode = standin.mode_for(method, path)
            if mode == "down":
                self.close_connection = True  # nothing written: the client sees the connection drop
                return
            if mode == "slow":
                standin.wait_slow()
            elif mode == "error500":
                self.reply(500, {"error": "Internal Server Error"})
                return
            elif mode == "malformed":
                self.reply_raw(200, b'{"sessions": [{"session_id": "webjs_1_', "application/json")
                return
            elif mode == "wrong_shape":
                self.reply(200, {"data": {"items": "not what you expected"}})
                return
            standin.route(self, method, path, parse_qs(parts.query))
        finally:
            standin.entered(-1)

    def _control(self, method: str) -> None:
        standin = self.server.standin
        try:
            body = self.read_json() if method == "POST" else {}
            if not isinstance(body, dict):
                raise ValueError("control body must be a JSON object")
            self.reply(200, standin.control(body))
        except ValueError as exc:
            self.reply(400, {"error": str(exc)})

    def read_json(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            return json.loads(raw or b"null")
        except ValueError:
            return None

    def reply(self, code: int, body: Any) -> None:
        self.reply_raw(code, json.dumps(body).encode(), "application/json")

    def reply_raw(self, code: int, payload: bytes, content_type: str) -> None:
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


def parse_session_arg(value: str) -> tuple[str, int, str]:
    """``ID[:WORKSPACE[:STATUS]]`` from the command line."""
    parts = value.split(":")
    session_id = parts[0]
    workspace = int(parts[1]) if len(parts) > 1 and parts[1] else 1
    status = parts[2] if len(parts) > 2 and parts[2] else "connected"
    return session_id, workspace, status


def serve_forever(standin: StandinBase, label: str, args: Any) -> int:
    """The command-line loop of every stand-in: seed sessions, start, wait for Ctrl-C."""
    for value in args.session:
        session_id, workspace, status = parse_session_arg(value)
        standin.add_session(session_id, status, None, workspace)
        print(f"session {session_id}", flush=True)
    standin.set_mode(args.mode)
    standin.start()
    print(f"{label} stand-in listening on {standin.url} (mode {args.mode}; Ctrl-C to stop)", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        standin.stop()
    return 0


def argument_parser(prog: str, description: str, *, default_port: int) -> Any:
    import argparse

    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (0.0.0.0 inside a container)")
    parser.add_argument("--port", type=int, default=default_port, help="port (0 = a random free one)")
    parser.add_argument("--api-key", required=True, help="the key clients must send")
    parser.add_argument("--session", action="append", default=[], metavar="ID[:WORKSPACE[:STATUS]]",
                        help="start with this session (repeatable)")
    parser.add_argument("--create-status", choices=CREATE_STATUSES, default="initializing",
                        help="status of sessions the service is asked to create or start")
    parser.add_argument("--mode", choices=MODES, default="ok")
    parser.add_argument("--quiet", action="store_true", help="do not log requests")
    return parser
