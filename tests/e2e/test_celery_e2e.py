"""The bundle on CeleryExecutor, natively: api-server, scheduler, dag-processor and two
`airflow celery worker`s on Redis and the PostgreSQL metadata database (the settings of
docker-compose.yaml, from config/airflow-celery.env).

* certificate_dispatch: its chunks run on both workers.
* branch_sync over three branches: a run whose pool is missing fails at once, saying how to create
  it; then the work units spread over both workers, one worker is SIGKILLed with its whole process
  tree in the middle of a 200,000-row pair, the last table of a unit whose two small tables are
  done, and the run still ends `success` with no manual step: the scheduler detects the lost task
  instance, the tracking row says so at once, the retry on the survivor skips the unit's completed
  tables and resumes the pair from its last committed chunk, every count is exact and the central
  tables equal the sources.

Both tests share one deployment; the kill test runs last, as it leaves one worker alive.
"""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import quote

import pytest

from include.demo import data as demo_data
from include.common.db import Database
from tests.integration.sync_helpers import fetch, run_sql, table_rows, write_config

SYNC = "branch_sync"
CERT = "certificate_dispatch"
BRANCHES = ["pgsql_b1", "pgsql_b2", "pgsql_b3"]
TABLES = [
    {"table": "m_product", "model": "MProduct", "primary_key": ["m_product_id"], "cursor": "updated",
     "single_source": "pgsql_b1"},
    {"table": "c_invoice", "model": "CInvoice", "primary_key": ["c_invoice_id"], "cursor": "updated"},
    {"table": "c_invoiceline", "model": "CInvoiceLine", "primary_key": ["c_invoice_id", "line"], "cursor": "updated"},
    {"table": "m_pricelist", "model": "MPricelist", "primary_key": ["m_pricelist_id"]},
]
SMALL = {"c_invoice": 400, "c_invoiceline": 300, "m_pricelist": 15}
BIG_ROWS = 200_000
CHUNK_ROWS = 5_000
STALL_ID = 117_500  # inside the 24th chunk: 23 chunks (115,000 rows) are committed when it stalls


@pytest.fixture(scope="module")
def celery_deployment(airflow_server_factory, pg_database, mariadb_database, tmp_path_factory):
    uris = {conn: pg_database(f"cel_{conn[-2:]}") for conn in BRANCHES}
    uris["central_db"] = pg_database("cel_central")
    uris["app_db"] = mariadb_database("cel_app")
    base = tmp_path_factory.mktemp("e2e-celery")
    config = write_config(base / "sync.yaml", "central_db", BRANCHES, TABLES, retries=2, retry_delay_seconds=10,
                          chunk_rows=CHUNK_ROWS, pool_slots=2)
    (base / "uploads").mkdir()
    env = {f"AIRFLOW_CONN_{k.upper()}": v for k, v in uris.items()} | {
        "SYNC_CONFIG": str(config), "CERTIFICATE_UPLOAD_BASE": str(base / "uploads"),
        "CERTIFICATE_OUTPUT_BASE": str(base / "output"),
        # A task the killed worker had received but not started stays `queued` in Airflow (its
        # message is unacknowledged in Redis until the broker's visibility timeout, 24 h): the
        # scheduler's stuck-in-queued check gives it back to the survivor, after 90 s here instead
        # of the deployment's 300 s (config/airflow-celery.env), checked every 10 s instead of 30 s.
        "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": "90",
        "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT_CHECK_INTERVAL": "10"}
    server = airflow_server_factory(env, executor="CeleryExecutor")
    return server, uris, base


def _tries(server, dag_id: str, run_id: str, ti: dict) -> list[dict]:
    path = (f"dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances/{quote(ti['task_id'], safe='')}/"
            f"{ti['map_index']}/tries")
    return server.api("GET", path)["task_instances"]


def _workers(server) -> set[str]:
    return {server.worker_hostname(n) for n in range(1, server.celery_workers + 1)}


def test_certificate_chunks_run_on_both_workers(celery_deployment, connections):
    server, uris, base = celery_deployment
    connections({"app_db": uris["app_db"]})
    lines = ["No,Nama,Email"] + [f"{i},Peserta Celery {i},c{i}@example.com" for i in range(1, 25)]
    (base / "uploads" / "celery.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    server.wait_for_dag(CERT)
    server.unpause(CERT)
    run_id = server.trigger(CERT, {"data_source": "file", "file": "celery.csv", "event_name": "Celery",
                                   "event_date": "2026-12-01", "chunk_size": 6})
    assert server.wait_for_run(CERT, run_id, timeout=240) == "success", server.failure_report(CERT, run_id)
    (batch,) = fetch("app_db", "SELECT * FROM certificate_batches WHERE run_id = %s", (run_id,))
    assert (batch["status"], batch["total_participants"], batch["success_count"], batch["failed_count"]) == (
        "completed", 24, 24, 0)
    rows = fetch("app_db", "SELECT status, file_path FROM certificates WHERE batch_id = %s", (batch["batch_id"],))
    assert len(rows) == 24 and all(r["status"] == "generated" and Path(r["file_path"]).is_file() for r in rows)
    generate = [ti for ti in server.task_instances(CERT, run_id) if ti["task_id"] == "generate"]
    assert len(generate) == 4
    assert {ti["hostname"] for ti in generate} == _workers(server), [ti["hostname"] for ti in generate]


def test_branch_sync_survives_a_sigkilled_worker(celery_deployment, connections):
    server, uris, _ = celery_deployment
    connections(uris)
    for number, conn in enumerate(BRANCHES, start=1):
        with Database(conn) as db:
            demo_data.populate(db, number, {**SMALL, "m_product": 200} if conn == "pgsql_b1" else SMALL)
    # the big pair: pgsql_b1.c_invoice, 200,000 rows generated by the server
    run_sql("pgsql_b1", "DELETE FROM c_invoice",
            f"INSERT INTO c_invoice SELECT g, 'INV/1/' || g, g %% 97, DATE '2026-01-01' + g %% 300, (g %% 100000) / 100.0, "
            f"'row ' || g, TIMESTAMPTZ '2026-01-01 00:00:00+00' + g * INTERVAL '1 second' "
            f"FROM generate_series(1, {BIG_ROWS}) g")
    # The catalog's row estimates plan the units (the big pair runs last in its unit, after its
    # branch's small tables): statistics as a live ERP database has them.
    for conn in BRANCHES:
        run_sql(conn, "ANALYZE")
    # The central table exists already, with a trigger that stalls the insert of one row of the big
    # pair once (a sequence is not rolled back), so that the kill lands mid-pair, after committed chunks.
    run_sql("central_db",
            "CREATE TABLE c_invoice (sync_branch VARCHAR(64) NOT NULL, c_invoice_id BIGINT NOT NULL, "
            "documentno VARCHAR(255), c_bpartner_id BIGINT, dateinvoiced DATE, grandtotal NUMERIC(14,2), "
            "description TEXT, updated TIMESTAMP WITH TIME ZONE, PRIMARY KEY (sync_branch, c_invoice_id))",
            "CREATE SEQUENCE stall_once",
            "CREATE FUNCTION stall() RETURNS trigger AS $$ BEGIN IF NEW.c_invoice_id = " + str(STALL_ID)
            + " AND NEW.sync_branch = 'pgsql_b1' THEN IF nextval('stall_once') = 1 THEN PERFORM pg_sleep(20); "
              "END IF; END IF; RETURN NEW; END $$ LANGUAGE plpgsql",
            "CREATE TRIGGER stall BEFORE INSERT ON c_invoice FOR EACH ROW EXECUTE FUNCTION stall()")
    server.wait_for_dag(SYNC)
    server.unpause(SYNC)

    # a pool is missing: the run fails at once and says how to create the pools (never waits silently)
    for conn in BRANCHES[:2]:
        server.api("POST", "pools", json={"name": f"sync_{conn}", "slots": 2})
    failed_run = server.trigger(SYNC, {})
    assert server.wait_for_run(SYNC, failed_run, timeout=120) == "failed"
    plan = {ti["task_id"]: ti for ti in server.task_instances(SYNC, failed_run)}["plan"]
    assert (plan["state"], plan["try_number"]) == ("failed", 1)
    log = server.task_log(SYNC, failed_run, "plan")
    assert "sync_pgsql_b3" in log and "python -m include.cli pools --apply" in log, log[-3000:]
    assert not fetch("central_db", "SELECT 1 AS x FROM pg_tables WHERE tablename = 'sync_batches'") or not fetch(
        "central_db", "SELECT 1 AS x FROM sync_batches WHERE run_id = %s", (failed_run,))
    server.api("POST", "pools", json={"name": "sync_pgsql_b3", "slots": 2})

    run_id = server.trigger(SYNC, {})
    big = None
    deadline = time.monotonic() + 180
    while big is None:
        assert time.monotonic() < deadline, server.failure_report(SYNC, run_id)
        stalled = fetch("central_db", "SELECT 1 AS x FROM pg_stat_activity WHERE datname = current_database() "
                                      "AND wait_event = 'PgSleep'")
        progress = fetch("central_db", "SELECT records_processed, task_id, map_index FROM sync_progress WHERE "
                                       "connection_name = 'pgsql_b1' AND table_name = 'c_invoice'") if stalled else []
        if progress and progress[0]["records_processed"] > 0:  # its label is rendered only when it ends
            big = next((ti for ti in server.task_instances(SYNC, run_id) if ti["state"] == "running" and (
                ti["task_id"], ti["map_index"]) == (progress[0]["task_id"], progress[0]["map_index"])), None)
        time.sleep(0.3)
    # the unit's other tables ran first and are done
    unit_rows = {r["table_name"]: r for r in fetch(
        "central_db", "SELECT * FROM sync_progress WHERE task_id = %s AND map_index = %s AND connection_name = "
                      "'pgsql_b1'", (big["task_id"], big["map_index"]))}
    assert set(unit_rows) == {"c_invoice", "c_invoiceline", "m_pricelist"}, unit_rows
    done_first = {t: r["completed_at"] for t, r in unit_rows.items() if t != "c_invoice"}
    assert all(r["status"] == "completed" for t, r in unit_rows.items() if t != "c_invoice"), unit_rows
    victim = server.worker_of_hostname(big["hostname"])
    killed = server.kill_worker(victim)
    assert len(killed) >= 3  # the worker, its pool processes, the task's supervisor and process
    (row,) = fetch("central_db", "SELECT * FROM sync_progress WHERE connection_name = 'pgsql_b1' AND "
                                 "table_name = 'c_invoice'")
    landed = fetch("central_db", "SELECT COUNT(*) AS n FROM c_invoice WHERE sync_branch = 'pgsql_b1'")[0]["n"]
    assert landed == row["records_processed"] == STALL_ID // CHUNK_ROWS * CHUNK_ROWS  # whole committed chunks

    # Airflow detects the lost task instance; the retry callback (run by the dag-processor) records it
    # at once, before the retry starts on the surviving worker
    seen = []
    deadline = time.monotonic() + 180
    while True:
        assert time.monotonic() < deadline, (seen[-5:], server.failure_report(SYNC, run_id))
        (row,) = fetch("central_db", "SELECT status, retry_count, error_message FROM sync_progress WHERE "
                                     "connection_name = 'pgsql_b1' AND table_name = 'c_invoice'")
        seen.append((row["status"], row["retry_count"]))
        if row["status"] == "pending" and row["retry_count"] == 1:
            assert "worker was lost" in row["error_message"], row["error_message"]
            break
        assert row["retry_count"] == 0, f"the retry began before the lost try was recorded: {seen[-5:]}"
        time.sleep(0.5)

    assert server.wait_for_run(SYNC, run_id, timeout=420) == "success", server.failure_report(SYNC, run_id)

    survivor = (_workers(server) - {big["hostname"]}).pop()
    tis = {(ti["task_id"], ti["map_index"]): ti for ti in server.task_instances(SYNC, run_id)}
    big_ti = tis[(big["task_id"], big["map_index"])]
    tries = _tries(server, SYNC, run_id, big_ti)
    assert [(t["try_number"], t["hostname"]) for t in tries][-2:] == [(1, big["hostname"]), (2, survivor)]
    assert tries[-1]["state"] == "success"
    # the retry skipped the unit's completed tables: they kept their one completion
    after = {r["table_name"]: r for r in fetch(
        "central_db", "SELECT * FROM sync_progress WHERE task_id = %s AND map_index = %s AND connection_name = "
                      "'pgsql_b1'", (big["task_id"], big["map_index"]))}
    assert {t: after[t]["completed_at"] for t in done_first} == done_first
    assert all(after[t]["retry_count"] == 0 for t in done_first)
    log = server.task_log(SYNC, run_id, big["task_id"], map_index=big["map_index"], try_number=2)
    assert all(f"{t} from pgsql_b1: already completed" in log for t in done_first), log[-3000:]
    # the pairs ran on both workers
    sync_tis = [ti for key, ti in tis.items() if key[1] >= 0 and ti["task_id"].startswith(("step1.", "step2."))]
    hosts = {t["hostname"] for ti in sync_tis for t in _tries(server, SYNC, run_id, ti)}
    assert hosts == _workers(server), hosts

    batch = fetch("central_db", "SELECT * FROM sync_batches WHERE run_id = %s", (run_id,))[0]
    assert (batch["status"], batch["total_tables"], batch["completed_tables"], batch["failed_tables"]) == (
        "completed", 10, 10, 0)
    rows = {(r["connection_name"], r["table_name"]): r for r in fetch(
        "central_db", "SELECT * FROM sync_progress WHERE batch_id = %s", (batch["batch_id"],))}
    assert len(rows) == 10 and all(r["status"] == "completed" for r in rows.values())
    expected = {(conn, table): n for conn in BRANCHES for table, n in SMALL.items()}
    expected[("pgsql_b1", "c_invoice")] = BIG_ROWS
    expected[("pgsql_b1", "m_product")] = 200
    assert {k: r["records_processed"] for k, r in rows.items()} == expected
    assert rows[("pgsql_b1", "c_invoice")]["records_skipped"] == 0  # resumed, not re-read
    assert rows[("pgsql_b1", "c_invoice")]["retry_count"] == 1
    keys = {t["table"]: t["primary_key"] for t in TABLES}
    for conn in BRANCHES:
        for table in SMALL:
            assert table_rows("central_db", table, keys[table], conn) == table_rows(conn, table, keys[table]), \
                (conn, table)
    assert table_rows("central_db", "m_product", keys["m_product"]) == table_rows("pgsql_b1", "m_product",
                                                                                 keys["m_product"])
