"""
### branch_sync: branch ERP databases -> central database

Syncs the tables listed in the sync config (`config/sync.yaml`, or the file named by `SYNC_CONFIG`)
from every branch connection into `central_db`. Each connection's mapped task runs over **work
units**: small tables packed several to a task instance (up to `unit_target_seconds` of expected
time and `unit_max_tables` tables), a long table alone in its own; labelled `connection: table +N`.
Every table keeps its own `sync_progress` row, checkpoint, retries and a log section of its own.

* **plan** validates the params against the config (unknown names fail here, before anything is
  written), creates the `sync_batches` row and one `pending` `sync_progress` row per pair, and
  packs each connection's tables into work units by expected cost (the pair's own history, else
  the source's row estimate, else a default; `packing: false` in the config, or `pack: false` on
  a table, gives one table per task instance).
* **step1.*** syncs the single-source tables, then **step2.*** syncs the per-branch tables (each
  branch's task runs in its own pool `sync_<conn_id>`, so a branch database sees at most that
  many connections).
* **finalize** reconciles the tracking rows with Airflow's task states, derives the batch counts
  and fails the run if any table failed; when the batch completes it emits one asset event per
  central table (`x-sync://<target>/<table>`, through the alias `branch_sync_tables`).

**Resume** a broken run by clearing its failed tasks: a cleared unit re-runs only its tables that
are not completed, each from its last committed chunk. Or trigger a new run with
`resume=<batch_id>` to finish an earlier batch. Inside a unit of several tables a transient error
retries that table in the task (the config's `retries`, exponential back-off), a permanent one
fails it at once; the others go on and the unit fails at the end naming the failed tables.
Status from the command line: `python -m include.cli sync-status --latest`.
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import AssetAlias, Param, TaskGroup, dag, get_current_context, task

from include.branch_sync.callbacks import on_dag_run_end, on_failure, on_retry, on_skipped
from include.branch_sync.spec import (
    ASSET_ALIAS, DAG_ID, default_args, load_config, selection_params, step_connections, table_asset, task_id_for, xcom_key,
)

# Reading the YAML config is the only work at parse time: no connection, no database.
CONFIG = load_config()
STEPS = step_connections(CONFIG)


@dag(
    dag_id=DAG_ID,
    schedule=CONFIG.schedule,
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=["sync", "branches", "central_db"],
    default_args=default_args(CONFIG),
    params={
        **selection_params(CONFIG, "sync"),
        "skip_step1": Param(False, type="boolean", title="Skip step 1",
                            description="Skip the single-source tables."),
        "full_refresh": Param(False, type="boolean", title="Full refresh",
                              description="Re-read whole tables instead of rows past the watermark."),
        "resume": Param(None, type=["null", "string"], pattern=r"^sync_\d{8}_\d{6}_[A-Za-z0-9]{8}$",
                        title="Resume batch", description="Finish this earlier batch: its completed tables are skipped."),
    },
    on_success_callback=on_dag_run_end,
    on_failure_callback=on_dag_run_end,
)
def branch_sync():
    @task(multiple_outputs=True, retries=2)
    def plan() -> dict:
        from include.branch_sync.tasks import plan as plan_batch

        return plan_batch(get_current_context())

    # The unit records each table's start and end itself; the callbacks write only what Airflow
    # decides about the whole unit (failed, retried, skipped) to its unfinished tables. It returns
    # None: an XCom nobody reads would cost an API round trip per task instance.
    @task(
        map_index_template="{{ label }}",
        on_failure_callback=on_failure,
        on_retry_callback=on_retry,
        on_skipped_callback=on_skipped,
    )
    def sync_unit(batch_id: str, connection: str, unit: dict) -> None:
        from include.branch_sync.tasks import sync_unit as run_unit

        context = get_current_context()
        run_unit(batch_id, connection, unit, bool(context["params"].get("full_refresh")), context)

    @task(retries=0)
    def units(planned_units: list) -> list:
        """The work units this connection's sync task maps over in this run."""
        return planned_units

    # The table assets are declared here so Airflow registers them at parse time; when the batch
    # completes, finalize emits one event per central table through the alias (see tasks.publish_tables).
    @task(trigger_rule="all_done", multiple_outputs=False, outlets=[AssetAlias(ASSET_ALIAS)],
          inlets=[table_asset(CONFIG, s) for s in CONFIG.tables])
    def finalize() -> dict:
        from include.branch_sync.tasks import finalize as finalize_batch

        return finalize_batch(get_current_context())

    planned = plan()
    groups = []
    # Step 2 starts when step 1 is done, whatever its outcome (one failed table stops nothing);
    # if planning failed, its selectors fail for want of the plan's output.
    for step, trigger_rule in (("step1", "all_success"), ("step2", "all_done")):
        with TaskGroup(step, tooltip="single-source tables" if step == "step1" else "tables of every branch") as group:
            for connection in STEPS[step]:
                selected = units.override(task_id=f"{connection}_units", trigger_rule=trigger_rule)(
                    planned[xcom_key(step, connection)]
                )
                sync_unit.override(
                    task_id=task_id_for(step, connection).split(".", 1)[1],
                    pool=CONFIG.pool_name(connection),
                ).partial(batch_id=planned["batch_id"], connection=connection).expand(unit=selected)
        groups.append(group)
    done = finalize()
    planned >> groups[0] >> groups[1] >> done


branch_sync()
