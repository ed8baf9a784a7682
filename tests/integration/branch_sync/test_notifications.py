"""Sync batch notices with ``dag.test()`` on real PostgreSQL/MariaDB, a real SMTP server and a real
HTTP webhook receiver: one message per batch and final state, never a second, never a secret."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from include.branch_sync import notify as sync_notify
from include.common.db import Database
from include.common.notify.settings import load_settings
from tests.integration.branch_sync.test_branch_sync_dag import batch_of, branches, run  # noqa: F401
from tests.integration.notify_helpers import mail_text, notices, set_channels
from tests.integration.sync_helpers import run_sql


@pytest.fixture
def channels(branches, smtp_server, webhook_server, monkeypatch):  # noqa: F811
    set_channels(monkeypatch)
    return smtp_server, webhook_server


def sweep():
    """The 5-minute reconcile's sighting of sync batches (``health_reconcile.batch_progress``)."""
    with Database("central_db") as db:
        return sync_notify.sweep(db, load_settings())


@pytest.mark.parametrize("branches", ["pg", "mariadb"], indirect=True)
def test_completed_batch_sends_one_message_per_channel_and_never_again(channels):
    smtp, hook = channels
    dag_run = run({"tables": ["m_product", "c_invoice"]})
    assert dag_run.state == "success"
    batch = batch_of(dag_run)
    (mail,) = smtp.messages
    (body,) = hook.bodies
    assert mail["X-Envelope-To"] == "ops@branch.test, lead@branch.test"
    assert batch["batch_id"] in mail["Subject"] and "completed" in mail["Subject"]
    text = mail_text(mail)
    assert "3 total, 3 completed, 0 failed, 0 skipped" in text and "1,100 processed" in text
    assert f"/backoffice/sync/{batch['batch_id']}" in text and "/dags/branch_sync/runs/" in text
    assert body["status"] == "completed" and body["batch_id"] == batch["batch_id"] and body["run_id"] == dag_run.run_id
    assert body["counts"] == {"total": 3, "completed": 3, "failed": 0, "skipped": 0}
    assert body["records"]["processed"] == 1100 and body["text"] == body["content"] and "completed" in body["text"]
    assert {k: r["state"] for k, r in notices("central_db", batch["batch_id"]).items()} == {
        ("completed", "email"): "sent", ("completed", "webhook"): "sent"}

    # finalize again, the DAG callback again, the 5-minute sweep: nothing new
    with Database("central_db") as db:
        assert sync_notify.announce(db, batch["batch_id"]) == {"email": "skipped", "webhook": "skipped"}
    assert sweep() == []
    assert len(smtp.messages) == 1 and len(hook.bodies) == 1


def test_failed_batch_then_resumed_batch_each_send_their_outcome(channels):
    smtp, hook = channels
    run_sql("pgsql_bb", "ALTER TABLE c_invoiceline RENAME TO c_invoiceline_old")
    first = run({"tables": ["c_invoice", "c_invoiceline"]})
    assert first.state == "failed"
    batch_id = batch_of(first)["batch_id"]
    (failed,) = hook.bodies
    assert failed["status"] == "failed" and failed["counts"] == {"total": 4, "completed": 3, "failed": 1, "skipped": 0}
    assert [i["name"] for i in failed["failed_items"]] == ["pgsql_bb.c_invoiceline"]
    assert "does not exist" in failed["failed_items"][0]["reason"]
    assert len(smtp.messages) == 1 and "pgsql_bb.c_invoiceline" in mail_text(smtp.messages[0])
    assert sweep() == [] and len(hook.bodies) == 1

    run_sql("pgsql_bb", "ALTER TABLE c_invoiceline_old RENAME TO c_invoiceline")
    resumed = run({"resume": batch_id, "tables": ["c_invoice", "c_invoiceline"]})
    assert resumed.state == "success"
    assert [b["status"] for b in hook.bodies] == ["failed", "completed"] and len(smtp.messages) == 2
    assert hook.bodies[1]["batch_id"] == batch_id and hook.bodies[1]["run_id"] == resumed.run_id
    assert hook.bodies[1]["counts"]["completed"] == 4
    rows = notices("central_db", batch_id)
    assert rows[("completed", "webhook")]["state"] == "sent" and rows[("failed", "webhook")]["state"] == "superseded"


def test_unreachable_branch_password_never_appears(branches, channels, connections, tmp_path, monkeypatch):  # noqa: F811
    smtp, hook = channels
    password = "p@ss:w/rd#%&?é!"
    from urllib.parse import quote

    connections({"pgsql_bb": f"postgresql://postgres:{quote(password, safe='')}@127.0.0.1:1/nowhere"})
    dag_run = run({"tables": ["c_invoice"], "skip_step1": True})
    assert dag_run.state == "failed"
    (body,) = hook.bodies
    (mail,) = smtp.messages
    assert body["counts"]["failed"] == 1 and body["failed_items"][0]["name"] == "pgsql_bb.c_invoice"
    for text in (json.dumps(body, ensure_ascii=False), mail.as_string(), mail_text(mail)):
        assert password not in text and quote(password, safe="") not in text


def test_a_failing_channel_never_fails_the_batch_and_the_next_sighting_delivers(channels, monkeypatch):
    smtp, hook = channels
    hook.fail_next(2, 500)  # finalize and the DAG callback both meet a failing webhook
    dag_run = run({"tables": ["m_product"], "skip_step1": False})
    assert dag_run.state == "success"
    batch = batch_of(dag_run)
    assert batch["status"] == "completed"
    rows = notices("central_db", batch["batch_id"])
    assert rows[("completed", "email")]["state"] == "sent" and rows[("completed", "webhook")]["state"] == "failed"
    assert "500" in rows[("completed", "webhook")]["last_error"] and hook.bodies == []

    # the failure is visible in sync-status, text and JSON
    cli = [sys.executable, "-m", "include.cli", "sync-status", batch["batch_id"]]
    out = subprocess.run(cli, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "completed via webhook: FAILED after 2 attempt(s)" in out.stdout and "completed via email: sent" in out.stdout
    data = json.loads(subprocess.run(cli + ["--json"], capture_output=True, text=True).stdout)
    assert {(n["channel"], n["state"]) for n in data["notifications"]} == {("email", "sent"), ("webhook", "failed")}

    # the next sighting (the 5-minute reconcile) delivers the webhook only
    assert sweep() == [batch["batch_id"]]
    (body,) = hook.bodies
    assert body["batch_id"] == batch["batch_id"] and len(smtp.messages) == 1
    assert notices("central_db", batch["batch_id"])[("completed", "webhook")]["attempts"] == 3
    assert sweep() == [] and len(hook.bodies) == 1


def test_notify_on_and_a_bad_variable(channels, monkeypatch):
    from include.common.notify.settings import NotifyConfigError

    smtp, hook = channels
    set_channels(monkeypatch, notify_on={"branch_sync": ["failed", "interrupted"]})
    assert run({"tables": ["m_product"]}).state == "success"
    assert smtp.messages == [] and hook.bodies == []  # completions are not wanted here
    monkeypatch.setenv("AIRFLOW_VAR_BACKOFFICE_NOTIFICATIONS", json.dumps({"email": {"to": ["a@b.test"]},
                                                                        "webhok": {}}))
    with pytest.raises(NotifyConfigError, match="webhok"):
        load_settings()
    # a bad Variable never fails the batch either
    assert run({"tables": ["m_product"]}).state == "success"
