"""Repair sync batches from Airflow's own task states (the 5-minute reconcile and the CLI's
``recalculate-progress``): the given batches, or every one still ``running``.

A batch whose DAG run ended while the batch still says ``running``, or whose run vanished (or
never existed: a batch of the replaced system in an adopted table), becomes ``interrupted`` (see :func:`include.branch_sync.tracking.reconcile_batch`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from include.branch_sync import tracking
from include.common.batches import batches_to_check
from include.common.db import Database
from include.common.task_states import TaskStateSource

log = logging.getLogger(__name__)


def reconcile_sync_batches(db: Database, states: TaskStateSource, batch_ids: Iterable[str] | None = None,
                           dry_run: bool = False) -> list[dict[str, Any]]:
    """Repair each batch from its run's task states; returns one summary per batch."""
    results = []
    batches = batches_to_check(db, tracking.BATCHES, ("batch_id", "dag_id", "run_id", "status"),
                               tracking.OPEN_BATCH_STATUSES, batch_ids)
    for batch in batches:
        # A batch without a run is one of the replaced system's (an adopted table): no Airflow run
        # will ever finish it, so it is a batch whose run is gone.
        has_run = bool(batch["dag_id"] and batch["run_id"])
        run_state = states.run_state(batch["dag_id"], batch["run_id"]) if has_run else None
        task_states = states.task_states(batch["dag_id"], batch["run_id"]) if run_state is not None else {}
        if dry_run:
            results.append({"batch_id": batch["batch_id"], "run_state": run_state, "status": batch["status"],
                            "dry_run": True})
            continue
        result = tracking.reconcile_batch(db, batch["batch_id"], task_states, run_state)
        log.info("batch %s (run %s: %s): %s", batch["batch_id"], batch["run_id"], run_state or "gone", result)
        results.append({"batch_id": batch["batch_id"], "run_state": run_state, **result})
    return results
