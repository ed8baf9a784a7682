"""A running sync batch that does not move is told, with nobody watching: ``health_reconcile``'s
stuck check on a real central database, announced to a real webhook receiver once per episode,
with the reason and the command that fixes it, and a ``recovered`` notice when the tables start.

Inside a task without the ``airflow_api`` connection, the Task SDK gives the task states but not
the pools (:class:`include.common.task_states.TaskSdkStates`): a pool that does not exist can then
only be suspected, and the alert says so and gives the pools command."""

from __future__ import annotations

import json
from datetime import timedelta

from include.branch_sync import tracking
from include.branch_sync.pools import POOLS_COMMAND
from include.branch_sync.stuck import running_reports
from include.common.clock import utcnow
from include.common.db import Database
from include.common.task_states import TaskSdkStates
from include.health import notices
from include.common.notify.settings import load_settings
from tests.integration.sync_helpers import fetch, one_table_per_unit, write_config

TABLES = [{"table": t, "model": t, "primary_key": ["id"]} for t in ("c_invoice", "c_order", "m_product")]


class RunStates(TaskSdkStates):
    """What the Task SDK answers for the stuck run: its sync tasks scheduled, never queued."""

    def __init__(self, states: dict[str, str]):
        super().__init__(ti=None)
        self.states = states

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str | None]:
        return dict(self.states)


def test_a_batch_waiting_on_its_pool_alerts_once_with_the_fix_and_recovers(pg_database, connections, webhook_server,
                                                                           monkeypatch, tmp_path):
    connections({"central_db": pg_database("stuck")})
    config = write_config(tmp_path / "sync.yaml", "central_db", ["pgsql_aa", "pgsql_bb"], TABLES,
                          stuck_after_seconds=60)
    monkeypatch.setenv("SYNC_CONFIG", str(config))
    monkeypatch.setenv("AIRFLOW_VAR_BACKOFFICE_NOTIFICATIONS", json.dumps({"webhook": {"http_conn_id": "ops_webhook"}}))
    settings = load_settings()
    stuck_id, fine_id = "sync_20260101_010000_stuck001", "sync_20260101_010000_moving01"
    with Database("central_db") as db:
        tracking.ensure_schema(db)
        for batch_id, conn in ((stuck_id, "pgsql_aa"), (fine_id, "pgsql_bb")):
            pairs = [tracking.Pair(conn, t["table"], t["model"], f"step2.{conn}") for t in TABLES]
            tracking.start_batch(db, batch_id, "branch_sync", f"manual__{batch_id}", {}, pairs)
            tracking.assign_tasks(db, batch_id, one_table_per_unit(pairs))
        for table in ("c_invoice", "c_order", "m_product"):  # the other batch's tables all started
            tracking.mark_started(db, fine_id, "pgsql_bb", table)
    sdk = RunStates({"step2.pgsql_aa_0": "scheduled", "step2.pgsql_aa_1": "scheduled", "step2.pgsql_aa_2": "queued",
                     "step2.pgsql_bb_0": "running", "step2.pgsql_bb_1": "running", "step2.pgsql_bb_2": "running"})
    later = utcnow() + timedelta(minutes=5)

    with Database("central_db") as db:
        assert running_reports(db, sdk, utcnow()) and not any(
            r["waiting_pairs"] for r in running_reports(db, sdk, utcnow())), "nothing waits before the threshold"
        reports = running_reports(db, sdk, later)
        by_batch = {r["batch_id"]: r for r in reports}
        assert set(by_batch) == {stuck_id, fine_id} and by_batch[fine_id]["waiting_pairs"] == 0
        report = by_batch[stuck_id]
        assert report["waiting_pairs"] == 3 and report["pools_known"] is False
        assert [f["kind"] for f in report["findings"]] == ["pool_or_slot", "no_worker"]
        notices.stuck_checks(db, settings, reports, "scheduled__1")
        notices.stuck_checks(db, settings, running_reports(db, sdk, later), "scheduled__2")  # still stuck: once

    (alert,) = webhook_server.bodies
    assert (alert["event"], alert["source"], alert["subject"]) == ("alert", "health_reconcile", f"stuck:{stuck_id}")
    assert stuck_id in alert["text"] and "sync_pgsql_aa" in alert["text"] and POOLS_COMMAND in alert["text"]
    assert fine_id not in json.dumps(alert)

    # the operator creates the pool: the tables start, the next check ends the episode
    with Database("central_db") as db:
        for table in ("c_invoice", "c_order", "m_product"):
            tracking.mark_started(db, stuck_id, "pgsql_aa", table)
        notices.stuck_checks(db, settings, running_reports(db, sdk, later), "scheduled__3")
        notices.stuck_checks(db, settings, running_reports(db, sdk, later), "scheduled__4")
    assert [b["event"] for b in webhook_server.bodies] == ["alert", "recovered"]
    assert webhook_server.bodies[1]["key"] == alert["key"] and stuck_id in webhook_server.bodies[1]["text"]
    assert not fetch("central_db", "SELECT subject FROM alert_episodes")


def test_an_episode_ends_when_its_batch_is_no_longer_running(pg_database, connections, webhook_server, monkeypatch,
                                                             tmp_path):
    connections({"central_db": pg_database("stuck_end")})
    monkeypatch.setenv("SYNC_CONFIG", str(write_config(tmp_path / "sync.yaml", "central_db", ["pgsql_aa"], TABLES[:1],
                                                       stuck_after_seconds=60)))
    monkeypatch.setenv("AIRFLOW_VAR_BACKOFFICE_NOTIFICATIONS", json.dumps({"webhook": {"http_conn_id": "ops_webhook"}}))
    settings = load_settings()
    batch_id = "sync_20260101_010000_stuck002"
    sdk = RunStates({"step2.pgsql_aa_0": "scheduled"})
    with Database("central_db") as db:
        tracking.ensure_schema(db)
        pair = tracking.Pair("pgsql_aa", "c_invoice", "c_invoice", "step2.pgsql_aa")
        tracking.start_batch(db, batch_id, "branch_sync", "manual__gone", {}, [pair])
        tracking.assign_tasks(db, batch_id, one_table_per_unit([pair]))
        notices.stuck_checks(db, settings, running_reports(db, sdk, utcnow() + timedelta(minutes=5)), "scheduled__1")
        assert [b["event"] for b in webhook_server.bodies] == ["alert"]
        db.execute(f"UPDATE {db.quote(tracking.BATCHES)} SET status = 'interrupted' WHERE batch_id = %s", (batch_id,))
        assert running_reports(db, sdk, utcnow() + timedelta(minutes=5)) == []
        notices.stuck_checks(db, settings, [], "scheduled__2")
    assert [b["event"] for b in webhook_server.bodies] == ["alert", "recovered"]
