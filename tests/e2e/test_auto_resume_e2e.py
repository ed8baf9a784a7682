"""Automatic resume on a running Airflow (api-server, scheduler, dag-processor on PostgreSQL), one
deployment: ``health_reconcile`` (every 10 s here) resumes the newest ``branch_sync`` batch
whose run was killed, by triggering ``branch_sync`` with ``resume=<batch_id>`` through the REST
API; never while another ``branch_sync`` run is active; once per attempt, announced once; at most
``max_attempts`` times, after which ``sync-status`` says the batch ran out of attempts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from urllib.parse import quote

from include.branch_sync import tracking
from include.common.db import Database
from include.demo import data as demo_data
from tests.integration.sync_helpers import fetch, write_config

SYNC = "branch_sync"
HEALTH = "health_reconcile"
TABLES = [{"table": "c_invoice", "model": "CInvoice", "primary_key": ["c_invoice_id"], "cursor": "updated"}]
POOL = "sync_pgsql_aa"


def wait_until(what: str, check: Callable[[], object], server, timeout: float = 180) -> object:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < deadline, f"{what}: not within {timeout}s\n{state(server)}\n{server.logs_tail()}"
        time.sleep(1)


def state(server) -> str:
    """What the tables and Airflow say, for a failure message."""
    batches = fetch("central_db", "SELECT batch_id, status, run_id, error_message FROM sync_batches ORDER BY started_at")
    runs = server.api("GET", f"dags/{SYNC}/dagRuns", params={"limit": 50})["dag_runs"]
    health = server.api("GET", f"dags/{HEALTH}/dagRuns", params={"limit": 3, "order_by": "-run_after"})["dag_runs"]
    return (f"batches: {batches}\nattempts: {fetch('central_db', 'SELECT * FROM sync_resume_attempts')}\n"
            f"sync runs: {[(r['dag_run_id'], r['state']) for r in runs]}\n"
            f"health runs: {[(r['dag_run_id'], r['state']) for r in health]}")


def batch_of(run_id: str) -> dict | None:
    rows = fetch("central_db", "SELECT * FROM sync_batches WHERE run_id = %s", (run_id,))
    return rows[0] if rows else None


def status_of(batch_id: str) -> str:
    return fetch("central_db", "SELECT status FROM sync_batches WHERE batch_id = %s", (batch_id,))[0]["status"]


def attempts_of(batch_id: str) -> list[dict]:
    """The batch's attempts once each is done (a row is claimed as ``triggering`` before its trigger)."""
    try:
        rows = fetch("central_db", "SELECT * FROM sync_resume_attempts WHERE batch_id = %s ORDER BY attempt",
                     (batch_id,))
    except Exception:  # not created yet: no attempt
        return []
    return [] if any(r["outcome"] == "triggering" for r in rows) else rows


def health_runs_finished(server) -> int:
    runs = server.api("GET", f"dags/{HEALTH}/dagRuns", params={"state": ["success", "failed"], "limit": 1})
    return int(runs["total_entries"])


def let_health_run(server, runs: int) -> None:
    """Wait until ``runs`` more health_reconcile runs have finished."""
    start = health_runs_finished(server)
    wait_until(f"{runs} more {HEALTH} runs", lambda: health_runs_finished(server) >= start + runs, server)


def kill(server, run_id: str) -> None:
    """What a killed run looks like to the tracking tables: the run is gone and no callback wrote
    anything. Airflow deletes only a run that is not running: it is set back to queued first
    (not failed: that would skip its waiting tasks, and the repair would finish their tables as
    skipped in between), then deleted; the scheduler may start it again in between, so try again."""
    path = f"dags/{SYNC}/dagRuns/{quote(run_id, safe='')}"
    for _ in range(10):
        server.api("PATCH", path, json={"state": "queued"})
        try:
            server.api("DELETE", path, expect_json=False)
            return
        except Exception as exc:  # 409: running again
            if getattr(exc, "status", None) != 409:
                raise
    raise AssertionError(f"run {run_id} could not be deleted")


def planned(server, run_id: str) -> None:
    """Wait until the run only waits: its sync tasks ``scheduled`` (the pool has no slot) and no
    task running. A task still running when its run is deleted fails, and its failure callback
    records the batch ``failed``: a callback a real power cut would not run."""
    def waiting() -> bool:
        states = server.ti_states(SYNC, run_id)
        return any(i >= 0 and s == "scheduled" for (_, i), s in states.items()) and \
            not any(s in ("running", "queued", "up_for_retry") for s in states.values())

    wait_until(f"run {run_id} waiting for the pool", waiting, server)


def set_slots(server, slots: int) -> None:
    server.api("PATCH", f"pools/{POOL}", json={"pool": POOL, "slots": slots, "include_deferred": False})


def resumed_notices(webhook_server, batch_id: str) -> list[dict]:
    return [b for b in webhook_server.bodies if b.get("event") == "resumed" and b.get("batch_id") == batch_id]


def test_a_killed_run_s_batch_is_resumed_once_announced_once_and_capped(
        airflow_server_factory, pg_database, connections, webhook_server, tmp_path_factory):
    uris = {"pgsql_aa": pg_database("e2e_ara"), "central_db": pg_database("e2e_arc")}
    connections(uris)
    with Database("pgsql_aa") as db:
        demo_data.populate(db, 1, {"c_invoice": 40})
    with Database("central_db") as db:
        tracking.ensure_schema(db)  # the test reads the tables before the first run creates them
    config = write_config(tmp_path_factory.mktemp("e2e-resume") / "sync.yaml", "central_db", ["pgsql_aa"], TABLES,
                          retries=0)
    env = {f"AIRFLOW_CONN_{k.upper()}": v for k, v in uris.items()} | {
        "SYNC_CONFIG": str(config), "HEALTH_RECONCILE_INTERVAL_SECONDS": "10",
        "AIRFLOW_CONN_OPS_WEBHOOK": os.environ["AIRFLOW_CONN_OPS_WEBHOOK"],
        "AIRFLOW_VAR_BACKOFFICE_NOTIFICATIONS": json.dumps({"webhook": {"http_conn_id": "ops_webhook"}}),
        "AIRFLOW_VAR_HEALTH_RECONCILE": json.dumps({"auto_resume": {"enabled": True, "quiet_minutes": 0.05,
                                                                    "max_attempts": 1}})}
    server = airflow_server_factory(env)
    server.api("POST", "pools", json={"name": POOL, "slots": 0})  # the sync tasks wait: the run can be killed
    for dag_id in (SYNC, HEALTH):
        server.wait_for_dag(dag_id)
    server.unpause(SYNC)

    # a run is killed mid-batch
    killed = server.trigger(SYNC, {"tables": ["c_invoice"]})
    planned(server, killed)
    first = batch_of(killed)["batch_id"]
    kill(server, killed)

    # while another branch_sync run is active (queued: the DAG is paused), nothing is resumed
    server.pause(SYNC)
    other = server.trigger(SYNC, {})
    assert server.get_run(SYNC, other)["state"] == "queued"
    server.unpause(HEALTH)
    wait_until("the killed run's batch interrupted", lambda: status_of(first) == "interrupted", server)
    let_health_run(server, 3)
    assert attempts_of(first) == [] and server.get_run(SYNC, other)["state"] == "queued"
    assert not resumed_notices(webhook_server, first)

    # the other run gone and the pool fixed: the batch is resumed once, completes, is announced once
    kill(server, other)
    set_slots(server, 2)
    server.unpause(SYNC)
    (attempt,) = wait_until("an automatic resume", lambda: attempts_of(first), server)
    assert (attempt["attempt"], attempt["max_attempts"], attempt["outcome"]) == (1, 1, "triggered")
    assert attempt["triggered_by"].startswith(f"{HEALTH}:") and attempt["api_user"] == "admin"
    assert attempt["run_id"] == f"auto_resume__{first}__1"
    run = server.get_run(SYNC, attempt["run_id"])
    assert run["conf"] == {"tables": ["c_invoice"], "skip_step1": False, "full_refresh": False, "resume": first}
    assert server.wait_for_run(SYNC, attempt["run_id"], timeout=240) == "success", \
        server.failure_report(SYNC, attempt["run_id"])
    assert status_of(first) == "completed"
    assert batch_of(attempt["run_id"])["batch_id"] == first  # the same batch, not a new one
    let_health_run(server, 2)
    assert len(attempts_of(first)) == 1
    (notice,) = wait_until("the resume announced", lambda: resumed_notices(webhook_server, first), server)
    assert notice["source"] == HEALTH and notice["attempt"] == 1 and notice["run_id"] == attempt["run_id"]
    assert "resumed automatically (attempt 1 of 1)" in notice["text"]

    # attempts are capped: a batch whose resumed run is killed too is not resumed again
    set_slots(server, 0)
    killed_again = server.trigger(SYNC, {})
    planned(server, killed_again)
    second = batch_of(killed_again)["batch_id"]
    kill(server, killed_again)
    (retry,) = wait_until("the second batch resumed", lambda: attempts_of(second), server)
    planned(server, retry["run_id"])
    kill(server, retry["run_id"])
    wait_until("the second batch interrupted again", lambda: status_of(second) == "interrupted", server)
    let_health_run(server, 3)
    assert len(attempts_of(second)) == 1 and status_of(second) == "interrupted"
    assert len(resumed_notices(webhook_server, second)) == 1 and len(resumed_notices(webhook_server, first)) == 1
    server.pause(HEALTH)

    status = subprocess.run([sys.executable, "-m", "include.cli", "sync-status", second],
                            capture_output=True, text=True, env={**os.environ, "SYNC_CONFIG": str(config)})
    assert status.returncode == 0, status.stderr
    assert f"Auto-resume: out of attempts (1 of 1 used); resume it by hand: trigger {SYNC} with resume={second}" \
        in status.stdout, status.stdout
    as_json = subprocess.run([sys.executable, "-m", "include.cli", "sync-status", second, "--json"],
                             capture_output=True, text=True, env={**os.environ, "SYNC_CONFIG": str(config)})
    resumed = json.loads(as_json.stdout)["auto_resume"]
    assert (resumed["used"], resumed["max_attempts"], resumed["exhausted"]) == (1, 1, True)
