"""Shared fixtures: a private AIRFLOW_HOME, and throwaway PostgreSQL and MariaDB databases.

Airflow reads its configuration when first imported, so the environment is set here, before any
test module imports it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
_HOME = tempfile.mkdtemp(prefix="airflow-tests-")
os.environ["AIRFLOW_HOME"] = _HOME
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(REPO_ROOT / "dags")
os.environ["AIRFLOW__CORE__PLUGINS_FOLDER"] = str(REPO_ROOT / "plugins")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "False"
os.environ.setdefault("PYTHONPATH", str(REPO_ROOT))
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

PG_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
MARIADB = {"host": "127.0.0.1", "port": 3306, "user": "root", "passwd": ""}


@pytest.fixture(scope="session")
def airflow_db() -> str:
    """Airflow's metadata database (SQLite in the private AIRFLOW_HOME), migrated once."""
    result = subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], capture_output=True, text=True,
                            env=os.environ.copy())
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return _HOME


def _pg_admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(sql)


@pytest.fixture(scope="session")
def pg_database() -> Iterator[Callable[[str], str]]:
    """Factory: a fresh PostgreSQL database; returns its URI. All are dropped at the end."""
    created: list[str] = []

    def make(prefix: str = "t") -> str:
        name = f"{prefix}_{uuid.uuid4().hex[:10]}".lower()
        _pg_admin(f'CREATE DATABASE "{name}"')
        created.append(name)
        return f"postgresql://postgres@127.0.0.1:5432/{name}"

    yield make
    for name in created:
        _pg_admin(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'")
        _pg_admin(f'DROP DATABASE IF EXISTS "{name}"')


@pytest.fixture(scope="session")
def mariadb_database() -> Iterator[Callable[[str], str]]:
    """Factory: a fresh MariaDB database; returns its URI. All are dropped at the end."""
    import MySQLdb

    created: list[str] = []

    def admin(sql: str) -> None:
        conn = MySQLdb.connect(**MARIADB)
        try:
            conn.cursor().execute(sql)
        finally:
            conn.close()

    def make(prefix: str = "t") -> str:
        name = f"{prefix}_{uuid.uuid4().hex[:10]}".lower()
        admin(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
        created.append(name)
        return f"mysql://root@127.0.0.1:3306/{name}"

    yield make
    for name in created:
        admin(f"DROP DATABASE IF EXISTS `{name}`")


@pytest.fixture
def connections(monkeypatch: pytest.MonkeyPatch) -> Callable[[dict[str, str]], None]:
    """Define Airflow connections for one test through ``AIRFLOW_CONN_*`` variables."""

    def define(conns: dict[str, str]) -> None:
        for conn_id, uri in conns.items():
            monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", uri)

    return define


@pytest.fixture
def smtp_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A real SMTP server on 127.0.0.1 (aiosmtpd) that keeps what it receives in ``.messages``;
    the ``smtp_default`` connection points at it."""
    import email
    import json

    from aiosmtpd.controller import Controller

    from tests.e2e.airflow_server import find_free_port

    class Sink:
        def __init__(self) -> None:
            self.messages: list[email.message.Message] = []

        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            message = email.message_from_bytes(envelope.original_content or envelope.content)
            message["X-Envelope-To"] = ", ".join(envelope.rcpt_tos)
            self.messages.append(message)
            return "250 OK"

    port = find_free_port()
    sink = Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", json.dumps({
        "conn_type": "smtp", "host": "127.0.0.1", "port": port,
        "extra": {"disable_tls": True, "disable_ssl": True, "from_email": "airflow@test.local", "retry_limit": 0}}))
    try:
        yield sink
    finally:
        controller.stop()


@pytest.fixture
def webhook_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A real HTTP server on 127.0.0.1 that keeps the JSON bodies POSTed to it in ``.bodies``;
    ``.fail_next(n, status)`` makes the next ``n`` requests answer ``status``. The connection
    ``ops_webhook`` points at it."""
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class State:
        def __init__(self) -> None:
            self.bodies: list[dict[str, Any]] = []
            self.requests = 0
            self.failures: list[int] = []
            self.lock = threading.Lock()

        def fail_next(self, n: int, status: int = 500) -> None:
            with self.lock:
                self.failures = [status] * n

    state = State()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with state.lock:
                state.requests += 1
                status = state.failures.pop(0) if state.failures else 200
                if status == 200:
                    state.bodies.append(json.loads(body))
            self.send_response(status)
            self.end_headers()
            self.wfile.write(b"ok" if status == 200 else b"boom")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.port = server.server_address[1]  # type: ignore[attr-defined]
    monkeypatch.setenv("AIRFLOW_CONN_OPS_WEBHOOK", json.dumps(
        {"conn_type": "http", "host": "127.0.0.1", "port": state.port, "schema": "http"}))
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
