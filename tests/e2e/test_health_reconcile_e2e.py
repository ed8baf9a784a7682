"""health_reconcile on a running scheduler: it runs on its schedule (shortened here), one run at a
time, never overlapping, and its runs succeed against real databases and the stand-in service."""

from __future__ import annotations

import time
from datetime import datetime

from include.common.db import Database
from include.health.whatsapp.accounts import add_account, ensure_accounts_table
from tests.integration.sync_helpers import write_config
from tools.whatsapp_standin import StandinService

DAG_ID = "health_reconcile"
INTERVAL = 15


def _ts(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def test_runs_on_its_schedule_without_overlap(airflow_server_factory, pg_database, mariadb_database, connections,
                                               tmp_path_factory):
    uris = {"app_db": mariadb_database("e2e_app"), "central_db": pg_database("e2e_hc")}
    connections(uris)
    with Database("app_db") as db:
        ensure_accounts_table(db)
        add_account(db, "webjs_1_alive", 1)
    config = write_config(tmp_path_factory.mktemp("e2e-health") / "sync.yaml", "central_db", ["pgsql_aa"],
                          [{"table": "c_invoice", "primary_key": ["c_invoice_id"], "cursor": "updated"}])
    with StandinService("e2e-key") as service:
        service.add_session("webjs_1_alive", "connected", workspace_id=1)
        env = {f"AIRFLOW_CONN_{k.upper()}": v for k, v in uris.items()} | {
            "SYNC_CONFIG": str(config), "AIRFLOW_CONN_WHATSAPP_SERVICE": service.connection_json(timeout=5),
            "HEALTH_RECONCILE_INTERVAL_SECONDS": str(INTERVAL)}
        server = airflow_server_factory(env)
        server.wait_for_dag(DAG_ID)
        server.unpause(DAG_ID)
        deadline = time.monotonic() + 150
        while True:
            runs = server.api("GET", f"dags/{DAG_ID}/dagRuns", params={"order_by": "run_after", "limit": 50})["dag_runs"]
            finished = [r for r in runs if r["state"] in ("success", "failed")]
            if len(finished) >= 2:
                break
            assert time.monotonic() < deadline, f"only {len(finished)} runs finished: {runs}\n{server.logs_tail()}"
            time.sleep(2)
        server.pause(DAG_ID)

    assert all(r["run_type"] == "scheduled" for r in runs)
    assert all(r["state"] == "success" for r in finished), [server.failure_report(DAG_ID, r["dag_run_id"])
                                                           for r in finished if r["state"] != "success"]
    spans = sorted((_ts(r["start_date"]), _ts(r["end_date"])) for r in finished)
    for (_, end), (next_start, _) in zip(spans, spans[1:]):
        assert next_start >= end, f"runs overlap: {spans}"
    afters = sorted(_ts(r["run_after"]) for r in runs)
    assert all((b - a).total_seconds() >= INTERVAL - 1 for a, b in zip(afters, afters[1:])), afters
    assert server.get_dag(DAG_ID)["max_active_runs"] == 1
