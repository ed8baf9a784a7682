"""What the ``branch_sync`` DAG's tasks and callbacks do, as plain functions over the Airflow context.

The DAG file stays thin: each task body calls one function here. Tracking rows change state in
the task callbacks; ``finalize`` then makes them agree with Airflow's own task states (a callback
that never ran, e.g. after a SIGKILL, leaves nothing wrong behind) and derives the batch counts.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from include import tracking
from include.config import ConfigError, SyncConfig, TableSpec, load_config, plan_pairs
from include.db import Database, is_transient, scrub

log = logging.getLogger(__name__)

DAG_ID = "branch_sync"
ASSET_ALIAS = "branch_sync_tables"


def task_id_for(step: str, connection: str) -> str:
    """Task id of the mapped sync task of one connection in one step (``step1.pgsql_lmp``)."""
    return f"{step}.{connection}"


def xcom_key(step: str, connection: str) -> str:
    return f"{step}__{connection}"


def step_connections(config: SyncConfig) -> dict[str, list[str]]:
    """The connections that get a sync task in each step, fixed by the config at parse time."""
    step1 = list(dict.fromkeys(s.single_source for s in config.tables if s.single_source))
    has_step2 = any(s.per_branch for s in config.tables)
    return {"step1": step1, "step2": list(config.branches) if has_step2 else []}


def table_asset(config: SyncConfig, spec: TableSpec) -> Any:
    """The Asset a synced target table is: downstream DAGs can schedule on it."""
    from airflow.sdk import Asset

    return Asset(name=f"{config.target}.{spec.target_table}", uri=f"sync://{config.target}/{spec.target_table}")


def _list_param(params: Mapping[str, Any], name: str) -> list[str]:
    value = params.get(name) or []
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"param {name!r} must be a list of names, got {value!r}")
    return value


def plan(context: Mapping[str, Any]) -> dict[str, Any]:
    """Validate the params against the config, create (or resume) the batch and its pending rows,
    and return the tables each mapped sync task expands over."""
    params = context["params"]
    config = load_config()
    selection = plan_pairs(config, _list_param(params, "connections"), _list_param(params, "tables"),
                           bool(params.get("skip_step1")))
    dag_run = context["dag_run"]
    options = {k: params.get(k) for k in ("connections", "tables", "skip_step1", "full_refresh", "resume")}
    from include.pools import check_pools

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
            when = dag_run.run_after or dag_run.start_date or tracking.utcnow()
            batch_id = tracking.batch_id_for_run("sync", dag_run.dag_id, dag_run.run_id, when)
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
    from airflow.sdk import AssetAlias
    from airflow.sdk.exceptions import AirflowFailException

    from include.sync.engine import sync_pair

    config = load_config()
    context["label"] = f"{connection}.{table}"  # type: ignore[index]
    log.info("SyncAll: Starting for %s from %s (batch %s)", table, connection, batch_id)
    try:
        result = sync_pair(config, table, connection, batch_id, full_refresh=full_refresh)
    except Exception as exc:
        if is_transient(exc):
            raise
        raise AirflowFailException(f"{type(exc).__name__}: {_safe_error(exc, connection, config)}") from None
    context["outlet_events"][AssetAlias(ASSET_ALIAS)].add(  # type: ignore[index]
        table_asset(config, config.table(table)),
        extra={"batch_id": batch_id, "connection": connection, "records_processed": result.processed},
    )
    log.info("SyncAll: Completed for %s from %s", table, connection)
    return result.as_dict()


def _safe_error(exc: BaseException, connection: str | None, config: SyncConfig | None = None) -> str:
    """An error message with the credentials of the involved connections removed."""
    secrets: list[str | None] = []
    for conn_id in filter(None, [connection, config.target if config else None]):
        try:
            from airflow.sdk import BaseHook

            secrets.append(BaseHook.get_connection(conn_id).password)
        except Exception:
            pass
    return scrub(str(exc), secrets).strip() or type(exc).__name__


# -- task callbacks: the tracking rows change state here ----------------------------------------------------
def _pair_of(context: Mapping[str, Any]) -> tuple[str, str, str] | None:
    """The (batch, connection, table) of the task instance. In the task process the mapped
    arguments are resolved; in a callback the scheduler sent to the dag-processor (a worker died,
    heartbeat timeout) they are not, and the pair is read from the row ``plan`` recorded for this
    run's ``task_id[map_index]`` (:func:`tracking.assign_tasks`)."""
    kwargs = getattr(context.get("task"), "op_kwargs", None) or {}
    batch_id, connection, table = kwargs.get("batch_id"), kwargs.get("connection"), kwargs.get("table")
    if all(isinstance(v, str) for v in (batch_id, connection, table)):
        return batch_id, connection, table  # type: ignore[return-value]
    ti = context.get("ti")
    map_index = getattr(ti, "map_index", None)
    if ti is not None and isinstance(map_index, int) and map_index >= 0:
        try:
            with Database(load_config().target) as db:
                pair = tracking.pair_of_task(db, ti.dag_id, ti.run_id, ti.task_id, map_index)
        except Exception as exc:
            log.error("could not resolve the pair of %s[%s]: %s", ti.task_id, map_index, _safe_error(exc, None))
            return None
        if pair:
            return pair
    log.warning("tracking callback without a resolved pair (kwargs: %s, map_index: %s)", sorted(kwargs), map_index)
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
        log.error("could not update sync tracking: %s", _safe_error(exc, None))


def on_execute(context: Mapping[str, Any]) -> None:
    if pair := _pair_of(context):
        _with_db(lambda db: tracking.mark_started(db, *pair))


def on_success(context: Mapping[str, Any]) -> None:
    if pair := _pair_of(context):
        _with_db(lambda db: tracking.mark_finished(db, *pair, "completed"))


def on_failure(context: Mapping[str, Any]) -> None:
    if pair := _pair_of(context):
        error = _safe_error(context.get("exception") or Exception(f"{_LOST}; no retries left"), pair[1])
        _with_db(lambda db: tracking.mark_finished(db, *pair, "failed", error))


def on_retry(context: Mapping[str, Any]) -> None:
    if pair := _pair_of(context):
        error = _safe_error(context.get("exception") or Exception(f"{_LOST}; Airflow retries this table"), pair[1])
        # The scheduler may send two callbacks for one lost try (heartbeat timeout, then the
        # executor's report): without an exception, only a row still in_progress counts a retry.
        lost = context.get("exception") is None
        _with_db(lambda db: tracking.mark_retrying(db, *pair, error, only_in_progress=lost))


def on_skipped(context: Mapping[str, Any]) -> None:
    if pair := _pair_of(context):
        _with_db(lambda db: tracking.mark_finished(db, *pair, "skipped"))


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
    with Database(load_config().target) as db:
        repaired = tracking.reconcile_batch(db, batch_id, task_states, run_state="running")["repaired"]
        if repaired:
            log.warning("repaired %d progress rows from Airflow task states", repaired)
        result = tracking.finish_batch(db, batch_id)
        failed = [r for r in tracking.get_progress(db, batch_id) if r["status"] == "failed"]
    log.info("Batch %s %s: %s of %s tables completed, %s failed", batch_id, result["status"],
             result.get("completed", 0), result["total"], result.get("failed", 0))
    if result["status"] != "completed":
        names = ", ".join(f"{r['connection_name']}.{r['table_name']}" for r in failed[:20])
        raise AirflowFailException(
            f"batch {batch_id} {result['status']}: {len(failed)} of {result['total']} tables failed ({names}); "
            f"clear the failed tasks to resume this run, or trigger with resume={batch_id}")
    return result


def on_dag_run_end(context: Mapping[str, Any]) -> None:
    """DAG-level callback (runs in the dag-processor): a run that ended without ``finalize``
    (marked failed by hand, timed out) leaves its open pairs failed and its batch interrupted."""
    dag_run = context.get("dag_run")
    if dag_run is None:
        return

    def work(db: Database) -> None:
        row = db.fetchone(f"SELECT batch_id, status FROM {db.quote(tracking.BATCHES)} WHERE dag_id = %s AND run_id = %s",
                          (dag_run.dag_id, dag_run.run_id))
        if row is not None and row["status"] == "running":  # else finalize already decided
            tracking.reconcile_batch(db, row["batch_id"], {}, run_state=str(getattr(dag_run, "state", None) or "failed"))

    _with_db(work)
