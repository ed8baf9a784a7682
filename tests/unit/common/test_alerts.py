"""Units of the failure alert: settings validation, repeat suppression, what the email says."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest

from include.common.alerts import AlertConfigError, alert_settings, failure_message, render_email, should_send

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)


def test_settings_defaults_and_comma_separated_recipients():
    assert alert_settings(None, "v")["emails"] == []
    settings = alert_settings({"alert_emails": "a@x.test; b@x.test", "alert_repeat_minutes": 5}, "v")
    assert settings["emails"] == ["a@x.test", "b@x.test"]
    assert settings["repeat"] == timedelta(minutes=5)
    assert settings["smtp_conn_id"] == "smtp_default"


@pytest.mark.parametrize("raw, named", [
    ([1, 2], "JSON object"),
    ({"alert_emails": ["not-an-address"]}, "alert_emails"),
    ({"alert_emails": {"a": "b"}}, "alert_emails"),
    ({"alert_repeat_minutes": -1}, "alert_repeat_minutes"),
    ({"alert_repeat_minutes": "soon"}, "alert_repeat_minutes"),
])
def test_bad_settings_name_the_variable_and_key(raw, named):
    with pytest.raises(AlertConfigError) as err:
        alert_settings(raw, "health_reconcile")
    assert "health_reconcile" in str(err.value) and named in str(err.value)


def test_the_same_failure_is_sent_again_only_after_the_repeat_interval():
    last = {"digest": "d1", "sent_at": (NOW - timedelta(minutes=30)).isoformat()}
    assert not should_send(last, "d1", NOW, timedelta(minutes=60))
    assert should_send(last, "d1", NOW, timedelta(minutes=30))
    assert should_send(last, "d2", NOW, timedelta(minutes=60))  # a different failure
    assert should_send(None, "d1", NOW, timedelta(minutes=60))
    assert should_send({"digest": "d1", "sent_at": "garbage"}, "d1", NOW, timedelta(minutes=60))


def test_failure_message_drops_credentials():
    exc = RuntimeError("cannot connect to mysql://app:s3cretPw@db.branch:3306/app (password=s3cretPw)")
    message = failure_message({"exception": exc})
    assert "s3cretPw" not in message and message.startswith("RuntimeError: cannot connect")


def test_email_names_dag_task_run_and_escapes_the_message():
    ti = SimpleNamespace(dag_id="health_reconcile", task_id="whatsapp_sessions", run_id="scheduled__x", try_number=2,
                         log_url="http://airflow/log?x=1&y=2")
    subject, body = render_email({"ti": ti, "run_id": "scheduled__x"}, "service <down>\nsecond line")
    assert subject == "[Airflow] health_reconcile.whatsapp_sessions failed: service <down>"
    assert "scheduled__x" in body and "&lt;down&gt;" in body and "<down>" not in body
    assert "x=1&amp;y=2" in body
