"""A person's Reconnect, per service flavor, through the same adapter code the reconcile uses, on
MariaDB (and PostgreSQL for the seed's service) and each flavor's stand-in: the service receives
the request and the account's metadata names the user; a connected session, a service that is
down, and a session only a scan can bring back are refused with a clear message, nothing changed."""

from __future__ import annotations

import pytest

from include.health.whatsapp.accounts import add_account
from include.health.whatsapp.client import ServiceUnavailable
from include.health.whatsapp.manual import reconnect
from tests.integration.health.test_whatsapp_flavors import (  # noqa: F401 - fixtures
    APP_METADATA, T0, T0_Z, account, app_databases, snapshot, world,
)

RESTART_STATE = {"waha": "FAILED", "wwebjs_api": "browser tab closed", "evolution": "close"}


def ids(db) -> dict[str, int]:
    return {r["session_id"]: int(r["id"]) for r in db.fetchall("SELECT id, session_id FROM whatsapp_accounts")}


def test_reconnect_asks_the_service_and_records_the_user(world):
    db, standin = world.db, world.standin
    add_account(db, "ws1-lost", 1, metadata=APP_METADATA)  # the service lost it: created again
    add_account(db, "ws1-held", 1, status="disconnected")  # held broken: restarted where the service can
    standin.add_session("ws1-held", RESTART_STATE.get(world.flavor, "failed"))
    results = {r.session_id: r for r in reconnect(db, world.adapter(), [ids(db)["ws1-lost"], ids(db)["ws1-held"]],
                                                  "alice", now=T0)}

    lost = results["ws1-lost"]
    assert (lost.status, lost.outcome) == (200, "created")
    assert "asked by alice" in lost.message and standin.session("ws1-lost")["status"] == "initializing"
    meta = account(db, "ws1-lost")["metadata"]
    assert meta == {**APP_METADATA, "reconnect_requested_at": T0_Z, "reconnect_requested_by": "alice",
                    "reconnect_requested_outcome": "created", "reconnect_triggered_by": "console:alice"}
    assert account(db, "ws1-lost")["status"] == "connected"  # the status is the reconcile's to change

    held = results["ws1-held"]
    if world.flavor in RESTART_STATE:
        assert held.status == 200
        assert [p for m, p in standin.requests if standin.is_restart(m, p) and "ws1-held" in p] != []
        assert standin.session("ws1-held")["status"] == "initializing"
        assert account(db, "ws1-held")["metadata"]["reconnect_requested_by"] == "alice"
    else:  # the seed's service has no restart call: refused, nothing sent for it
        assert held.status == 409 and "cannot restart it" in held.message
        assert account(db, "ws1-held")["metadata"] == {}


def test_a_connected_or_starting_session_is_refused_and_nothing_changes(world):
    db, standin = world.db, world.standin
    add_account(db, "ws1-up", 1, metadata=APP_METADATA)
    add_account(db, "ws1-boot", 1)
    standin.add_session("ws1-up", "connected")
    standin.add_session("ws1-boot", "initializing")
    before = snapshot(db)
    results = reconnect(db, world.adapter(), list(ids(db).values()), "alice", now=T0)
    assert [r.status for r in results] == [409, 409]
    assert "already connected" in results[0].message and "already starting" in results[1].message
    assert snapshot(db) == before and standin.changing_requests == 0


def test_a_logged_out_session_is_refused_with_what_a_person_must_do(world):
    if world.flavor == "evolution":
        pytest.skip("Evolution's logged-out instance is 'close' with code 401: see the flavor-specific check below")
    db, standin = world.db, world.standin
    add_account(db, "ws1-out", 1, status="disconnected")
    standin.add_session("ws1-out", "connected")
    standin.log_out("ws1-out")
    if world.flavor == "waha":  # WAHA says FAILED, which its restart call may cure: that is what it gets
        (result,) = reconnect(db, world.adapter(), [ids(db)["ws1-out"]], "alice", now=T0)
        assert result.status == 200 and standin.session("ws1-out")["status"] == "qr_required"
        return
    before = snapshot(db)
    (result,) = reconnect(db, world.adapter(), [ids(db)["ws1-out"]], "alice", now=T0)
    assert result.status == 409 and "scan its QR code" in result.message
    assert snapshot(db) == before and standin.changing_requests == 0


def test_evolution_logged_out_is_refused(world):
    if world.flavor != "evolution":
        pytest.skip("evolution only")
    db, standin = world.db, world.standin
    add_account(db, "ws1-out", 1, status="disconnected")
    standin.add_session("ws1-out", "connected")
    standin.log_out("ws1-out")
    (result,) = reconnect(db, world.adapter(), [ids(db)["ws1-out"]], "alice", now=T0)
    assert result.status == 409 and "logged out of WhatsApp (disconnection code 401)" in result.message
    assert standin.changing_requests == 0


@pytest.mark.parametrize("failure", ["stopped", "error500"])
def test_the_service_down_refuses_everything_and_changes_nothing(world, failure):
    db, standin = world.db, world.standin
    add_account(db, "ws1-lost", 1, metadata=APP_METADATA)
    before = snapshot(db)
    service = world.adapter()
    if failure == "stopped":
        standin.stop()
    else:
        standin.set_mode("error500")
    with pytest.raises(ServiceUnavailable):
        reconnect(db, service, [ids(db)["ws1-lost"]], "alice", now=T0)
    assert snapshot(db) == before and standin.changing_requests == 0


def test_unknown_or_inactive_accounts_and_bad_selections(world):
    db = world.db
    add_account(db, "ws1-off", 1, is_active=False)
    (result,) = reconnect(db, world.adapter(), [ids(db)["ws1-off"]], "alice", now=T0)
    assert result.status == 404 and "no active WhatsApp account" in result.message
    with pytest.raises(ValueError, match="between 1 and 50"):
        reconnect(db, world.adapter(), [], "alice")
    with pytest.raises(ValueError, match="between 1 and 50"):
        reconnect(db, world.adapter(), list(range(1, 52)), "alice")
