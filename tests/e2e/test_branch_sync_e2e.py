"""branch_sync on a running Airflow (api-server, scheduler, dag-processor on PostgreSQL), driven
only through the REST API and checked through the tracking tables: a failed pair is resumed by
clearing its work unit's task instance, on the same run and the same batch; the unit's other
table, completed, is not run again."""

from __future__ import annotations

from urllib.parse import quote

from include.demo import data as demo_data
from include.common.db import Database
from tests.integration.sync_helpers import fetch, run_sql, table_rows, write_config

DAG_ID = "branch_sync"
SIZES = {"m_product": 200, "c_invoice": 300, "m_pricelist": 15}
TABLES = [
    {"table": "m_product", "model": "MProduct", "primary_key": ["m_product_id"], "cursor": "updated",
     "single_source": "pgsql_aa"},
    {"table": "c_invoice", "model": "CInvoice", "primary_key": ["c_invoice_id"], "cursor": "updated"},
    {"table": "m_pricelist", "model": "MPricelist", "primary_key": ["m_pricelist_id"]},
]


def test_clear_failed_pair_resumes_the_same_run_and_batch(airflow_server_factory, pg_database, connections,
                                                           tmp_path_factory):
    uris = {"pgsql_aa": pg_database("e2e_aa"), "pgsql_bb": pg_database("e2e_bb"), "central_db": pg_database("e2e_c")}
    connections(uris)
    for number, conn in enumerate(["pgsql_aa", "pgsql_bb"], start=1):
        with Database(conn) as db:
            demo_data.populate(db, number, SIZES if conn == "pgsql_aa" else {"c_invoice": 300, "m_pricelist": 15})
    config = write_config(tmp_path_factory.mktemp("e2e") / "sync.yaml", "central_db", ["pgsql_aa", "pgsql_bb"],
                          TABLES, retries=0, retry_delay_seconds=1)
    env = {f"AIRFLOW_CONN_{k.upper()}": v for k, v in uris.items()} | {"SYNC_CONFIG": str(config)}
    server = airflow_server_factory(env)
    for conn in ("pgsql_aa", "pgsql_bb"):
        server.api("POST", "pools", json={"name": f"sync_{conn}", "slots": 2})
    server.wait_for_dag(DAG_ID)
    server.unpause(DAG_ID)

    # one branch lacks a table: only that pair fails, and the run says so
    run_sql("pgsql_bb", "ALTER TABLE c_invoice RENAME TO c_invoice_moved")
    run_id = server.trigger(DAG_ID, {})
    assert server.wait_for_run(DAG_ID, run_id, timeout=240) == "failed", server.failure_report(DAG_ID, run_id)
    batch = fetch("central_db", "SELECT * FROM sync_batches WHERE run_id = %s", (run_id,))[0]
    assert (batch["status"], batch["total_tables"], batch["failed_tables"]) == ("failed", 5, 1)
    rows = {(r["connection_name"], r["table_name"]): r for r in fetch(
        "central_db", "SELECT * FROM sync_progress WHERE batch_id = %s", (batch["batch_id"],))}
    assert rows[("pgsql_bb", "c_invoice")]["status"] == "failed"
    assert "does not exist" in rows[("pgsql_bb", "c_invoice")]["error_message"]
    done_before = {k: r["completed_at"] for k, r in rows.items() if r["status"] == "completed"}
    assert len(done_before) == 4
    tries_before = {(ti["task_id"], ti["map_index"]): ti["try_number"] for ti in server.task_instances(DAG_ID, run_id)}

    # fix the source and clear the failed task instances through the REST API
    run_sql("pgsql_bb", "ALTER TABLE c_invoice_moved RENAME TO c_invoice")
    cleared = server.clear_failed(DAG_ID, run_id)
    cleared_ids = {(ti["task_id"], ti["map_index"]) for ti in cleared}
    assert ("step2.pgsql_bb", 0) in cleared_ids and ("step2.pgsql_aa", 0) not in cleared_ids
    assert server.wait_for_run(DAG_ID, run_id, timeout=240) == "success", server.failure_report(DAG_ID, run_id)

    after = fetch("central_db", "SELECT * FROM sync_batches WHERE batch_id = %s", (batch["batch_id"],))[0]
    assert (after["status"], after["completed_tables"], after["failed_tables"], after["run_id"]) == (
        "completed", 5, 0, run_id)
    assert fetch("central_db", "SELECT COUNT(*) AS n FROM sync_batches")[0]["n"] == 1  # same batch, no new one
    rows = {(r["connection_name"], r["table_name"]): r for r in fetch(
        "central_db", "SELECT * FROM sync_progress WHERE batch_id = %s", (batch["batch_id"],))}
    resumed = rows[("pgsql_bb", "c_invoice")]
    assert (resumed["status"], resumed["retry_count"], resumed["records_processed"]) == ("completed", 1, 300)
    assert {k: rows[k]["completed_at"] for k in done_before} == done_before  # completed pairs not touched
    assert table_rows("central_db", "c_invoice", ["c_invoice_id"], "pgsql_bb") == table_rows(
        "pgsql_bb", "c_invoice", ["c_invoice_id"])
    tries_after = {(ti["task_id"], ti["map_index"]): ti["try_number"] for ti in server.task_instances(DAG_ID, run_id)}
    assert tries_after[("step2.pgsql_bb", 0)] == tries_before[("step2.pgsql_bb", 0)] + 1
    assert tries_after[("step2.pgsql_aa", 0)] == tries_before[("step2.pgsql_aa", 0)]
    # pgsql_bb's two step-2 tables share one work unit, labelled by its connection and tables; the
    # clear re-ran only the table that had failed (m_pricelist's completion is untouched above)
    labels = {(ti["task_id"], ti["map_index"]): ti["rendered_map_index"]
              for ti in server.task_instances(DAG_ID, run_id) if ti["map_index"] >= 0}
    assert labels[("step2.pgsql_bb", 0)] in ("pgsql_bb: c_invoice +1", "pgsql_bb: m_pricelist +1"), labels
    assert rows[("pgsql_bb", "m_pricelist")]["map_index"] == 0 and rows[("pgsql_bb", "m_pricelist")]["retry_count"] == 0

    # each synced table announced itself as an asset event downstream DAGs can schedule on
    events = server.api("GET", "assets/events", params={"source_dag_id": DAG_ID, "source_run_id": run_id,
                                                        "limit": 100})["asset_events"]
    assert {e["uri"] for e in events} >= {"x-sync://central_db/c_invoice", "x-sync://central_db/m_product"}


def test_unknown_param_names_are_refused_by_the_rest_api(airflow_server_factory, pg_database, tmp_path_factory):
    config = write_config(tmp_path_factory.mktemp("e2e-params") / "sync.yaml", "central_db", ["pgsql_aa"],
                          TABLES[1:], retries=0)
    server = airflow_server_factory({"SYNC_CONFIG": str(config)})
    server.wait_for_dag(DAG_ID)
    status = None
    try:
        server.api("POST", f"dags/{quote(DAG_ID)}/dagRuns", json={"logical_date": None, "conf": {"tables": ["nope"]}})
    except Exception as exc:  # the harness raises with the HTTP status and body
        status = getattr(exc, "status", None)
        assert "nope" in str(exc) or "enum" in str(exc).lower()
    assert status == 400


def test_recalculate_progress_marks_a_batch_whose_run_was_deleted_interrupted(
        airflow_server_factory, pg_database, mariadb_database, connections, tmp_path_factory, monkeypatch):
    import json
    import subprocess
    import sys
    import time

    import requests

    from tests.e2e.airflow_server import ADMIN_USER

    from include.certificates import batches as cert

    uris = {"pgsql_aa": pg_database("e2e_ra"), "central_db": pg_database("e2e_rc"),
            "app_db": mariadb_database("e2e_rapp")}
    connections(uris)
    with Database("pgsql_aa") as db:
        demo_data.populate(db, 1, {"c_invoice": 50, "m_pricelist": 5})
    config = write_config(tmp_path_factory.mktemp("e2e-rec") / "sync.yaml", "central_db", ["pgsql_aa"], TABLES[1:],
                          retries=0, stuck_after_seconds=1)
    env = {f"AIRFLOW_CONN_{k.upper()}": v for k, v in uris.items()} | {"SYNC_CONFIG": str(config)}
    server = airflow_server_factory(env)
    server.api("POST", "pools", json={"name": "sync_pgsql_aa", "slots": 0})  # the sync tasks can never start
    server.wait_for_dag(DAG_ID)
    server.unpause(DAG_ID)
    run_id = server.trigger(DAG_ID, {})
    deadline = time.monotonic() + 120
    while not fetch("central_db", "SELECT 1 AS x FROM pg_tables WHERE tablename = 'sync_progress'") or not fetch(
            "central_db", "SELECT batch_id FROM sync_batches WHERE run_id = %s", (run_id,)):
        assert time.monotonic() < deadline, server.failure_report(DAG_ID, run_id)
        time.sleep(1)
    batch_id = fetch("central_db", "SELECT batch_id FROM sync_batches WHERE run_id = %s", (run_id,))[0]["batch_id"]
    api_conn = json.dumps({"conn_type": "http", "host": "127.0.0.1", "port": server.port, "login": ADMIN_USER,
                           "password": server.password})
    cli_env = {**__import__("os").environ, "AIRFLOW_CONN_AIRFLOW_API": api_conn, "SYNC_CONFIG": str(config)}

    # the batch does not look fine while it waits: sync-status and the console page say why, from
    # Airflow's own pools and task states (the pool has no slot)
    time.sleep(2)  # past stuck_after_seconds
    status = subprocess.run([sys.executable, "-m", "include.cli", "sync-status", batch_id, "--json"],
                            capture_output=True, text=True, env=cli_env)
    assert status.returncode == 0, status.stderr
    stuck = json.loads(status.stdout)["stuck"]
    assert stuck["diagnosed"] and stuck["waiting_pairs"] == 2, stuck
    assert [(f["kind"], f["pool"]) for f in stuck["findings"]] == [("full_pool", "sync_pgsql_aa")], stuck
    assert server.password not in status.stdout + status.stderr
    login = requests.post(f"{server.base_url}/auth/token", json={"username": ADMIN_USER, "password": server.password},
                          timeout=30)
    page = requests.get(f"{server.base_url}/backoffice/api/sync/batches/{batch_id}", timeout=60,
                        headers={"Authorization": f"Bearer {login.json()['access_token']}"})
    assert page.status_code == 200, page.text
    assert [(f["kind"], f["pool"]) for f in page.json()["stuck"]["findings"]] == [("full_pool", "sync_pgsql_aa")]
    # and health_reconcile says it with nobody watching: the first of its runs (the one triggered
    # here or the scheduled one unpausing makes) whose batch_progress has run; then no other runs
    health = server.trigger("health_reconcile", {})
    server.unpause("health_reconcile")
    deadline = time.monotonic() + 240
    told = None
    while told is None:
        assert time.monotonic() < deadline, server.failure_report("health_reconcile", health)
        for run in server.api("GET", "dags/health_reconcile/dagRuns")["dag_runs"]:
            if server.ti_states("health_reconcile", run["dag_run_id"]).get(("batch_progress", -1)) == "success":
                told = server.api("GET", f"dags/health_reconcile/dagRuns/{quote(run['dag_run_id'], safe='')}/"
                                         "taskInstances/batch_progress/xcomEntries/return_value")["value"]
                break
        time.sleep(2)
    server.pause("health_reconcile")
    for run in server.api("GET", "dags/health_reconcile/dagRuns")["dag_runs"]:
        if run["state"] not in ("success", "failed"):
            server.api("PATCH", f"dags/health_reconcile/dagRuns/{quote(run['dag_run_id'], safe='')}",
                       json={"state": "failed"})
    told = json.loads(told) if isinstance(told, str) else told
    assert told["stuck"] == {batch_id: ["full_pool"]}, told

    # a certificate batch whose run no longer exists either: 1 of 3 certificates generated
    cert_batch = "cert_20260101_000000_vanished"
    with Database("app_db") as db:
        cert.ensure_schema(db)
        cert.create_batch(db, cert_batch, dag_id="certificate_dispatch", run_id="manual__deleted", data_source="file",
                          source_file="x.csv", event_name="E", event_date="2026-01-01",
                          participants=[cert.Participant(i, f"P{i}") for i in (2, 3, 4)], chunk_size=10)
        cert.record_results(db, cert_batch, [(2, "generated", "/x.pdf", None)])
        cert.refresh_counts(db, cert_batch)
    # an operator marks the stuck run failed (no task callback runs for that) and deletes it
    server.api("PATCH", f"dags/{DAG_ID}/dagRuns/{quote(run_id, safe='')}", json={"state": "failed"})
    server.api("DELETE", f"dags/{DAG_ID}/dagRuns/{quote(run_id, safe='')}", expect_json=False)

    result = subprocess.run([sys.executable, "-m", "include.cli", "recalculate-progress", "--batch-id", batch_id,
                             "--batch-id", cert_batch, "--json"],
                            capture_output=True, text=True, env=cli_env)
    assert result.returncode == 0, result.stderr
    assert server.password not in result.stdout + result.stderr
    summary, cert_summary = json.loads(result.stdout)
    assert (summary["kind"], summary["batch_id"], summary["run_state"]) == ("sync", batch_id, None)
    assert (cert_summary["kind"], cert_summary["batch_id"], cert_summary["run_state"], cert_summary["status"]) == (
        "certificates", cert_batch, None, "failed")
    (stored,) = fetch("app_db", "SELECT * FROM certificate_batches")
    assert (stored["status"], stored["success_count"], stored["failed_count"], stored["total_participants"]) == (
        "failed", 1, 2, 3)
    assert "no longer exists" in stored["error_message"]
    assert not fetch("app_db", "SELECT 1 AS x FROM certificates WHERE status = 'pending'")
    batch = fetch("central_db", "SELECT * FROM sync_batches WHERE batch_id = %s", (batch_id,))[0]
    assert (batch["status"], batch["failed_tables"], batch["total_tables"]) == ("interrupted", 2, 2)
    errors = [r["error_message"] for r in fetch("central_db", "SELECT * FROM sync_progress WHERE batch_id = %s",
                                                (batch_id,))]
    # the DAG failure callback may have interrupted it first ("ended"); else the reconcile did ("no longer exists")
    assert all("interrupted: the DAG run" in e and ("no longer exists" in e or "ended" in e) for e in errors)


def test_sigkilled_worker_is_repaired_by_the_next_health_run_and_the_retry_resumes(
        airflow_server_factory, pg_database, mariadb_database, connections, tmp_path_factory):
    """SIGKILL of the task process mid-table: no callback runs, Airflow puts the task up for retry.
    The next health_reconcile run repairs the row from Airflow's task state (the retry the callback
    never counted) with the exact count of committed rows; clearing the task then resumes from the
    last committed chunk and the table completes with every row once."""
    import os
    import signal
    import time

    import psutil

    from include.health.whatsapp.accounts import ensure_accounts_table
    from tools.whatsapp_standin import StandinService

    uris = {"pgsql_aa": pg_database("e2e_ka"), "central_db": pg_database("e2e_kc"),
            "app_db": mariadb_database("e2e_kapp")}
    connections(uris)
    with Database("pgsql_aa") as db:
        demo_data.populate(db, 1, {"c_invoice": 2000})
    with Database("app_db") as db:
        ensure_accounts_table(db)
    ordered = fetch("pgsql_aa", "SELECT c_invoice_id FROM c_invoice ORDER BY updated, c_invoice_id")
    stall_id = ordered[1250]["c_invoice_id"]  # inside the 6th chunk of 250
    # the target exists already, with a trigger that stalls the insert of one row
    run_sql("central_db",
            "CREATE TABLE c_invoice (sync_branch VARCHAR(64) NOT NULL, c_invoice_id BIGINT NOT NULL, "
            "documentno VARCHAR(255), c_bpartner_id BIGINT, dateinvoiced DATE, grandtotal NUMERIC(14,2), "
            "description TEXT, updated TIMESTAMP WITH TIME ZONE, PRIMARY KEY (sync_branch, c_invoice_id))",
            "CREATE FUNCTION stall() RETURNS trigger AS $$ BEGIN IF NEW.c_invoice_id = " + str(stall_id)
            + " THEN PERFORM pg_sleep(120); END IF; RETURN NEW; END $$ LANGUAGE plpgsql",
            "CREATE TRIGGER stall BEFORE INSERT ON c_invoice FOR EACH ROW EXECUTE FUNCTION stall()")
    # one retry, far away: the run stays running with the task up for retry until it is cleared
    config = write_config(tmp_path_factory.mktemp("e2e-kill") / "sync.yaml", "central_db", ["pgsql_aa"],
                          [TABLES[1]], retries=1, retry_delay_seconds=3600, chunk_rows=250)
    with StandinService("e2e-key") as service:
        env = {f"AIRFLOW_CONN_{k.upper()}": v for k, v in uris.items()} | {
            "SYNC_CONFIG": str(config), "AIRFLOW_CONN_WHATSAPP_SERVICE": service.connection_json(timeout=5)}
        server = airflow_server_factory(env)
        server.api("POST", "pools", json={"name": "sync_pgsql_aa", "slots": 1})
        server.wait_for_dag(DAG_ID)
        server.wait_for_dag("health_reconcile")
        server.unpause(DAG_ID)
        run_id = server.trigger(DAG_ID, {})

        # find the task process by its connection to the central database, stalled in the trigger
        deadline = time.monotonic() + 120
        pid = None
        while pid is None:
            assert time.monotonic() < deadline, server.failure_report(DAG_ID, run_id)
            stalled = fetch("central_db", "SELECT client_port FROM pg_stat_activity WHERE datname = current_database() "
                                          "AND query LIKE 'COPY%%c_invoice%%' AND state = 'active'")
            ports = {r["client_port"] for r in stalled}
            pid = next((c.pid for c in psutil.net_connections(kind="tcp")
                        if c.laddr and c.laddr.port in ports and c.pid), None)
            time.sleep(0.5)
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 120
        while "up_for_retry" not in (states := server.ti_states(DAG_ID, run_id)).values():
            assert time.monotonic() < deadline, states
            time.sleep(1)
        (sync_task,) = [key for key, state in states.items() if state == "up_for_retry"]
        (row,) = fetch("central_db", "SELECT * FROM sync_progress")
        # what the killed worker left, or already what the retry callback (run by the dag-processor
        # as soon as the scheduler declares the worker lost) wrote: whichever comes first, the
        # health run below must leave it true
        assert (row["status"], row["retry_count"]) in (("in_progress", 0), ("pending", 1))
        # the stalled server session goes too, and the stall with it (the retry must not stall)
        run_sql("central_db", "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
                              "datname = current_database() AND query LIKE 'COPY%%c_invoice%%'",
                "DROP TRIGGER stall ON c_invoice")
        landed = fetch("central_db", "SELECT COUNT(*) AS n FROM c_invoice")[0]["n"]
        assert landed == 1250  # five whole chunks committed; the killed one rolled back

        health_run = server.trigger("health_reconcile", {"auto_reconnect": False})
        server.unpause("health_reconcile")
        assert server.wait_for_run("health_reconcile", health_run, timeout=180) == "success", \
            server.failure_report("health_reconcile", health_run)
        server.pause("health_reconcile")

    (row,) = fetch("central_db", "SELECT * FROM sync_progress")
    assert (row["status"], row["retry_count"]) == ("pending", 1)  # the retry Airflow scheduled, counted
    assert row["records_processed"] == landed  # exact: counted in the chunks' own transactions
    assert "worker was lost" in row["error_message"], row["error_message"]
    batch = fetch("central_db", "SELECT * FROM sync_batches")[0]
    assert (batch["status"], batch["completed_tables"], batch["failed_tables"]) == ("running", 0, 0)

    # the operator clears the waiting task: the retry resumes after the last committed chunk
    server.clear_failed(DAG_ID, run_id, only_failed=False, task_ids=[list(sync_task)])
    assert server.wait_for_run(DAG_ID, run_id, timeout=240) == "success", server.failure_report(DAG_ID, run_id)
    (row,) = fetch("central_db", "SELECT * FROM sync_progress")
    assert (row["status"], row["retry_count"], row["records_processed"]) == ("completed", 1, 2000)
    assert table_rows("central_db", "c_invoice", ["c_invoice_id"], "pgsql_aa") == table_rows(
        "pgsql_aa", "c_invoice", ["c_invoice_id"])
    batch = fetch("central_db", "SELECT * FROM sync_batches")[0]
    assert (batch["status"], batch["completed_tables"], batch["failed_tables"]) == ("completed", 1, 0)
