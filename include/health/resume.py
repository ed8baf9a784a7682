"""Automatic resume of an interrupted sync batch (seed 002's "Set Cron untuk Auto-Resume"): the
newest ``branch_sync`` batch, once ``interrupted`` (a power cut, a killed run), is resumed by
triggering ``branch_sync`` with ``resume=<batch_id>`` and the batch's own selection through
Airflow's REST API (connection ``airflow_api``), after a quiet time, at most ``max_attempts``
times per batch, never while another ``branch_sync`` run is queued or running.

Settings: key ``auto_resume`` of the Variable ``health_reconcile`` (off unless set)::

    {"auto_resume": {"enabled": true, "quiet_minutes": 15, "max_attempts": 2}}

Why only the newest batch: a later batch has synced the same tables since, so resuming an older
one would only repeat work (and its rows are no newer). Why a quiet time: an interruption often
has a cause (the database host rebooting, a deploy) that needs a few minutes to pass; it is
counted from the interruption and from the previous attempt.

:func:`decide` is the pure decision; :func:`auto_resume` its write side: each attempt is a row
of ``sync_resume_attempts`` (who: ``health_reconcile:<run_id>`` and the API user; when; which run,
named ``auto_resume__<batch_id>__<n>`` so that a retried task never triggers twice; the outcome)
claimed before the trigger, and a notice (event ``resumed``) through the notification channels,
sent once per attempt and channel (tried again at the next check when a channel failed).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from include.branch_sync import notify as sync_notify, tracking
from include.common.clock import utcnow
from include.common.db import Cursor, Database
from include.common.notify.notice import Notice, airflow_url, run_url
from include.common.notify.send import announce
from include.common.notify.settings import NotifySettings
from include.common.text import format_ts
from include.health.spec import DAG_ID, VARIABLE

log = logging.getLogger(__name__)

SETTING = "auto_resume"
EVENT = "resumed"
SYNC_DAG_ID = "branch_sync"  # the batches' DAG when their row does not name one
SELECTION = ("connections", "tables", "skip_step1", "full_refresh")  # what the resumed run must plan again


@dataclass(frozen=True)
class AutoResumeSettings:
    enabled: bool = False
    quiet_minutes: float = 15.0
    max_attempts: int = 2

    @classmethod
    def from_mapping(cls, value: Any) -> AutoResumeSettings:
        """From the Variable's ``auto_resume`` object (None: off); a bad key or value is refused by name."""
        if value is None:
            return cls()
        where = f"Variable {VARIABLE!r}: {SETTING}"
        if not isinstance(value, Mapping):
            raise ValueError(f"{where} must be a JSON object, got {type(value).__name__}")
        unknown = sorted(set(value) - {"enabled", "quiet_minutes", "max_attempts"})
        if unknown:
            raise ValueError(f"{where}: unknown key(s) {', '.join(unknown)}; known: enabled, quiet_minutes, "
                             "max_attempts")
        enabled = value.get("enabled", False)
        if not isinstance(enabled, bool):
            raise ValueError(f"{where}.enabled must be true or false, got {enabled!r}")
        quiet = value.get("quiet_minutes", cls.quiet_minutes)
        if not isinstance(quiet, (int, float)) or isinstance(quiet, bool) or quiet < 0:
            raise ValueError(f"{where}.quiet_minutes must be a number >= 0, got {quiet!r}")
        attempts = value.get("max_attempts", cls.max_attempts)
        if not isinstance(attempts, int) or isinstance(attempts, bool) or attempts < 1:
            raise ValueError(f"{where}.max_attempts must be an integer >= 1, got {attempts!r}")
        return cls(enabled, float(quiet), attempts)


@dataclass(frozen=True)
class Decision:
    """What to do about the newest batch: ``resume`` (as attempt ``attempt``), ``wait_quiet``,
    ``wait_active``, ``exhausted``, or ``none`` (nothing interrupted)."""

    action: str
    detail: str
    batch_id: str | None = None
    attempt: int = 0


def decide(batch: Mapping[str, Any] | None, attempts: Sequence[Mapping[str, Any]], active_runs: Sequence[str],
           settings: AutoResumeSettings, now: datetime) -> Decision:
    """Pure: whether to resume the newest batch now. ``attempts``: its earlier attempts (rows of
    ``sync_resume_attempts``); ``active_runs``: the sync DAG's queued or running run ids."""
    if batch is None or batch.get("status") != "interrupted":
        status = "no batch" if batch is None else f"the newest batch {batch['batch_id']} is {batch.get('status')}"
        return Decision("none", f"nothing to resume: {status}")
    batch_id, used = str(batch["batch_id"]), len(attempts)
    if used >= settings.max_attempts:
        return Decision("exhausted", f"{used} of {settings.max_attempts} automatic resume attempts used; "
                        f"resume it by hand (trigger {batch.get('dag_id') or SYNC_DAG_ID} with resume={batch_id}, "
                        "or Resume in the console)", batch_id, used)
    if active_runs:
        return Decision("wait_active", f"not resumed while {batch.get('dag_id') or SYNC_DAG_ID} run(s) "
                        f"{', '.join(active_runs)} are active", batch_id, used)
    since = max([t for t in [_when(batch.get("completed_at")), _when(batch.get("updated_at"))]
                 + [_when(a.get("attempted_at")) for a in attempts] if t is not None], default=now)
    due = since + timedelta(minutes=settings.quiet_minutes)
    if now < due:
        return Decision("wait_quiet", f"interrupted; resumed after {settings.quiet_minutes:g} quiet minute(s), "
                        f"not before {format_ts(due)} UTC", batch_id, used)
    return Decision("resume", f"attempt {used + 1} of {settings.max_attempts}", batch_id, used + 1)


def _when(value: Any) -> datetime | None:
    """A stored timestamp as an aware UTC datetime (any dialect's form)."""
    return Database.parse_ts(value)


def resume_conf(batch: Mapping[str, Any]) -> dict[str, Any]:
    """The resumed run's conf: ``resume`` and the batch's own selection (so it plans the same pairs)."""
    try:
        options = json.loads(batch.get("command_options") or "{}")
    except ValueError:
        options = {}
    options = options if isinstance(options, dict) else {}
    conf = {key: options[key] for key in SELECTION if options.get(key) not in (None, [], "")}
    return {**conf, "resume": batch["batch_id"]}


def run_id_for(batch_id: str, attempt: int) -> str:
    return f"auto_resume__{batch_id}__{attempt}"


# -- the write side --------------------------------------------------------------------------------
def newest_batch(db: Database) -> dict[str, Any] | None:
    return db.fetchone(f"SELECT * FROM {db.quote(tracking.BATCHES)} ORDER BY started_at DESC, batch_id DESC")


def auto_resume(db: Database, api: Callable[[], Any], settings: AutoResumeSettings, run_id: str, *,
                notify: NotifySettings | None, dry_run: bool = False, now: datetime | None = None) -> dict[str, Any]:
    """Resume the newest batch if :func:`decide` says so, through ``api()`` (a
    :class:`include.common.task_states.RestApiStates`, opened only when a batch is interrupted).
    Unsent notices of the batch's earlier attempts are tried again. Raises when the trigger was
    refused (after recording and announcing the attempt), so the task fails and says why."""
    now = now or utcnow()
    tracking.ensure_schema(db)
    batch = newest_batch(db)
    attempts = tracking.resume_attempts(db, [batch["batch_id"]])[batch["batch_id"]] if batch else []
    client = None
    active: list[str] = []
    if batch is not None and batch.get("status") == "interrupted" and len(attempts) < settings.max_attempts:
        client = api()
        active = [r["dag_run_id"] for r in client.active_runs(batch.get("dag_id") or SYNC_DAG_ID)]
    decision = decide(batch, attempts, active, settings, now)
    level = logging.WARNING if decision.action == "exhausted" else logging.INFO
    log.log(level, "auto-resume%s: %s%s", " (dry run)" if dry_run else "",
            f"batch {decision.batch_id}: " if decision.batch_id else "", decision.detail)
    out = {"action": decision.action, "batch_id": decision.batch_id, "detail": decision.detail,
           "attempts": len(attempts), "max_attempts": settings.max_attempts}
    if dry_run or batch is None:
        return out
    if decision.action == "resume":
        attempts.append(_attempt(db, client, batch, decision.attempt, settings, run_id, now))
        out.update(attempts=len(attempts), run_id=attempts[-1]["run_id"], outcome=attempts[-1]["outcome"])
    if notify is not None and notify.channels:
        for row in attempts:
            announce(db, attempt_notice(batch, row), notify, supersede=False)
    if decision.action == "resume" and attempts[-1]["outcome"] != "triggered":
        raise RuntimeError(f"auto-resume of {batch['batch_id']} failed: {attempts[-1]['error_message']}")
    return out


def _attempt(db: Database, client: Any, batch: Mapping[str, Any], attempt: int, settings: AutoResumeSettings,
             run_id: str, now: datetime) -> dict[str, Any]:
    """Claim the attempt's row, trigger its run, record the outcome. The run id is fixed by the
    attempt, so a retried task finds the row (and the run: 409) instead of triggering twice."""
    dag_id = batch.get("dag_id") or SYNC_DAG_ID
    row = {"batch_id": batch["batch_id"], "attempt": attempt, "max_attempts": settings.max_attempts,
           "triggered_by": f"{DAG_ID}:{run_id}", "api_user": getattr(client, "login", None),
           "attempted_at": now, "dag_id": dag_id, "run_id": run_id_for(batch["batch_id"], attempt),
           "outcome": "triggering", "error_message": None}
    columns = list(row) + ["updated_at"]
    db.execute(db.insert_ignore(tracking.RESUMES, columns),
               [db.ts(v) if isinstance(v, datetime) else v for v in row.values()] + [db.ts(now)],
               what="claim an automatic resume attempt")
    note = (f"Automatic resume of sync batch {batch['batch_id']} by {DAG_ID} run {run_id}, attempt {attempt} of "
            f"{settings.max_attempts}")
    try:
        client.trigger_run(dag_id, row["run_id"], resume_conf(batch), note)
        row["outcome"] = "triggered"
    except Exception as exc:
        row["outcome"], row["error_message"] = "failed", f"{type(exc).__name__}: {exc}"[:2000]
    log.log(logging.INFO if row["outcome"] == "triggered" else logging.ERROR,
            "auto-resume: batch %s attempt %d of %d: %s run %s%s", batch["batch_id"], attempt, settings.max_attempts,
            row["outcome"], row["run_id"], f" ({row['error_message']})" if row["error_message"] else "")

    def record(cur: Cursor) -> None:
        cur.execute(f"UPDATE {db.quote(tracking.RESUMES)} SET outcome = %s, error_message = %s, updated_at = %s "
                    f"WHERE batch_id = %s AND attempt = %s",
                    (row["outcome"], row["error_message"], db.ts(utcnow()), row["batch_id"], attempt))

    db.run(record, what="record an automatic resume attempt")
    return row


def attempt_notice(batch: Mapping[str, Any], attempt: Mapping[str, Any]) -> Notice:
    """What the operators are told of one attempt."""
    batch_id, number, cap = batch["batch_id"], int(attempt["attempt"]), int(attempt["max_attempts"])
    triggered = attempt["outcome"] != "failed"
    title = (f"branch_sync batch {batch_id} resumed automatically (attempt {number} of {cap})" if triggered
             else f"branch_sync batch {batch_id}: automatic resume attempt {number} of {cap} failed")
    facts = [("Batch", str(batch_id)), ("Interrupted run", f"{batch.get('dag_id') or SYNC_DAG_ID} / "
                                                         f"{batch.get('run_id') or '-'}"),
             ("Resumed as run", str(attempt["run_id"])), ("Triggered by", str(attempt["triggered_by"])),
             ("When", f"{format_ts(attempt['attempted_at'])} UTC"), ("Attempt", f"{number} of {cap}")]
    if attempt.get("error_message"):
        facts.append(("Error", str(attempt["error_message"])))
    if number >= cap:
        facts.append(("Next", "no automatic attempt left: if this does not finish it, resume it by hand"))
    links = {"Batch in the console": airflow_url(sync_notify.CONSOLE_PATH.format(batch_id=batch_id))}
    if triggered:
        links["Resumed run"] = run_url(str(attempt["dag_id"]), str(attempt["run_id"]))
    return Notice(source=DAG_ID, key=f"{batch_id}:resume{number}", event=EVENT, title=title, facts=tuple(facts),
                  links=links, data={"batch_id": batch_id, "attempt": number, "max_attempts": cap,
                                     "run_id": attempt["run_id"], "outcome": attempt["outcome"]})
