"""A real Airflow 3.3 deployment for end-to-end tests.

``AirflowServer`` starts ``airflow api-server``, ``airflow scheduler`` and ``airflow dag-processor``
(LocalExecutor) against a freshly created PostgreSQL metadata database, and drives the deployment
through its public REST API (``/api/v2``) with a JWT obtained from the simple auth manager.

Usage::

    with AirflowServer(extra_env={"SYNC_CONFIG": "/path/to/sync.yaml"}) as af:
        af.wait_for_dag("my_dag")
        af.unpause("my_dag")
        run_id = af.trigger("my_dag", {"key": "value"})
        assert af.wait_for_run("my_dag", run_id) == "success", af.failure_report("my_dag", run_id)

Two DAG bundles are configured: ``dags-folder`` (the repository's ``dags/``) and ``e2e-extra``
(``<AIRFLOW_HOME>/extra_dags``, see :attr:`AirflowServer.extra_dags_folder`), into which a test may
write DAG files of its own; both are re-listed every ``[dag_processor] refresh_interval`` seconds.

Environment knobs (all optional): ``E2E_PG_HOST`` (127.0.0.1), ``E2E_PG_PORT`` (5432),
``E2E_PG_USER`` (postgres, then root), ``E2E_PG_ADMIN_DB`` (test), ``E2E_KEEP_AIRFLOW_HOME=1``
keeps the temporary AIRFLOW_HOME (logs!) after stop, ``E2E_START_TIMEOUT`` (seconds, 180).

**CeleryExecutor** (``AirflowServer(executor="CeleryExecutor")``): the same three processes plus
``celery_workers`` (2) ``airflow celery worker`` processes, ``worker-1``, ``worker-2``..., each with
its own ``-H`` name, worker log-server port and task-instance hostname (``e2e-worker-N``, see
:meth:`AirflowServer.worker_of_hostname`). The executor settings are those of the compose
deployment, read from ``config/airflow-celery.env`` (:func:`celery_settings`), with the test's
:data:`CELERY_TEST_OVERRIDES`. Broker: Redis (``E2E_REDIS_URL``, default
``redis://127.0.0.1:6379/15``) with a key prefix unique to the deployment, whose keys alone are
deleted at stop; result backend: the deployment's PostgreSQL metadata database.
:meth:`AirflowServer.kill_worker` SIGKILLs a worker with its whole process tree.
"""

from __future__ import annotations

import atexit
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psutil
import psycopg
import requests
from cryptography.fernet import Fernet

REPO_ROOT = Path(__file__).resolve().parents[2]
EXPECTED_AIRFLOW_VERSION = "3.3.2"

ADMIN_USER = "admin"
EXTRA_BUNDLE_NAME = "e2e-extra"
REPO_BUNDLE_NAME = "dags-folder"

TERMINAL_RUN_STATES = ("success", "failed")
PROCESS_NAMES = ("api-server", "scheduler", "dag-processor")

# The CeleryExecutor settings the compose deployment and this harness share (one file, read by both).
# {PostgreSQL user: a migrated, never used metadata database to copy} (see _create_database).
_MIGRATED_TEMPLATES: dict[str, str] = {}
CELERY_SETTINGS_FILE = REPO_ROOT / "config" / "airflow-celery.env"
# Keys every Airflow component of a Celery deployment sets itself (values differ per host/deployment).
CELERY_DEPLOYMENT_KEYS = (
    "AIRFLOW__CELERY__BROKER_URL",
    "AIRFLOW__CELERY__RESULT_BACKEND",
    "AIRFLOW__CORE__EXECUTION_API_SERVER_URL",
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
    "AIRFLOW__API_AUTH__JWT_SECRET",
    "AIRFLOW__API__SECRET_KEY",
    "AIRFLOW__CORE__FERNET_KEY",
)
# What the test deployment changes of the shared settings, and why.
CELERY_TEST_OVERRIDES = {
    # a SIGKILLed worker's task instances are detected in 30 s instead of the deployment's 60 s
    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "30",
}


# The Celery queue the workers serve (the compose workers run the same command).
CELERY_WORKER_COMMAND = ["celery", "worker", "-q", "default"]


def celery_settings(path: Path = CELERY_SETTINGS_FILE) -> dict[str, str]:
    """``KEY=VALUE`` lines of the shared Celery settings file (docker compose ``env_file`` syntax)."""
    settings = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, sep, value = line.partition("=")
            if not sep:
                raise ValueError(f"{path}: not KEY=VALUE: {line!r}")
            settings[key.strip()] = value.strip()
    return settings


class AirflowE2EError(RuntimeError):
    """Something about the e2e deployment went wrong (start-up, a wait timing out, ...)."""


class AirflowApiError(AirflowE2EError):
    """The REST API answered with an HTTP error."""

    def __init__(self, method: str, url: str, status: int, body: str):
        self.method = method
        self.url = url
        self.status = status
        self.body = body
        super().__init__(f"{method} {url} -> HTTP {status}: {body[:4000]}")


class PostgresUnavailable(AirflowE2EError):
    pass


# --------------------------------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------------------------------


def find_free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (there is a tiny race until the server binds it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def tail_file(path: Path, lines: int = 60, max_chars: int = 12_000) -> str:
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 256 * 1024))
            data = fh.read().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return "<no log file>"
    text = "\n".join(data.splitlines()[-lines:])
    return text[-max_chars:]


def airflow_binary() -> str:
    candidates = [Path(sys.executable).with_name("airflow"), REPO_ROOT / ".venv" / "bin" / "airflow"]
    for candidate in candidates:
        if candidate.exists():
            return str(candidate)
    found = shutil.which("airflow")
    if found:
        return found
    raise AirflowE2EError(f"no `airflow` executable found (looked at {candidates} and PATH)")


def _pg_settings() -> dict[str, Any]:
    return {
        "host": os.environ.get("E2E_PG_HOST", "127.0.0.1"),
        "port": int(os.environ.get("E2E_PG_PORT", "5432")),
        "users": [os.environ["E2E_PG_USER"]] if os.environ.get("E2E_PG_USER") else ["postgres", "root"],
        "admin_db": os.environ.get("E2E_PG_ADMIN_DB", "test"),
    }


def _admin_connect(host: str, port: int, users: Iterable[str], admin_db: str) -> tuple[psycopg.Connection, str]:
    """An autocommit connection to the admin database, with the first user that works."""
    errors = []
    for user in users:
        for dbname in dict.fromkeys((admin_db, "postgres")):
            try:
                conn = psycopg.connect(
                    host=host, port=port, user=user, dbname=dbname, connect_timeout=10, autocommit=True
                )
                return conn, user
            except psycopg.OperationalError as exc:
                errors.append(f"user={user} db={dbname}: {str(exc).strip()}")
    raise PostgresUnavailable(
        f"PostgreSQL at {host}:{port} is unreachable for the e2e tests (they need it for Airflow's "
        "metadata database; set E2E_PG_HOST/E2E_PG_PORT/E2E_PG_USER to point elsewhere):\n  "
        + "\n  ".join(errors)
    )


def _format_log_content(content: list[Any]) -> str:
    out = []
    for item in content:
        if isinstance(item, str):
            out.append(item)
            continue
        item = dict(item)
        ts = item.pop("timestamp", None) or ""
        level = item.pop("level", None) or ""
        event = item.pop("event", "")
        item.pop("logger", None)
        extras = " ".join(f"{k}={v}" for k, v in item.items() if k not in ("sources",))
        head = f"{ts} [{level}] " if (ts or level) else ""
        line = f"{head}{event}"
        if extras:
            line = f"{line}  {extras}"
        out.append(line)
    return "\n".join(out)


# --------------------------------------------------------------------------------------------------
# the server
# --------------------------------------------------------------------------------------------------


class AirflowServer:
    """A real Airflow (api-server + scheduler + dag-processor, LocalExecutor) on a fresh Postgres DB."""

    def __init__(
        self,
        extra_env: Mapping[str, str] | None = None,
        *,
        dags_folder: Path | str | None = None,
        plugins_folder: Path | str | None = None,
        parallelism: int = 8,
        start_timeout: float | None = None,
        with_triggerer: bool = False,
        name: str = "",
        executor: str = "LocalExecutor",
        celery_workers: int = 2,
    ):
        self.extra_env = {k: str(v) for k, v in (extra_env or {}).items()}
        self.dags_folder = Path(dags_folder or REPO_ROOT / "dags").resolve()
        self.plugins_folder = Path(plugins_folder or REPO_ROOT / "plugins").resolve()
        self.parallelism = parallelism
        self.start_timeout = float(start_timeout or os.environ.get("E2E_START_TIMEOUT", "180"))
        self.with_triggerer = with_triggerer
        self.name = name
        if executor not in ("LocalExecutor", "CeleryExecutor"):
            raise ValueError(f"executor {executor!r} is not supported by the harness")
        self.executor = executor
        self.celery_workers = celery_workers if executor == "CeleryExecutor" else 0
        self.redis_url = os.environ.get("E2E_REDIS_URL", "redis://127.0.0.1:6379/15")
        self.redis_prefix = ""
        self.killed: set[str] = set()

        suffix = uuid.uuid4().hex[:10]
        self.db_name = f"af_e2e_{suffix}"
        self.home: Path | None = None
        self.port: int | None = None
        self.base_url: str = ""
        self.password = secrets.token_urlsafe(16)
        self.env: dict[str, str] = {}
        self.processes: dict[str, subprocess.Popen] = {}
        self._log_handles: list[Any] = []
        self._pg = _pg_settings()
        self._pg_user: str | None = None
        self._db_created = False
        self._from_template = False
        self._session = requests.Session()
        self._token: str | None = None
        self.startup_seconds: float | None = None
        self.timings: dict[str, float] = {}

    # ------------------------------------------------------------------ context manager

    def __enter__(self) -> AirflowServer:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"AirflowServer(name={self.name!r}, url={self.base_url!r}, db={self.db_name!r}, home={self.home})"

    # ------------------------------------------------------------------ paths

    @property
    def extra_dags_folder(self) -> Path:
        """A second DAG bundle (``e2e-extra``) where a test may drop DAG files of its own."""
        assert self.home is not None, "server not started"
        return self.home / "extra_dags"

    @property
    def metadata_conn_uri(self) -> str:
        return f"postgresql+psycopg://{self._pg_user}@{self._pg['host']}:{self._pg['port']}/{self.db_name}"

    def log_path(self, process: str) -> Path:
        assert self.home is not None
        return self.home / f"{process}.log"

    # ------------------------------------------------------------------ start / stop

    def start(self) -> AirflowServer:
        t0 = time.monotonic()
        try:
            self._create_database()
            self.timings["create_db"] = time.monotonic() - t0
            self.home = Path(tempfile.mkdtemp(prefix="af_e2e_home_"))
            self.extra_dags_folder.mkdir()
            (self.home / "logs").mkdir()
            self.port = find_free_port()
            self.base_url = f"http://127.0.0.1:{self.port}"
            self.env = self._build_env()

            t = time.monotonic()
            if not self._from_template:
                self._run_cli(["db", "migrate"], "db-migrate", timeout=300)
                self._save_template()
            self.timings["db_migrate"] = time.monotonic() - t

            t = time.monotonic()
            self._spawn("api-server", ["api-server", "--host", "127.0.0.1", "--port", str(self.port)])
            self._spawn("scheduler", ["scheduler", "--skip-serve-logs"])
            self._spawn("dag-processor", ["dag-processor"])
            if self.with_triggerer:
                self._spawn("triggerer", ["triggerer", "--skip-serve-logs"])
            for number in range(1, self.celery_workers + 1):
                self._spawn_worker(number)
            self._wait_healthy(deadline=t0 + self.start_timeout)
            self._wait_workers_ready(deadline=t0 + self.start_timeout)
            self._login()
            self.timings["processes_healthy"] = time.monotonic() - t
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - t0
        return self

    def stop(self) -> None:
        """Terminate every process group (SIGTERM, then SIGKILL after 5 s: the database is dropped
        right after, so a graceful shutdown saves nothing) and drop the database."""
        procs = list(self.processes.items())
        # Remember every descendant too: task processes may have started sessions of their own.
        descendants: list[psutil.Process] = []
        for _, proc in procs:
            try:
                descendants.extend(psutil.Process(proc.pid).children(recursive=True))
            except psutil.Error:
                pass
        for _, proc in procs:
            self._signal_group(proc, signal.SIGTERM)
        deadline = time.monotonic() + 5
        for _, proc in procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        for _, proc in procs:
            self._signal_group(proc, signal.SIGKILL)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        _, alive = psutil.wait_procs(descendants, timeout=0.1)
        for child in alive:
            try:
                child.kill()
            except psutil.Error:
                pass
        psutil.wait_procs(alive, timeout=5)
        self.processes.clear()
        for fh in self._log_handles:
            try:
                fh.close()
            except OSError:
                pass
        self._log_handles.clear()
        self._session.close()
        self._drop_database()
        self._delete_broker_keys()
        if self.home and self.home.exists() and not os.environ.get("E2E_KEEP_AIRFLOW_HOME"):
            shutil.rmtree(self.home, ignore_errors=True)

    @staticmethod
    def _signal_group(proc: subprocess.Popen, sig: int) -> None:
        # Even when the leader is gone its group may still hold children: signal the group regardless.
        try:
            os.killpg(proc.pid, sig)  # started with start_new_session=True: pgid == pid
        except (ProcessLookupError, PermissionError):
            pass

    # ------------------------------------------------------------------ database

    def _create_database(self) -> None:
        """A fresh metadata database: a copy of the first migrated one of this process when there
        is one (``CREATE DATABASE ... TEMPLATE`` takes well under a second; ``airflow db migrate``
        takes 10-15 s per deployment)."""
        conn, self._pg_user = _admin_connect(
            self._pg["host"], self._pg["port"], self._pg["users"], self._pg["admin_db"]
        )
        template = _MIGRATED_TEMPLATES.get(self._pg_user)
        with conn:
            conn.execute(f'CREATE DATABASE "{self.db_name}"' + (f' TEMPLATE "{template}"' if template else ""))
        self._db_created = True
        self._from_template = template is not None

    def _save_template(self) -> None:
        """Keep a copy of the just-migrated (still unused) database as the template of the next
        deployments of this process; dropped when the process exits."""
        if self._pg_user in _MIGRATED_TEMPLATES:
            return
        template = f"af_e2e_tpl_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        conn, _ = _admin_connect(self._pg["host"], self._pg["port"], [self._pg_user], self._pg["admin_db"])
        with conn:
            conn.execute(f'CREATE DATABASE "{template}" TEMPLATE "{self.db_name}"')
        _MIGRATED_TEMPLATES[self._pg_user] = template
        pg, user = dict(self._pg), self._pg_user

        def drop() -> None:
            try:
                admin, _ = _admin_connect(pg["host"], pg["port"], [user], pg["admin_db"])
                with admin:
                    admin.execute(f'DROP DATABASE IF EXISTS "{template}" WITH (FORCE)')
            except Exception as exc:  # the server may be gone at exit: say so, do not fail the run
                print(f"[e2e] could not drop template {template}: {exc}", file=sys.stderr)

        atexit.register(drop)

    def _drop_database(self) -> None:
        if not self._db_created:
            return
        try:
            conn, _ = _admin_connect(self._pg["host"], self._pg["port"], [self._pg_user], self._pg["admin_db"])
        except PostgresUnavailable as exc:
            print(f"[e2e] could not drop {self.db_name}: {exc}", file=sys.stderr)
            return
        with conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (self.db_name,),
            )
            for attempt in range(5):
                try:
                    conn.execute(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)')
                    break
                except psycopg.errors.ObjectInUse:
                    time.sleep(1 + attempt)
        self._db_created = False

    # ------------------------------------------------------------------ environment & processes

    def _build_env(self) -> dict[str, str]:
        assert self.home is not None and self.port is not None
        env = {
            k: v
            for k, v in os.environ.items()
            # Don't let the developer's / CI's own Airflow configuration leak in.
            if not k.startswith(("AIRFLOW__", "AIRFLOW_CONN_", "AIRFLOW_VAR_")) and k != "AIRFLOW_HOME"
        }
        venv_bin = str(Path(airflow_binary()).parent)
        passwords_file = self.home / "simple_auth_manager_passwords.json"
        passwords_file.write_text(json.dumps({ADMIN_USER: self.password}))
        bundles = [
            {
                "name": REPO_BUNDLE_NAME,
                "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
                "kwargs": {"path": str(self.dags_folder)},
            },
            {
                "name": EXTRA_BUNDLE_NAME,
                "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
                "kwargs": {"path": str(self.extra_dags_folder)},
            },
        ]
        pythonpath = [str(REPO_ROOT)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])
        env.update(
            {
                "AIRFLOW_HOME": str(self.home),
                "PATH": venv_bin + os.pathsep + env.get("PATH", "/usr/bin:/bin"),
                "PYTHONPATH": os.pathsep.join(pythonpath),
                "PYTHONUNBUFFERED": "1",
                "NO_COLOR": "1",
                # [core]
                "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags_folder),
                "AIRFLOW__CORE__PLUGINS_FOLDER": str(self.plugins_folder),
                "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
                "AIRFLOW__CORE__PARALLELISM": str(self.parallelism),
                "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
                "AIRFLOW__CORE__AUTH_MANAGER": (
                    "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
                ),
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN_USER}:admin",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords_file),
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.base_url}/execution/",
                "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "60",
                # A loaded 2-core machine answers the execution API slower than the 5 s default: a task
                # whose start call times out is failed before it runs (seen at load average 15).
                "AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT": "30",
                # [database]
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.metadata_conn_uri,
                "AIRFLOW__DATABASE__SQL_ALCHEMY_POOL_SIZE": "3",
                "AIRFLOW__DATABASE__SQL_ALCHEMY_MAX_OVERFLOW": "5",
                # [api] / [api_auth] / [execution_api]
                "AIRFLOW__API__BASE_URL": self.base_url,
                "AIRFLOW__API__HOST": "127.0.0.1",
                "AIRFLOW__API__PORT": str(self.port),
                "AIRFLOW__API__WORKERS": "1",
                "AIRFLOW__API__SECRET_KEY": secrets.token_hex(16),
                "AIRFLOW__API__MAXIMUM_PAGE_LIMIT": "1000",
                "AIRFLOW__API__EXPOSE_CONFIG": "True",
                "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
                # [scheduler]
                "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
                "AIRFLOW__SCHEDULER__JOB_HEARTBEAT_SEC": "2",
                "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.5",
                "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
                "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "True",
                # [dag_processor]
                "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST": json.dumps(bundles),
                "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_STORAGE_PATH": str(self.home / "bundles"),
                "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
                "AIRFLOW__DAG_PROCESSOR__BUNDLE_REFRESH_CHECK_INTERVAL": "2",
                "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "5",
                "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "2",
                "AIRFLOW__DAG_PROCESSOR__PRINT_STATS_INTERVAL": "10",
                "AIRFLOW__DAG_PROCESSOR__STALE_DAG_THRESHOLD": "30",
                # [logging]: workers on the same host; serve-logs is not started (--skip-serve-logs)
                "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(self.home / "logs"),
                "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(find_free_port()),
                "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(find_free_port()),
                "AIRFLOW__LOGGING__COLORED_CONSOLE_LOG": "False",
                # the bundle's REST API client (branch_sync's pool check, recalculate-progress)
                "AIRFLOW_CONN_AIRFLOW_API": json.dumps({"conn_type": "http", "host": "127.0.0.1", "port": self.port,
                                                        "login": ADMIN_USER, "password": self.password}),
            }
        )
        if self.executor == "CeleryExecutor":
            self.redis_prefix = f"{self.db_name}:"
            env.update(celery_settings())
            env.update(CELERY_TEST_OVERRIDES)
            env.update(
                {
                    "AIRFLOW__CELERY__BROKER_URL": self.redis_url,
                    # kombu prefixes every key of this deployment: only they are deleted at stop
                    "AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__GLOBAL_KEYPREFIX": self.redis_prefix,
                    "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + self.metadata_conn_uri,
                    "AIRFLOW__CORE__HOSTNAME_CALLABLE": "tests.e2e.worker_hostname.hostname",
                }
            )
        env.update(self.extra_env)
        return env

    def _run_cli(self, args: list[str], log_name: str, timeout: float) -> None:
        assert self.home is not None
        log = self.log_path(log_name)
        with open(log, "wb") as fh:
            try:
                result = subprocess.run(
                    [airflow_binary(), *args],
                    env=self.env,
                    cwd=str(self.home),
                    stdin=subprocess.DEVNULL,
                    stdout=fh,
                    stderr=subprocess.STDOUT,
                    timeout=timeout,
                    start_new_session=True,
                )
            except subprocess.TimeoutExpired:
                raise AirflowE2EError(
                    f"`airflow {' '.join(args)}` timed out after {timeout}s:\n{tail_file(log, 80)}"
                ) from None
        if result.returncode != 0:
            raise AirflowE2EError(
                f"`airflow {' '.join(args)}` failed with exit code {result.returncode}:\n{tail_file(log, 80)}"
            )

    def _spawn(self, name: str, args: list[str], env: Mapping[str, str] | None = None) -> None:
        fh = open(self.log_path(name), "ab")
        self._log_handles.append(fh)
        self.processes[name] = subprocess.Popen(
            [airflow_binary(), *args],
            env=dict(env or self.env),
            cwd=str(self.home),
            stdin=subprocess.DEVNULL,
            stdout=fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    # ------------------------------------------------------------------ Celery workers

    @staticmethod
    def worker_hostname(number: int) -> str:
        """The hostname worker ``number`` records on the task instances it runs."""
        return f"e2e-worker-{number}"

    def worker_of_hostname(self, hostname: str) -> str:
        """The process name (``worker-N``) of a task instance's ``hostname``."""
        for number in range(1, self.celery_workers + 1):
            if hostname == self.worker_hostname(number):
                return f"worker-{number}"
        raise KeyError(f"no e2e worker has the hostname {hostname!r}")

    def _spawn_worker(self, number: int) -> None:
        env = {
            **self.env,
            "E2E_WORKER_HOSTNAME": self.worker_hostname(number),
            # two workers on one host: each serves its logs on a port of its own
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(find_free_port()),
        }
        self._spawn(f"worker-{number}", [*CELERY_WORKER_COMMAND, "-H", f"w{number}@%h"], env)

    def _wait_workers_ready(self, deadline: float) -> None:
        pending = [f"worker-{n}" for n in range(1, self.celery_workers + 1)]
        while pending:
            self.check_processes()
            pending = [w for w in pending if not re.search(r"@\S+ ready\.", tail_file(self.log_path(w), 400))]
            if not pending:
                return
            if time.monotonic() > deadline:
                raise AirflowE2EError(f"Celery workers not ready within {self.start_timeout:.0f}s: {pending}\n"
                                      f"{self.logs_tail(pending, lines=60)}")
            time.sleep(1)

    def kill_worker(self, name: str) -> list[int]:
        """SIGKILL a Celery worker and every process under it (pool children, task supervisors and
        task processes, whatever session they are in), as a machine losing power would; returns the pids."""
        proc = self.processes.pop(name)
        self.killed.add(name)
        try:
            tree = [psutil.Process(proc.pid)]
            tree += tree[0].children(recursive=True)
        except psutil.Error:
            tree = []
        for p in tree:
            try:
                p.kill()
            except psutil.Error:
                pass
        self._signal_group(proc, signal.SIGKILL)
        psutil.wait_procs(tree, timeout=10)
        proc.wait(timeout=10)
        return [p.pid for p in tree]

    def _delete_broker_keys(self) -> None:
        if not self.redis_prefix:
            return
        try:
            import redis

            client = redis.Redis.from_url(self.redis_url, socket_timeout=10)
            keys = list(client.scan_iter(match=self.redis_prefix + "*", count=1000))
            for start in range(0, len(keys), 500):
                client.delete(*keys[start:start + 500])
            client.close()
        except Exception as exc:  # noqa: BLE001 - clean-up only
            print(f"[e2e] could not delete the broker keys {self.redis_prefix}*: {exc}", file=sys.stderr)

    def check_processes(self) -> None:
        """Raise (with the logs) if one of the Airflow processes has died."""
        for name, proc in self.processes.items():
            code = proc.poll()
            if code is not None:
                raise AirflowE2EError(
                    f"airflow {name} exited with code {code}\n{self.logs_tail(processes=[name], lines=120)}"
                )

    def logs_tail(self, processes: Iterable[str] | None = None, lines: int = 40) -> str:
        if self.home is None:
            return "<server never started>"
        names = list(processes or self.processes or PROCESS_NAMES)
        parts = [f"(AIRFLOW_HOME={self.home}; set E2E_KEEP_AIRFLOW_HOME=1 to keep it)"]
        for name in names:
            parts.append(f"----- tail of {name}.log -----\n{tail_file(self.log_path(name), lines)}")
        return "\n".join(parts)

    def _wait_healthy(self, deadline: float) -> None:
        last: Any = None
        while True:
            self.check_processes()
            try:
                resp = self._session.get(f"{self.base_url}/api/v2/monitor/health", timeout=5)
                if resp.ok:
                    last = resp.json()
                    wanted = ["metadatabase", "scheduler", "dag_processor"]
                    if self.with_triggerer:
                        wanted.append("triggerer")
                    if all((last.get(k) or {}).get("status") == "healthy" for k in wanted):
                        return
                else:
                    last = f"HTTP {resp.status_code}: {resp.text[:500]}"
            except requests.RequestException as exc:
                last = f"{type(exc).__name__}: {exc}"
            if time.monotonic() > deadline:
                raise AirflowE2EError(
                    f"Airflow did not become healthy within {self.start_timeout:.0f}s; "
                    f"last /api/v2/monitor/health answer: {last}\n{self.logs_tail(lines=60)}"
                )
            time.sleep(1)

    def _login(self) -> None:
        resp = self._session.post(
            f"{self.base_url}/auth/token",
            json={"username": ADMIN_USER, "password": self.password},
            timeout=30,
        )
        if not resp.ok:
            raise AirflowApiError("POST", resp.url, resp.status_code, resp.text)
        self._token = resp.json()["access_token"]
        self._session.headers["Authorization"] = f"Bearer {self._token}"

    # ------------------------------------------------------------------ REST API

    def api(self, method: str, path: str, *, expect_json: bool = True, **kwargs: Any) -> Any:
        """Call the REST API and return the parsed JSON.

        ``path`` may be ``"dags"``, ``"/dags"`` or ``"/api/v2/dags"``; ``/auth/...`` and
        ``/execution/...`` are left alone.  Returns the parsed JSON (None for an empty body); raises
        :class:`AirflowApiError` carrying the response body on HTTP errors.
        """
        if path.startswith(("http://", "https://")):
            url = path
        else:
            p = "/" + path.lstrip("/")
            if not p.startswith(("/api/", "/auth/", "/execution/")):
                p = "/api/v2" + p
            url = self.base_url + p
        kwargs.setdefault("timeout", 60)
        resp = self._session.request(method.upper(), url, **kwargs)
        if resp.status_code == 401 and self._token is not None:
            self._login()  # token expired? once more with a fresh one
            resp = self._session.request(method.upper(), url, **kwargs)
        if not resp.ok:
            raise AirflowApiError(method.upper(), resp.url, resp.status_code, resp.text)
        if not resp.content:
            return None
        if not expect_json:
            return resp.text
        try:
            return resp.json()
        except ValueError:
            return resp.text

    def version(self) -> str:
        return self.api("GET", "version")["version"]

    def health(self) -> dict:
        return self.api("GET", "monitor/health")

    def _paged(self, path: str, key: str, params: dict | None = None, page: int = 1000) -> list[dict]:
        items: list[dict] = []
        offset = 0
        while True:
            data = self.api("GET", path, params={**(params or {}), "limit": page, "offset": offset})
            chunk = list(data.get(key) or [])
            items.extend(chunk)
            offset += len(chunk)
            if not chunk or offset >= data.get("total_entries", 0):
                return items

    def import_errors(self) -> list[dict]:
        """Every import error: dicts with ``filename``, ``bundle_name``, ``stack_trace``, ..."""
        return self._paged("importErrors", "import_errors")

    @staticmethod
    def format_import_errors(errors: list[dict]) -> str:
        return "\n".join(
            f"--- {e.get('bundle_name')}:{e.get('filename')}\n{e.get('stack_trace') or e.get('stacktrace')}"
            for e in errors
        )

    def dags(self, **params: Any) -> list[dict]:
        return self._paged("dags", "dags", params)

    def get_dag(self, dag_id: str) -> dict | None:
        try:
            return self.api("GET", f"dags/{quote(dag_id, safe='')}")
        except AirflowApiError as exc:
            if exc.status == 404:
                return None
            raise

    def wait_for_dag(
        self, dag_id: str, timeout: float = 120, *, parsed_after: datetime | None = None
    ) -> dict:
        """Wait until ``dag_id`` is parsed, listed and free of import errors; return its DAG record.

        ``parsed_after`` (aware datetime): additionally require a parse that finished after it, e.g.
        ``datetime.now(timezone.utc)`` taken just before rewriting a DAG file.
        """
        deadline = time.monotonic() + timeout
        printed: set[str] = set()
        while True:
            self.check_processes()
            dag = self.get_dag(dag_id)
            errors = self.import_errors()
            for err in errors:
                key = f"{err.get('bundle_name')}:{err.get('filename')}:{err.get('stack_trace')}"
                if key not in printed:
                    printed.add(key)
                    print(f"[e2e] import error while waiting for {dag_id}:\n{self.format_import_errors([err])}")
            if dag is not None and dag.get("has_import_errors"):
                raise AirflowE2EError(
                    f"DAG {dag_id} ({dag.get('fileloc')}) has import errors:\n{self.format_import_errors(errors)}"
                )
            if dag is not None and not dag.get("is_stale"):
                last = dag.get("last_parsed_time")
                if parsed_after is None or (last and _parse_ts(last) > parsed_after):
                    return dag
            if time.monotonic() > deadline:
                known = sorted(d["dag_id"] for d in self.dags())
                raise AirflowE2EError(
                    f"DAG {dag_id!r} not parsed/listed within {timeout}s (record: {dag}); known DAGs: {known}\n"
                    f"import errors:\n{self.format_import_errors(errors) or '<none>'}\n"
                    f"{self.logs_tail(['dag-processor', 'scheduler'])}"
                )
            time.sleep(1)

    def wait_for_parse(self, timeout: float = 120, bundles: Iterable[str] | None = None) -> dict[str, Any]:
        """Wait until the dag-processor has parsed every file it knows of at least once.

        Reads the "DAG File Processing Stats" table the dag-processor prints every
        ``[dag_processor] print_stats_interval`` seconds; returns ``{rel_path: {"bundle", "dags",
        "errors"}}`` for the files of ``bundles`` (default: all) from the first complete table.
        """
        deadline = time.monotonic() + timeout
        wanted = set(bundles) if bundles else None
        while True:
            self.check_processes()
            found, table = self._last_stats_table()
            if table is not None and found:
                bundle_names = set(found) if wanted is None else wanted
                rows = {r["path"]: r for r in table if r["bundle"] in bundle_names}
                listed = all(b in found for b in bundle_names) and all(
                    sum(1 for r in rows.values() if r["bundle"] == b) >= found[b] for b in bundle_names
                )
                if listed and all(r["last_run"] not in ("", "None") for r in rows.values()):
                    return rows
            if time.monotonic() > deadline:
                raise AirflowE2EError(
                    f"dag-processor did not finish a full parse within {timeout}s; last stats: {table}\n"
                    f"{self.logs_tail(['dag-processor'], lines=80)}"
                )
            time.sleep(2)

    def _last_stats_table(self) -> tuple[dict[str, int], list[dict] | None]:
        """(files found per bundle before the last stats table, rows of that table)."""
        text = tail_file(self.log_path("dag-processor"), lines=2000, max_chars=1_000_000)
        idx = text.rfind("DAG File Processing Stats")
        if idx < 0:
            return {}, None
        found = {
            m.group(2): int(m.group(1))
            for m in re.finditer(r"Found (\d+) files for bundle (\S+)", text[:idx])
        }
        block = text[idx:].split("=" * 80)[0]
        lines = [ln for ln in block.splitlines()[1:] if ln.strip()]
        # tabulate: header line, dashes line, then rows (None cells are blank).
        dash_idx = next((i for i, ln in enumerate(lines) if re.fullmatch(r"[-\s]+", ln)), None)
        if dash_idx is None:
            return found, []
        spans = [m.span() for m in re.finditer(r"-+", lines[dash_idx])]
        rows = []
        for ln in lines[dash_idx + 1 :]:
            cells = []
            for i, (start, end) in enumerate(spans):
                stop = spans[i + 1][0] if i + 1 < len(spans) else len(ln)
                cells.append(ln[start:stop].strip())
            if len(cells) < 8:
                continue
            rows.append(
                {
                    "bundle": cells[0],
                    "path": cells[1],
                    "pid": cells[2],
                    "dags": cells[4],
                    "errors": cells[5],
                    "last_run": cells[7],
                }
            )
        return found, rows

    def unpause(self, dag_id: str) -> dict:
        return self.api("PATCH", f"dags/{quote(dag_id, safe='')}", json={"is_paused": False})

    def pause(self, dag_id: str) -> dict:
        return self.api("PATCH", f"dags/{quote(dag_id, safe='')}", json={"is_paused": True})

    def trigger(self, dag_id: str, conf: dict | None = None, *, run_id: str | None = None) -> str:
        body: dict[str, Any] = {"logical_date": None, "conf": conf or {}}
        if run_id:
            body["dag_run_id"] = run_id
        run = self.api("POST", f"dags/{quote(dag_id, safe='')}/dagRuns", json=body)
        return run["dag_run_id"]

    def get_run(self, dag_id: str, run_id: str) -> dict:
        return self.api("GET", f"dags/{quote(dag_id, safe='')}/dagRuns/{quote(run_id, safe='')}")

    def wait_for_run(
        self,
        dag_id: str,
        run_id: str,
        states: Iterable[str] = TERMINAL_RUN_STATES,
        timeout: float = 300,
        poll: float = 1.0,
    ) -> str:
        """Poll the run until its state is one of ``states``; return that state."""
        states = tuple(states)
        deadline = time.monotonic() + timeout
        while True:
            self.check_processes()
            state = self.get_run(dag_id, run_id)["state"]
            if state in states:
                return state
            if time.monotonic() > deadline:
                raise AirflowE2EError(
                    f"run {dag_id}/{run_id} still {state!r} after {timeout}s (waiting for {states})\n"
                    f"task instances: {self._ti_summary(dag_id, run_id)}\n{self.logs_tail()}"
                )
            time.sleep(poll)

    def task_instances(self, dag_id: str, run_id: str) -> list[dict]:
        """All task instances of a run (mapped ones carry their ``map_index``), every page."""
        return self._paged(
            f"dags/{quote(dag_id, safe='')}/dagRuns/{quote(run_id, safe='')}/taskInstances",
            "task_instances",
            {"order_by": "id"},
        )

    def ti_states(self, dag_id: str, run_id: str) -> dict[tuple[str, int], str | None]:
        """``{(task_id, map_index): state}`` for the run."""
        return {(ti["task_id"], ti["map_index"]): ti["state"] for ti in self.task_instances(dag_id, run_id)}

    def _ti_summary(self, dag_id: str, run_id: str) -> str:
        try:
            return ", ".join(
                f"{t}{'' if m == -1 else f'[{m}]'}={s}" for (t, m), s in sorted(self.ti_states(dag_id, run_id).items())
            )
        except Exception as exc:  # noqa: BLE001 - diagnostics only
            return f"<unavailable: {exc}>"

    def clear_failed(self, dag_id: str, run_id: str, **overrides: Any) -> list[dict]:
        """Clear the run's failed (and upstream_failed) task instances and reset the run to queued."""
        body = {
            "dag_run_id": run_id,
            "only_failed": True,
            "dry_run": False,
            "reset_dag_runs": True,
            **overrides,
        }
        data = self.api("POST", f"dags/{quote(dag_id, safe='')}/clearTaskInstances", json=body)
        return list(data.get("task_instances") or [])

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int = 1, map_index: int = -1) -> str:
        path = (
            f"dags/{quote(dag_id, safe='')}/dagRuns/{quote(run_id, safe='')}/taskInstances/"
            f"{quote(task_id, safe='')}/logs/{int(try_number)}"
        )
        params: dict[str, Any] = {"full_content": "true", "map_index": map_index}
        chunks = []
        for _ in range(20):
            data = self.api("GET", path, params=params, headers={"Accept": "application/json"})
            chunks.append(_format_log_content(data.get("content") or []))
            token = data.get("continuation_token")
            if not token:
                break
            params["token"] = token
            if not data.get("content"):
                break
        return "\n".join(c for c in chunks if c)

    def failure_report(self, dag_id: str, run_id: str, max_logs: int = 5) -> str:
        """Human-readable account of a run: TI states plus the logs of failed task instances."""
        parts = [f"run {dag_id}/{run_id}: {self._ti_summary(dag_id, run_id)}"]
        try:
            tis = self.task_instances(dag_id, run_id)
        except Exception as exc:  # noqa: BLE001
            return f"{parts[0]}\n<task instances unavailable: {exc}>"
        bad = [ti for ti in tis if ti["state"] in ("failed", "upstream_failed", "up_for_retry")]
        for ti in bad[:max_logs]:
            if ti["state"] == "upstream_failed":
                continue
            try:
                log = self.task_log(dag_id, run_id, ti["task_id"], ti["try_number"] or 1, ti["map_index"])
            except Exception as exc:  # noqa: BLE001
                log = f"<log unavailable: {exc}>"
            parts.append(f"===== {ti['task_id']}[{ti['map_index']}] try {ti['try_number']} =====\n{log[-6000:]}")
        return "\n".join(parts)

    # --- small conveniences that don't need a restart

    def set_variable(self, key: str, value: Any) -> None:
        value = value if isinstance(value, str) else json.dumps(value)
        try:
            self.api("POST", "variables", json={"key": key, "value": value})
        except AirflowApiError as exc:
            if exc.status != 409:
                raise
            self.api("PATCH", f"variables/{quote(key, safe='')}", json={"key": key, "value": value})


def _parse_ts(value: str) -> datetime:
    dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)
