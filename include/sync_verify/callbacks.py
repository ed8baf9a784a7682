"""Task and DAG callbacks of ``sync_verify``: rows a try left open are settled here.

The task records each pair itself (in the transaction that repairs it); a try that ends early
(a transient error, a killed worker) leaves its current pair ``in_progress`` and the rest
``pending``: a retry puts them back to ``pending``, a final failure marks them ``failed`` with the
reason. In the scheduler's callback runner the mapped arguments are not resolved, so the unit is
found from the task instance's map index, which ``plan`` recorded on the rows.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from include.branch_sync.config import load_config
from include.common.db import Database
from include.common.scrub import error_text
from include.sync_verify import tracking

log = logging.getLogger(__name__)

_LOST = "the worker was lost: the try ended without its task process reporting (killed, no heartbeat)"


def _unit_of(db: Database, context: Mapping[str, Any]) -> tuple[str, list[tuple[str, str]]] | None:
    kwargs = getattr(context.get("task"), "op_kwargs", None) or {}
    vid, conn, tables = kwargs.get("verification_id"), kwargs.get("connection"), kwargs.get("tables")
    if isinstance(vid, str) and isinstance(conn, str) and isinstance(tables, list):
        return vid, [(conn, t) for t in tables]
    ti = context.get("ti")
    map_index = getattr(ti, "map_index", None)
    if ti is None or not isinstance(map_index, int) or map_index < 0:
        return None
    return tracking.pairs_of_task(db, ti.dag_id, ti.run_id, ti.task_id, map_index)


def _settle(context: Mapping[str, Any], retrying: bool) -> None:
    target = load_config().target
    try:
        with Database(target) as db:
            unit = _unit_of(db, context)
            if unit is None:
                return
            vid, pairs = unit
            exc = context.get("exception")
            error = error_text(exc, pairs[0][0], target) if exc else _LOST
            if retrying:
                tracking.mark_retrying(db, vid, pairs, error)
            else:
                tracking.mark_failed(db, vid, pairs, error, only_open=True)
    except Exception as exc:  # the finalize task and the DAG callback settle what is left open
        log.error("could not update verification tracking: %s", error_text(exc, target))


def on_failure(context: Mapping[str, Any]) -> None:
    _settle(context, retrying=False)


def on_retry(context: Mapping[str, Any]) -> None:
    _settle(context, retrying=True)


def on_dag_run_end(context: Mapping[str, Any]) -> None:
    """A run that ended without ``finalize`` (marked failed, timed out) fails its open rows and is
    announced (once: finalize may have sent it already)."""
    from include.sync_verify.tasks import settle

    dag_run = context.get("dag_run")
    if dag_run is None:
        return
    target = load_config().target
    try:
        with Database(target) as db:
            settle(db, dag_run.dag_id, dag_run.run_id,
                   f"the run ended ({getattr(dag_run, 'state', None) or 'failed'}) before this pair was verified")
    except Exception as exc:
        log.error("could not settle the verification of %s: %s", dag_run.run_id, error_text(exc, target))
