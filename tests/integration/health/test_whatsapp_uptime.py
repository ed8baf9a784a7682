"""Uptime per session over the last 24 hours and 7 days, from a check history constructed here
(every 5 minutes, as the reconcile records it) on real MariaDB and PostgreSQL ``app_db``
databases, and as the reconcile records it against the stand-in service."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest

from include.common.clock import utcnow
from include.common.db import Database
from include.health.whatsapp import uptime
from include.health.whatsapp.accounts import add_account, ensure_accounts_table
from include.health.whatsapp.adapters import WhatsAppService
from include.health.whatsapp.reconcile import reconcile
from include.health.whatsapp.status import whatsapp_status
from tools.whatsapp_standin import StandinService

NOW = datetime(2026, 3, 9, 12, 0, tzinfo=timezone.utc)
STEP = timedelta(minutes=5)


@pytest.fixture(params=["mariadb", "postgresql"])
def db(request, mariadb_database, pg_database, connections):
    uri = mariadb_database("upt") if request.param == "mariadb" else pg_database("upt")
    connections({"app_db": uri})
    with Database("app_db") as database:
        ensure_accounts_table(database)
        yield database


def history(db: Database, account_id: int, session_id: str, said_at: dict[datetime, str]) -> None:
    rows = [(account_id, db.ts(at), session_id, said) for at, said in said_at.items()]
    db.run(lambda cur: cur.executemany(db.insert_ignore(uptime.CHECKS, uptime.COLUMNS), rows))


def checks_every_5_minutes(days: float, said: callable) -> dict[datetime, str]:
    """The checks of the last ``days`` (the newest one minute ago), ``said(n)`` for the n-th newest."""
    count = int(days * 24 * 12)
    return {NOW - timedelta(minutes=1) - n * STEP: said(n) for n in range(count)}


def test_uptime_is_the_share_of_the_window_s_checks_that_found_it_up(db):
    steady = add_account(db, "s-steady", 1)
    flaky = add_account(db, "s-flaky", 1)
    add_account(db, "s-never-checked", 1)
    ids = {r["session_id"]: int(r["id"]) for r in db.fetchall("SELECT id, session_id FROM whatsapp_accounts")}
    assert steady and flaky
    # steady: up at every check of 8 days (the eighth day is outside both windows)
    history(db, ids["s-steady"], "s-steady", checks_every_5_minutes(8, lambda n: "connected"))
    # flaky: in the last 24 h (288 checks) down for 2 hours (24 checks: 12 not found, 12 unreachable);
    # before that, on days 2-7, every 4th check failed; a 9-day-old check is ignored
    def flaky_said(n: int) -> str:
        if n < 288:
            return "not_found" if 100 <= n < 112 else "unreachable" if 112 <= n < 124 else "connected"
        return "failed" if n % 4 == 0 else "connected"
    history(db, ids["s-flaky"], "s-flaky", checks_every_5_minutes(7, flaky_said))
    history(db, ids["s-flaky"], "s-flaky", {NOW - timedelta(days=9): "failed"})

    figures = {a["session_id"]: a["uptime"] for a in whatsapp_status(db, now=NOW)["accounts"]}
    assert figures["s-steady"]["24h"] == {"percent": 100.0, "up_checks": 288, "checks": 288,
                                          "first_check": "2026-03-08T12:04:00.000Z",
                                          "last_check": "2026-03-09T11:59:00.000Z"}
    assert (figures["s-steady"]["7d"]["checks"], figures["s-steady"]["7d"]["up_checks"]) == (2016, 2016)
    assert figures["s-flaky"]["24h"]["checks"] == 288 and figures["s-flaky"]["24h"]["up_checks"] == 288 - 24
    assert figures["s-flaky"]["24h"]["percent"] == round(100 * 264 / 288, 1) == 91.7
    older = [n for n in range(288, 2016)]
    up_7d = 264 + sum(1 for n in older if n % 4)
    assert (figures["s-flaky"]["7d"]["checks"], figures["s-flaky"]["7d"]["up_checks"]) == (2016, up_7d)
    assert figures["s-flaky"]["7d"]["percent"] == round(100 * up_7d / 2016, 1)
    assert figures["s-never-checked"] == {w: {"percent": None, "up_checks": 0, "checks": 0, "first_check": None,
                                              "last_check": None} for w in ("24h", "7d")}


def test_the_reconcile_records_every_check_and_the_cli_shows_the_uptime(db, connections):
    add_account(db, "s-up", 1)
    add_account(db, "s-gone", 1)
    now = utcnow()  # the CLI counts back from the real clock
    with StandinService("uptime-key") as standin:
        standin.add_session("s-up", "connected")
        connections({"whatsapp_service": standin.connection_json()})
        service = WhatsAppService()
        for n in range(3):
            reconcile(db, service, now=now - timedelta(minutes=15) + n * STEP)
        reconcile(db, service, dry_run=True, now=now)  # a dry run records nothing
    figures = {a["session_id"]: a["uptime"]["24h"] for a in whatsapp_status(db, now=now)["accounts"]}
    assert (figures["s-up"]["up_checks"], figures["s-up"]["checks"], figures["s-up"]["percent"]) == (3, 3, 100.0)
    assert (figures["s-gone"]["up_checks"], figures["s-gone"]["checks"], figures["s-gone"]["percent"]) == (0, 3, 0.0)

    # whatsapp-status, text and JSON, says the same (the CLI reads the same rows)
    env = {**os.environ}  # AIRFLOW_CONN_APP_DB among them
    text = subprocess.run([sys.executable, "-m", "include.cli", "whatsapp-status", "--color", "never"],
                          capture_output=True, text=True, env=env)
    assert text.returncode == 0, text.stderr
    line = next(row for row in text.stdout.splitlines() if "s-up" in row)
    assert "100.0% (3/3)" in line
    assert "share of health_reconcile's checks" in text.stdout
    doc = json.loads(subprocess.run([sys.executable, "-m", "include.cli", "whatsapp-status", "--json"],
                                    capture_output=True, text=True, env=env).stdout)
    gone = next(a for a in doc["accounts"] if a["session_id"] == "s-gone")
    assert gone["uptime"]["24h"]["checks"] == 3 and gone["uptime"]["24h"]["percent"] == 0.0
    assert doc["uptime_windows"] == ["24h", "7d"]
