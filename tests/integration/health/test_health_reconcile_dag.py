"""Whole ``health_reconcile`` runs with ``dag.test()``: MariaDB app_db, PostgreSQL central_db and
the stand-in WhatsApp service (a real HTTP server on 127.0.0.1)."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from include.branch_sync import tracking
from include.common.clock import utcnow
from include.common.db import Database
from include.health.whatsapp.accounts import add_account, ensure_accounts_table
from tests.integration.sync_helpers import fetch, one_table_per_unit, run_sql, write_config
from tools.whatsapp_standin import StandinService

API_KEY = "k3y-Never-Logged"


def empty_world(pg_database, mariadb_database, connections, tmp_path, monkeypatch) -> None:
    """Fresh MariaDB app_db and PostgreSQL central_db, and a sync config of one branch table."""
    connections({"app_db": mariadb_database("app"), "central_db": pg_database("central")})
    config = write_config(tmp_path / "sync.yaml", "central_db", ["pgsql_aa"],
                          [{"table": "c_invoice", "primary_key": ["c_invoice_id"], "cursor": "updated"}])
    monkeypatch.setenv("SYNC_CONFIG", str(config))


@pytest.fixture
def world(pg_database, mariadb_database, connections, tmp_path, monkeypatch, airflow_db):
    empty_world(pg_database, mariadb_database, connections, tmp_path, monkeypatch)
    with StandinService(API_KEY) as service:
        monkeypatch.setenv("AIRFLOW_CONN_WHATSAPP_SERVICE", service.connection_json(timeout=2))
        with Database("app_db") as db:
            ensure_accounts_table(db)
            add_account(db, "webjs_1_alive", 1, metadata={"owner": "sales"})
            add_account(db, "webjs_1_lost", 1, metadata={"owner": "support"})
            add_account(db, "webjs_2_lost", 2)
        service.add_session("webjs_1_alive", "connected", workspace_id=1)
        with Database("central_db") as db:
            tracking.ensure_schema(db)
        yield service


def load_dag(retries: int | None = None):
    """The DAG as parsed; ``retries=0`` where a test is not about the 20 s retry delay."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder="dags/health_reconcile.py")
    assert not bag.import_errors, bag.import_errors
    dag = bag.dags["health_reconcile"]
    if retries is not None:
        for task in dag.tasks:
            task.retries = retries
    return dag


def accounts():
    return {r["session_id"]: (r["status"], json.loads(r["metadata"] or "{}"))
            for r in fetch("app_db", "SELECT session_id, status, metadata FROM whatsapp_accounts")}


def mail_body(message):
    return "".join(part.get_payload(decode=True).decode() for part in message.walk() if not part.is_multipart())


def ti_states(dag_run):
    return {ti.task_id: ti.state for ti in dag_run.get_task_instances()}


def test_lost_sessions_are_disconnected_after_two_reads_and_reconnected(world, caplog):
    dag = load_dag()
    first = dag.test(run_conf={"auto_reconnect": True})
    assert first.state == "success", ti_states(first)
    assert {k: v[0] for k, v in accounts().items()} == {
        "webjs_1_alive": "connected", "webjs_1_lost": "connected", "webjs_2_lost": "connected"}  # one read: no flip
    assert not any(m == "POST" for m, _ in world.requests)

    second = dag.test(run_conf={"auto_reconnect": True})
    assert second.state == "success", ti_states(second)
    rows = accounts()
    for session in ("webjs_1_lost", "webjs_2_lost"):
        status, meta = rows[session]
        assert status == "disconnected"
        assert meta["auto_disconnected_at"].endswith("Z") and meta["reason"]
        assert meta["auto_reconnect_at"] and meta["reconnect_triggered_by"].startswith("health_reconcile")
    assert rows["webjs_1_lost"][1]["owner"] == "support"  # merged, other keys kept
    assert {s for s in world.sessions} >= {"webjs_1_lost", "webjs_2_lost"}  # re-created at the service
    assert API_KEY not in caplog.text


def test_workspace_filter_and_dry_run_change_nothing_outside(world):
    dag = load_dag()
    for _ in range(2):
        assert dag.test(run_conf={"workspace": 2, "auto_reconnect": False}).state == "success"
    rows = accounts()
    assert rows["webjs_2_lost"][0] == "disconnected" and rows["webjs_1_lost"][0] == "connected"

    before = accounts()
    world.clear_requests()
    for _ in range(2):
        assert dag.test(run_conf={"dry_run": True, "auto_reconnect": True}).state == "success"
    assert accounts() == before
    assert not any(m == "POST" for m, _ in world.requests)


def test_an_unknown_conf_key_fails_every_task_before_anything_changes(world, capfd):
    before = accounts()
    dag_run = load_dag(retries=0).test(run_conf={"dryrun": True})  # a typo of dry_run must not act for real
    assert dag_run.state == "failed"
    assert set(ti_states(dag_run).values()) == {"failed"}
    out, err = capfd.readouterr()
    assert "unknown key(s) 'dryrun'; allowed: auto_reconnect, dry_run, workspace" in out + err
    assert accounts() == before and not world.requests


@pytest.mark.parametrize("mode", ["down", "error500", "malformed", "slow"])
def test_service_failure_changes_no_row_and_fails_only_that_task(world, mode):
    dag = load_dag(retries=0)  # a retry would fail the same way, 20 s later
    assert dag.test().state == "success"  # one read recorded
    before = accounts()
    if mode == "down":
        world.stop()
    else:
        world.set_mode(mode)
    dag_run = dag.test()
    states = ti_states(dag_run)
    assert dag_run.state == "failed"
    assert states["whatsapp_sessions"] == "failed"
    assert states["batch_progress"] == "success" and states["housekeeping"] == "success"
    assert accounts() == before
    # the uptime history: the first run's check as the service said it, this one's as unreachable
    checks = fetch("app_db", "SELECT session_id, service_status FROM whatsapp_session_checks ORDER BY checked_at")
    assert sorted((r["session_id"], r["service_status"]) for r in checks) == sorted(
        [("webjs_1_alive", "connected"), ("webjs_1_lost", "not_found"), ("webjs_2_lost", "not_found")]
        + [(s, "unreachable") for s in ("webjs_1_alive", "webjs_1_lost", "webjs_2_lost")])


def test_progress_repair_interrupts_batches_of_vanished_runs_and_clean_up_keeps_recent_ones(world):
    pairs = [tracking.Pair("pgsql_aa", "c_invoice", "CInvoice", "step2.pgsql_aa")]
    with Database("central_db") as db:
        tracking.start_batch(db, "sync_20260101_000000_vanished", "branch_sync", "manual__gone", {}, pairs)
        tracking.assign_tasks(db, "sync_20260101_000000_vanished", one_table_per_unit(pairs))
        tracking.mark_started(db, "sync_20260101_000000_vanished", "pgsql_aa", "c_invoice")
        for batch_id, days in (("sync_20250101_000000_oldbatch", 45), ("sync_20261101_000000_newbatch", 3)):
            tracking.start_batch(db, batch_id, "branch_sync", f"run_{batch_id}", {}, pairs)
            tracking.finish_batch(db, batch_id, "completed")
    for batch_id, days in (("sync_20250101_000000_oldbatch", 45), ("sync_20261101_000000_newbatch", 3)):
        run_sql("central_db", "UPDATE sync_batches SET started_at = %s WHERE batch_id = %s",
                params=[(utcnow() - dt.timedelta(days=days), batch_id)])

    dry = load_dag().test(run_conf={"dry_run": True})
    assert dry.state == "success"
    assert {r["batch_id"] for r in fetch("central_db", "SELECT batch_id FROM sync_batches")} == {
        "sync_20260101_000000_vanished", "sync_20250101_000000_oldbatch", "sync_20261101_000000_newbatch"}
    assert fetch("central_db", "SELECT status FROM sync_batches WHERE batch_id = 'sync_20260101_000000_vanished'"
                 )[0]["status"] == "running"

    dag_run = load_dag().test()
    assert dag_run.state == "success", ti_states(dag_run)
    batches = {r["batch_id"]: r["status"] for r in fetch("central_db", "SELECT batch_id, status FROM sync_batches")}
    assert batches == {"sync_20260101_000000_vanished": "interrupted", "sync_20261101_000000_newbatch": "completed"}
    (row,) = fetch("central_db", "SELECT status, error_message FROM sync_progress "
                                 "WHERE batch_id = 'sync_20260101_000000_vanished'")
    assert row["status"] == "failed" and "no longer exists" in row["error_message"]
    assert not fetch("central_db", "SELECT 1 AS x FROM sync_progress WHERE batch_id = 'sync_20250101_000000_oldbatch'")
    # the WhatsApp check history is kept for the uptime windows (7 days) only
    run_sql("app_db", "INSERT INTO whatsapp_session_checks (account_id, checked_at, session_id, service_status) "
                      "VALUES (%s, %s, %s, %s), (%s, %s, %s, %s)",
            params=[(1, utcnow().replace(tzinfo=None) - dt.timedelta(days=9), "webjs_1_alive", "connected",
                     1, utcnow().replace(tzinfo=None) - dt.timedelta(days=6), "webjs_1_alive", "connected")])
    assert load_dag().test().state == "success"
    ages = [(utcnow().replace(tzinfo=None) - r["checked_at"]).days for r in fetch(
        "app_db", "SELECT checked_at FROM whatsapp_session_checks WHERE account_id = 1")]
    assert max(ages) == 6 and len(ages) == 3  # the 9-day-old row is gone; the 6-day-old one and two runs' stay


def test_certificate_batch_of_a_vanished_run_is_finalized_with_the_reason(world):
    from include.certificates import batches as cert

    with Database("app_db") as db:
        cert.ensure_schema(db)
        cert.create_batch(db, "cert_20260101_000000_vanished", dag_id="certificate_dispatch", run_id="manual__gone",
                          data_source="file", source_file="x.csv", event_name="E", event_date="2026-01-01",
                          participants=[cert.Participant(i, f"P{i}") for i in (2, 3, 4)], chunk_size=10)
        cert.record_results(db, "cert_20260101_000000_vanished", [(2, "generated", "/x.pdf", None)])
        cert.refresh_counts(db, "cert_20260101_000000_vanished")
        # A second vanished run whose participants all reached a final state before it vanished.
        cert.create_batch(db, "cert_20260101_000001_allfinal", dag_id="certificate_dispatch", run_id="manual__gone2",
                          data_source="file", source_file="y.csv", event_name="E", event_date="2026-01-01",
                          participants=[cert.Participant(i, f"Q{i}") for i in (2, 3)], chunk_size=10)
        cert.record_results(db, "cert_20260101_000001_allfinal", [(2, "generated", "/y.pdf", None)])
        cert.record_results(db, "cert_20260101_000001_allfinal", [(3, "failed", None, "font")])
    assert load_dag().test().state == "success"
    batches = {b["batch_id"]: b for b in fetch("app_db", "SELECT * FROM certificate_batches")}
    batch = batches["cert_20260101_000000_vanished"]
    assert (batch["status"], batch["success_count"], batch["failed_count"], batch["total_participants"]) == (
        "failed", 1, 2, 3)
    assert "no longer exists" in batch["error_message"] and "2 participant(s)" in batch["error_message"]
    left = fetch("app_db", "SELECT status, error_message FROM certificates WHERE status <> 'generated' "
                           "AND batch_id = 'cert_20260101_000000_vanished'")
    assert len(left) == 2 and all(r["status"] == "failed" and "no longer exists" in r["error_message"] for r in left)
    final = batches["cert_20260101_000001_allfinal"]
    assert (final["status"], final["success_count"], final["failed_count"], float(final["progress_percentage"])) == (
        "completed_with_errors", 1, 1, 100.0)
    assert final["error_message"] is None and final["completed_at"] is not None


def test_service_failure_emails_the_operators_once_per_failure(world, smtp_server, monkeypatch):
    from airflow.models.variable import Variable as VariableModel

    VariableModel.delete("health_reconcile_last_alerts")
    monkeypatch.setenv("AIRFLOW_VAR_HEALTH_RECONCILE", json.dumps(
        {"alert_emails": ["ops@branch.test", "lead@branch.test"], "alert_repeat_minutes": 60}))
    dag = load_dag(retries=0)
    world.set_mode("error500")
    first = dag.test()
    assert ti_states(first)["whatsapp_sessions"] == "failed"
    (mail,) = smtp_server.messages
    assert mail["X-Envelope-To"] == "ops@branch.test, lead@branch.test"
    assert "health_reconcile.whatsapp_sessions failed" in mail["Subject"]
    assert "WhatsApp service unavailable" in mail_body(mail) and first.run_id in mail_body(mail)
    assert API_KEY not in mail.as_string()

    # the same failure on the next run is not emailed again within alert_repeat_minutes
    assert ti_states(dag.test())["whatsapp_sessions"] == "failed"
    assert len(smtp_server.messages) == 1

    # a different failure is: the service is back but refuses the key
    world.set_mode("ok")
    monkeypatch.setenv("AIRFLOW_CONN_WHATSAPP_SERVICE", world.connection_json(api_key="not-the-key", timeout=2))
    assert ti_states(dag.test())["whatsapp_sessions"] == "failed"
    assert len(smtp_server.messages) == 2
    assert "API key rejected" in mail_body(smtp_server.messages[1])


def test_no_alert_recipients_means_the_failure_is_only_logged(world, smtp_server, monkeypatch):
    monkeypatch.setenv("AIRFLOW_VAR_HEALTH_RECONCILE", json.dumps({"retention_days": 30}))
    dag = load_dag(retries=0)
    world.stop()
    assert ti_states(dag.test())["whatsapp_sessions"] == "failed"
    assert smtp_server.messages == []


@pytest.mark.parametrize("flavor", ["seed", "waha", "wwebjs_api", "evolution"])
def test_whatsapp_sessions_against_each_service_flavor(flavor, pg_database, mariadb_database, connections, tmp_path,
                                                       monkeypatch, airflow_db, caplog):
    """One whole run pair per flavor: the connection's extra ``flavor`` picks the adapter."""
    from tools.evolution_standin import EvolutionStandin
    from tools.waha_standin import WahaStandin
    from tools.wwebjs_api_standin import WwebjsApiStandin

    standin_class = {"seed": StandinService, "waha": WahaStandin, "wwebjs_api": WwebjsApiStandin,
                     "evolution": EvolutionStandin}[flavor]
    connections({"app_db": mariadb_database("app"), "central_db": pg_database("central")})
    monkeypatch.setenv("SYNC_CONFIG", str(write_config(tmp_path / "sync.yaml", "central_db", ["pgsql_aa"], [
        {"table": "c_invoice", "primary_key": ["c_invoice_id"], "cursor": "updated"}])))
    with standin_class(API_KEY) as service:
        monkeypatch.setenv("AIRFLOW_CONN_WHATSAPP_SERVICE", service.connection_json(timeout=2))
        with Database("app_db") as db:
            ensure_accounts_table(db)
            add_account(db, "ws1-alive", 1, metadata={"owner": "sales"})
            add_account(db, "ws1-lost", 1, metadata={"owner": "support"})
            add_account(db, "ws2-back", 2, status="disconnected")
        service.add_session("ws1-alive", "connected", workspace_id=1)
        service.add_session("ws2-back", "connected", workspace_id=2)
        with Database("central_db") as db:
            tracking.ensure_schema(db)
        dag = load_dag(retries=0)
        for _ in range(2):  # the flap guard flips a session on the second read that agrees
            dag_run = dag.test(run_conf={"auto_reconnect": True})
            assert dag_run.state == "success", ti_states(dag_run)
        rows = accounts()
        assert {k: v[0] for k, v in rows.items()} == {"ws1-alive": "connected", "ws1-lost": "disconnected",
                                                      "ws2-back": "connected"}
        assert rows["ws1-lost"][1]["owner"] == "support" and rows["ws1-lost"][1]["auto_reconnect_at"]
        assert service.create_attempts == 1 and service.sessions["ws1-lost"]["status"] == "initializing"
        assert all(API_KEY not in path for _, path in service.requests)
    assert API_KEY not in caplog.text
