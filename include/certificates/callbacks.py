"""Task and DAG callbacks of ``certificate_dispatch``: the batch row follows its participant rows;
the batch's end is announced."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from include.certificates import batches, notify
from include.common.batches import run_ended_text
from include.common.conn_ids import APP_DB
from include.common.db import Database

log = logging.getLogger(__name__)


def refresh_counts(context: Mapping[str, Any]) -> None:
    """A chunk ended: derive the batch's counts from its rows (``finalize`` derives them again, so
    a callback that cannot write loses nothing and never fails the task)."""
    job = (getattr(context.get("task"), "op_kwargs", None) or {}).get("job") or {}
    if isinstance(job, dict) and job.get("batch_id"):
        try:
            with Database(APP_DB) as db:
                batches.refresh_counts(db, job["batch_id"])
        except Exception as exc:
            log.warning("could not refresh certificate counts: %s", type(exc).__name__)


def on_dag_run_end(context: Mapping[str, Any]) -> None:
    """DAG-level callback (runs in the dag-processor): a batch its run left open (``finalize``
    never ran: marked failed by hand, timed out) is finalized as the reconcile would; the end is
    announced (once: ``finalize`` may have sent it already). Never raises."""
    dag_run = context.get("dag_run")
    if dag_run is None:
        return
    try:
        with Database(APP_DB) as db:
            row = db.fetchone(f"SELECT batch_id, status FROM {db.quote(batches.BATCHES)} WHERE dag_id = %s "
                              f"AND run_id = %s", (dag_run.dag_id, dag_run.run_id))
            if row is None:
                return
            if row["status"] in batches.OPEN_BATCH_STATUSES:
                batches.finalize_batch(db, row["batch_id"],
                                       run_ended=run_ended_text(str(getattr(dag_run, "state", None) or "failed")))
            notify.announce(db, row["batch_id"])
    except Exception as exc:
        log.error("could not finish certificate batch of run %s: %s", dag_run.run_id, type(exc).__name__)
