"""Units of the notification kernel: the Variable's validation, what a notice says, scrubbing."""

from __future__ import annotations

from datetime import timedelta

import pytest

from include.common.notify.notice import ITEMS_SHOWN, Notice, batch_notice, render
from include.common.notify.settings import NotifyConfigError, parse_settings


def test_defaults_and_a_full_variable():
    assert parse_settings(None).channels == {}
    settings = parse_settings({"email": {"to": "a@x.test; b@x.test", "smtp_conn_id": "smtp_ops"},
                               "webhook": {"http_conn_id": "hook", "endpoint": "services/T/B", "timeout_seconds": 3},
                               "notify_on": {"certificate_dispatch": ["failed"]},
                               "whatsapp_unreachable_checks": 2, "retry_hours": 6})
    assert settings.email.to == ("a@x.test", "b@x.test") and settings.email.smtp_conn_id == "smtp_ops"
    assert (settings.webhook.http_conn_id, settings.webhook.endpoint, settings.webhook.timeout_seconds) == (
        "hook", "services/T/B", 3.0)
    assert set(settings.channels_for("branch_sync", "completed")) == {"email", "webhook"}  # not named: every event
    assert settings.channels_for("certificate_dispatch", "completed") == {}
    assert set(settings.channels_for("certificate_dispatch", "failed")) == {"email", "webhook"}
    assert settings.unreachable_checks == 2 and settings.retry_window == timedelta(hours=6)


@pytest.mark.parametrize("raw, named", [
    ([1], "JSON object"),
    ({"emails": {"to": ["a@x.test"]}}, "emails"),
    ({"email": {"to": ["a@x.test"], "cc": ["b@x.test"]}}, "email.cc"),
    ({"email": {"to": ["nobody"]}}, "email.to"),
    ({"webhook": {"endpoint": "x"}}, "webhook.http_conn_id"),
    ({"webhook": {"http_conn_id": "h", "timeout_seconds": 0}}, "webhook.timeout_seconds"),
    ({"notify_on": {"branch_sync": ["done"]}}, "notify_on.branch_sync"),
    ({"whatsapp_unreachable_checks": 0}, "whatsapp_unreachable_checks"),
    ({"whatsapp_unreachable_checks": 1.5}, "whatsapp_unreachable_checks"),
])
def test_bad_values_and_unknown_keys_are_refused_by_name(raw, named):
    with pytest.raises(NotifyConfigError) as err:
        parse_settings(raw)
    assert "backoffice_notifications" in str(err.value) and named in str(err.value)


def test_notify_on_names_only_known_dags_and_their_events():
    known = {"branch_sync": ("completed", "failed", "interrupted"), "certificate_dispatch": ("failed",)}
    parse_settings({"notify_on": {"branch_sync": ["interrupted"]}}).check_sources(known)
    with pytest.raises(NotifyConfigError, match="branch_synk"):
        parse_settings({"notify_on": {"branch_synk": ["failed"]}}).check_sources(known)
    with pytest.raises(NotifyConfigError, match="interrupted"):
        parse_settings({"notify_on": {"certificate_dispatch": ["interrupted"]}}).check_sources(known)


def _notice(failed: int, **kw):
    items = [(f"pgsql_{i:02d}.c_invoice", f"connection to postgresql://u:Pw{i}@h/db failed (password=Pw{i})")
             for i in range(min(failed, ITEMS_SHOWN))]
    return batch_notice(source="branch_sync", batch_id="sync_1", status="failed", label="Sync batch", run_id="manual__1",
                        unit="tables", counts={"total": 30, "completed": 30 - failed, "failed": failed},
                        records={"processed": 1234567}, duration_seconds=3725, error="boom", failed_items=items,
                        failed_total=failed, console_path="backoffice/sync/sync_1", **kw)


def test_a_batch_notice_lists_twenty_failed_items_then_counts_the_rest():
    rendered = render(_notice(25))
    lines = rendered.text.splitlines()
    assert "Failed (25):" in lines and "... and 5 more" in lines
    assert sum(1 for line in lines if line.startswith("- pgsql_")) == 20
    assert "Records: 1,234,567 processed, 0 skipped, 0 deleted" in lines and "Duration: 01:02:05" in lines
    assert rendered.payload["failed_more"] == 5 and len(rendered.payload["failed_items"]) == 20
    content = rendered.payload["content"]  # Discord's: at most 2,000 characters, the links kept
    assert len(content) <= 2000 and content.endswith("runs/manual__1") and "more" in content
    assert rendered.payload["counts"] == {"total": 30, "completed": 5, "failed": 25, "skipped": 0}
    assert "http://localhost:8080/backoffice/sync/sync_1" in rendered.text
    assert "http://localhost:8080/dags/branch_sync/runs/manual__1" in rendered.text
    assert "and 5 more" in rendered.html


def test_no_secret_survives_rendering():
    secret = "s&cr=t:p@ss!"
    rendered = render(_notice(2, secrets=[secret]))
    notice = Notice(source="x", key="k", event="failed", title=f"failed with {secret}",
                    facts=(("Error", f"login {secret} refused"),), secrets=(secret,))
    for r in (rendered, render(notice)):
        blob = r.text + r.html + r.subject + str(r.payload)
        assert "Pw0" not in blob and "Pw1" not in blob and secret not in blob


def test_a_short_notice_is_the_same_for_slack_and_discord():
    payload = render(_notice(2)).payload
    assert payload["text"] == payload["content"] and "Failed (2):" in payload["text"]


def test_discord_content_is_cut_to_its_limit():
    notice = Notice(source="x", key="k", event="failed", title="t", facts=(("Error", "x" * 5000),))
    payload = render(notice).payload
    assert len(payload["content"]) <= 2000 and len(payload["text"]) > 5000
