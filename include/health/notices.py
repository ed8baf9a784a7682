"""What ``health_reconcile`` tells the operators: the end of every batch whose notice is still
unsent (the next sighting after a failed channel, and the batches this DAG itself finalizes after a
killed run), and WhatsApp alerts, once per episode, with a ``recovered`` message when it ends:

* the service unreachable for ``whatsapp_unreachable_checks`` runs in a row (subject ``service:``);
* a session that has used up its reconnect attempts, or that only a person can bring back (logged
  out, banned: ``left_for_person``) (subject ``session:<id>``), recovered when its account is
  ``connected`` again;
* a running sync batch whose tables wait to start longer than ``stuck_after_seconds`` (subject
  ``stuck:<batch_id>``, with the reasons and their fixes), recovered when none waits any more or
  the batch has ended.

The Variable ``backoffice_notifications`` is checked here against every DAG's events, so a typo
in ``notify_on`` fails this task (and its failure alert names it) instead of silencing a channel.
"""

from __future__ import annotations

import logging
from typing import Any

from include.branch_sync import notify as sync_notify
from include.branch_sync.config import load_config
from include.certificates import notify as certificate_notify
from include.common.conn_ids import APP_DB, WHATSAPP_SERVICE
from include.common.db import Database
from include.common.notify import store
from include.common.notify.notice import Notice, airflow_url, run_url
from include.common.notify.send import observe
from include.common.notify.settings import ACTION_EVENTS, EPISODE_EVENTS, NotifySettings, load_settings
from include.common.scrub import connection_secrets
from include.common.text import format_duration, format_ts
from include.health.spec import DAG_ID
from include.sync_verify import notify as verify_notify
from include.health.whatsapp.accounts import ACCOUNTS
from include.health.whatsapp.summary import ReconcileSummary

log = logging.getLogger(__name__)

SOURCES = {**sync_notify.SOURCES, **certificate_notify.SOURCES, **verify_notify.SOURCES,
           DAG_ID: EPISODE_EVENTS + ACTION_EVENTS}
SERVICE = "service:whatsapp"
SESSION = "session:"
# Reconcile actions after which only a person brings the session back.
PERSON_ACTIONS = ("reconnect_capped", "left_for_person")
STUCK = "stuck:"


def checked_settings() -> NotifySettings:
    """The Variable, validated, its ``notify_on`` DAG ids and events included."""
    settings = load_settings()
    settings.check_sources(SOURCES)
    return settings


def sweep(settings: NotifySettings, *, sync: bool = True, certificates: bool = True) -> dict[str, list[str]]:
    """Announce the recently finished batches of both jobs (those asked for: a deployment may lack
    one's database) whose notice is unsent somewhere."""
    swept: dict[str, list[str]] = {"sync": [], "certificates": []}
    if sync:
        with Database(load_config().target) as db:
            swept["sync"] = sync_notify.sweep(db, settings)
    if certificates:
        with Database(APP_DB) as db:
            swept["certificates"] = certificate_notify.sweep(db, settings)
    return swept


def _notice(key: str, event: str, title: str, facts: list[tuple[str, str]],
            links: dict[str, str] | None = None) -> Notice:
    return Notice(source=DAG_ID, key=key, event=event, title=title, facts=tuple(facts),
                  links={**(links or {}), "health_reconcile in Airflow": airflow_url(f"dags/{DAG_ID}")},
                  data={"subject": key.split("@", 1)[0]}, secrets=tuple(connection_secrets(WHATSAPP_SERVICE)))


def service_check(db: Database, settings: NotifySettings, *, error: str | None, run_id: str) -> dict[str, Any]:
    """One read of the service: ``error`` None when it answered."""
    threshold = settings.unreachable_checks

    def make(episode: str, event: str) -> Notice:
        if event == "alert":
            return _notice(episode, event, f"WhatsApp service unreachable for {threshold} checks in a row",
                           [("Last error", error or "-"), ("Run", run_id)])
        return _notice(episode, event, "WhatsApp service reachable again", [("Run", run_id)])

    return observe(db, SERVICE, bad=error is not None, threshold=threshold, settings=settings, make=make,
                   detail=error, check_id=run_id)


def session_checks(db: Database, settings: NotifySettings, summary: ReconcileSummary,
                   run_id: str) -> list[dict[str, Any]]:
    """Sessions capped this run, or left for a person (logged out, banned), open an episode; an
    open episode whose account is connected again ends. Sessions not seen either way change nothing."""
    results = []
    capped = {a.session_id: a for a in summary.actions if a.action in PERSON_ACTIONS}
    for session_id, action in capped.items():
        def make(episode: str, event: str, action: Any = action) -> Notice:
            need = "a manual reconnect" if action.action == "reconnect_capped" else "a person"
            return _notice(episode, event, f"WhatsApp session {action.session_id} needs {need}",
                           [("Session", action.session_id), ("Phone", action.phone_number or "-"),
                            ("Workspace", str(action.workspace_id)), ("Detail", action.detail)])

        results.append(observe(db, SESSION + session_id, bad=True, threshold=1, settings=settings, make=make,
                               detail=action.detail, check_id=run_id))
    store.ensure_schema(db)
    open_sessions = [r["subject"][len(SESSION):] for r in store.episodes(db, SESSION)
                     if r["subject"][len(SESSION):] not in capped]
    if not open_sessions:
        return results
    marks = ", ".join(["%s"] * len(open_sessions))
    connected = {r["session_id"] for r in db.fetchall(
        f"SELECT session_id FROM {db.quote(ACCOUNTS)} WHERE session_id IN ({marks}) AND status = 'connected'",
        open_sessions)}
    for session_id in sorted(connected):
        results.append(_recovered(db, settings, SESSION + session_id, f"WhatsApp session {session_id} connected again",
                                  [("Session", session_id)], run_id))
    return results


def _recovered(db: Database, settings: NotifySettings, subject: str, title: str, facts: list[tuple[str, str]],
               run_id: str) -> dict[str, Any]:
    """A good check of ``subject``: its open episode ends with a ``recovered`` notice."""
    def make(episode: str, event: str) -> Notice:
        return _notice(episode, event, title, facts)

    return observe(db, subject, bad=False, threshold=1, settings=settings, make=make, check_id=run_id)


def stuck_checks(db: Database, settings: NotifySettings, reports: list[dict[str, Any]],
                 run_id: str) -> list[dict[str, Any]]:
    """``reports``: :func:`include.branch_sync.stuck.running_reports` of the sync database ``db``.
    A batch with overdue waiting tables opens (or keeps) its episode; an open episode whose batch
    has none any more, or is no longer running, ends."""
    results = []
    stuck = {r["batch_id"]: r for r in reports if r["waiting_pairs"]}
    for batch_id, report in stuck.items():
        def make(episode: str, event: str, report: dict[str, Any] = report) -> Notice:
            facts = [("Batch", report["batch_id"]), ("Run", str(report["run_id"])),
                     ("Waiting since", f"{format_ts(report['waiting_since'])} UTC")]
            if report["unavailable"]:
                facts.append(("Why", f"cannot tell: {report['unavailable']}"))
            for finding in report["findings"]:
                facts.append(("Why", finding["message"]))
                if finding["fix"]:
                    facts.append(("Fix", finding["fix"]))
            return _notice(episode, event, f"branch_sync batch {report['batch_id']}: {report['waiting_pairs']} "
                           f"table(s) waiting to start for over {format_duration(report['stuck_after_seconds'])}",
                           facts, links=_run_link(report))

        results.append(observe(db, STUCK + batch_id, bad=True, threshold=1, settings=settings, make=make,
                               detail=f"{report['waiting_pairs']} waiting", check_id=run_id))
    store.ensure_schema(db)
    for row in store.episodes(db, STUCK):
        batch_id = row["subject"][len(STUCK):]
        if batch_id not in stuck:
            results.append(_recovered(db, settings, STUCK + batch_id,
                                      f"branch_sync batch {batch_id}: no table waits too long any more",
                                      [("Batch", batch_id)], run_id))
    return results


def _run_link(report: dict[str, Any]) -> dict[str, str]:
    if not report.get("dag_id") or not report.get("run_id"):
        return {}
    return {"Airflow run": run_url(str(report["dag_id"]), str(report["run_id"]))}
