"""include.branch_sync.repairs.plan_repairs: what Airflow's task states say about a batch's rows,
decided without a database (the write side is tested in tests/integration/branch_sync/)."""

from __future__ import annotations

from include.branch_sync.repairs import Repair, plan_repairs


def row(table: str, status: str, index: int | None = 0, error: str | None = None) -> dict:
    return {"connection_name": "pgsql_a", "table_name": table, "status": status, "task_id": "step2.pgsql_a",
            "map_index": index, "error_message": error}


def test_a_running_run_repairs_finished_tasks_and_leaves_the_batch_open():
    rows = [row("t0", "in_progress", 0), row("t1", "in_progress", 1), row("t2", "completed", 2),
            row("t3", "pending", 3)]
    plan = plan_repairs(rows, "running", {"step2.pgsql_a_0": "success", "step2.pgsql_a_1": "failed",
                                          "step2.pgsql_a_2": "success", "step2.pgsql_a_3": "queued"}, "running")
    assert plan.finish is False
    assert plan.repairs == (Repair("pgsql_a", "t0", "finish", "completed"),
                            Repair("pgsql_a", "t1", "finish", "failed", "the task ended without reporting (worker lost?)"))


def test_a_lost_try_that_airflow_retries_counts_a_retry_once():
    rows = [row("t0", "in_progress", 0, "boom")]
    plan = plan_repairs(rows, "running", {"step2.pgsql_a_0": "up_for_retry"}, "running")
    assert plan.repairs == (Repair("pgsql_a", "t0", "retry", error="boom"),)
    # once recorded (the row went back to pending) the same state asks for nothing
    assert plan_repairs([row("t0", "pending", 0)], "running", {"step2.pgsql_a_0": "up_for_retry"},
                        "running").repairs == ()


def test_a_mapped_task_that_never_expanded_fails_its_pairs_as_upstream_failed():
    plan = plan_repairs([row("t0", "pending", 0)], "running", {"step2.pgsql_a": "upstream_failed"}, "running")
    assert plan.repairs == (Repair("pgsql_a", "t0", "finish", "failed", "not run: an upstream task failed"),)


def test_an_ended_run_interrupts_the_batch_and_fails_what_was_open():
    rows = [row("t0", "completed", 0), row("t1", "in_progress", 1), row("t2", "pending", None)]
    plan = plan_repairs(rows, "running", {}, "failed")
    assert plan.finish and plan.batch_status == "interrupted" and plan.batch_error == "the DAG run ended (failed)"
    assert [(r.table, r.status) for r in plan.repairs] == [("t1", "failed"), ("t2", "failed")]
    assert "while this table was in_progress" in plan.repairs[0].error


def test_a_vanished_run_with_nothing_open_only_finalizes_a_running_batch():
    done = [row("t0", "completed", 0)]
    plan = plan_repairs(done, "running", {}, None)
    assert plan.finish and plan.batch_status is None and plan.repairs == ()
    assert plan_repairs(done, "completed", {}, None).finish is False


def test_rows_outside_the_current_run_are_never_read_as_its_tasks():
    plan = plan_repairs([row("t0", "completed", None)], "running", {"step2.pgsql_a_0": "failed"}, "running")
    assert plan.repairs == ()


def test_a_failed_unit_changes_only_its_tables_that_had_not_finished():
    """Tables of one work unit share its task instance: the unit failed because one table failed,
    the tables that completed or failed on their own keep what they recorded, and only the table
    the unit never reached is failed from the task state."""
    rows = [row("t0", "completed", 0), row("t1", "failed", 0, "permanent"), row("t2", "pending", 0),
            row("t3", "completed", 1)]
    plan = plan_repairs(rows, "running", {"step2.pgsql_a_0": "failed", "step2.pgsql_a_1": "success"}, "running")
    assert plan.repairs == (Repair("pgsql_a", "t2", "finish", "failed",
                                   "the task ended without reporting (worker lost?)"),)
