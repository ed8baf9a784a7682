"""Task and DAG callbacks of ``branch_sync``: the tracking rows change state here.

Task callbacks run in the task's process on the worker, or (for a task whose worker died) in the
scheduler's or dag-processor's callback runner, where ``op_kwargs`` are not resolved: the pair is
then found from the task instance's map index, which ``plan`` recorded on the progress row. A
callback that cannot write loses nothing: ``finalize`` and the 5-minute reconcile repair from
Airflow's own task states.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from include.branch_sync import tracking
from include.branch_sync.config import load_config
from include.common.db import Database
from include.common.scrub import error_text

log = logging.getLogger(__name__)


def _unit_of(context: Mapping[str, Any]) -> tuple[str, str, list[str]] | None:
    """The (batch, connection, tables) of the task instance's work unit. In the task process the
    mapped arguments are resolved; in a callback the scheduler sent to the dag-processor (a worker
    died, heartbeat timeout) they are not, and the unit is read from the rows ``plan`` recorded for
    this run's ``task_id[map_index]`` (:func:`tracking.assign_tasks`)."""
    kwargs = getattr(context.get("task"), "op_kwargs", None) or {}
    batch_id, connection, unit = kwargs.get("batch_id"), kwargs.get("connection"), kwargs.get("unit")
    tables = unit.get("tables") if isinstance(unit, Mapping) else None
    if isinstance(batch_id, str) and isinstance(connection, str) and isinstance(tables, list) and tables:
        return batch_id, connection, [str(t) for t in tables]
    ti = context.get("ti")
    map_index = getattr(ti, "map_index", None)
    if ti is not None and isinstance(map_index, int) and map_index >= 0:
        try:
            with Database(load_config().target) as db:
                pairs = tracking.pairs_of_task(db, ti.dag_id, ti.run_id, ti.task_id, map_index)
        except Exception as exc:
            log.error("could not resolve the unit of %s[%s]: %s", ti.task_id, map_index,
                      error_text(exc, load_config().target))
            return None
        if pairs:
            return pairs[0][0], pairs[0][1], [table for _, _, table in pairs]
    log.warning("tracking callback without a resolved unit (kwargs: %s, map_index: %s)", sorted(kwargs), map_index)
    return None


# A callback without an exception in its context was sent by the scheduler: the try ended without
# its task process reporting (worker killed or lost, heartbeat timeout, executor-reported failure).
_LOST = "the worker was lost: the try ended without its task process reporting (killed, no heartbeat)"


def _with_db(work: Any) -> None:
    """Run a tracking write; a callback that cannot write logs it and leaves the repair to
    ``finalize`` and the 5-minute reconcile (both read Airflow's own task states)."""
    try:
        with Database(load_config().target) as db:
            work(db)
    except Exception as exc:
        log.error("could not update sync tracking: %s", error_text(exc, load_config().target))


# The unit's task records each table's start, end, counts and in-task retries itself; the callbacks
# write only what Airflow decides about the whole unit, to the tables that had not finished.
def on_failure(context: Mapping[str, Any]) -> None:
    if unit := _unit_of(context):
        error = error_text(context.get("exception") or Exception(f"{_LOST}; no retries left"), unit[1],
                           load_config().target)
        _with_db(lambda db: tracking.finish_open_pairs(db, *unit, "failed", error))


def on_retry(context: Mapping[str, Any]) -> None:
    if unit := _unit_of(context):
        error = error_text(context.get("exception") or Exception(f"{_LOST}; Airflow retries this table"), unit[1],
                           load_config().target)
        # Only a table still in_progress counts the retry: the scheduler may also report one lost try twice.
        _with_db(lambda db: tracking.retry_open_pairs(db, *unit, error))


def on_skipped(context: Mapping[str, Any]) -> None:
    if unit := _unit_of(context):
        _with_db(lambda db: tracking.finish_open_pairs(db, *unit, "skipped"))


def on_dag_run_end(context: Mapping[str, Any]) -> None:
    """DAG-level callback (runs in the dag-processor): a run that ended without ``finalize``
    (marked failed by hand, timed out) leaves its open pairs failed and its batch interrupted;
    the batch's end is announced (once: ``finalize`` may have sent it already)."""
    dag_run = context.get("dag_run")
    if dag_run is None:
        return
    # imported here: every sync task instance parses the DAG file, which imports this module, and
    # only the dag-processor's run-end callback announces
    from include.branch_sync import notify

    def work(db: Database) -> None:
        row = db.fetchone(f"SELECT batch_id, status FROM {db.quote(tracking.BATCHES)} WHERE dag_id = %s AND run_id = %s",
                          (dag_run.dag_id, dag_run.run_id))
        if row is None:
            return
        if row["status"] == "running":  # else finalize already decided
            tracking.reconcile_batch(db, row["batch_id"], {}, run_state=str(getattr(dag_run, "state", None) or "failed"))
        notify.announce(db, row["batch_id"])  # sent once: a second sighting of the same end sends nothing

    _with_db(work)
