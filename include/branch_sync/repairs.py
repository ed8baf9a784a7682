"""What Airflow's own task states say about a sync batch's progress rows, decided without I/O:
the pure side of :func:`include.branch_sync.tracking.reconcile_batch`, which applies the plan in
one transaction (as the WhatsApp reconcile's ``decide`` sits beside its writes)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from include.common.batches import TERMINAL_RUN_STATES, run_ended_text

OPEN_PAIR_STATUSES = ("pending", "in_progress")

_STATE_TO_STATUS = {"success": "completed", "failed": "failed", "upstream_failed": "failed", "skipped": "skipped"}


@dataclass(frozen=True)
class Repair:
    """One progress row to change: ``retry`` (a try died without its retry callback) or
    ``finish`` with ``status`` and ``error``."""

    connection: str
    table: str
    action: str  # retry | finish
    status: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class RepairPlan:
    repairs: tuple[Repair, ...]
    finish: bool  # the batch is to be finalized
    batch_status: str | None = None  # None: derived from the rows
    batch_error: str | None = None


def plan_repairs(rows: Sequence[Mapping[str, Any]], batch_status: str | None,
                 task_states: Mapping[str, str | None], run_state: str | None) -> RepairPlan:
    """What makes a batch's progress rows agree with Airflow's own task states (pure).

    ``task_states`` is Airflow's map for the batch's current run (``task_id`` or
    ``task_id_mapindex`` -> state); ``run_state`` the run's state, or None when the run no longer
    exists. The task is the pair's work unit, shared by its tables: a pair still open whose task
    ended repairs to the task's final status (what a callback never wrote), while a pair that
    ended keeps what it recorded (its unit may fail for another table);
    when the run has ended or vanished, pairs still open are failed with the reason and the batch
    becomes ``interrupted``."""
    repairs: list[Repair] = []
    after: dict[tuple[str, str], str] = {}
    for row in rows:
        pair = (row["connection_name"], row["table_name"])
        after[pair] = row["status"]
        if row["map_index"] is None or not row["task_id"]:
            continue  # not part of the current run
        if row["status"] not in OPEN_PAIR_STATUSES:
            continue  # a table that ended recorded its own end; its unit's state speaks for the others
        state = task_states.get(f"{row['task_id']}_{row['map_index']}")
        if state is None and task_states.get(row["task_id"]) in ("failed", "upstream_failed"):
            state = "upstream_failed"  # the mapped task never expanded
        if state == "up_for_retry" and row["status"] == "in_progress":
            # the try died without its retry callback (SIGKILL, OOM): record the retry it would have
            repairs.append(Repair(*pair, "retry", error=row["error_message"]
                                  or "the worker was lost; Airflow retries this table"))
            after[pair] = "pending"
            continue
        target = _STATE_TO_STATUS.get(state or "")
        if target is None or row["status"] == target or (target == "skipped" and row["status"] == "completed"):
            continue
        reason = "not run: an upstream task failed" if state == "upstream_failed" else \
            "the task ended without reporting (worker lost?)"
        repairs.append(Repair(*pair, "finish", target, None if target != "failed" else (row["error_message"] or reason)))
        after[pair] = target
    if run_state is not None and run_state not in TERMINAL_RUN_STATES:
        return RepairPlan(tuple(repairs), finish=False)
    ended = run_ended_text(run_state)
    open_pairs = [(pair, status) for pair, status in after.items() if status in OPEN_PAIR_STATUSES]
    for pair, status in open_pairs:
        repairs.append(Repair(*pair, "finish", "failed", f"interrupted: the DAG run {ended} while this table was {status}"))
    if open_pairs:
        return RepairPlan(tuple(repairs), finish=True, batch_status="interrupted", batch_error=f"the DAG run {ended}")
    return RepairPlan(tuple(repairs), finish=batch_status == "running")
