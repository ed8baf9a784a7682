"""Tracking rows repaired from Airflow's task states: what a killed worker never reported."""

from __future__ import annotations

import pytest

from include.branch_sync import tracking
from include.common.db import Database
from tests.integration.sync_helpers import fetch, one_table_per_unit

PAIRS = [tracking.Pair("pgsql_a", t, t.title(), "step2.pgsql_a") for t in ("t0", "t1", "t2", "t3")]


@pytest.fixture(params=["postgresql", "mariadb"])
def db(request, pg_database, mariadb_database, connections):
    connections({"central_db": pg_database("rec") if request.param == "postgresql" else mariadb_database("rec")})
    with Database("central_db") as database:
        tracking.ensure_schema(database)
        tracking.start_batch(database, "sync_20260101_000000_abcdefgh", "branch_sync", "run_1", {}, PAIRS)
        tracking.assign_tasks(database, "sync_20260101_000000_abcdefgh", one_table_per_unit(PAIRS))
        yield database


BATCH = "sync_20260101_000000_abcdefgh"


def statuses(db):
    return {r["table_name"]: r["status"] for r in tracking.get_progress(db, BATCH)}


def test_running_run_repairs_finished_tasks_and_leaves_running_ones(db):
    for pair in PAIRS[:3]:
        tracking.mark_started(db, BATCH, pair.connection, pair.table)
    # t0's worker was SIGKILLed after the task reported success but before its callback wrote
    result = tracking.reconcile_batch(db, BATCH, {"step2.pgsql_a_0": "success", "step2.pgsql_a_1": "failed",
                                                  "step2.pgsql_a_2": "running"}, run_state="running")
    assert result["repaired"] == 2
    assert statuses(db) == {"t0": "completed", "t1": "failed", "t2": "in_progress", "t3": "pending"}
    batch = tracking.get_batch(db, BATCH)
    assert (batch["status"], batch["completed_tables"], batch["failed_tables"], batch["total_tables"]) == (
        "running", 1, 1, 4)


@pytest.mark.parametrize("run_state, words", [("failed", "ended (failed)"), (None, "no longer exists")])
def test_ended_or_vanished_run_interrupts_the_batch(db, run_state, words):
    tracking.mark_started(db, BATCH, "pgsql_a", "t0")
    tracking.mark_finished(db, BATCH, "pgsql_a", "t0", "completed")
    tracking.mark_started(db, BATCH, "pgsql_a", "t1")
    result = tracking.reconcile_batch(db, BATCH, {}, run_state=run_state)
    assert result["status"] == "interrupted"
    assert statuses(db) == {"t0": "completed", "t1": "failed", "t2": "failed", "t3": "failed"}
    t1 = next(r for r in tracking.get_progress(db, BATCH) if r["table_name"] == "t1")
    assert words in t1["error_message"] and "in_progress" in t1["error_message"]
    batch = tracking.get_batch(db, BATCH)
    assert (batch["status"], batch["completed_tables"], batch["failed_tables"]) == ("interrupted", 1, 3)
    assert batch["completed_at"] is not None
    # running it again changes nothing
    assert tracking.reconcile_batch(db, BATCH, {}, run_state=run_state)["repaired"] == 0


def test_a_try_killed_before_its_retry_callback_counts_the_retry(db):
    tracking.mark_started(db, BATCH, "pgsql_a", "t2")
    result = tracking.reconcile_batch(db, BATCH, {"step2.pgsql_a_2": "up_for_retry"}, run_state="running")
    row = next(r for r in tracking.get_progress(db, BATCH) if r["table_name"] == "t2")
    assert (result["repaired"], row["status"], row["retry_count"]) == (1, "pending", 1)
    assert "worker was lost" in row["error_message"]
    assert tracking.reconcile_batch(db, BATCH, {"step2.pgsql_a_2": "up_for_retry"}, run_state="running")["repaired"] == 0


def test_pairs_outside_the_current_run_are_never_read_from_its_task_states(db):
    tracking.mark_started(db, BATCH, "pgsql_a", "t0")
    tracking.mark_finished(db, BATCH, "pgsql_a", "t0", "completed")
    # a resumed run maps only t3, at index 0 of the same task id
    tracking.assign_tasks(db, BATCH, one_table_per_unit([PAIRS[3]]))
    tracking.reconcile_batch(db, BATCH, {"step2.pgsql_a_0": "failed"}, run_state="running")
    assert statuses(db)["t0"] == "completed" and statuses(db)["t3"] == "failed"
    rows = fetch("central_db", "SELECT table_name, map_index FROM sync_progress ORDER BY table_name")
    assert [r["map_index"] for r in rows] == [None, None, None, 0]


def test_a_retry_callback_sent_by_the_scheduler_resolves_its_pair_from_the_map_index(db, tmp_path, monkeypatch):
    """A worker died: the scheduler sends the retry callback to the dag-processor, where the mapped
    arguments are not resolved; the pair comes from the row plan recorded for task_id[map_index]."""
    from types import SimpleNamespace

    from include.branch_sync import callbacks as branch_sync
    from tests.integration.sync_helpers import write_config

    config = write_config(tmp_path / "sync.yaml", "central_db", ["pgsql_a"],
                          [{"table": t.table, "primary_key": ["id"]} for t in PAIRS])
    monkeypatch.setenv("SYNC_CONFIG", str(config))
    tracking.mark_started(db, BATCH, "pgsql_a", "t2")
    ti = SimpleNamespace(dag_id="branch_sync", run_id="run_1", task_id="step2.pgsql_a", map_index=2)
    unresolved = SimpleNamespace(op_kwargs={"connection": "pgsql_a"})  # what the dag-processor's task holds
    assert branch_sync._unit_of({"ti": ti, "task": unresolved}) == (BATCH, "pgsql_a", ["t2"])
    branch_sync.on_retry({"ti": ti, "task": unresolved})
    row = next(r for r in tracking.get_progress(db, BATCH) if r["table_name"] == "t2")
    assert (row["status"], row["retry_count"]) == ("pending", 1)
    assert "worker was lost" in row["error_message"]
    # the scheduler reports the same lost try a second time (executor event): counted once
    branch_sync.on_retry({"ti": ti, "task": unresolved})
    row = next(r for r in tracking.get_progress(db, BATCH) if r["table_name"] == "t2")
    assert (row["status"], row["retry_count"]) == ("pending", 1)
    # the reconcile then sees nothing left to repair for it
    assert tracking.reconcile_batch(db, BATCH, {"step2.pgsql_a_2": "up_for_retry"}, run_state="running")["repaired"] == 0
    # another run's task instance, or the unmapped index, resolves to nothing
    assert branch_sync._unit_of({"ti": SimpleNamespace(**{**vars(ti), "run_id": "run_2"}), "task": unresolved}) is None
    assert branch_sync._unit_of({"ti": SimpleNamespace(**{**vars(ti), "map_index": -1}), "task": unresolved}) is None


def test_callbacks_of_a_unit_touch_only_its_tables_that_had_not_finished(db, tmp_path, monkeypatch):
    """A work unit of three tables: t0 completed, t1 was running when the worker was lost, t2 not
    started. The retry callback (no exception: sent by the scheduler) counts a retry for t1 only; a
    later failure callback fails t1 and t2 and leaves t0 completed."""
    from types import SimpleNamespace

    from include.branch_sync import callbacks as branch_sync
    from tests.integration.sync_helpers import write_config

    config = write_config(tmp_path / "sync.yaml", "central_db", ["pgsql_a"],
                          [{"table": t.table, "primary_key": ["id"]} for t in PAIRS])
    monkeypatch.setenv("SYNC_CONFIG", str(config))
    unit = [tracking.Assignment(p, 0) for p in PAIRS[:3]]
    tracking.assign_tasks(db, BATCH, unit)
    tracking.mark_started(db, BATCH, "pgsql_a", "t0")
    tracking.mark_finished(db, BATCH, "pgsql_a", "t0", "completed", sync_mode="initial")
    tracking.mark_started(db, BATCH, "pgsql_a", "t1")
    ti = SimpleNamespace(dag_id="branch_sync", run_id="run_1", task_id="step2.pgsql_a", map_index=0)
    resolved = SimpleNamespace(op_kwargs={"batch_id": BATCH, "connection": "pgsql_a",
                                          "unit": {"tables": ["t0", "t1", "t2"], "label": "pgsql_a: t0 +2"}})
    unresolved = SimpleNamespace(op_kwargs={"connection": "pgsql_a"})
    assert branch_sync._unit_of({"ti": ti, "task": unresolved}) == (BATCH, "pgsql_a", ["t0", "t1", "t2"])
    assert branch_sync._unit_of({"ti": ti, "task": resolved}) == (BATCH, "pgsql_a", ["t0", "t1", "t2"])

    def rows() -> dict:
        return {r["table_name"]: (r["status"], r["retry_count"]) for r in tracking.get_progress(db, BATCH)
                if r["table_name"] in ("t0", "t1", "t2")}

    branch_sync.on_retry({"ti": ti, "task": unresolved})
    assert rows() == {"t0": ("completed", 0), "t1": ("pending", 1), "t2": ("pending", 0)}
    branch_sync.on_failure({"ti": ti, "task": resolved, "exception": RuntimeError("boom")})
    after = {r["table_name"]: r for r in tracking.get_progress(db, BATCH)}
    assert rows() == {"t0": ("completed", 0), "t1": ("failed", 1), "t2": ("failed", 0)}
    assert "boom" in after["t1"]["error_message"] and after["t0"]["error_message"] is None
    assert after["t0"]["sync_mode"] == "initial"


def test_a_resumed_batch_whose_new_run_dies_before_its_tables_start_is_interrupted_again(db):
    tracking.mark_started(db, BATCH, "pgsql_a", "t0")
    tracking.mark_finished(db, BATCH, "pgsql_a", "t0", "completed")
    tracking.reconcile_batch(db, BATCH, {}, run_state=None)  # the first run vanished: interrupted
    remaining = tracking.resume_batch(db, BATCH, "branch_sync", "run_2", {"resume": BATCH}, PAIRS)
    assert [p.table for p in remaining] == ["t1", "t2", "t3"]
    rows = {r["table_name"]: r for r in tracking.get_progress(db, BATCH)}
    # to be synced again: pending, their earlier try counted, its error gone with it
    assert {t: (r["status"], r["retry_count"], r["error_message"]) for t, r in rows.items()} == {
        "t0": ("completed", 0, None), "t1": ("pending", 1, None), "t2": ("pending", 1, None), "t3": ("pending", 1, None)}
    tracking.assign_tasks(db, BATCH, [tracking.Assignment(p, i) for i, p in enumerate(remaining)])
    tracking.mark_started(db, BATCH, "pgsql_a", "t1")  # the resumed try is not counted twice
    assert next(r for r in tracking.get_progress(db, BATCH) if r["table_name"] == "t1")["retry_count"] == 1
    result = tracking.reconcile_batch(db, BATCH, {}, run_state=None)  # the resumed run vanished too
    assert result["status"] == "interrupted" and tracking.get_batch(db, BATCH)["status"] == "interrupted"
