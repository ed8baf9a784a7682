"""What the ``health_reconcile`` DAG's tasks do: WhatsApp sessions, batch progress, clean-up.

Tuning comes from the Airflow Variable ``health_reconcile`` (JSON, optional), e.g.
``{"retention_days": 30, "missing_checks_before_disconnect": 2, "max_reconnect_attempts": 3,
"max_reconnects_per_run": 5, "reconnect_backoff_seconds": 600, "alert_emails": ["ops@example.com"],
"auto_resume": {"enabled": true, "quiet_minutes": 15, "max_attempts": 2}}``; the ``alert_*`` keys
are read by :class:`include.common.alerts.FailureAlert`, ``auto_resume`` by :mod:`include.health.resume`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from include.branch_sync import tracking as sync_tracking
from include.branch_sync.config import load_config
from include.branch_sync.reconcile import reconcile_sync_batches
from include.branch_sync.stuck import running_reports, stuck_lines
from include.certificates import batches as certificate_batches
from include.common.alerts import alert_settings
from include.common.batches import delete_old_batches
from include.common.clock import utcnow
from include.common.conn_ids import AIRFLOW_API, APP_DB, WHATSAPP_SERVICE, connection_defined
from include.common.db import Database
from include.common.db.errors import fail_unless_transient
from include.common.run_conf import refuse_unknown_conf  # each task checks the conf: none waits for another
from include.common.task_states import RestApiStates, TaskSdkStates
from include.health import notices, resume
from include.health.spec import DAG_ID, VARIABLE
from include.health.whatsapp import uptime
from include.health.whatsapp.accounts import ensure_accounts_table, load_accounts
from include.health.whatsapp.adapters import get_adapter
from include.health.whatsapp.client import ServiceUnavailable
from include.health.whatsapp.reconcile import reconcile
from include.health.whatsapp.settings import ReconcileSettings

__all__ = ["auto_resume", "batch_progress", "housekeeping", "refuse_unknown_conf", "runnable_parts", "settings",
           "whatsapp_sessions"]

log = logging.getLogger(__name__)

DEFAULT_RETENTION_DAYS = 30


def settings() -> dict[str, Any]:
    """The Variable ``health_reconcile`` as a dict ({} when it is not set)."""
    from airflow.sdk import Variable

    value = Variable.get(VARIABLE, default=None, deserialize_json=True)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError(f"Variable {VARIABLE!r} must be a JSON object, got {type(value).__name__}")
    return value


def runnable_parts(task: str, needs: Mapping[str, str]) -> dict[str, bool]:
    """Which of a task's parts (part -> the connection it needs) can run in this deployment. A
    deployment without one of the contract's connections (a WhatsApp-only one has no
    ``central_db``) skips the parts that need it, with one line naming the connection; when no part
    can run, the task ends ``skipped`` with that line as its reason (the run still succeeds). A
    defined connection that then fails still fails the task."""
    from airflow.sdk.exceptions import AirflowSkipException

    runs = {part: connection_defined(conn_id) for part, conn_id in needs.items()}
    missing = [f"{part} skipped: connection {needs[part]!r} is not defined in this deployment"
               for part, ok in runs.items() if not ok]
    if missing:
        log.info("%s", "; ".join(missing))
    if missing and not any(runs.values()):
        raise AirflowSkipException(f"{task}: {'; '.join(missing)}")
    return runs


def whatsapp_sessions(params: Mapping[str, Any], run_id: str) -> dict[str, Any]:
    """Reconcile ``app_db.whatsapp_accounts`` with the service; fails (changing nothing) when the
    service cannot be read; skipped where ``app_db`` or ``whatsapp_service`` is not defined."""
    from airflow.sdk.exceptions import AirflowException, AirflowSkipException

    missing = next((conn_id for conn_id in (WHATSAPP_SERVICE, APP_DB) if not connection_defined(conn_id)), None)
    if missing is not None:  # both are needed: the accounts and the service they are compared with
        line = f"WhatsApp sessions skipped: connection {missing!r} is not defined in this deployment"
        log.info("%s", line)
        raise AirflowSkipException(line)
    values = settings()
    alert_settings({k: v for k, v in values.items() if k.startswith("alert_")}, VARIABLE)  # refuse a bad one now
    tuning = {k: v for k, v in values.items()
              if k not in ("retention_days", resume.SETTING) and not k.startswith("alert_")}
    tuning.setdefault("triggered_by", f"{DAG_ID}:{run_id}")
    reconcile_settings = ReconcileSettings.from_mapping(tuning)
    dry_run = bool(params.get("dry_run"))
    with Database(APP_DB) as db:
        if not dry_run:
            with fail_unless_transient("whatsapp_sessions", APP_DB):
                ensure_accounts_table(db)
        try:
            summary = reconcile(db, get_adapter(), workspace=params.get("workspace"),
                                auto_reconnect=bool(params.get("auto_reconnect")), dry_run=dry_run,
                                settings=reconcile_settings)
        except ServiceUnavailable as exc:
            if not dry_run:
                workspace = params.get("workspace")
                uptime.record_unreachable(db, [(a.id, a.session_id) for a in load_accounts(
                    db, None if workspace is None else int(workspace))], utcnow())
                _whatsapp_alerts(db, run_id, error=str(exc))
            raise AirflowException(f"WhatsApp service unavailable, nothing changed: {exc}") from None
        if not dry_run:
            _whatsapp_alerts(db, run_id, summary=summary)
    log.info("\n%s", summary.render())
    if summary.service_error:
        raise AirflowException(f"the WhatsApp service failed during reconnects: {summary.service_error}")
    if summary.capped:
        log.error("%d session(s) reached the reconnect cap and need a manual reconnect", summary.capped)
    return summary.as_dict()


def _whatsapp_alerts(db: Database, run_id: str, *, error: str | None = None, summary: Any = None) -> None:
    """Alerts once per episode (service unreachable N runs in a row, a session out of reconnect
    attempts) and their recovery; never raises (a bad notifications Variable fails ``batch_progress``)."""
    try:
        notify_settings = notices.checked_settings()
    except Exception as exc:
        log.error("WhatsApp alerts not checked: %s", exc)
        return
    if not notify_settings.channels:
        return
    notices.service_check(db, notify_settings, error=error, run_id=run_id)
    if summary is not None:
        notices.session_checks(db, notify_settings, summary, run_id)


def batch_progress(ti: Any, dry_run: bool) -> dict[str, Any]:
    """Repair running sync batches from Airflow's task states; interrupt those whose run ended;
    say why a running batch's tables wait to start too long (an ``alert`` episode per batch, logged
    as errors: a run must never wait silently, e.g. on a pool that does not exist); then announce
    every recently finished batch whose notice is still unsent on some channel (a bad
    notifications Variable fails the task after the repair, naming the key). The sync part needs
    the sync config's target (``central_db``), the certificate part ``app_db``; a part whose
    connection is not defined is skipped."""
    from airflow.sdk.exceptions import AirflowException

    try:
        notify_settings, notify_error = notices.checked_settings(), None
    except ValueError as exc:
        notify_settings, notify_error = None, exc
    states = TaskSdkStates(ti)
    target = load_config().target
    parts = runnable_parts("batch_progress", {"sync batch progress": target, "certificate batch progress": APP_DB})
    sync_part, cert_part = parts["sync batch progress"], parts["certificate batch progress"]
    results: list[dict[str, Any]] = []
    stuck: list[dict[str, Any]] = []
    if sync_part:
        with Database(target) as db:
            with fail_unless_transient("batch_progress", db.conn_id):
                sync_tracking.ensure_schema(db)
            results = reconcile_sync_batches(db, states, dry_run=dry_run)
            stuck = running_reports(db, lambda: _stuck_reader(states), utcnow())
            for report in stuck:
                for line in stuck_lines(report):
                    log.error("batch %s: %s", report["batch_id"], line.strip())
            if notify_settings and notify_settings.channels and not dry_run:
                notices.stuck_checks(db, notify_settings, stuck, ti.run_id)
    cert_results: list[dict[str, Any]] = []
    if cert_part:
        with Database(APP_DB) as db:
            with fail_unless_transient("batch_progress", APP_DB):
                certificate_batches.ensure_schema(db)
            cert_results = certificate_batches.reconcile_batches(db, states.run_state, dry_run=dry_run)
    interrupted = [r["batch_id"] for r in results if r.get("status") == "interrupted"]
    repaired = sum(r.get("repaired", 0) for r in results)
    log.info("sync batches checked: %d, rows repaired: %d, interrupted: %s; certificate batches checked: %d",
             len(results), repaired, ", ".join(interrupted) or "none", len(cert_results))
    if notify_error is not None:
        raise AirflowException(f"batch notifications not sent: {notify_error}")
    announced = notices.sweep(notify_settings, sync=sync_part, certificates=cert_part) \
        if notify_settings and not dry_run else {}
    return {"sync_batches": results, "repaired": repaired, "interrupted": interrupted,
            "stuck": {r["batch_id"]: [f["kind"] for f in r["findings"]] for r in stuck if r["waiting_pairs"]},
            "certificate_batches": cert_results, "notices_tried": announced}


def auto_resume(run_id: str, dry_run: bool) -> dict[str, Any]:
    """Resume the newest sync batch when it is ``interrupted`` (see :mod:`include.health.resume`),
    if the Variable's ``auto_resume`` turns it on; needs the sync target and, once a batch is
    interrupted, the REST API (connection ``airflow_api``)."""
    from airflow.sdk.exceptions import AirflowException

    resume_settings = resume.AutoResumeSettings.from_mapping(settings().get(resume.SETTING))
    if not resume_settings.enabled:
        log.info("automatic resume is off (Variable %r, key %r)", VARIABLE, resume.SETTING)
        return {"enabled": False}
    target = load_config().target
    runnable_parts("auto_resume", {"automatic resume of sync batches": target})
    try:
        notify_settings = notices.checked_settings()
    except ValueError as exc:  # batch_progress fails on it, naming the key; the resume goes on
        log.error("automatic resume not announced: %s", exc)
        notify_settings = None

    def api() -> RestApiStates:
        if not connection_defined(AIRFLOW_API):
            raise AirflowException(f"automatic resume is on (Variable {VARIABLE!r}) but connection {AIRFLOW_API!r} "
                                   "to Airflow's REST API is not defined: define it (host/port of the api-server, "
                                   "login and password of a user who may trigger branch_sync) or turn it off")
        return RestApiStates(AIRFLOW_API, timeout=30.0)

    with Database(target) as db:
        return {"enabled": True, **resume.auto_resume(db, api, resume_settings, run_id, notify=notify_settings,
                                                      dry_run=dry_run)}


def _stuck_reader(sdk_states: TaskSdkStates) -> Any:
    """What explains a stuck batch: the REST API (``airflow_api`` connection) names a missing or
    full pool; without it the Task SDK gives the task states only."""
    try:
        return RestApiStates(AIRFLOW_API, timeout=10.0)
    except Exception as exc:
        log.info("pools not readable (%s: no working %r connection); stuck tables are explained from task "
                 "states only", type(exc).__name__, AIRFLOW_API)
        return sdk_states


def housekeeping(dry_run: bool) -> dict[str, int]:
    """Delete tracking rows of finished batches older than ``retention_days`` (default 30), in each
    database whose connection is defined, and WhatsApp check rows older than the uptime windows
    need (:data:`include.health.whatsapp.uptime.HISTORY_DAYS`)."""
    days = int(settings().get("retention_days", DEFAULT_RETENTION_DAYS))
    if days < 1:
        raise ValueError(f"retention_days must be at least 1, got {days}")
    cutoff = utcnow() - timedelta(days=days)
    target = load_config().target
    parts = runnable_parts("housekeeping", {"sync housekeeping": target, "app_db housekeeping": APP_DB})
    sync_part, cert_part = parts["sync housekeeping"], parts["app_db housekeeping"]
    counts: dict[str, int] = {}
    if sync_part:
        with Database(target) as db:
            with fail_unless_transient("housekeeping", db.conn_id):
                sync_tracking.ensure_schema(db)
            counts.update(delete_old_batches(db, sync_tracking.BATCHES, sync_tracking.PROGRESS,
                                             sync_tracking.OPEN_BATCH_STATUSES, cutoff, dry_run=dry_run))
    if cert_part:
        with Database(APP_DB) as db:
            with fail_unless_transient("housekeeping", APP_DB):
                certificate_batches.ensure_schema(db)
            counts.update(certificate_batches.delete_old_batches(db, cutoff, dry_run=dry_run))
            ensure_accounts_table(db)  # the WhatsApp check history is kept for the uptime windows only
            counts[uptime.CHECKS] = uptime.delete_old_checks(db, utcnow() - timedelta(days=uptime.HISTORY_DAYS),
                                                             dry_run=dry_run)
    log.info("%s tracking rows older than %d days: %s", "would delete" if dry_run else "deleted", days, counts)
    return counts
