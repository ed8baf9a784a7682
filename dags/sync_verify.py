"""
### sync_verify: is central still equal to the branches?

Compares every synced (branch, table) pair of the sync config with its rows in `central_db`
without copying the table: row counts and checksums of key-hash buckets computed inside each
database (the branch in one REPEATABLE READ snapshot), bisection of the buckets that differ, and
a value-by-value comparison of the few rows left, with the normalisation the sync's writers use.

* **plan** validates the params (`connections`, `tables` as in `branch_sync`), creates one
  `pending` row per pair in `sync_verifications` (id `verify_YYYYmmdd_HHMMSS_xxxxxxxx`) and hands
  each connection's mapped task its units of tables.
* **verify.<connection>** (pool `sync_<connection>`, as the sync: a branch sees no more
  connections than during a sync) verifies a unit's tables one after another, each with its own
  row: `clean`, `drift` (missing in central, extra in central, changed; rows changed at the branch
  after the last sync's watermark are *not yet synced*, not drift) or `repaired`.
* With **repair** the differing rows are written through the sync's writer (upsert of missing
  and changed, delete of extra, limited to the pair's rows) in one central transaction per pair.
* **finalize** fails the run if a pair failed and sends a notice when drift was found or repaired.

Schedule: `verify_schedule` of the sync config (none: triggered from the UI, the REST API or
the console). Status: `python -m include.cli verify-status`; console page `/backoffice/verify`.
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import Param, TaskGroup, dag, get_current_context, task

from include.sync_verify.callbacks import on_dag_run_end, on_failure, on_retry
from include.sync_verify.spec import DAG_ID, GROUP, default_args, load_config, selection_params, task_id_for

CONFIG = load_config()  # the YAML only: no connection, no database


@dag(
    dag_id=DAG_ID,
    schedule=CONFIG.verify_schedule,
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=["sync", "branches", "central_db", "verify"],
    default_args=default_args(CONFIG),
    params={
        **selection_params(CONFIG, "verify"),
        "repair": Param(False, type="boolean", title="Repair",
                        description="Write the differing rows through the sync's writer (upsert missing and "
                                    "changed, delete extra), one central transaction per pair."),
    },
    on_success_callback=on_dag_run_end,
    on_failure_callback=on_dag_run_end,
)
def sync_verify():
    @task(multiple_outputs=True, retries=2)
    def plan() -> dict:
        from include.sync_verify.tasks import plan as plan_run

        return plan_run(get_current_context())

    @task(map_index_template="{{ label }}", multiple_outputs=False, on_failure_callback=on_failure,
          on_retry_callback=on_retry)
    def verify(verification_id: str, connection: str, tables: list) -> list:
        from include.sync_verify.tasks import verify_unit

        context = get_current_context()
        return verify_unit(verification_id, connection, tables, bool(context["params"].get("repair")), context)

    @task(retries=0)
    def units(selected: list) -> list:
        """The units this connection's verify task maps over (Airflow maps over a task's return value)."""
        return selected

    @task(trigger_rule="all_done", multiple_outputs=False, retries=1)
    def finalize() -> dict:
        from include.sync_verify.tasks import finalize as finalize_run

        return finalize_run(get_current_context())

    planned = plan()
    with TaskGroup(GROUP, tooltip="one mapped task per connection, in its pool") as group:
        for connection in CONFIG.connections:
            selected = units.override(task_id=f"{connection}_units")(planned[connection])
            verify.override(task_id=task_id_for(connection).split(".", 1)[1], pool=CONFIG.pool_name(connection)
                            ).partial(verification_id=planned["verification_id"], connection=connection
                                      ).expand(tables=selected)
    planned >> group >> finalize()


sync_verify()
