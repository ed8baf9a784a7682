"""``sync-stats``, ``cert-status``, ``whatsapp-status`` and the stuck line of ``sync-status``, run as
a user runs them, against real SQLite tracking tables (the same functions on PostgreSQL and
MariaDB: tests/integration/console)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.console.test_console_queries import fill_accounts
from tests.unit.cli.test_cli import NEW, OLD, airflow_home, populate, run_cli, table_rows, use_conn  # noqa: F401
from tests.unit.cli.test_export import CERT, populate_certificates


@pytest.fixture
def dbs(tmp_path: Path, use_conn) -> dict[str, str]:  # noqa: F811
    conns = {"status_test": f"sqlite:///{tmp_path / 'central.db'}", "app_db": f"sqlite:///{tmp_path / 'app.db'}"}
    for conn_id, uri in conns.items():
        use_conn(conn_id, uri)
    populate("status_test")
    populate_certificates("app_db")
    fill_accounts("app_db")
    return conns


def test_sync_stats(dbs, airflow_home):  # noqa: F811
    res = run_cli("sync-stats", "--json", "--conn", "status_test", conns=dbs, airflow_home=airflow_home)
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert [r["table_name"] for r in doc["slowest_tables"]] == ["m_product", "ad_org"]
    assert doc["slowest_tables"][1]["runs"] == 3 and doc["slowest_tables"][1]["avg_duration_seconds"] == 4001.333
    assert doc["most_failing_tables"][0]["table_name"] == "c_order"
    assert [b["batch_id"] for b in doc["batch_durations"]] == [OLD, NEW]
    assert doc["batch_durations"][0]["duration_seconds"] == 6320.0 and doc["batch_durations"][1]["duration_seconds"] is None

    res = run_cli("sync-stats", "--last", "1", "--conn", "status_test", conns=dbs, airflow_home=airflow_home)
    assert res.returncode == 0, res.stderr
    assert "Slowest tables" in res.stdout and "Most failing tables" in res.stdout and "Success rate" in res.stdout
    assert ["m_product", "MProduct", "1", "27:03:09", "27:03:09", "15,234.0"] in table_rows(res.stdout)
    assert OLD not in res.stdout, "--last 1 keeps the newest batch only"
    for bad in (["--last", "0"], ["--last", "x"], ["--last", "20000"]):
        assert run_cli("sync-stats", *bad, conns=dbs, airflow_home=airflow_home).returncode == 2


def test_durations_under_a_minute_read_with_fractions_and_json_keeps_seconds(dbs, airflow_home):  # noqa: F811
    """A nightly run's sub-second tables read ``0.42 s`` in the tables (not ``00:00:00``); ``--json``
    keeps the seconds as numbers; a duration from a minute on stays ``HH:MM:SS``."""
    from include.common.db import Database

    with Database("status_test") as db:
        db.execute("UPDATE sync_progress SET duration_seconds = 0.42 WHERE table_name = 'ad_org'")
    res = run_cli("sync-stats", "--conn", "status_test", conns=dbs, airflow_home=airflow_home)
    assert res.returncode == 0, res.stderr
    slowest_table = res.stdout[res.stdout.index("Slowest tables"):res.stdout.index("Most failing tables")]
    slowest = {row[0]: row for row in table_rows(slowest_table)}
    assert slowest["ad_org"][3:5] == ["0.42 s", "0.42 s"] and slowest["m_product"][3] == "27:03:09"
    doc = json.loads(run_cli("sync-stats", "--json", "--conn", "status_test", conns=dbs,
                             airflow_home=airflow_home).stdout)
    ad_org = next(r for r in doc["slowest_tables"] if r["table_name"] == "ad_org")
    assert ad_org["avg_duration_seconds"] == 0.42 and ad_org["max_duration_seconds"] == 0.42
    res = run_cli("sync-status", NEW, "--conn", "status_test", conns=dbs, airflow_home=airflow_home)
    assert ["pgsql_lmp", "ad_org", "AdOrg", "completed", "17", "0.42 s", "-"] in table_rows(res.stdout)
    doc = json.loads(run_cli("sync-status", NEW, "--json", "--conn", "status_test", conns=dbs,
                             airflow_home=airflow_home).stdout)
    assert {t["table_name"]: t["duration_seconds"] for t in doc["tables"]
            if t["connection_name"] == "pgsql_lmp"}["ad_org"] == 0.42


def test_cert_status(dbs, airflow_home):  # noqa: F811
    res = run_cli("cert-status", "--json", conns=dbs, airflow_home=airflow_home)
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["batch_id"] == CERT and len(doc["participants"]) == 4
    assert (doc["generated_count"], doc["failed_count"], doc["pending_count"]) == (2, 1, 1)
    res = run_cli("cert-status", CERT, "--failed", conns=dbs, airflow_home=airflow_home)
    assert res.returncode == 0, res.stderr
    rows = table_rows(res.stdout)
    assert len(rows) == 1 and rows[0][0] == "4" and "column 'nama'" in rows[0][4]
    res = run_cli("cert-status", "--all", conns=dbs, airflow_home=airflow_home)
    assert res.returncode == 0 and table_rows(res.stdout)[0][:2] == [CERT, "processing"]
    res = run_cli("cert-status", "cert_20990101_000000_nOtThErE", conns=dbs, airflow_home=airflow_home)
    assert res.returncode == 1 and "cert_20990101_000000_nOtThErE" in res.stderr and res.stdout == ""
    for bad in (["nonsense"], [NEW], [CERT, "--all"], ["--all", "--failed"]):
        assert run_cli("cert-status", *bad, conns=dbs, airflow_home=airflow_home).returncode == 2, bad


def test_whatsapp_status(dbs, airflow_home):  # noqa: F811
    res = run_cli("whatsapp-status", "--workspace", "1", "--json", conns=dbs, airflow_home=airflow_home,
                  extra_env={"AIRFLOW_VAR_HEALTH_RECONCILE": '{"max_reconnect_attempts": 1, "retention_days": 9}'})
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert [a["session_id"] for a in doc["accounts"]] == ["webjs_1_a", "webjs_1_b"]
    gone = doc["accounts"][1]
    assert gone["audit"]["auto_disconnected_at"] == "2026-12-02T11:00:00.000Z"
    assert gone["reconnect"]["attempts"] == 1 and gone["reconnect"]["state"] == "capped", "tuning from the Variable"
    res = run_cli("whatsapp-status", conns=dbs, airflow_home=airflow_home)
    assert res.returncode == 0, res.stderr
    rows = table_rows(res.stdout)
    assert [r[2] for r in rows] == ["webjs_1_a", "webjs_1_b", "webjs_2_c"]
    assert rows[0][6] == "missing 1/2" and rows[1][8] == "Session not found"
    assert rows[0][5] == "-"  # no reconcile has asked the service about these sessions yet
    assert rows[2][4] == "qr_required (inactive)"
    assert run_cli("whatsapp-status", "--workspace", "one", conns=dbs, airflow_home=airflow_home).returncode == 2


def test_sync_status_says_why_it_cannot_diagnose(dbs, airflow_home):  # noqa: F811
    """The running batch has a table waiting since 2025: with the REST API down, one line says so
    and the command still succeeds; the JSON has the same in its added 'stuck' key."""
    conns = {**dbs, "airflow_api": "http://admin:s3cr3t@127.0.0.1:1"}
    res = run_cli("sync-status", "--conn", "status_test", conns=conns, airflow_home=airflow_home)
    assert res.returncode == 0, res.stderr
    stuck = [line for line in res.stdout.splitlines() if "Stuck:" in line]
    assert len(stuck) == 1 and "1 table(s) waiting to start" in stuck[0] and "unreachable" in stuck[0]
    assert "s3cr3t" not in res.stdout + res.stderr
    res = run_cli("sync-status", "--json", "--conn", "status_test", conns=conns, airflow_home=airflow_home)
    doc = json.loads(res.stdout)
    assert doc["stuck"]["waiting_pairs"] == 1 and doc["stuck"]["diagnosed"] is False
    assert doc["stuck"]["waiting_since"] == "2025-11-08T14:30:52.000000Z"
    res = run_cli("sync-status", OLD, "--json", "--conn", "status_test", conns=conns, airflow_home=airflow_home)
    assert json.loads(res.stdout)["stuck"] is None, "a finished batch is not diagnosed"
