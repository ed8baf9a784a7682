"""``health_reconcile`` in deployments that lack some of the contract's connections, with
``dag.test()``: a part whose connection is not defined is skipped with one line naming it; a
defined connection that fails still fails its task."""

from __future__ import annotations

import logging
import socket

import pytest

from include.certificates import batches as certificate_batches
from include.common.db import Database
from include.health.whatsapp.accounts import add_account, ensure_accounts_table
from tests.integration.health.test_health_reconcile_dag import API_KEY, accounts, load_dag, ti_states
from tests.integration.sync_helpers import write_config
from tools.whatsapp_standin import StandinService

NOT_DEFINED = "connection 'central_db' is not defined in this deployment"


@pytest.fixture
def whatsapp_only(mariadb_database, connections, tmp_path, monkeypatch, airflow_db):
    """app_db and the WhatsApp service; the sync config names ``central_db``, which is not defined."""
    for conn_id in ("CENTRAL_DB", "WHATSAPP_SERVICE"):
        monkeypatch.delenv(f"AIRFLOW_CONN_{conn_id}", raising=False)
    connections({"app_db": mariadb_database("wa_only")})
    monkeypatch.setenv("SYNC_CONFIG", str(write_config(tmp_path / "sync.yaml", "central_db", ["pgsql_aa"], [
        {"table": "c_invoice", "primary_key": ["c_invoice_id"], "cursor": "updated"}])))
    with StandinService(API_KEY) as service:
        with Database("app_db") as db:
            ensure_accounts_table(db)
            add_account(db, "webjs_1_alive", 1)
            add_account(db, "webjs_1_lost", 1)
        service.add_session("webjs_1_alive", "connected", workspace_id=1)
        yield service, monkeypatch


def test_without_central_db_the_run_succeeds_with_the_whatsapp_part_done(whatsapp_only, caplog):
    caplog.set_level(logging.INFO)
    service, monkeypatch = whatsapp_only
    monkeypatch.setenv("AIRFLOW_CONN_WHATSAPP_SERVICE", service.connection_json(timeout=2))
    dag = load_dag(retries=0)
    for _ in range(2):  # the flap guard: two reads in a row
        dag_run = dag.test(run_conf={"auto_reconnect": True})
        assert dag_run.state == "success", ti_states(dag_run)
        assert set(ti_states(dag_run).values()) == {"success"}
    assert {k: v[0] for k, v in accounts().items()} == {"webjs_1_alive": "connected", "webjs_1_lost": "disconnected"}
    assert "webjs_1_lost" in service.sessions  # re-created: the WhatsApp part did all its work
    log = "\n".join(caplog.messages)
    # one line per part per run, naming the connection: the sync progress and the sync housekeeping
    assert log.count(f"sync batch progress skipped: {NOT_DEFINED}") == 2
    assert log.count(f"sync housekeeping skipped: {NOT_DEFINED}") == 2
    assert "isn't defined" not in log  # no task tripped over the missing connection
    with Database("app_db") as db:  # the certificate part ran: its tracking tables exist
        certificate_batches.ensure_schema(db)
        assert db.fetchall(f"SELECT * FROM {db.quote(certificate_batches.BATCHES)}") == []


def test_without_the_whatsapp_service_that_task_is_skipped_and_the_run_succeeds(whatsapp_only, caplog):
    caplog.set_level(logging.INFO)
    before = accounts()
    dag_run = load_dag(retries=0).test()
    assert dag_run.state == "success"
    assert ti_states(dag_run) == {"whatsapp_sessions": "skipped", "batch_progress": "success",
                                  "housekeeping": "success", "auto_resume": "success"}  # auto-resume is off
    assert accounts() == before
    assert "WhatsApp sessions skipped: connection 'whatsapp_service' is not defined in this deployment" in caplog.text


def test_a_defined_central_db_that_fails_still_fails_loudly(whatsapp_only, connections):
    service, monkeypatch = whatsapp_only
    monkeypatch.setenv("AIRFLOW_CONN_WHATSAPP_SERVICE", service.connection_json(timeout=2))
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    connections({"central_db": f"postgresql://postgres@127.0.0.1:{port}/central"})
    dag_run = load_dag(retries=0).test()
    assert dag_run.state == "failed"
    assert ti_states(dag_run) == {"whatsapp_sessions": "success", "batch_progress": "failed",
                                  "housekeeping": "failed", "auto_resume": "success"}  # auto-resume is off
