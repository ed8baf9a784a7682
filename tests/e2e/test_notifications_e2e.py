"""Batch notices on a running Airflow: the webhook fails when ``finalize`` (a task on the worker)
sends the notice, and the DAG-level ``on_success_callback``, which runs in the dag-processor,
delivers it: exactly one message reaches the receiver, and the batch completed regardless."""

from __future__ import annotations

import json
import os
import time

from include.common.db import Database
from include.demo import data as demo_data
from tests.integration.notify_helpers import notices
from tests.integration.sync_helpers import fetch, write_config

DAG_ID = "branch_sync"
TABLES = [{"table": "c_invoice", "model": "CInvoice", "primary_key": ["c_invoice_id"], "cursor": "updated"}]


def test_the_dag_callback_in_the_dag_processor_delivers_what_finalize_could_not(
        airflow_server_factory, pg_database, connections, webhook_server, tmp_path_factory):
    uris = {"pgsql_aa": pg_database("e2e_na"), "central_db": pg_database("e2e_nc")}
    connections(uris)
    with Database("pgsql_aa") as db:
        demo_data.populate(db, 1, {"c_invoice": 40})
    config = write_config(tmp_path_factory.mktemp("e2e-notify") / "sync.yaml", "central_db", ["pgsql_aa"], TABLES,
                          retries=0)
    variable = {"webhook": {"http_conn_id": "ops_webhook", "timeout_seconds": 5}}
    env = {f"AIRFLOW_CONN_{k.upper()}": v for k, v in uris.items()} | {
        "SYNC_CONFIG": str(config), "AIRFLOW_CONN_OPS_WEBHOOK": os.environ["AIRFLOW_CONN_OPS_WEBHOOK"],
        "AIRFLOW_VAR_BACKOFFICE_NOTIFICATIONS": json.dumps(variable)}
    server = airflow_server_factory(env)
    server.api("POST", "pools", json={"name": "sync_pgsql_aa", "slots": 2})
    server.wait_for_dag(DAG_ID)
    server.unpause(DAG_ID)
    webhook_server.fail_next(1, 500)  # finalize's attempt fails

    run_id = server.trigger(DAG_ID, {})
    assert server.wait_for_run(DAG_ID, run_id, timeout=240) == "success", server.failure_report(DAG_ID, run_id)
    batch = fetch("central_db", "SELECT * FROM sync_batches WHERE run_id = %s", (run_id,))[0]
    assert batch["status"] == "completed"  # the failing channel changed nothing
    deadline = time.monotonic() + 180  # the dag-processor runs the DAG callback after the run ended
    while not webhook_server.bodies and time.monotonic() < deadline:
        time.sleep(1)
    (body,) = webhook_server.bodies
    assert (body["batch_id"], body["status"], body["run_id"]) == (batch["batch_id"], "completed", run_id)
    assert body["counts"] == {"total": 1, "completed": 1, "failed": 0, "skipped": 0}
    row = notices("central_db", batch["batch_id"])[("completed", "webhook")]
    assert (row["state"], row["attempts"], webhook_server.requests) == ("sent", 2, 2)
