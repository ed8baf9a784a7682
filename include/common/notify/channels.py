"""Delivery through Airflow's notifiers: email with the SMTP provider's ``SmtpNotifier``, webhooks
with the HTTP provider's ``HttpNotifier``. Their ``notify`` is called directly (not through
``BaseNotifier.__call__``, which logs and swallows errors), so a failed delivery is seen, recorded
and retried; the rendered text is never a template."""

from __future__ import annotations

import re

from include.common.notify.notice import Rendered
from include.common.notify.settings import EmailChannel, WebhookChannel
from include.common.scrub import connection_secrets, scrub_masked

_URL = re.compile(r"(url: |https?://)\S+")


def deliver(channel: EmailChannel | WebhookChannel, rendered: Rendered) -> None:
    """Send one rendered notice; raises on any failure (SMTP refused, HTTP 4xx/5xx, timeout)."""
    if isinstance(channel, EmailChannel):
        from airflow.providers.smtp.notifications.smtp import SmtpNotifier

        SmtpNotifier(to=list(channel.to), from_email=channel.from_email, subject=rendered.subject,
                     html_content=rendered.html, smtp_conn_id=channel.smtp_conn_id).notify({})
    else:
        from airflow.providers.http.notifications.http import HttpNotifier

        HttpNotifier(http_conn_id=channel.http_conn_id, endpoint=channel.endpoint or None, json=rendered.payload,
                     headers={"Content-Type": "application/json"},
                     extra_options={"timeout": channel.timeout_seconds}).notify({})


def failure_text(channel: EmailChannel | WebhookChannel, exc: BaseException) -> str:
    """Why a delivery failed, without the channel's secrets (its password, a webhook URL's token)."""
    conn_id = channel.smtp_conn_id if isinstance(channel, EmailChannel) else channel.http_conn_id
    secrets = connection_secrets(conn_id)
    if isinstance(channel, WebhookChannel):
        secrets.append(channel.endpoint)
    text = scrub_masked(f"{type(exc).__name__}: {exc}", secrets)
    return _URL.sub(r"\1***", text)[:1000]
