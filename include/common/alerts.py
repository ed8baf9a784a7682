"""Failure alerts to the operators: an Airflow notifier that emails what failed and why.

Attach it as ``on_failure_callback``; it runs in the task's process once the task has failed for
good (after its retries). Who gets the alert is read when it fires, not when the DAG is parsed,
from a JSON Variable (``health_reconcile`` for the health DAG)::

    {"alert_emails": ["ops@example.com"],     # no recipients: the failure is only logged
     "alert_smtp_conn_id": "smtp_default",    # SMTP connection (host, port, login, password, from_email)
     "alert_from": "airflow@example.com",     # else the connection's from_email
     "alert_repeat_minutes": 60}              # the same failure again within this: not re-sent

A service that stays down for hours fails every 5-minute run; the same task failing with the same
message is emailed once per ``alert_repeat_minutes`` (the last alert of each task is kept in the
Variable ``<variable>_last_alerts``), a different message is emailed at once.
"""

from __future__ import annotations

import hashlib
import html
import json
import logging
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

from airflow.sdk import BaseNotifier

from include.common.scrub import scrub_masked

log = logging.getLogger(__name__)

DEFAULT_SMTP_CONN_ID = "smtp_default"
DEFAULT_REPEAT_MINUTES = 60
MESSAGE_MAX = 4000


class AlertConfigError(ValueError):
    """The alert settings in the Variable are unusable (named in the message)."""


def alert_settings(raw: Any, variable: str) -> dict[str, Any]:
    """Validate the alert keys of the Variable's JSON object; returns them with defaults."""
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise AlertConfigError(f"Variable {variable!r} must be a JSON object, got {type(raw).__name__}")
    emails = raw.get("alert_emails") or []
    if isinstance(emails, str):
        emails = [e.strip() for e in emails.replace(";", ",").split(",") if e.strip()]
    if not isinstance(emails, list) or not all(isinstance(e, str) and "@" in e for e in emails):
        raise AlertConfigError(f"Variable {variable!r}: alert_emails must be a list of email addresses, "
                               f"got {emails!r}")
    repeat = raw.get("alert_repeat_minutes", DEFAULT_REPEAT_MINUTES)
    if not isinstance(repeat, (int, float)) or isinstance(repeat, bool) or repeat < 0:
        raise AlertConfigError(f"Variable {variable!r}: alert_repeat_minutes must be a number >= 0, got {repeat!r}")
    return {"emails": emails, "smtp_conn_id": str(raw.get("alert_smtp_conn_id") or DEFAULT_SMTP_CONN_ID),
            "from_email": raw.get("alert_from"), "repeat": timedelta(minutes=repeat)}


def failure_message(context: Mapping[str, Any]) -> str:
    """The failure's reason, with credentials removed (URIs, key=value pairs, masked secrets)."""
    exception = context.get("exception")
    if exception is None:
        text = "the task failed"
    elif type(exception).__name__ in ("AirflowException", "AirflowFailException"):
        text = str(exception)  # the message says it all; the class name is noise in a subject line
    else:
        text = f"{type(exception).__name__}: {exception}"
    return scrub_masked(text)[:MESSAGE_MAX]


def should_send(last: Mapping[str, Any] | None, digest: str, now: datetime, repeat: timedelta) -> bool:
    """Send unless the same failure was alerted less than ``repeat`` ago."""
    if not last or last.get("digest") != digest:
        return True
    try:
        sent_at = datetime.fromisoformat(str(last["sent_at"]))
    except (KeyError, ValueError):
        return True
    return now - sent_at >= repeat


def render_email(context: Mapping[str, Any], message: str) -> tuple[str, str]:
    """Subject and HTML body naming the DAG, task, run, try and reason, with a link to the log."""
    ti = context.get("ti") or context.get("task_instance")
    dag_id = getattr(ti, "dag_id", None) or getattr(context.get("dag"), "dag_id", "?")
    task_id = getattr(ti, "task_id", "?")
    run_id = context.get("run_id") or getattr(ti, "run_id", "?")
    try_number = getattr(ti, "try_number", "?")
    log_url = getattr(ti, "log_url", None)
    first_line = message.splitlines()[0] if message else "failed"
    subject = f"[Airflow] {dag_id}.{task_id} failed: {first_line[:150]}"
    rows = [("DAG", dag_id), ("Task", task_id), ("Run", run_id), ("Try", try_number)]
    table = "".join(f"<tr><th align='left'>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>" for k, v in rows)
    link = f"<p><a href='{html.escape(str(log_url))}'>Task log</a></p>" if log_url else ""
    body = (f"<p>{html.escape(str(dag_id))}.{html.escape(str(task_id))} failed after its retries.</p>"
            f"<table>{table}</table><pre>{html.escape(message)}</pre>{link}")
    return subject, body


class FailureAlert(BaseNotifier):
    """``on_failure_callback`` that emails the recipients configured in a JSON Variable."""

    template_fields = ()

    def __init__(self, variable: str):
        super().__init__()
        self.variable = variable

    @property
    def state_variable(self) -> str:
        return f"{self.variable}_last_alerts"

    def notify(self, context: Any) -> None:
        from airflow.sdk import Variable

        settings = alert_settings(Variable.get(self.variable, default=None, deserialize_json=True), self.variable)
        message = failure_message(context)
        if not settings["emails"]:
            log.warning("no alert_emails in Variable %r: this failure is not emailed (%s)", self.variable, message)
            return
        subject, body = render_email(context, message)
        ti = context.get("ti")
        key = f"{getattr(ti, 'dag_id', '?')}.{getattr(ti, 'task_id', '?')}"
        digest = hashlib.sha256(message.encode()).hexdigest()[:16]
        now = datetime.now(timezone.utc)
        sent = Variable.get(self.state_variable, default=None, deserialize_json=True)
        sent = dict(sent) if isinstance(sent, Mapping) else {}
        if not should_send(sent.get(key), digest, now, settings["repeat"]):
            log.info("alert for %s suppressed: the same failure was emailed at %s", key, sent[key]["sent_at"])
            return
        from airflow.providers.smtp.hooks.smtp import SmtpHook

        with SmtpHook(smtp_conn_id=settings["smtp_conn_id"]) as smtp:
            smtp.send_email_smtp(to=settings["emails"], subject=subject, html_content=body,
                                 from_email=settings["from_email"] or smtp.from_email or "airflow@localhost")
        sent[key] = {"digest": digest, "sent_at": now.isoformat()}
        Variable.set(self.state_variable, json.dumps(sent, sort_keys=True))
        log.info("alert for %s emailed to %s", key, ", ".join(settings["emails"]))
