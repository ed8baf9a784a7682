"""The CLI (``python -m include.cli sync-status``) against real databases.

The tracking tables are created and filled with :mod:`include.tracking` through an Airflow
connection given in an ``AIRFLOW_CONN_*`` variable, then the CLI runs with only the connections a
user's shell would give it (:func:`run_cli`: in this process, or as ``python -m include.cli`` where
only a real process shows the behaviour). SQLite, and PostgreSQL and MariaDB on 127.0.0.1 (fresh
databases from the ``pg_database`` / ``mariadb_database`` fixtures of tests/conftest.py, dropped
afterwards). The same data gives the same output in every dialect.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[3]

OLD = "sync_20251107_230000_pQ4wRt5n"
NEW = "sync_20251108_143052_aB3dEf9h"
ERROR = ("Connection refused: could not connect to server at 10.0.0.5 port 5432 "
         "(is the server running and accepting TCP/IP connections?)")


def at(hour: int, minute: int, second: int, day: int = 8) -> datetime:
    return datetime(2025, 11, day, hour, minute, second, tzinfo=timezone.utc)


# -- environment -----------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def airflow_home(tmp_path_factory: pytest.TempPathFactory) -> str:
    """An AIRFLOW_HOME for the CLI subprocesses (this process gets its own from tests/conftest.py)."""
    return str(tmp_path_factory.mktemp("airflow_home"))


def conn_env_var(conn_id: str) -> str:
    return f"AIRFLOW_CONN_{conn_id.upper()}"


@pytest.fixture
def use_conn(monkeypatch: pytest.MonkeyPatch, airflow_home: str):
    """``use_conn(conn_id, uri)`` makes the connection known to this process (for the set-up)."""

    def use(conn_id: str, uri: str) -> None:
        monkeypatch.setenv(conn_env_var(conn_id), uri)

    return use


def run_cli(*args: str, conns: dict[str, str], airflow_home: str, extra_env: dict[str, str] | None = None,
            process: bool = False) -> subprocess.CompletedProcess[str]:
    """The CLI with exactly the connections ``conns`` and ``extra_env`` in its environment, as a
    shell would start it. In this process by default (``main(argv)`` with the environment swapped
    for the call: Airflow is imported here already, which saves a start-up of about 2 s per call);
    ``process=True`` runs ``python -m include.cli`` as a subprocess from the repo root, for what only
    a real process shows (Airflow's own logging set-up, the import cost of ``--help``)."""
    if process:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW_CONN_") and k != "NO_COLOR"}
        env["AIRFLOW_HOME"] = airflow_home
        env.pop("PYTHONPATH", None)  # the repo root is the working directory: `include` imports from there
        for conn_id, uri in conns.items():
            env[conn_env_var(conn_id)] = uri
        env.update(extra_env or {})
        return subprocess.run(
            [sys.executable, "-m", "include.cli", *args],
            cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=180,
        )
    from include.cli import main

    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as patch:
        for key in [k for k in os.environ if k.startswith("AIRFLOW_CONN_") or k == "NO_COLOR"]:
            patch.delenv(key)
        for conn_id, uri in conns.items():
            patch.setenv(conn_env_var(conn_id), uri)
        for key, value in (extra_env or {}).items():
            patch.setenv(key, value)
        patch.chdir(REPO_ROOT)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):  # argparse writes to sys.*
            try:
                code = main(list(args), out=out, err=err)
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
    return subprocess.CompletedProcess(["include.cli", *args], code, out.getvalue(), err.getvalue())


# -- the data --------------------------------------------------------------------------------------
def update(db: Any, table: str, key: dict[str, Any], **values: Any) -> None:
    """Set columns of one row; datetimes stored the way the dialect keeps them."""
    sets = ", ".join(f"{db.quote(c)} = %s" for c in values)
    where = " AND ".join(f"{db.quote(c)} = %s" for c in key)
    params = [db.ts(v) if isinstance(v, datetime) else v for v in values.values()]
    count = db.execute(f"UPDATE {db.quote(table)} SET {sets} WHERE {where}", (*params, *key.values()))
    assert count == 1, (table, key)


def populate(conn_id: str) -> None:
    """Two batches through the tracking API, with every timestamp then pinned to known values.

    ``OLD``: completed, 2 of 2 tables. ``NEW`` (the latest): ad_org and m_product completed
    (m_product 15,234 records in 27:03:09), c_order failed, c_invoice in progress, c_bpartner
    pending. Its ``sync_batches`` counters are left as the run leaves them (0 completed) so the
    CLI must derive its counts from the progress rows.
    """
    from include.branch_sync import tracking as t
    from include.common.db import Database

    with Database(conn_id) as db:
        t.ensure_schema(db)

        old_pairs = [t.Pair("pgsql_lmp", "ad_org", "AdOrg", "sync_table"),
                     t.Pair("pgsql_sby", "ad_org", "AdOrg", "sync_table")]
        t.start_batch(db, OLD, "branch_sync", "scheduled__2025-11-07T23:00:00+00:00", {"full_refresh": False},
                      old_pairs)
        for p in old_pairs:
            t.mark_started(db, OLD, p.connection, p.table)
            db.run(lambda cur, p=p: t.add_counts(cur, OLD, p.connection, p.table, 100, 1))
            t.mark_finished(db, OLD, p.connection, p.table, "completed")
        assert t.finish_batch(db, OLD)["status"] == "completed"
        update(db, t.BATCHES, {"batch_id": OLD}, started_at=at(23, 0, 0, day=7), completed_at=at(0, 45, 20),
               updated_at=at(0, 45, 20), duration_seconds=6320.0)
        for i, p in enumerate(old_pairs):
            update(db, t.PROGRESS, {"batch_id": OLD, "connection_name": p.connection, "table_name": p.table},
                   started_at=at(23, 0, 1 + i, day=7), completed_at=at(0, 40, 0), updated_at=at(0, 40, 0),
                   duration_seconds=6000.0 - i)

        pairs = [t.Pair("pgsql_lmp", "ad_org", "AdOrg", "sync_table"),
                 t.Pair("pgsql_sby", "m_product", "MProduct", "sync_table"),
                 t.Pair("pgsql_bdg", "c_invoice", "CInvoice", "sync_table"),
                 t.Pair("pgsql_jkt", "c_order", "COrder", "sync_table"),
                 t.Pair("pgsql_jkt", "c_bpartner", "CBPartner", "sync_table")]
        t.start_batch(db, NEW, "branch_sync", "manual__2025-11-08T14:30:52+00:00",
                      {"connections": ["pgsql_lmp", "pgsql_sby", "pgsql_bdg", "pgsql_jkt"]}, pairs)
        for p in pairs[:4]:
            t.mark_started(db, NEW, p.connection, p.table)
        db.run(lambda cur: t.add_counts(cur, NEW, "pgsql_lmp", "ad_org", 17, 0))
        db.run(lambda cur: t.add_counts(cur, NEW, "pgsql_sby", "m_product", 15_000, 5))
        db.run(lambda cur: t.add_counts(cur, NEW, "pgsql_sby", "m_product", 234, 0))
        db.run(lambda cur: t.add_counts(cur, NEW, "pgsql_bdg", "c_invoice", 5_000, 0))
        t.mark_finished(db, NEW, "pgsql_lmp", "ad_org", "completed")
        t.mark_finished(db, NEW, "pgsql_sby", "m_product", "completed")
        t.mark_finished(db, NEW, "pgsql_jkt", "c_order", "failed", ERROR)

        update(db, t.BATCHES, {"batch_id": NEW}, started_at=at(14, 30, 52), updated_at=at(14, 31, 0))
        times = {  # (connection, table): (started, completed, duration)
            ("pgsql_lmp", "ad_org"): (at(14, 30, 53), at(14, 30, 58), 5.0),
            ("pgsql_sby", "m_product"): (at(14, 30, 54), at(17, 34, 3, day=9), 97389.0),
            ("pgsql_jkt", "c_order"): (at(14, 30, 55), at(14, 32, 25), 90.0),
            ("pgsql_bdg", "c_invoice"): (at(14, 31, 0), None, None),
            ("pgsql_jkt", "c_bpartner"): (None, None, None),
        }
        for (conn, table), (started, completed, duration) in times.items():
            update(db, t.PROGRESS, {"batch_id": NEW, "connection_name": conn, "table_name": table},
                   started_at=started, completed_at=completed, duration_seconds=duration,
                   updated_at=completed or started or at(14, 30, 52))

        live = t.get_batch(db, NEW)  # the batch row's counts follow its pairs while it runs
        assert (int(live["completed_tables"]), int(live["failed_tables"]), int(live["total_tables"])) == (2, 1, 5)


def table_rows(text: str) -> list[list[str]]:
    lines = [line for line in text.splitlines() if line.startswith("│")]
    return [[c.strip() for c in line.strip("│").split("│")] for line in lines[1:]]


# -- SQLite ----------------------------------------------------------------------------------------
@pytest.fixture
def sqlite_db(tmp_path: Path, use_conn) -> dict[str, str]:
    """A filled SQLite database; returns the connections mapping for :func:`run_cli`."""
    uri = f"sqlite:///{tmp_path / 'central.db'}"  # sqlite:////abs/path: Airflow puts the path in .schema
    assert uri.startswith("sqlite:////")
    use_conn("status_test", uri)
    populate("status_test")
    return {"status_test": uri}


def test_sqlite_uri_is_parsed_to_the_file_path(tmp_path: Path, use_conn):
    """Airflow 3 parses ``sqlite:////abs/file.db`` into host '' and schema '/abs/file.db';
    :meth:`Database.connect` falls back from host to schema, so the file is the one we named."""
    from airflow.sdk import BaseHook

    from include.common.db import Database

    path = tmp_path / "parsed.db"
    use_conn("status_parse", f"sqlite:///{path}")
    conn = BaseHook.get_connection("status_parse")
    assert conn.conn_type == "sqlite"
    assert (conn.host or conn.schema) == str(path)
    with Database("status_parse") as db:
        db.execute("CREATE TABLE t (x INTEGER)")
    assert path.exists()


def test_latest_is_the_default(sqlite_db, airflow_home):
    res = run_cli("sync-status", "--conn", "status_test", conns=sqlite_db, airflow_home=airflow_home,
                  process=True)  # once as a user runs it
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert "\x1b[" not in out, "no colour when stdout is not a terminal"
    assert f"Sync Batch Details: {NEW}" in out
    assert "  Status: running\n" in out
    assert "  Started: 2025-11-08 14:30:52 UTC\n" in out
    assert "  Progress: 2/5 tables (40.0%)\n" in out
    assert "  Failed: 1 table\n" in out
    assert "  Remaining: 1 in progress, 1 pending\n" in out
    rows = table_rows(out)
    assert [(r[0], r[1]) for r in rows] == [
        ("pgsql_lmp", "ad_org"), ("pgsql_sby", "m_product"), ("pgsql_jkt", "c_order"),
        ("pgsql_bdg", "c_invoice"), ("pgsql_jkt", "c_bpartner")], "ordered by started_at, never-started last"
    assert rows[0] == ["pgsql_lmp", "ad_org", "AdOrg", "completed", "17", "5.00 s", "-"]
    assert rows[1] == ["pgsql_sby", "m_product", "MProduct", "completed", "15,234", "27:03:09", "-"]
    assert rows[2][3:6] == ["failed", "N/A", "00:01:30"] and rows[2][6].startswith("Connection refused")
    assert rows[2][6].endswith("...") and len(rows[2][6]) == 40
    assert rows[3][3:6] == ["in_progress", "N/A", "Running.."]
    assert rows[4][3:6] == ["pending", "N/A", "-"]

    latest = run_cli("sync-status", "--latest", "--conn", "status_test", conns=sqlite_db, airflow_home=airflow_home)
    assert latest.returncode == 0 and latest.stdout == out


def test_one_batch_and_failed_only(sqlite_db, airflow_home):
    res = run_cli("sync-status", OLD, "--conn", "status_test", conns=sqlite_db, airflow_home=airflow_home)
    assert res.returncode == 0, res.stderr
    assert f"Sync Batch Details: {OLD}" in res.stdout
    assert "  Status: completed\n" in res.stdout
    assert "  Progress: 2/2 tables (100.0%)\n" in res.stdout
    assert "  Duration: 01:45:20\n" in res.stdout
    assert [r[4] for r in table_rows(res.stdout)] == ["100", "100"]

    res = run_cli("sync-status", NEW, "--failed", "--conn", "status_test", "--error-width", "200",
                  conns=sqlite_db, airflow_home=airflow_home)
    assert res.returncode == 0, res.stderr
    rows = table_rows(res.stdout)
    assert rows == [["pgsql_jkt", "c_order", "COrder", "failed", "N/A", "00:01:30", ERROR]]
    assert "  Progress: 2/5 tables (40.0%)\n" in res.stdout, "counts cover every table, not the filter"


def test_json(sqlite_db, airflow_home):
    res = run_cli("sync-status", "--json", "--conn", "status_test", conns=sqlite_db, airflow_home=airflow_home)
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)  # nothing but JSON on stdout
    assert doc["batch_id"] == NEW and doc["status"] == "running"
    assert (doc["total_tables"], doc["completed_tables"], doc["failed_tables"], doc["in_progress_tables"],
            doc["pending_tables"], doc["skipped_tables"]) == (5, 2, 1, 1, 1, 0)
    assert doc["progress_percentage"] == 40.0
    assert doc["started_at"] == "2025-11-08T14:30:52.000000Z"
    assert doc["command_options"] == {"connections": ["pgsql_lmp", "pgsql_sby", "pgsql_bdg", "pgsql_jkt"]}
    statuses = {(r["connection_name"], r["table_name"]): r["status"] for r in doc["tables"]}
    assert statuses == {("pgsql_lmp", "ad_org"): "completed", ("pgsql_sby", "m_product"): "completed",
                        ("pgsql_bdg", "c_invoice"): "in_progress", ("pgsql_jkt", "c_order"): "failed",
                        ("pgsql_jkt", "c_bpartner"): "pending"}
    product = next(r for r in doc["tables"] if r["table_name"] == "m_product")
    assert product["records_processed"] == 15234 and product["records_skipped"] == 5
    assert product["duration_seconds"] == 97389.0
    assert product["completed_at"] == "2025-11-09T17:34:03.000000Z"
    order = next(r for r in doc["tables"] if r["table_name"] == "c_order")
    assert order["error_message"] == ERROR, "the full error text"

    failed = run_cli("sync-status", NEW, "--failed", "--json", "--color", "always", "--conn", "status_test",
                     conns=sqlite_db, airflow_home=airflow_home)
    assert failed.returncode == 0, failed.stderr
    assert "\x1b[" not in failed.stdout, "JSON is never coloured"
    fdoc = json.loads(failed.stdout)
    assert [r["table_name"] for r in fdoc["tables"]] == ["c_order"]
    assert fdoc["failed_tables"] == 1 and fdoc["total_tables"] == 5


def test_all(sqlite_db, airflow_home):
    res = run_cli("sync-status", "--all", "--conn", "status_test", conns=sqlite_db, airflow_home=airflow_home)
    assert res.returncode == 0, res.stderr
    assert "All Sync Batches" in res.stdout
    rows = table_rows(res.stdout)
    assert rows == [
        [NEW, "running", "2025-11-08 14:30:52", "Running..", "2/5 (40%)", "1"],
        [OLD, "completed", "2025-11-07 23:00:00", "01:45:20", "2/2 (100%)", "0"],
    ]

    res = run_cli("sync-status", "--all", "--json", "--limit", "1", "--conn", "status_test",
                  conns=sqlite_db, airflow_home=airflow_home)
    assert res.returncode == 0, res.stderr
    docs = json.loads(res.stdout)
    assert [d["batch_id"] for d in docs] == [NEW]
    assert docs[0]["completed_tables"] == 2 and "tables" not in docs[0]


def test_colour(sqlite_db, airflow_home):
    res = run_cli("sync-status", "--color", "always", "--conn", "status_test", conns=sqlite_db,
                  airflow_home=airflow_home)
    assert res.returncode == 0, res.stderr
    assert "\x1b[32mcompleted" in res.stdout and "\x1b[31mfailed" in res.stdout
    assert "\x1b[33min_progress" in res.stdout and "\x1b[90mpending" in res.stdout


def test_unknown_batch_exits_1(sqlite_db, airflow_home):
    for extra in ((), ("--json",)):
        res = run_cli("sync-status", "sync_20990101_000000_nOtThErE", *extra, "--conn", "status_test",
                      conns=sqlite_db, airflow_home=airflow_home)
        assert res.returncode == 1
        assert res.stdout == ""
        assert "sync_20990101_000000_nOtThErE" in res.stderr and "not found" in res.stderr


def test_default_connection_is_the_config_target(sqlite_db, airflow_home, tmp_path: Path):
    config = tmp_path / "sync.yaml"
    config.write_text("target: status_test\nbranches: [pgsql_lmp]\n"
                      "tables:\n  - table: ad_org\n    primary_key: [ad_org_id]\n")
    res = run_cli("sync-status", "--all", "--json", conns=sqlite_db, airflow_home=airflow_home,
                  extra_env={"SYNC_CONFIG": str(config)})
    assert res.returncode == 0, res.stderr
    assert [d["batch_id"] for d in json.loads(res.stdout)] == [NEW, OLD]

    res = run_cli("sync-status", conns=sqlite_db, airflow_home=airflow_home,
                  extra_env={"SYNC_CONFIG": str(tmp_path / "missing.yaml")})
    assert res.returncode == 1 and "--conn" in res.stderr and res.stdout == ""


def test_no_batches_yet(tmp_path: Path, use_conn, airflow_home):
    from include.branch_sync import tracking
    from include.common.db import Database

    uri = f"sqlite:///{tmp_path / 'empty.db'}"
    use_conn("status_empty", uri)
    with Database("status_empty") as db:
        tracking.ensure_schema(db)
    conns = {"status_empty": uri}

    res = run_cli("sync-status", "--conn", "status_empty", conns=conns, airflow_home=airflow_home)
    assert res.returncode == 0, res.stderr
    assert "No sync batches found" in res.stdout
    res = run_cli("sync-status", "--json", "--conn", "status_empty", conns=conns, airflow_home=airflow_home)
    assert res.returncode == 0 and json.loads(res.stdout) is None
    res = run_cli("sync-status", "--all", "--json", "--conn", "status_empty", conns=conns, airflow_home=airflow_home)
    assert res.returncode == 0 and json.loads(res.stdout) == []


def test_missing_tracking_tables(tmp_path: Path, airflow_home):
    conns = {"status_bare": f"sqlite:///{tmp_path / 'bare.db'}"}
    res = run_cli("sync-status", "--all", "--conn", "status_bare", conns=conns, airflow_home=airflow_home)
    assert res.returncode == 1
    assert "tracking tables" in res.stderr and "status_bare" in res.stderr
    assert "Traceback" not in res.stderr


def test_unreachable_database_keeps_stdout_clean(airflow_home):
    """The retry warnings (Airflow logs to stdout by default) go to stderr; stdout stays empty."""
    conns = {"status_down": "postgresql://postgres:s3cr3t-pw@127.0.0.1:1/nowhere"}
    res = run_cli("sync-status", "--json", "--conn", "status_down", conns=conns, airflow_home=airflow_home,
                  process=True)
    assert res.returncode == 1
    assert res.stdout == ""
    assert "reconnecting" in res.stderr and "status_down" in res.stderr
    assert "Traceback" not in res.stderr and "s3cr3t-pw" not in res.stderr


def test_usage_errors_and_fast_help(airflow_home):
    for args in (["sync-status", "--all", "--failed"], ["sync-status", NEW, "--all"],
                 ["sync-status", "--latest", "--all"], ["sync-status", "--limit", "5"],
                 ["sync-status", "--all", "--limit", "0"], []):
        res = run_cli(*args, conns={}, airflow_home=airflow_home)
        assert res.returncode == 2, (args, res.stderr)
        assert res.stdout == ""
    res = run_cli("sync-status", "--help", conns={}, airflow_home=airflow_home, process=True)
    assert res.returncode == 0 and "--failed" in res.stdout
    code = "import sys, include.cli; sys.exit('airflow' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT).returncode == 0, \
        "importing the CLI must not import Airflow"


def test_use_color_auto(monkeypatch: pytest.MonkeyPatch):
    from include.cli import use_color

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.delenv("NO_COLOR", raising=False)
    assert use_color("auto", Tty()) is True
    assert use_color("auto", io.StringIO()) is False
    assert use_color("always", io.StringIO()) is True
    assert use_color("never", Tty()) is False
    monkeypatch.setenv("NO_COLOR", "1")
    assert use_color("auto", Tty()) is False


# -- PostgreSQL and MariaDB ------------------------------------------------------------------------
@pytest.fixture(params=["postgresql", "mysql"])
def server_uri(request: pytest.FixtureRequest) -> str:
    """A fresh database on the local PostgreSQL or MariaDB (tests/conftest.py drops it at the end)."""
    factory = request.getfixturevalue("pg_database" if request.param == "postgresql" else "mariadb_database")
    return factory("status_cli")


def test_same_output_on_a_database_server(server_uri, sqlite_db, use_conn, airflow_home):
    """Dialect independence: PostgreSQL (aware timestamps) and MariaDB (naive UTC) give exactly
    the JSON and the text that SQLite (ISO text) gives for the same data."""
    use_conn("status_server", server_uri)
    populate("status_server")
    conns = {**sqlite_db, "status_server": server_uri}

    lite = run_cli("sync-status", "--json", "--conn", "status_test", conns=conns, airflow_home=airflow_home)
    server = run_cli("sync-status", "--json", "--conn", "status_server", conns=conns, airflow_home=airflow_home)
    assert lite.returncode == 0 and server.returncode == 0, server.stderr
    assert server.stdout == lite.stdout
    doc = json.loads(server.stdout)
    assert doc["batch_id"] == NEW and doc["completed_tables"] == 2 and doc["failed_tables"] == 1
    assert doc["started_at"] == "2025-11-08T14:30:52.000000Z"

    for args in (["--all", "--json"], [OLD, "--json"], [NEW, "--failed", "--json"], [NEW, "--failed"],
                 ["--all"], [], ["--color", "always"], ["--tz", "Asia/Jakarta"]):
        lite = run_cli("sync-status", *args, "--conn", "status_test", conns=conns, airflow_home=airflow_home)
        server = run_cli("sync-status", *args, "--conn", "status_server", conns=conns, airflow_home=airflow_home)
        assert lite.returncode == 0 and server.returncode == 0, server.stderr
        assert server.stdout == lite.stdout, args
        if "--json" in args:
            json.loads(server.stdout)

    res = run_cli("sync-status", "sync_20990101_000000_nOtThErE", "--conn", "status_server", conns=conns,
                  airflow_home=airflow_home)
    assert res.returncode == 1 and res.stdout == "" and "not found" in res.stderr
