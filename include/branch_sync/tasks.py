"""What the ``branch_sync`` DAG's tasks do, as plain functions over the Airflow context.

The DAG file stays thin: each task body calls one function here. Tracking rows change state in
the task callbacks (``callbacks.py``); ``finalize`` then makes them agree with Airflow's own task
states (a callback that never ran, e.g. after a SIGKILL, leaves nothing wrong behind) and derives
the batch counts.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from include.branch_sync import notify, tracking, units
from include.branch_sync.config import SyncConfig, list_param, load_config, plan_pairs
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
from include.common.db.errors import fail_unless_transient
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
    pairs = units.selection_pairs(config, selection)
    # A table that cannot be adopted (or any error a retry cannot fix) fails planning at once.
    with fail_unless_transient("plan", config.target), Database(config.target) as db:
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
        planned = units.plan_units(config, db, remaining, bool(params.get("full_refresh")))
        tracking.assign_tasks(db, batch_id, planned.assignments)
    out: dict[str, Any] = {"batch_id": batch_id}
    for step, conns in step_connections(config).items():
        for conn in conns:
            out[xcom_key(step, conn)] = [u.as_arg() for u in planned.units.get(task_id_for(step, conn), [])]
    log.info("%d pairs in %d work units (packing %s, target %.0f s, at most %d tables)", len(remaining),
             sum(len(u) for u in planned.units.values()), "on" if config.packing else "off",
             config.unit_target_seconds, config.unit_max_tables)
    return out


def sync_unit(batch_id: str, connection: str, unit: Mapping[str, Any], full_refresh: bool,
              context: Mapping[str, Any]) -> None:
    """Sync the tables of one work unit, one after another, each in a log section of its own.

    A unit of one table behaves as a task per table always did: a transient error goes to
    Airflow's retries, a permanent one fails the task at once, and the callbacks write the row.
    In a unit of several tables each table has its own tries: a transient error retries that
    table in this task with exponential back-off (the config's ``retries`` and
    ``retry_delay_seconds``), a permanent one fails it at once, and the next table goes on; the
    task fails at the end, naming the tables that failed. Tables already ``completed`` in this
    batch (an Airflow retry, a cleared unit) are skipped, so only the others run again, each from
    its last committed chunk."""
    from airflow.sdk.exceptions import AirflowFailException

    config = load_config()
    tables = [str(t) for t in unit["tables"]]
    context["label"] = unit.get("label") or units.unit_label(connection, tables[-1], len(tables))  # type: ignore[index]
    alone = len(tables) == 1
    failed: list[str] = []
    # One connection to the branch and one to central serve every table of the unit.
    with Database(connection) as source, Database(config.target, local_infile=True) as target:
        done = tracking.statuses(target, batch_id, connection, tables)
        for table in tables:
            if done.get(table) == "completed":
                log.info("%s from %s: already completed in batch %s", table, connection, batch_id)
                continue
            log.info("::group::%s from %s", table, connection)
            try:
                error = _sync_table(config, source, target, batch_id, connection, table, full_refresh, alone)
            finally:
                log.info("::endgroup::")
            if error:
                failed.append(f"{table} ({error})")
    if failed:
        raise AirflowFailException(f"{len(failed)} of {len(tables)} tables of this unit failed: "
                                   + "; ".join(failed)[:2000])


def _sync_table(config: SyncConfig, source: Database, target: Database, batch_id: str, connection: str, table: str,
                full_refresh: bool, alone: bool) -> str | None:
    """One table of a unit through its tries; returns the error that failed it, None when done."""
    from airflow.sdk.exceptions import AirflowFailException

    tracking.mark_started(target, batch_id, connection, table)
    log.info("SyncAll: Starting for %s from %s (batch %s)", table, connection, batch_id)
    attempt = 0
    while True:
        try:
            result = sync_pair(config, config.table(table), connection, batch_id, full_refresh=full_refresh,
                               source=source, target=target)
        except Exception as exc:
            source.close()  # the next try, or table, starts on fresh connections
            target.close()
            error = f"{type(exc).__name__}: {error_text(exc, connection, config.target)}"
            if alone:  # Airflow's retries and the callbacks, as one task per table
                if is_transient(exc):
                    raise
                raise AirflowFailException(error) from None
            if is_transient(exc) and attempt < config.retries:
                attempt += 1
                delay = min(config.retry_delay_seconds * 2 ** (attempt - 1), 600)
                log.warning("%s from %s failed (%s); try %d of %d in %d s", table, connection, error, attempt + 1,
                            config.retries + 1, delay)
                tracking.mark_retrying_in_task(target, batch_id, connection, table, error)
                time.sleep(delay)
                continue
            log.error("%s from %s failed: %s", table, connection, error)
            tracking.mark_finished(target, batch_id, connection, table, "failed", error)
            return error
        tracking.mark_finished(target, batch_id, connection, table, "completed", sync_mode=result.mode)
        log.info("SyncAll: Completed for %s from %s", table, connection)
        return None


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


