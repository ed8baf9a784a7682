"""The pure decision for held sessions: restarted where the service can, left for a person where
only a person can (logged out, banned, no restart call)."""

from __future__ import annotations

import pytest

from include.health.whatsapp.accounts import Account
from include.health.whatsapp.client import Session
from include.health.whatsapp.decide import NEEDS_SCAN, NO_RESTART, decide, needs_person, service_reason
from include.health.whatsapp.settings import ReconcileSettings

ONE_READ = ReconcileSettings(missing_checks_before_disconnect=1)
STAMP = "2026-01-05T08:00:00.000Z"


def account(status: str = "connected", **meta) -> Account:
    return Account(id=1, session_id="s", workspace_id=1, phone_number=None, status=status, metadata=meta)


def test_a_restartable_held_session_is_marked_and_restarted():
    remote = Session("s", "failed", restartable=True, native_status="FAILED")
    decision = decide(account(), remote, ONE_READ, STAMP)
    assert (decision.action, decision.reconnect, decision.person) == ("mark_disconnected", True, None)
    assert decision.set_meta["reconnect_pending"] is True
    assert decision.set_meta["reason"] == "WhatsApp service reports session 'failed' during health reconcile"


def test_a_held_session_only_a_person_can_bring_back_is_marked_and_left():
    remote = Session("s", "failed", native_status="TOS_BLOCK", needs_person="banned; a person must act")
    decision = decide(account(), remote, ONE_READ, STAMP)
    assert (decision.action, decision.reconnect, decision.person) == ("mark_disconnected", False,
                                                                       "banned; a person must act")
    assert decision.set_meta["reason"] == \
        "WhatsApp service reports session 'failed' (TOS_BLOCK) during health reconcile; banned; a person must act"
    assert decision.set_meta["reconnect_pending"] is False


def test_a_qr_code_on_a_connected_account_is_a_logout_behind_the_flap_guard():
    remote = Session("s", "qr_required", native_status="SCAN_QR_CODE")
    first = decide(account(), remote, ReconcileSettings(), STAMP)
    assert first.action == "awaiting_confirmation" and first.set_meta == {"health_missing_count": 1}
    second = decide(account(health_missing_count=1), remote, ReconcileSettings(), STAMP)
    assert second.action == "mark_disconnected" and second.person == NEEDS_SCAN
    assert second.set_meta["reason"].endswith(NEEDS_SCAN)


def test_a_qr_code_after_this_job_s_restart_is_left_for_a_person_once():
    remote = Session("s", "qr_required", native_status="SCAN_QR_CODE")
    ours = account("disconnected", reconnect_pending=True, reconnect_attempts=1)
    decision = decide(ours, remote, ONE_READ, STAMP)
    assert decision.action == "left_for_person" and decision.set_meta["reconnect_pending"] is False
    assert decision.set_meta["reason"] == service_reason(remote, NEEDS_SCAN)
    # once left (pending cleared), or never restarted by this job: a QR code is left alone, unwritten
    for left_alone in (account("disconnected", reconnect_pending=False, reconnect_attempts=1),
                       account("disconnected", reconnect_pending=True)):
        again = decide(left_alone, remote, ONE_READ, STAMP)
        assert again.action == "skipped_initializing" and not again.set_meta


def test_a_pending_session_that_now_only_a_person_can_bring_back_stops_being_retried():
    remote = Session("s", "failed", native_status="TOS_BLOCK", needs_person="banned; a person must act")
    decision = decide(account("disconnected", reconnect_pending=True, reconnect_attempts=2), remote, ONE_READ, STAMP)
    assert (decision.action, decision.reconnect) == ("left_for_person", False)
    assert decision.set_meta["reconnect_pending"] is False


def test_needs_person():
    assert needs_person(None) is None
    assert needs_person(Session("s", "failed", restartable=True)) is None
    assert needs_person(Session("s", "failed")) == NO_RESTART
    assert needs_person(Session("s", "qr_required")) == NEEDS_SCAN
    assert needs_person(Session("s", "disconnected", needs_person="logged out")) == "logged out"
    with pytest.raises(ValueError, match="restartable and needs a person"):
        Session("s", "failed", restartable=True, needs_person="logged out")
