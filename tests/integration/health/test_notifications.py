"""What ``health_reconcile`` tells the operators, with ``dag.test()``: the notice of a sync batch
whose run was killed and vanished (this DAG finalizes it ``interrupted``), and WhatsApp alerts once
per episode with their recovery; a real SMTP server and a real webhook receiver."""

from __future__ import annotations

import json

from include.branch_sync import tracking
from include.common.db import Database
from tests.integration.health.test_health_reconcile_dag import (  # noqa: F401
    API_KEY, accounts, load_dag, ti_states, world,
)
from tests.integration.notify_helpers import mail_text, notices, set_channels
from tests.integration.sync_helpers import fetch, one_table_per_unit


def test_a_killed_run_s_batch_is_interrupted_and_announced_once(world, smtp_server, webhook_server,  # noqa: F811
                                                                monkeypatch):
    set_channels(monkeypatch)
    batch_id = "sync_20260101_010000_killed01"
    with Database("central_db") as db:
        # the run's worker was killed and the run deleted: one pair done, one still in progress
        pairs = [tracking.Pair("pgsql_aa", t, t, "step2.pgsql_aa") for t in ("c_invoice", "c_invoiceline")]
        tracking.start_batch(db, batch_id, "branch_sync", "manual__killed", {}, pairs)
        tracking.assign_tasks(db, batch_id, one_table_per_unit(pairs))
        tracking.mark_started(db, batch_id, "pgsql_aa", "c_invoice")
        tracking.mark_finished(db, batch_id, "pgsql_aa", "c_invoice", "completed")
        tracking.mark_started(db, batch_id, "pgsql_aa", "c_invoiceline")
    dag = load_dag(retries=0)
    first = dag.test()
    assert ti_states(first)["batch_progress"] == "success"
    assert tracking.get_batch(Database("central_db"), batch_id)["status"] == "interrupted"
    (body,) = webhook_server.bodies
    assert (body["batch_id"], body["status"]) == (batch_id, "interrupted")
    assert body["counts"] == {"total": 2, "completed": 1, "failed": 1, "skipped": 0}
    assert body["failed_items"][0]["name"] == "pgsql_aa.c_invoiceline" and "interrupted" in body["failed_items"][0]["reason"]
    assert len(smtp_server.messages) == 1 and batch_id in smtp_server.messages[0]["Subject"]

    assert ti_states(dag.test())["batch_progress"] == "success"  # the next reconcile: nothing new
    assert len(webhook_server.bodies) == 1 and len(smtp_server.messages) == 1
    assert {k: r["state"] for k, r in notices("central_db", batch_id).items()} == {
        ("interrupted", "email"): "sent", ("interrupted", "webhook"): "sent"}


def test_a_bad_notifications_variable_fails_batch_progress_after_the_repair(world, monkeypatch):  # noqa: F811
    monkeypatch.setenv("AIRFLOW_VAR_BACKOFFICE_NOTIFICATIONS", json.dumps({"notify_on": {"branch_synk": ["failed"]}}))
    states = ti_states(load_dag(retries=0).test())
    assert states["batch_progress"] == "failed" and states["housekeeping"] == "success"


def test_whatsapp_service_down_alerts_once_per_episode_and_says_when_it_recovers(world, webhook_server,  # noqa: F811
                                                                                  monkeypatch):
    monkeypatch.setenv("AIRFLOW_VAR_BACKOFFICE_NOTIFICATIONS", json.dumps({
        "webhook": {"http_conn_id": "ops_webhook"}, "whatsapp_unreachable_checks": 2}))
    dag = load_dag(retries=0)
    world.set_mode("error500")
    assert ti_states(dag.test())["whatsapp_sessions"] == "failed"
    assert webhook_server.bodies == []  # one failed check is not yet an episode
    for _ in range(2):
        assert ti_states(dag.test())["whatsapp_sessions"] == "failed"
    (alert,) = webhook_server.bodies  # the second check in a row alerts; the third says nothing
    assert alert["event"] == "alert" and alert["source"] == "health_reconcile"
    assert "unreachable for 2 checks" in alert["text"] and "k3y-Never-Logged" not in json.dumps(alert)

    world.set_mode("ok")
    assert ti_states(dag.test())["whatsapp_sessions"] == "success"
    assert [b["event"] for b in webhook_server.bodies] == ["alert", "recovered"]
    assert webhook_server.bodies[1]["key"] == alert["key"]  # the same episode ends
    assert ti_states(dag.test())["whatsapp_sessions"] == "success"
    assert len(webhook_server.bodies) == 2


def test_a_session_out_of_reconnect_attempts_alerts_once_and_says_when_it_is_connected_again(
        world, smtp_server, webhook_server, monkeypatch):  # noqa: F811
    set_channels(monkeypatch)
    monkeypatch.setenv("AIRFLOW_VAR_HEALTH_RECONCILE", json.dumps({
        "missing_checks_before_disconnect": 1, "connected_checks_before_connect": 2,
        "max_reconnect_attempts": 1, "reconnect_backoff_seconds": 0}))
    world.add_session("webjs_2_lost", "connected", workspace_id=2)  # only webjs_1_lost is lost
    dag = load_dag(retries=0)
    conf = {"auto_reconnect": True}

    def run():
        dag_run = dag.test(run_conf=conf)
        assert dag_run.state == "success", ti_states(dag_run)
        world.remove_session("webjs_1_lost")  # the service keeps losing it: every re-creation is gone again
        return dag_run

    run()  # missing once: marked disconnected, the one allowed attempt made
    assert accounts()["webjs_1_lost"][0] == "disconnected" and world.create_attempts == 1
    assert webhook_server.bodies == [] and smtp_server.messages == []  # an attempt left is not an episode

    run()  # still missing, no attempt left: capped
    assert world.create_attempts == 1
    (alert,) = webhook_server.bodies
    assert (alert["event"], alert["source"], alert["subject"]) == ("alert", "health_reconcile", "session:webjs_1_lost")
    assert "webjs_1_lost" in alert["text"] and "manual reconnect" in alert["text"]
    assert "webjs_2_lost" not in alert["text"] and "webjs_1_alive" not in alert["text"]
    (mail,) = smtp_server.messages
    assert "webjs_1_lost" in mail["Subject"] and "webjs_1_lost" in mail_text(mail)

    for _ in range(2):  # capped again at every run: the same episode, nothing more
        run()
    assert len(webhook_server.bodies) == 1 and len(smtp_server.messages) == 1 and world.create_attempts == 1

    world.add_session("webjs_1_lost", "connected", workspace_id=1)  # the operator scanned the QR code
    assert dag.test(run_conf=conf).state == "success"  # seen connected once: not yet marked connected
    assert accounts()["webjs_1_lost"][0] == "disconnected"
    assert len(webhook_server.bodies) == 1 and len(smtp_server.messages) == 1
    assert dag.test(run_conf=conf).state == "success"  # the second read agrees: connected again
    assert accounts()["webjs_1_lost"][0] == "connected"
    assert [b["event"] for b in webhook_server.bodies] == ["alert", "recovered"]
    recovered = webhook_server.bodies[1]
    assert recovered["key"] == alert["key"] and "webjs_1_lost" in recovered["text"]
    assert len(smtp_server.messages) == 2 and "webjs_1_lost" in smtp_server.messages[1]["Subject"]

    assert dag.test(run_conf=conf).state == "success"  # connected in both: nothing more
    assert len(webhook_server.bodies) == 2 and len(smtp_server.messages) == 2
    assert not fetch("app_db", "SELECT subject FROM alert_episodes")  # the episode is closed
    for message in [json.dumps(b) for b in webhook_server.bodies] + [m.as_string() for m in smtp_server.messages]:
        assert API_KEY not in message
