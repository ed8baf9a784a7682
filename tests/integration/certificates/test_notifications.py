"""Certificate batch notices with ``dag.test()`` on real MariaDB/PostgreSQL, a real SMTP server and
a real webhook receiver."""

from __future__ import annotations

from include.certificates import notify as cert_notify
from include.common.db import Database
from tests.integration.certificates.test_certificate_dispatch_dag import app, batch_of, load_dag  # noqa: F401
from tests.integration.notify_helpers import mail_text, notices, set_channels

MIXED = ("name,email\nAni,ani@example.com\n,missing@example.com\n张伟,zw@example.com\n"
         "Budi,not-an-email\nCitra,citra@example.com\n")


def test_a_batch_with_errors_sends_one_message_with_its_failed_participants(app, smtp_server, webhook_server,  # noqa: F811
                                                                             monkeypatch):
    uploads, _ = app
    set_channels(monkeypatch, notify_on={"certificate_dispatch": ["failed", "completed_with_errors"]})
    (uploads / "mixed.csv").write_text(MIXED, encoding="utf-8")
    (uploads / "good.csv").write_text("name,email\nAni,ani@example.com\n", encoding="utf-8")
    dag = load_dag()
    dag_run = dag.test(run_conf={"file": "mixed.csv", "event_name": "Seminar", "event_date": "2026-11-21"})
    assert dag_run.state == "success"
    batch = batch_of(dag_run)
    (body,) = webhook_server.bodies
    (mail,) = smtp_server.messages
    assert (body["status"], body["unit"], body["counts"]) == (
        "completed_with_errors", "participants", {"total": 5, "completed": 2, "failed": 3, "skipped": 0})
    assert body["records"] is None and body["batch_id"] == batch["batch_id"]
    assert [i["name"] for i in body["failed_items"]] == ["row 3", "row 4 (张伟)", "row 5"]
    assert "email" in body["failed_items"][2]["reason"].lower()
    text = mail_text(mail)
    assert "5 total, 2 completed, 3 failed" in text and f"/backoffice/certificates/{batch['batch_id']}" in text
    assert "/dags/certificate_dispatch/runs/" in text

    # a further sighting (finalize again, the 5-minute sweep) sends nothing
    with Database("app_db") as db:
        assert cert_notify.announce(db, batch["batch_id"]) == {"email": "skipped", "webhook": "skipped"}
    assert set(notices("app_db", batch["batch_id"])) == {("completed_with_errors", "email"),
                                                         ("completed_with_errors", "webhook")}

    # notify_on: a clean completion is not announced for certificates
    assert dag.test(run_conf={"file": "good.csv", "event_name": "Seminar", "event_date": "2026-11-21"}).state == "success"
    assert len(webhook_server.bodies) == 1 and len(smtp_server.messages) == 1
