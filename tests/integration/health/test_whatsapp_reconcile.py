"""The WhatsApp reconciliation against real MariaDB ``app_db`` and the stand-in service over HTTP."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from include.health.whatsapp import reconcile as wr
from include.common.db import Database
from include.health.whatsapp.adapters import WhatsAppService
from include.health.whatsapp.client import ServiceUnavailable
from include.health.whatsapp.accounts import add_account, ensure_accounts_table
from include.health.whatsapp.reconcile import reconcile
from include.health.whatsapp.settings import ReconcileSettings
from tools.whatsapp_standin import StandinService

KEY = "wa-integration-key-4b8d2f6a91"
T0 = datetime(2026, 1, 5, 8, 0, 0, 123000, tzinfo=timezone.utc)
T0_Z = "2026-01-05T08:00:00.123Z"
# One confirmation read in most tests, so a scenario needs one run; the flap guard has its own tests.
FAST = ReconcileSettings(missing_checks_before_disconnect=1, connected_checks_before_connect=1)
APP_METADATA = {"display_name": "Sales desk", "webhook": {"url": "https://app.example/hook", "events": ["msg"]},
                "created_by": 7}


@pytest.fixture
def standin():
    with StandinService(KEY, slow_seconds=3) as service:
        yield service


@pytest.fixture
def db(mariadb_database, connections, standin):
    connections({"app_db": mariadb_database("wa"), "whatsapp_service": standin.connection_json(timeout=0.5)})
    with Database("app_db", retries=1, backoff_seconds=0.05) as database:
        ensure_accounts_table(database)
        yield database


@pytest.fixture
def service(db) -> WhatsAppService:
    return WhatsAppService()


def snapshot(db: Database) -> list[dict[str, Any]]:
    return db.fetchall("SELECT * FROM whatsapp_accounts ORDER BY id")


def account(db: Database, session_id: str) -> dict[str, Any]:
    row = db.fetchone("SELECT * FROM whatsapp_accounts WHERE session_id = %s", (session_id,))
    assert row is not None
    row["metadata"] = json.loads(row["metadata"]) if row["metadata"] else {}
    return row


def posts(standin: StandinService) -> int:
    return standin.requests.count(("POST", "/api/sessions"))


def actions(summary: wr.ReconcileSummary, session_id: str) -> list[str]:
    return [a.action for a in summary.actions if a.session_id == session_id]


# -- schema ----------------------------------------------------------------------------------------
def test_table_created_only_where_missing(db):
    ensure_accounts_table(db)  # again: nothing happens
    db.execute("DROP TABLE whatsapp_accounts")
    db.execute("CREATE TABLE whatsapp_accounts (id BIGINT PRIMARY KEY, session_id VARCHAR(100), status VARCHAR(20), "
               "workspace_id BIGINT, phone_number VARCHAR(20), is_active TINYINT(1), metadata TEXT, "
               "updated_at DATETIME, web_only_column VARCHAR(10))")
    ensure_accounts_table(db)
    columns = {r["COLUMN_NAME"] for r in db.fetchall(
        "SELECT COLUMN_NAME FROM information_schema.columns WHERE table_schema = DATABASE() "
        "AND table_name = 'whatsapp_accounts'")}
    assert "web_only_column" in columns and "uuid" not in columns


# -- mismatches and the flap guard -----------------------------------------------------------------
def test_missing_session_is_disconnected_only_on_the_second_miss(db, service, standin):
    add_account(db, "webjs_1_lost", 1, phone_number="62811801641", metadata=APP_METADATA)
    add_account(db, "webjs_1_fine", 1, phone_number="62811801642")
    standin.add_session("webjs_1_fine", "connected", "62811801642", 1)

    first = reconcile(db, service, now=T0)
    lost = account(db, "webjs_1_lost")
    assert lost["status"] == "connected"
    assert lost["metadata"] == {**APP_METADATA, "health_missing_count": 1}
    assert (first.checked, first.mismatches, first.awaiting_confirmation, first.marked_disconnected) == (2, 1, 1, 0)
    assert actions(first, "webjs_1_lost") == ["awaiting_confirmation"]

    second = reconcile(db, service, now=T0 + timedelta(minutes=5))
    lost = account(db, "webjs_1_lost")
    assert lost["status"] == "disconnected"
    assert lost["metadata"] == {**APP_METADATA, "auto_disconnected_at": "2026-01-05T08:05:00.123Z",
                                "reason": "Session not found in WhatsApp service during health reconcile",
                                "reconnect_pending": True}
    assert (second.mismatches, second.marked_disconnected, second.statuses_updated) == (1, 1, 1)
    assert actions(second, "webjs_1_lost") == ["marked_disconnected"]
    assert account(db, "webjs_1_fine")["status"] == "connected"
    assert posts(standin) == 0  # auto-reconnect is off


def test_one_bad_read_between_good_ones_does_not_flip(db, service, standin):
    add_account(db, "webjs_1_flaky", 1)
    reconcile(db, service, now=T0)  # miss 1
    standin.add_session("webjs_1_flaky", "connected")
    reconcile(db, service, now=T0 + timedelta(minutes=5))  # seen again: the streak is broken
    assert "health_missing_count" not in account(db, "webjs_1_flaky")["metadata"]
    standin.remove_session("webjs_1_flaky")
    summary = reconcile(db, service, now=T0 + timedelta(minutes=10))  # miss 1 again, not 2
    row = account(db, "webjs_1_flaky")
    assert row["status"] == "connected" and row["metadata"] == {"health_missing_count": 1}
    assert summary.marked_disconnected == 0


def test_service_connected_database_disconnected_is_marked_connected(db, service, standin):
    add_account(db, "webjs_2_back", 2, status="disconnected",
                metadata={**APP_METADATA, "reconnect_pending": True, "reconnect_attempts": 2})
    standin.add_session("webjs_2_back", "connected", "6281", 2)

    first = reconcile(db, service, now=T0)
    assert account(db, "webjs_2_back")["status"] == "disconnected"
    assert first.awaiting_confirmation == 1 and first.marked_connected == 0

    second = reconcile(db, service, now=T0 + timedelta(minutes=5))
    row = account(db, "webjs_2_back")
    assert row["status"] == "connected"
    # the audit entry is added, the reconnect bookkeeping is cleared, the web app's keys stay
    assert row["metadata"] == {**APP_METADATA, "auto_connected_at": "2026-01-05T08:05:00.123Z"}
    assert (second.mismatches, second.marked_connected, second.statuses_updated) == (1, 1, 1)


def test_service_reports_failed_marks_disconnected_and_leaves_it_for_a_person(db, service, standin):
    add_account(db, "webjs_1_broken", 1)
    standin.add_session("webjs_1_broken", "failed")
    summary = reconcile(db, service, auto_reconnect=True, settings=FAST, now=T0)
    row = account(db, "webjs_1_broken")
    assert row["status"] == "disconnected" and row["metadata"]["reason"] == \
        "WhatsApp service reports session 'failed' during health reconcile; the service has no call that " \
        "restarts it; a person must reconnect it and scan the QR code again"
    assert row["metadata"]["reconnect_pending"] is False
    assert (summary.marked_disconnected, summary.left_for_person) == (1, 1)
    assert posts(standin) == 0  # it exists there: a POST would be a 409, and the service has no restart call
    assert [a.action for a in summary.actions] == ["marked_disconnected", "left_for_person"]


def test_initializing_and_qr_required_are_left_alone(db, service, standin):
    add_account(db, "webjs_1_init", 1)
    add_account(db, "webjs_1_qr", 1, status="disconnected", metadata={"reconnect_pending": True})
    standin.add_session("webjs_1_init", "initializing")
    standin.add_session("webjs_1_qr", "qr_required")
    before = snapshot(db)
    for minutes in (0, 5, 10):
        summary = reconcile(db, service, auto_reconnect=True, settings=FAST, now=T0 + timedelta(minutes=minutes))
        assert summary.skipped_initializing == 2 and summary.mismatches == 0
    assert snapshot(db) == before and posts(standin) == 0


def test_inactive_and_user_disconnected_accounts_are_not_touched(db, service, standin):
    add_account(db, "webjs_1_inactive", 1, is_active=False)
    add_account(db, "webjs_1_user_logged_out", 1, status="disconnected", metadata=APP_METADATA)
    before = snapshot(db)
    summary = reconcile(db, service, auto_reconnect=True, settings=FAST, now=T0)
    assert summary.checked == 1 and summary.mismatches == 0
    assert snapshot(db) == before and posts(standin) == 0


# -- auto-reconnect --------------------------------------------------------------------------------
def test_auto_reconnect_recreates_and_records_then_follows_up(db, service, standin):
    add_account(db, "webjs_1_1763300356_ot6RUaMF", 1, phone_number="62811801641", metadata=APP_METADATA)
    summary = reconcile(db, service, auto_reconnect=True, settings=FAST, now=T0)

    assert posts(standin) == 1
    assert standin.sessions["webjs_1_1763300356_ot6RUaMF"] == {
        "session_id": "webjs_1_1763300356_ot6RUaMF", "status": "initializing", "phone_number": None,
        "workspace_id": 1}
    row = account(db, "webjs_1_1763300356_ot6RUaMF")
    assert row["status"] == "disconnected"
    assert row["metadata"] == {**APP_METADATA, "auto_disconnected_at": T0_Z,
                               "reason": "Session not found in WhatsApp service during health reconcile",
                               "reconnect_pending": True, "reconnect_attempts": 1, "last_reconnect_at": T0_Z,
                               "auto_reconnect_at": T0_Z, "reconnect_triggered_by": "health_reconcile"}
    assert (summary.mismatches, summary.reconnected, summary.statuses_updated) == (1, 1, 1)
    assert actions(summary, "webjs_1_1763300356_ot6RUaMF") == ["marked_disconnected", "reconnected"]
    text = summary.render()
    for line in ("Synchronization Summary:", "Mismatches found: 1", "Sessions reconnected: 1",
                 "Statuses updated: 1", "Session ID: webjs_1_1763300356_ot6RUaMF", "Phone: 62811801641",
                 "Database status: connected", "Service status: not found"):
        assert line in text
    assert summary.as_dict()["statuses_updated"] == 1 and summary.as_dict()["actions"][1]["action"] == "reconnected"

    # while it starts, nothing happens; once connected (and confirmed) the account is connected again
    later = reconcile(db, service, auto_reconnect=True, settings=FAST, now=T0 + timedelta(minutes=5))
    assert later.skipped_initializing == 1 and posts(standin) == 1
    standin.set_session_status("webjs_1_1763300356_ot6RUaMF", "connected")
    done = reconcile(db, service, auto_reconnect=True, settings=FAST, now=T0 + timedelta(minutes=10))
    row = account(db, "webjs_1_1763300356_ot6RUaMF")
    assert done.marked_connected == 1 and row["status"] == "connected"
    assert "reconnect_attempts" not in row["metadata"] and "reconnect_pending" not in row["metadata"]
    assert row["metadata"]["auto_reconnect_at"] == T0_Z and row["metadata"]["display_name"] == "Sales desk"


def test_session_created_meanwhile_counts_as_exists(db, standin):
    class CreatedMeanwhile(WhatsAppService):
        """The session appears between the list and the POST: the service answers 409."""

        def sessions(self):
            listed = super().sessions()
            standin.add_session("webjs_1_race", "initializing")
            return listed

    add_account(db, "webjs_1_race", 1)
    summary = reconcile(db, CreatedMeanwhile(), auto_reconnect=True, settings=FAST, now=T0)
    assert summary.reconnected == 1 and summary.reconnect_failed == 0
    assert "already exists" in [a for a in summary.actions if a.action == "reconnected"][0].detail
    assert account(db, "webjs_1_race")["metadata"]["reconnect_attempts"] == 1


def test_attempt_cap_and_backoff_between_runs(db, service, standin):
    add_account(db, "webjs_1_stubborn", 1)
    standin.set_mode("error500", path="/api/sessions", method="POST")
    settings = ReconcileSettings(missing_checks_before_disconnect=1, max_reconnect_attempts=3,
                                 reconnect_backoff_seconds=600)

    def run(at: datetime) -> wr.ReconcileSummary:
        return reconcile(db, service, auto_reconnect=True, settings=settings, now=at)

    first = run(T0)
    meta = account(db, "webjs_1_stubborn")["metadata"]
    assert first.reconnect_failed == 1 and posts(standin) == 1
    assert meta["reconnect_attempts"] == 1 and "answered HTTP 500" in meta["last_reconnect_error"]
    assert "auto_reconnect_at" not in meta  # only a successful request is an auto-reconnect

    assert run(T0 + timedelta(seconds=599)).backing_off == 1 and posts(standin) == 1  # 600 s after attempt 1
    assert run(T0 + timedelta(seconds=600)).reconnect_failed == 1 and posts(standin) == 2
    second_at = T0 + timedelta(seconds=600)
    assert run(second_at + timedelta(seconds=1199)).backing_off == 1 and posts(standin) == 2  # doubled: 1200 s
    assert run(second_at + timedelta(seconds=1200)).reconnect_failed == 1 and posts(standin) == 3
    capped = run(T0 + timedelta(days=1))
    assert capped.capped == 1 and posts(standin) == 3
    assert actions(capped, "webjs_1_stubborn") == ["reconnect_capped"]
    assert account(db, "webjs_1_stubborn")["metadata"]["reconnect_attempts"] == 3


def test_at_most_n_reconnects_per_run(db, service, standin):
    for number in range(5):
        add_account(db, f"webjs_1_lost{number}", 1)
    settings = ReconcileSettings(missing_checks_before_disconnect=1, max_reconnects_per_run=2)

    first = reconcile(db, service, auto_reconnect=True, settings=settings, now=T0)
    assert (first.marked_disconnected, first.reconnected, first.deferred) == (5, 2, 3)
    assert set(standin.sessions) == {"webjs_1_lost0", "webjs_1_lost1"}

    second = reconcile(db, service, auto_reconnect=True, settings=settings, now=T0 + timedelta(minutes=5))
    assert (second.reconnected, second.deferred, second.skipped_initializing) == (2, 1, 2)
    assert set(standin.sessions) == {f"webjs_1_lost{n}" for n in range(4)}
    third = reconcile(db, service, auto_reconnect=True, settings=settings, now=T0 + timedelta(minutes=10))
    assert third.reconnected == 1 and posts(standin) == 5


def test_service_failing_during_reconnects_stops_further_posts(db, service, standin):
    for number in range(3):
        add_account(db, f"webjs_1_gone{number}", 1)
    standin.set_mode("down", path="/api/sessions", method="POST")
    summary = reconcile(db, service, auto_reconnect=True, settings=FAST, now=T0)
    assert posts(standin) == 1  # the first failure ends the POSTs of this run
    assert (summary.marked_disconnected, summary.reconnect_failed, summary.deferred) == (3, 1, 2)
    assert "connection closed without an answer" in summary.service_error
    assert "Service error during reconnects" in summary.render()


# -- scope and dry run -----------------------------------------------------------------------------
def test_workspace_filter(db, service, standin):
    add_account(db, "webjs_1_a", 1)
    add_account(db, "webjs_2_a", 2)
    add_account(db, "webjs_2_b", 2, status="disconnected")
    standin.add_session("webjs_2_b", "connected", None, 2)
    before = account(db, "webjs_1_a")

    summary = reconcile(db, service, workspace="2", auto_reconnect=True, settings=FAST, now=T0)
    assert summary.workspace == 2 and summary.checked == 2
    assert (summary.marked_disconnected, summary.marked_connected, summary.reconnected) == (1, 1, 1)
    assert account(db, "webjs_2_a")["status"] == "disconnected" and account(db, "webjs_2_b")["status"] == "connected"
    assert account(db, "webjs_1_a") == before
    assert "webjs_1_a" not in standin.sessions
    with pytest.raises(ValueError, match="workspace must be a workspace id"):
        reconcile(db, service, workspace="sales", now=T0)


def test_dry_run_writes_nothing_and_posts_nothing(db, service, standin):
    add_account(db, "webjs_1_lost", 1, metadata=APP_METADATA)
    add_account(db, "webjs_1_back", 1, status="disconnected")
    add_account(db, "webjs_1_once", 1)
    standin.add_session("webjs_1_back", "connected")
    settings = ReconcileSettings(missing_checks_before_disconnect=1, connected_checks_before_connect=1)
    before = snapshot(db)

    summary = reconcile(db, service, auto_reconnect=True, dry_run=True, settings=settings, now=T0)
    assert snapshot(db) == before
    assert standin.requests == [("GET", "/health"), ("GET", "/api/sessions")]
    assert summary.dry_run
    assert (summary.mismatches, summary.marked_disconnected, summary.marked_connected, summary.reconnected) == \
        (3, 2, 1, 2)
    assert actions(summary, "webjs_1_lost") == ["would_mark_disconnected", "would_reconnect"]
    assert actions(summary, "webjs_1_back") == ["would_mark_connected"]
    assert "dry run" in summary.render() and "Sessions would be reconnected: 2" in summary.render()

    # with the flap guard on, a dry run does not count as a check either
    guarded = reconcile(db, service, dry_run=True, now=T0)
    assert actions(guarded, "webjs_1_once") == ["would_count_check"] and snapshot(db) == before
    assert db.fetchall("SELECT * FROM whatsapp_service_sessions") == []  # nor records what the service said


def test_what_the_service_last_said_is_kept_beside_the_flap_guarded_status(db, service, standin):
    """The database status follows the service only after N agreeing reads; the service's own word,
    and since when it has said it, is kept for every account read, so the console and the CLI show
    a disconnect on its way."""
    from include.health.whatsapp.status import whatsapp_status

    add_account(db, "webjs_1_fading", 1)
    add_account(db, "webjs_1_fine", 1)
    add_account(db, "webjs_2_gone", 2)
    standin.add_session("webjs_1_fading", "connected")
    standin.add_session("webjs_1_fine", "connected")
    reconcile(db, service, now=T0)
    standin.set_session_status("webjs_1_fading", "disconnected")
    t1 = T0 + timedelta(minutes=5)
    reconcile(db, service, now=t1)

    rows = {r["session_id"]: r for r in db.fetchall("SELECT * FROM whatsapp_service_sessions")}
    assert {k: r["service_status"] for k, r in rows.items()} == {
        "webjs_1_fading": "disconnected", "webjs_1_fine": "connected", "webjs_2_gone": "not_found"}
    def second(value) -> str:
        return Database.parse_ts(value).strftime("%Y-%m-%d %H:%M:%S")

    assert second(rows["webjs_1_fading"]["status_since"]) == "2026-01-05 08:05:00"  # changed: since this run
    assert second(rows["webjs_1_fine"]["status_since"]) == "2026-01-05 08:00:00"  # unchanged: since the first
    assert second(rows["webjs_1_fine"]["checked_at"]) == "2026-01-05 08:05:00"

    status = {a["session_id"]: a for a in whatsapp_status(db, now=t1)["accounts"]}
    fading = status["webjs_1_fading"]
    assert fading["status"] == "connected"  # one bad read: the flap guard holds the database status
    assert fading["service"]["status"] == "disconnected" and fading["service"]["since"].startswith("2026-01-05T08:05")
    assert fading["flap_guard"]["missing_count"] == 1
    assert status["webjs_1_fine"]["service"]["since"].startswith("2026-01-05T08:00")
    assert whatsapp_status(db, workspace=2, now=t1)["accounts"][0]["service"]["status"] == "not_found"


# -- the service failing: nothing changes ----------------------------------------------------------
@pytest.mark.parametrize("failure, path, reason, phrase", [
    ("down", None, "unreachable", "connection closed without an answer"),
    ("stopped", None, "unreachable", "connection refused"),
    ("slow", None, "timeout", "timeout"),
    ("error500", None, "server_error", "HTTP 500"),
    ("malformed", None, "malformed", "malformed JSON"),
    ("wrong_shape", None, "bad_shape", "unexpected shape"),
    ("wrong_key", None, "auth", "API key rejected"),
    ("down", "/api/sessions", "unreachable", "GET /api/sessions"),
    ("slow", "/api/sessions", "timeout", "GET /api/sessions"),
    ("error500", "/api/sessions", "server_error", "GET /api/sessions"),
    ("malformed", "/api/sessions", "malformed", "GET /api/sessions"),
    ("wrong_shape", "/api/sessions", "bad_shape", "GET /api/sessions"),
])
def test_service_failure_changes_no_row(db, service, standin, caplog, capsys, failure, path, reason, phrase):
    caplog.set_level(logging.DEBUG)
    add_account(db, "webjs_1_lost", 1, metadata=APP_METADATA)  # would be disconnected and re-created
    add_account(db, "webjs_1_back", 1, status="disconnected")  # would be connected
    add_account(db, "webjs_1_counting", 1, metadata={"health_missing_count": 1})
    standin.add_session("webjs_1_back", "connected")
    before = snapshot(db)
    if failure == "stopped":
        standin.stop()
    elif failure == "wrong_key":
        standin.api_key = "rotated-key-the-connection-lacks"
    else:
        standin.set_mode(failure, path=path)

    with pytest.raises(ServiceUnavailable) as info:
        reconcile(db, service, auto_reconnect=True, settings=FAST, now=T0)
    assert info.value.reason == reason and phrase in str(info.value)
    assert snapshot(db) == before
    assert posts(standin) == 0
    assert KEY not in str(info.value) and KEY not in caplog.text and KEY not in "".join(capsys.readouterr())


# -- metadata and concurrency ----------------------------------------------------------------------
def test_metadata_merge_keeps_keys_written_concurrently(db, standin):
    class WebAppWritesMeanwhile(WhatsAppService):
        """While the POST is in flight, the web app adds a key to the account's metadata."""

        def create_session(self, session_id, workspace_id):
            row = db.fetchone("SELECT metadata FROM whatsapp_accounts WHERE session_id = %s", (session_id,))
            meta = {**json.loads(row["metadata"]), "last_opened_by": "admin@example.com"}
            db.execute("UPDATE whatsapp_accounts SET metadata = %s WHERE session_id = %s",
                       (json.dumps(meta), session_id))
            return super().create_session(session_id, workspace_id)

    add_account(db, "webjs_1_busy", 1, metadata=APP_METADATA)
    reconcile(db, WebAppWritesMeanwhile(), auto_reconnect=True, settings=FAST, now=T0)
    meta = account(db, "webjs_1_busy")["metadata"]
    assert meta["last_opened_by"] == "admin@example.com"
    assert {k: meta[k] for k in APP_METADATA} == APP_METADATA
    assert meta["reconnect_attempts"] == 1 and meta["auto_disconnected_at"] == T0_Z


def test_unparsable_metadata_is_kept_not_overwritten(db, service):
    add_account(db, "webjs_1_legacy", 1)
    db.execute("UPDATE whatsapp_accounts SET metadata = %s WHERE session_id = %s",
               ("legacy: not json", "webjs_1_legacy"))
    add_account(db, "webjs_1_fine", 1)
    summary = reconcile(db, service, settings=FAST, now=T0)
    row = account(db, "webjs_1_legacy")
    assert row["status"] == "disconnected" and row["metadata"]["previous_metadata"] == "legacy: not json"
    # handled, and reported: counted and listed in the summary, its log and its XCom
    assert summary.invalid_metadata == ["webjs_1_legacy"]
    assert "invalid_metadata" in actions(summary, "webjs_1_legacy")
    assert summary.as_dict()["invalid_metadata_count"] == 1
    assert "Metadata not valid JSON (kept): 1 (webjs_1_legacy)" in summary.render()
    # once this job wrote the row, its metadata is JSON again: nothing more to report
    assert reconcile(db, service, settings=FAST, now=T0).invalid_metadata == []


def test_status_changed_by_the_web_app_meanwhile_is_not_clobbered(db, service, monkeypatch):
    add_account(db, "webjs_1_relinked", 1)
    load = wr.load_accounts

    def load_then_user_relinks(database, workspace_id=None):
        accounts = load(database, workspace_id)
        database.execute("UPDATE whatsapp_accounts SET status = 'qr_required' WHERE session_id = %s",
                         ("webjs_1_relinked",))
        return accounts

    monkeypatch.setattr(wr, "load_accounts", load_then_user_relinks)
    summary = reconcile(db, service, auto_reconnect=True, settings=FAST, now=T0)
    row = account(db, "webjs_1_relinked")
    assert row["status"] == "qr_required" and row["metadata"] == {}
    assert summary.conflicts == 1 and summary.reconnected == 0
    assert actions(summary, "webjs_1_relinked")[-1] == "skipped_concurrent_change"


def test_api_key_absent_from_logs_output_and_rows(db, service, standin, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    add_account(db, "webjs_1_x", 1)
    add_account(db, "webjs_1_y", 1)
    standin.set_mode("error500", path="/api/sessions", method="POST")  # the error text lands in metadata
    summary = reconcile(db, service, auto_reconnect=True, settings=FAST, now=T0)
    print(summary.render())
    assert summary.reconnect_failed == 1
    # the capture works: urllib3's request lines and this module's lines are in it
    assert "/api/sessions?api_key=***" in caplog.text and "reconnect_failed" in caplog.text
    logging.getLogger("probe").warning("probe %s", KEY)
    assert KEY in caplog.text  # ...and would show the key, had anything logged it
    text = caplog.text.replace(f"probe {KEY}", "")
    assert KEY not in text
    assert KEY not in "".join(capsys.readouterr())
    assert KEY not in json.dumps(snapshot(db), default=str)
    assert KEY not in json.dumps(summary.as_dict(), default=str)


def test_settings_from_mapping():
    settings = ReconcileSettings.from_mapping({"max_reconnect_attempts": "5", "reconnect_backoff_seconds": 30})
    assert settings.max_reconnect_attempts == 5 and settings.backoff_after(3) == timedelta(seconds=120)
    with pytest.raises(ValueError, match="unknown WhatsApp reconcile setting"):
        ReconcileSettings.from_mapping({"max_attempts": 2})
    with pytest.raises(ValueError, match="at least 1"):
        ReconcileSettings(missing_checks_before_disconnect=0)


@pytest.mark.parametrize("dialect", ["postgresql", "sqlite"])
def test_other_dialects(dialect, pg_database, tmp_path, connections, standin):
    """The same table and writes on PostgreSQL and SQLite (the demo's default)."""
    uri = pg_database("wa") if dialect == "postgresql" else \
        json.dumps({"conn_type": "sqlite", "host": str(tmp_path / "app.db")})
    connections({"app_db": uri, "whatsapp_service": standin.connection_json(timeout=0.5)})
    with Database("app_db") as database:
        ensure_accounts_table(database)
        ensure_accounts_table(database)
        add_account(database, "webjs_1_lost", 1, metadata=APP_METADATA)
        add_account(database, "webjs_2_back", 2, status="disconnected")
        standin.add_session("webjs_2_back", "connected")
        summary = reconcile(database, WhatsAppService(), auto_reconnect=True, settings=FAST, now=T0)
        assert (summary.marked_disconnected, summary.marked_connected, summary.reconnected) == (1, 1, 1)
        lost = account(database, "webjs_1_lost")
        assert lost["status"] == "disconnected" and lost["metadata"]["auto_reconnect_at"] == T0_Z
        assert {k: lost["metadata"][k] for k in APP_METADATA} == APP_METADATA
        assert account(database, "webjs_2_back")["status"] == "connected"
        assert reconcile(database, WhatsAppService(), workspace=2, now=T0).checked == 1
