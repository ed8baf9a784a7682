"""
### health_reconcile: every 5 minutes, make the databases tell the truth

* **whatsapp_sessions** compares the WhatsApp accounts in `app_db` with the WhatsApp service
  (`whatsapp_service` connection: `GET /health`, `GET /api/sessions`). A session the database
  calls `connected` that the service lacks is marked `disconnected` (after
  `missing_checks_before_disconnect` reads in a row), with `auto_disconnected_at` and `reason`
  merged into its metadata; with `auto_reconnect` it is re-created (`POST /api/sessions`), or,
  when the service holds it but cannot run it, restarted with the service's own restart call,
  capped per session and per run. A session only a person can bring back (logged out: a QR code to
  scan) is marked and left, its `reason` saying so. Every check's word per session is kept for
  the uptime (`whatsapp_session_checks`: `whatsapp-status`, the console). If the service is down,
  slow, answers 5xx, malformed JSON or 401, nothing changes (the check is recorded `unreachable`)
  and the task fails.
* **batch_progress** repairs running `sync_batches` from Airflow's own task states (what a killed
  worker never reported) and marks batches whose DAG run ended or vanished `interrupted`. A running
  batch whose tables wait to start longer than `stuck_after_seconds` is logged as an error and
  alerted once (with `recovered` when they move): why (a missing or full pool, no worker, no
  executor slot) and the fix, e.g. `python -m include.cli pools --apply`.
* **housekeeping** deletes tracking rows of batches older than `retention_days` (default 30).
* **auto_resume** (off unless the Variable's `auto_resume` turns it on) resumes the newest sync
  batch once it is `interrupted`: it triggers `branch_sync` with `resume=<batch_id>` through the
  REST API (`airflow_api` connection) after `quiet_minutes`, at most `max_attempts` times, never
  while another `branch_sync` run is queued or running; each attempt is recorded in
  `sync_resume_attempts` and announced (event `resumed`).

`dry_run` writes nothing, calls nothing that changes state, and logs what it would do.
A part whose connection is not defined in the deployment (no `central_db`, `app_db` or
`whatsapp_service`) is skipped with one log line naming it; a defined one that fails fails its task.
A task that fails for good (e.g. the WhatsApp service is down) emails the `alert_emails` of the
Variable through the `smtp_default` connection, once per `alert_repeat_minutes` for the same failure
(see `include/common/alerts.py`).

Tuning: the Airflow Variable `health_reconcile` (JSON), see `include/health/tasks.py`.
"""

from __future__ import annotations

import datetime as dt
import os

from airflow.sdk import Param, dag, get_current_context, task

from include.health.spec import DAG_ID, VARIABLE, FailureAlert

# The schedule can be shortened for tests (seconds); production runs every 5 minutes.
_INTERVAL = os.environ.get("HEALTH_RECONCILE_INTERVAL_SECONDS")
SCHEDULE = dt.timedelta(seconds=int(_INTERVAL)) if _INTERVAL else "*/5 * * * *"


@dag(
    dag_id=DAG_ID,
    schedule=SCHEDULE,
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=dt.timedelta(minutes=4),
    doc_md=__doc__,
    tags=["health", "whatsapp", "progress"],
    default_args={
        "retries": 1,
        "retry_delay": dt.timedelta(seconds=20),
        "execution_timeout": dt.timedelta(minutes=3),
        # emails the operators in the Variable's alert_emails once a task has failed for good
        "on_failure_callback": FailureAlert(VARIABLE),
    },
    params={
        "workspace": Param(None, type=["null", "integer"], title="Workspace",
                           description="Only the WhatsApp accounts of this workspace id; empty means all."),
        "auto_reconnect": Param(True, type="boolean", title="Auto-reconnect",
                                description="Re-create sessions the service lost (capped per session and run)."),
        "dry_run": Param(False, type="boolean", title="Dry run",
                         description="Write nothing, change nothing at the service; log what would be done."),
    },
)
def health_reconcile():
    @task
    def whatsapp_sessions() -> dict:
        from include.health.tasks import refuse_unknown_conf, whatsapp_sessions as reconcile_sessions

        context = get_current_context()
        refuse_unknown_conf(context)
        return reconcile_sessions(context["params"], context["run_id"])

    @task
    def batch_progress() -> dict:
        from include.health.tasks import batch_progress as reconcile_progress, refuse_unknown_conf

        context = get_current_context()
        refuse_unknown_conf(context)
        return reconcile_progress(context["ti"], bool(context["params"]["dry_run"]))

    @task
    def housekeeping() -> dict:
        from include.health.tasks import housekeeping as clean_up, refuse_unknown_conf

        context = get_current_context()
        refuse_unknown_conf(context)
        return clean_up(bool(context["params"]["dry_run"]))

    @task
    def auto_resume() -> dict:
        from include.health.tasks import auto_resume as resume_interrupted, refuse_unknown_conf

        context = get_current_context()
        refuse_unknown_conf(context)
        return resume_interrupted(context["run_id"], bool(context["params"]["dry_run"]))

    whatsapp_sessions()
    batch_progress()
    housekeeping()
    auto_resume()


health_reconcile()
