"""What the ``branch_sync`` DAG's tasks do, as plain functions over the Airflow context.

The DAG file stays thin: each task body calls one function here. Tracking rows change state in
the task callbacks (``callbacks.py``); ``finalize`` then makes them agree with Airflow's own task
states (a callback that never ran, e.g. after a SIGKILL, leaves nothing wrong behind) and derives
the batch counts.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from include.branch_sync import notify, tracking
from include.branch_sync.config import list_param, load_config, plan_pairs
from include.branch_sync.pools import check_pools
from include.branch_sync.engine import sync_pair
from include.branch_sync.spec import (
    ASSET_ALIAS,
    step_connections,
    table_asset,
    task_id_for,
    xcom_key,
)
from include.common.batches import batch_id_for_run
from include.common.clock import utcnow
from include.common.db import Database, is_transient
from include.common.run_conf import refuse_unknown_conf
from include.common.scrub import error_text

log = logging.getLogger(__name__)


def plan(context: Mapping[str, Any]) -> dict[str, Any]:
    """Validate the params against the config, create (or resume) the batch and its pending rows,
    and return the tables each mapped sync task expands over."""
    refuse_unknown_conf(context)
    params = context["params"]
    config = load_config()
    selection = plan_pairs(config, list_param(params, "connections"), list_param(params, "tables"),
                           bool(params.get("skip_step1")))
    dag_run = context["dag_run"]
    options = {k: params.get(k) for k in ("connections", "tables", "skip_step1", "full_refresh", "resume")}
    check_pools(config, [*selection.step1, *selection.step2])  # a missing pool fails the run here, loudly
    pairs = [
        tracking.Pair(conn, table, config.table(table).model, task_id_for(step, conn))
        for step, by_conn in (("step1", selection.step1), ("step2", selection.step2))
        for conn, tables in by_conn.items() for table in tables
    ]
    with Database(config.target) as db:
        tracking.ensure_schema(db)
        resume = params.get("resume")
        if resume:
            batch_id = resume
            remaining = tracking.resume_batch(db, batch_id, dag_run.dag_id, dag_run.run_id, options, pairs)
            log.info("Resuming batch %s: %d of %d pairs left", batch_id, len(remaining), len(pairs))
            for p in pairs:
                if p not in remaining:
                    log.info("Skipping %s from %s (already completed)", p.model, p.connection)
        else:
            when = dag_run.run_after or dag_run.start_date or utcnow()
            batch_id = batch_id_for_run("sync", dag_run.dag_id, dag_run.run_id, when)
            tracking.start_batch(db, batch_id, dag_run.dag_id, dag_run.run_id, options, pairs)
            remaining = pairs
            log.info("Created new batch: %s (%d pairs)", batch_id, len(pairs))
        tracking.assign_tasks(db, batch_id, remaining)
    out: dict[str, Any] = {"batch_id": batch_id}
    for step, conns in step_connections(config).items():
        for conn in conns:
            out[xcom_key(step, conn)] = [p.table for p in remaining if p.task_id == task_id_for(step, conn)]
    return out


def sync(batch_id: str, connection: str, table: str, full_refresh: bool, context: Mapping[str, Any]) -> dict[str, Any]:
    """Sync one pair; permanent errors fail at once, transient ones are left to Airflow's retries."""
    from airflow.sdk.exceptions import AirflowFailException

    config = load_config()
    context["label"] = f"{connection}.{table}"  # type: ignore[index]
    log.info("SyncAll: Starting for %s from %s (batch %s)", table, connection, batch_id)
    try:
        spec = config.table(table)
        result = sync_pair(config, spec, connection, batch_id, full_refresh=full_refresh)
    except Exception as exc:
        if is_transient(exc):
            raise
        raise AirflowFailException(f"{type(exc).__name__}: {error_text(exc, connection, config.target)}") from None
    log.info("SyncAll: Completed for %s from %s", table, connection)
    return result.as_dict()


# -- the table events -------------------------------------------------------------------------------------
def tables_to_publish(progress: Sequence[Mapping[str, Any]], target_of: Callable[[str], str]) -> dict[str, dict[str, Any]]:
    """``{target table: event extra}`` for the tables that pairs of the batch completed (pure)."""
    out: dict[str, dict[str, Any]] = {}
    for row in progress:
        if row.get("status") != "completed":
            continue
        extra = out.setdefault(target_of(str(row["table_name"])), {
            "batch_id": row["batch_id"], "connections": [], "records_processed": 0})
        extra["connections"].append(str(row["connection_name"]))
        extra["records_processed"] += int(row.get("records_processed") or 0)
    for extra in out.values():
        extra["connections"].sort()
    return out


def publish_tables(context: Mapping[str, Any], config: Any, progress: Sequence[Mapping[str, Any]]) -> list[str]:
    """One asset event per central table of a completed batch, through the alias; Airflow records
    them when ``finalize`` succeeds, which happens once per batch (a failed batch is resumed until
    it completes), so each table gets one event per batch, when all of its branches are in.

    Why here and not in each sync task: Airflow 3.3 links an asset to the alias on its first event,
    and two tasks doing that at once (the same table from two branches) collide on
    ``asset_alias_asset``; the API server then marks the task failed, without retries, after its
    work was done (the scale benchmark lost 8 of 2,040 pairs to it). One task has no one to
    collide with."""
    from airflow.sdk import AssetAlias

    updated = tables_to_publish(progress, lambda name: config.table(name).target_table)
    events = context["outlet_events"][AssetAlias(ASSET_ALIAS)]  # type: ignore[index]
    for target, extra in sorted(updated.items()):
        events.add(table_asset(config, config.table(target)), extra=extra)
    return sorted(updated)


# -- finalize -----------------------------------------------------------------------------------------------
def finalize(context: Mapping[str, Any]) -> dict[str, Any]:
    """Repair the progress rows from Airflow's task states, derive the batch counts, and fail the
    run when any pair failed, so that the run's state tells the truth."""
    from airflow.sdk.exceptions import AirflowFailException

    ti = context["ti"]
    dag_run = context["dag_run"]
    planned = ti.xcom_pull(task_ids="plan", key="return_value")
    if not planned or "batch_id" not in planned:
        raise AirflowFailException("planning did not complete (see the 'plan' task); no batch to finalize")
    batch_id = planned["batch_id"]
    task_states = ti.get_task_states(dag_id=dag_run.dag_id, run_ids=[dag_run.run_id]).get(dag_run.run_id, {})
    config = load_config()
    with Database(config.target) as db:
        repaired = tracking.reconcile_batch(db, batch_id, task_states, run_state="running")["repaired"]
        if repaired:
            log.warning("repaired %d progress rows from Airflow task states", repaired)
        result = tracking.finish_batch(db, batch_id)
        progress = tracking.get_progress(db, batch_id)
        failed = [r for r in progress if r["status"] == "failed"]
        notify.announce(db, batch_id)  # never raises: a channel that fails is retried by health_reconcile
    log.info("Batch %s %s: %s of %s tables completed, %s failed", batch_id, result["status"],
             result.get("completed", 0), result["total"], result.get("failed", 0))
    if result["status"] != "completed":
        names = ", ".join(f"{r['connection_name']}.{r['table_name']}" for r in failed[:20])
        raise AirflowFailException(
            f"batch {batch_id} {result['status']}: {len(failed)} of {result['total']} tables failed ({names}); "
            f"clear the failed tasks to resume this run, or trigger with resume={batch_id}")
    result["published_tables"] = publish_tables(context, config, progress)
    return result


