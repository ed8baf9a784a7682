"""Sessions a service holds but cannot run, per flavor, on MariaDB (and PostgreSQL for the seed's
service) and each flavor's stand-in: restarted with the service's own restart call (WAHA
``FAILED``, wwebjs-api with a closed browser tab, Evolution ``close``) within the same cap,
back-off, audit entries and alert episodes as a re-created session; a logged-out session is
marked and left with a reason that says a person must scan the QR code again."""

from __future__ import annotations

import json
import logging
from datetime import timedelta

import pytest

from include.common.notify import store
from include.common.notify.settings import parse_settings
from include.health import notices
from include.health.whatsapp.accounts import add_account
from include.health.whatsapp.client import Session
from include.health.whatsapp.reconcile import reconcile
from include.health.whatsapp.settings import ReconcileSettings
from tests.integration.health.test_whatsapp_flavors import (  # noqa: F401 - fixtures
    APP_METADATA, FAST, KEY, T0, T0_Z, account, actions, app_databases, snapshot, world,
)

# The state each flavor's service holds a session in that its own restart call cures.
RESTARTABLE = {"waha": "FAILED", "wwebjs_api": "browser tab closed", "evolution": "close"}
SCAN = "a person must scan the QR code again"


def bystanders(db) -> None:
    """Accounts no test here may change: connected in both, and one the user disconnected."""
    add_account(db, "ws1-fine", 1, metadata=APP_METADATA)
    add_account(db, "ws1-user-off", 1, status="disconnected", metadata={"by": "user"})


def bystanders_unchanged(db, standin, before) -> None:
    assert [r for r in snapshot(db) if r["session_id"] in ("ws1-fine", "ws1-user-off")] == before
    assert not any(path.endswith(("ws1-fine", "ws1-user-off")) for method, path in standin.requests
                   if standin.is_create(method, path) or standin.is_restart(method, path))


def test_a_held_session_the_service_cannot_run_is_restarted_within_the_cap(world, webhook_server):
    db, standin = world.db, world.standin
    bystanders(db)
    standin.add_session("ws1-fine", "connected")
    add_account(db, "ws1-held", 1, phone_number="62811801641", metadata=APP_METADATA)
    broken = RESTARTABLE.get(world.flavor, "failed")
    standin.add_session("ws1-held", broken)
    before = [r for r in snapshot(db) if r["session_id"] in ("ws1-fine", "ws1-user-off")]
    settings = ReconcileSettings(missing_checks_before_disconnect=1, connected_checks_before_connect=1,
                                 max_reconnect_attempts=2, reconnect_backoff_seconds=600)
    service = world.adapter()
    alerts = parse_settings({"webhook": {"http_conn_id": "ops_webhook"}})
    store.ensure_schema(db)
    for table in (store.EPISODES, store.NOTIFICATIONS):  # the module's database: earlier flavors' episodes,
        db.execute(f"DELETE FROM {table}")                # whose keys may share this second

    def run(at, run_id):
        summary = reconcile(db, service, auto_reconnect=True, settings=settings, now=at)
        notices.session_checks(db, alerts, summary, run_id)
        if world.flavor in RESTARTABLE and standin.session("ws1-held")["status"] != broken:
            standin.set_session_status("ws1-held", broken)  # it boots, and breaks again
        return summary

    first = run(T0, "r1")
    if world.flavor not in RESTARTABLE:  # the seed's service: no restart call; a person's job, said once
        assert actions(first, "ws1-held") == ["marked_disconnected", "left_for_person"]
        assert standin.changing_requests == 0
        meta = account(db, "ws1-held")["metadata"]
        assert meta["reconnect_pending"] is False and meta["reason"].endswith("a person must reconnect it and scan the QR code again")
        later = run(T0 + timedelta(days=1), "r2")
        assert actions(later, "ws1-held") == [] and standin.changing_requests == 0
        (alert,) = webhook_server.bodies
        assert alert["subject"] == "session:ws1-held" and "needs a person" in alert["text"]
        bystanders_unchanged(db, standin, before)
        return

    assert actions(first, "ws1-held") == ["marked_disconnected", "reconnected"]
    assert standin.restart_attempts == 1 and standin.changing_requests == 1
    if world.flavor == "wwebjs_api":  # a start of a held session is answered 422: never sent
        assert standin.create_attempts == 0
    row = account(db, "ws1-held")
    assert row["status"] == "disconnected"
    assert row["metadata"] == {
        **APP_METADATA, "auto_disconnected_at": T0_Z, "reason": row["metadata"]["reason"], "reconnect_pending": True,
        "reconnect_attempts": 1, "last_reconnect_at": T0_Z, "auto_reconnect_at": T0_Z,
        "reconnect_triggered_by": "health_reconcile"}
    assert row["metadata"]["reason"].startswith("WhatsApp service reports session ")
    detail = [a.detail for a in first.actions if a.action == "reconnected"][0]
    assert detail == "attempt 1: session " + ("started again" if world.flavor == "evolution" else "restarted") + \
        " in service"

    assert actions(run(T0 + timedelta(seconds=599), "r2"), "ws1-held") == ["reconnect_backoff"]
    assert standin.changing_requests == 1
    assert actions(run(T0 + timedelta(seconds=600), "r3"), "ws1-held") == ["reconnected"]
    assert standin.changing_requests == 2 and account(db, "ws1-held")["metadata"]["reconnect_attempts"] == 2
    assert webhook_server.bodies == []  # attempts left: no episode yet
    for hours in (1, 2):
        assert actions(run(T0 + timedelta(days=1, hours=hours), f"r{3 + hours}"), "ws1-held") == ["reconnect_capped"]
    assert standin.changing_requests == 2
    (alert,) = webhook_server.bodies  # capped: one alert for the episode, as for a re-created session
    assert alert["subject"] == "session:ws1-held" and "needs a manual reconnect" in alert["text"]

    standin.set_session_status("ws1-held", "connected")  # a person brought it back
    done = run(T0 + timedelta(days=2), "r6")
    assert actions(done, "ws1-held") == ["marked_connected"]
    row = account(db, "ws1-held")
    assert row["status"] == "connected" and "reconnect_attempts" not in row["metadata"]
    assert row["metadata"]["display_name"] == "Sales desk"
    assert [b["event"] for b in webhook_server.bodies] == ["alert", "recovered"]
    bystanders_unchanged(db, standin, before)
    assert KEY not in json.dumps(webhook_server.bodies)


def test_a_logged_out_session_is_left_with_its_reason(world, caplog):
    caplog.set_level(logging.DEBUG)
    db, standin = world.db, world.standin
    bystanders(db)
    standin.add_session("ws1-fine", "connected")
    add_account(db, "ws1-out", 1, phone_number="62811801641", metadata=APP_METADATA)
    standin.add_session("ws1-out", "connected", "62811801641", 1)
    standin.log_out("ws1-out")  # the phone unlinked the device: the login is gone
    before = [r for r in snapshot(db) if r["session_id"] in ("ws1-fine", "ws1-user-off")]
    service = world.adapter()
    summaries = [reconcile(db, service, auto_reconnect=True, settings=FAST, now=T0 + timedelta(hours=hours))
                 for hours in (0, 1, 2, 24, 48)]

    row = account(db, "ws1-out")
    assert row["status"] == "disconnected" and row["metadata"]["reconnect_pending"] is False
    assert row["metadata"]["reason"].endswith(SCAN), row["metadata"]["reason"]
    assert row["metadata"]["display_name"] == "Sales desk"
    left = [a for s in summaries for a in s.actions if a.session_id == "ws1-out" and a.action == "left_for_person"]
    assert len(left) == 1 and left[0].detail.endswith(SCAN)  # said once
    if world.flavor == "waha":
        # WAHA reports a logged-out session FAILED, which its documentation says to restart: one
        # restart, which ends at SCAN_QR_CODE; then it is left, its reason naming that.
        assert actions(summaries[0], "ws1-out") == ["marked_disconnected", "reconnected"]
        assert actions(summaries[1], "ws1-out") == ["left_for_person"]
        assert "(SCAN_QR_CODE)" in row["metadata"]["reason"] and row["metadata"]["reconnect_attempts"] == 1
        assert standin.changing_requests == 1
    else:  # the service says so at once: QR code (seed qr_required, wwebjs-api UNPAIRED), or code 401
        assert actions(summaries[0], "ws1-out") == ["marked_disconnected", "left_for_person"]
        assert standin.changing_requests == 0 and "reconnect_attempts" not in row["metadata"]
    assert all(actions(s, "ws1-out") in ([], ["skipped_initializing"]) for s in summaries[2:])
    bystanders_unchanged(db, standin, before)
    if world.flavor == "evolution":  # fetchInstances carries the instance's own token: never kept, never logged
        assert "instance-token-ws1-out" not in caplog.text + json.dumps(snapshot(db), default=str)
        assert "instance-token" not in json.dumps([s.as_dict() for s in summaries], default=str)


def test_a_logged_out_session_is_disconnected_only_after_the_flap_guard(world):
    if world.flavor == "evolution":
        pytest.skip("Evolution's 'connecting' is both booting and showing a QR code: left alone (initializing)")
    db, standin = world.db, world.standin
    add_account(db, "ws1-qr", 1)
    standin.add_session("ws1-qr", "qr_required")
    service = world.adapter()
    first = reconcile(db, service, auto_reconnect=True, now=T0)  # default: two reads in a row
    assert actions(first, "ws1-qr") == ["awaiting_confirmation"] and account(db, "ws1-qr")["status"] == "connected"
    second = reconcile(db, service, auto_reconnect=True, now=T0 + timedelta(minutes=5))
    assert actions(second, "ws1-qr") == ["marked_disconnected", "left_for_person"]
    assert account(db, "ws1-qr")["metadata"]["reason"].endswith(SCAN) and standin.changing_requests == 0


@pytest.mark.parametrize("flavor_state", [("waha", "FAILED"), ("wwebjs_api", "browser tab closed")])
def test_a_start_does_not_revive_a_held_session_its_restart_does(world, flavor_state):
    """Why the restart call: the service refuses a start of a session it holds (WAHA 422 "already
    started", wwebjs-api 422 "Session already exists"), which the adapter reads as ``exists``."""
    flavor, state = flavor_state
    if world.flavor != flavor:
        pytest.skip(f"{flavor} only")
    standin = world.standin
    standin.add_session("ws1-held", state)
    service = world.adapter()
    assert service.create_session("ws1-held", 1) == "exists"
    assert standin.session("ws1-held")["status"] == state  # the start changed nothing
    (held,) = service.read_sessions(["ws1-held"]).sessions
    assert isinstance(held, Session) and held.restartable and held.native_status == state
    assert service.restart_session(held) == "restarted"
    assert standin.session("ws1-held")["status"] == "initializing" and standin.restart_attempts == 1


def test_restart_of_a_session_gone_meanwhile_creates_it(world):
    if world.flavor not in RESTARTABLE:
        pytest.skip("the seed's service has no restart call")
    standin = world.standin
    standin.add_session("ws1-held", RESTARTABLE[world.flavor])
    service = world.adapter()
    (held,) = service.read_sessions(["ws1-held"]).sessions
    standin.remove_session("ws1-held")  # the service lost it between the read and the restart
    assert service.restart_session(held) == "created"
    assert standin.session("ws1-held")["status"] == "initializing"


def test_dry_run_says_it_would_restart_and_sends_nothing(world):
    if world.flavor not in RESTARTABLE:
        pytest.skip("the seed's service has no restart call")
    db, standin = world.db, world.standin
    add_account(db, "ws1-held", 1)
    standin.add_session("ws1-held", RESTARTABLE[world.flavor])
    before = snapshot(db)
    summary = reconcile(db, world.adapter(), auto_reconnect=True, dry_run=True, settings=FAST, now=T0)
    assert actions(summary, "ws1-held") == ["would_mark_disconnected", "would_reconnect"]
    assert "restart" in [a.detail for a in summary.actions if a.action == "would_reconnect"][0]
    assert snapshot(db) == before and standin.changing_requests == 0
