"""``health_reconcile`` over tables adopted from the replaced Laravel system: its batch that was
still ``running`` when the power went out (no Airflow run ever ran it) becomes ``interrupted``,
and housekeeping applies the retention to the old rows as to any others. MariaDB app_db,
PostgreSQL central_db, the stand-in WhatsApp service; ``dag.test()``."""

from __future__ import annotations

import datetime as dt

import pytest

from include.common.clock import utcnow
from tests.integration import laravel_tables as laravel
from tests.integration.health.test_health_reconcile_dag import API_KEY, empty_world, load_dag, ti_states
from tests.integration.sync_helpers import fetch
from tools.whatsapp_standin import StandinService


@pytest.fixture
def adopted(pg_database, mariadb_database, connections, tmp_path, monkeypatch, airflow_db):
    empty_world(pg_database, mariadb_database, connections, tmp_path, monkeypatch)
    yesterday = utcnow().replace(tzinfo=None, microsecond=0) - dt.timedelta(days=1)
    laravel.create_sync_tables("central_db")
    sync_ids = laravel.fill_sync_history("central_db", days=60, end=yesterday)
    laravel.create_certificate_tables("app_db")
    cert_ids = laravel.fill_certificate_history("app_db", days=60, end=yesterday)
    with StandinService(API_KEY) as service:
        monkeypatch.setenv("AIRFLOW_CONN_WHATSAPP_SERVICE", service.connection_json(timeout=2))
        yield sync_ids, cert_ids


def test_the_replaced_systems_running_batch_is_interrupted_and_old_rows_age_out(adopted):
    sync_ids, cert_ids = adopted
    dag_run = load_dag(retries=0).test(run_conf={})
    assert dag_run.state == "success", ti_states(dag_run)

    stale = fetch("central_db", "SELECT status, error_message FROM sync_batches WHERE batch_id = %s", (sync_ids[-1],))
    assert [r["status"] for r in stale] == ["interrupted"] and stale[0]["error_message"]
    pairs = fetch("central_db", "SELECT status, error_message FROM sync_progress WHERE batch_id = %s", (sync_ids[-1],))
    assert sorted(r["status"] for r in pairs) == ["completed", "completed", "failed", "failed", "failed", "failed"]
    assert all("interrupted" in r["error_message"] for r in pairs if r["status"] == "failed")

    # retention (30 days by default): the Laravel rows older than that are gone, the rest kept
    kept = [r["batch_id"] for r in fetch("central_db", "SELECT batch_id FROM sync_batches ORDER BY id")]
    assert kept == sync_ids[-29:]  # one a day up to yesterday: the last 29 started within 30 days
    assert {r["batch_id"] for r in fetch("central_db", "SELECT DISTINCT batch_id FROM sync_progress")} == set(kept)
    cert_kept = {r["batch_id"] for r in fetch("app_db", "SELECT batch_id FROM certificate_batches")}
    assert cert_kept and cert_kept < set(cert_ids)
