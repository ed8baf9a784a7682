"""The console's WhatsApp page on a running Airflow, with a WAHA stand-in (a real HTTP server
speaking WAHA's sessions API) and a MariaDB app database: Reconnect in headless Chromium as an
operator (the service receives the restart, the account's audit names the user), a connected
session refused, the service down refused with a clear message and nothing changed, a viewer who
sees no button and gets 403 from the endpoint; uptime over 24 h and 7 days from a check history
constructed here, as the page and the JSON show it."""

from __future__ import annotations

import json
import shutil
from datetime import timedelta
from pathlib import Path

import pytest
import requests

from include.common.clock import utcnow
from include.common.db import Database
from include.health.whatsapp import uptime
from include.health.whatsapp.accounts import add_account, ensure_accounts_table
from include.health.whatsapp.adapters import get_adapter
from include.health.whatsapp.reconcile import reconcile
from tests.e2e.test_console_e2e import browser, token
from tests.integration.sync_helpers import fetch, write_config
from tools.waha_standin import WahaStandin

REPO = Path(__file__).resolve().parents[2]
USERS = "admin:admin,vic:viewer,oscar:op"
KEY = "e2e-waha-key-3f9d"
APP_METADATA = {"display_name": "Sales desk"}


def call(server, method: str, path: str, tok: str, body=None):
    return requests.request(method, f"{server.base_url}/backoffice{path}", json=body, timeout=60,
                            headers={"Authorization": f"Bearer {tok}"})


def metadata(session_id: str) -> dict:
    (row,) = fetch("app_db", "SELECT metadata FROM whatsapp_accounts WHERE session_id = %s", (session_id,))
    return json.loads(row["metadata"] or "{}")


@pytest.fixture(scope="module")
def deployment(airflow_server_factory, mariadb_database, pg_database, tmp_path_factory):
    import os

    uris = {"app_db": mariadb_database("wac_app"), "central_db": pg_database("wac_c")}
    for conn_id, uri in uris.items():
        os.environ[f"AIRFLOW_CONN_{conn_id.upper()}"] = uri
    config = write_config(tmp_path_factory.mktemp("wa-console") / "sync.yaml", "central_db", ["pgsql_aa"],
                          [{"table": "c_invoice", "primary_key": ["c_invoice_id"], "cursor": "updated"}])
    standin = WahaStandin(KEY).start()
    standin.add_session("ws1-failed", "FAILED", None, 1)
    standin.add_session("ws1-up", "connected", "62811801641", 1)
    now = utcnow()
    with Database("app_db") as db:
        ensure_accounts_table(db)
        add_account(db, "ws1-failed", 1, phone_number="62811801640", metadata=APP_METADATA)
        add_account(db, "ws1-up", 1, phone_number="62811801641")
        add_account(db, "ws2-gone", 2, status="disconnected")
        ids = {r["session_id"]: int(r["id"]) for r in db.fetchall("SELECT id, session_id FROM whatsapp_accounts")}
        # the last week as the reconcile records it, every 5 minutes: ws1-up was down for 12 of the last
        # 288 checks (one hour) and for every 10th check before that; the newest check is the
        # reconcile's own, below
        rows = [(ids["ws1-up"], db.ts(now - timedelta(minutes=1 + 5 * n)), "ws1-up",
                 ("not_found" if 50 <= n < 62 else "connected") if n < 288 else
                 ("unreachable" if n % 10 == 0 else "connected")) for n in range(1, 7 * 288)]
        db.run(lambda cur: cur.executemany(db.insert_ignore(uptime.CHECKS, uptime.COLUMNS), rows))
        os.environ["AIRFLOW_CONN_WHATSAPP_SERVICE"] = standin.connection_json(timeout=5)
        try:
            reconcile(db, get_adapter(), now=now - timedelta(minutes=1))  # what the service says, and a check
        finally:
            del os.environ["AIRFLOW_CONN_WHATSAPP_SERVICE"]
    env = {f"AIRFLOW_CONN_{k.upper()}": v for k, v in uris.items()} | {
        "SYNC_CONFIG": str(config), "AIRFLOW_CONN_WHATSAPP_SERVICE": standin.connection_json(timeout=5),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": USERS}
    server = airflow_server_factory(env)
    up_7d = 288 - 12 + sum(1 for n in range(288, 7 * 288) if n % 10)
    yield {"server": server, "standin": standin, "ids": ids, "up_7d": up_7d}
    standin.stop()


def test_a_viewer_reads_the_uptime_but_cannot_reconnect(deployment):
    server, ids = deployment["server"], deployment["ids"]
    viewer = token(server, "vic")
    listing = call(server, "GET", "/api/whatsapp", viewer)
    assert listing.status_code == 200
    up = next(a for a in listing.json()["accounts"] if a["session_id"] == "ws1-up")["uptime"]
    assert (up["24h"]["up_checks"], up["24h"]["checks"], up["24h"]["percent"]) == (276, 288, 95.8)
    assert (up["7d"]["up_checks"], up["7d"]["checks"]) == (deployment["up_7d"], 2016)
    assert call(server, "POST", f"/api/whatsapp/{ids['ws1-failed']}/reconnect", viewer).status_code == 403
    assert call(server, "POST", "/api/whatsapp/reconnect", viewer, {"accounts": [ids["ws1-failed"]]}).status_code == 403
    page = call(server, "GET", "/whatsapp", viewer)
    assert page.status_code == 200 and "<button" not in page.text and "95.8 %" in page.text
    assert deployment["standin"].changing_requests == 0 and "reconnect_requested_by" not in metadata("ws1-failed")
    bad = call(server, "POST", "/api/whatsapp/reconnect", token(server, "oscar"), {"accounts": "all"})
    assert bad.status_code == 400 and "accounts" in bad.json()["detail"]


def test_reconnect_in_a_browser_as_an_operator(deployment, tmp_path):
    from selenium.webdriver.common.by import By

    server, standin, ids = deployment["server"], deployment["standin"], deployment["ids"]
    driver, wait = browser(server, "oscar", 1900, 760)

    def open_page() -> None:
        driver.get(f"{server.base_url}/backoffice/whatsapp")
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#sessions tr"))

    def row(session_id: str):
        return driver.find_element(By.CSS_SELECTOR, f'tr[data-session="{session_id}"]')

    def press(session_id: str) -> str:
        """Reconnect on the session's row; the answer the page shows."""
        driver.execute_script("document.getElementById('action-result').textContent = ''")
        row(session_id).find_element(By.CSS_SELECTOR, "button.reconnect").click()
        return wait.until(lambda d: d.find_element(By.ID, "action-result").text or None)

    try:
        open_page()
        assert "95.8 %" in row("ws1-up").find_element(By.CSS_SELECTOR, ".up24").text
        assert "276/288 checks" in row("ws1-up").find_element(By.CSS_SELECTOR, ".up24").text
        # a session WAHA holds FAILED: its restart call, as oscar
        answer = press("ws1-failed")
        assert "ws1-failed restarted in the service (asked by oscar)" in answer, answer
        assert ("POST", "/api/sessions/ws1-failed/restart") in standin.requests
        meta = metadata("ws1-failed")
        assert (meta["reconnect_requested_by"], meta["reconnect_requested_outcome"], meta["display_name"]) == (
            "oscar", "restarted", "Sales desk")
        assert meta["reconnect_triggered_by"] == "console:oscar"
        assert "0.0 %" in row("ws1-failed").find_element(By.CSS_SELECTOR, ".up24").text  # its one check: down
        # a connected session: refused, nothing sent
        before = standin.changing_requests
        answer = press("ws1-up")
        assert "409" in answer and "already connected" in answer, answer
        assert standin.changing_requests == before and "reconnect_requested_by" not in metadata("ws1-up")
        # the selected ones, in one request: the lost one created again, the connected one refused
        for session_id in ("ws2-gone", "ws1-up"):
            row(session_id).find_element(By.CSS_SELECTOR, "input.pick").click()
        driver.find_element(By.ID, "reconnect-selected").click()
        answer = wait.until(lambda d: d.find_element(By.ID, "action-result").text or None)
        assert "1 of 2 session(s) asked to reconnect" in answer and "ws2-gone created" in answer, answer
        assert standin.session("ws2-gone") is not None and metadata("ws2-gone")["reconnect_requested_by"] == "oscar"
        driver.get(f"{server.base_url}/backoffice/whatsapp")
        wait.until(lambda d: "by oscar" in row("ws1-failed").find_element(By.CSS_SELECTOR, ".asked").text)
        driver.save_screenshot(str(tmp_path / "whatsapp.png"))
        # the service down: a clear message, nothing changed
        before_rows = fetch("app_db", "SELECT id, status, metadata FROM whatsapp_accounts ORDER BY id")
        standin.set_mode("down")
        answer = press("ws1-failed")
        assert "503" in answer and "WhatsApp service is down, nothing was sent and nothing changed" in answer, answer
        assert fetch("app_db", "SELECT id, status, metadata FROM whatsapp_accounts ORDER BY id") == before_rows
        standin.set_mode("ok")
        # a viewer: the page without a single button
        driver.quit()
        driver, wait = browser(server, "vic")
        open_page()
        assert driver.find_elements(By.CSS_SELECTOR, "button") == []
        assert "95.8 %" in row("ws1-up").find_element(By.CSS_SELECTOR, ".up24").text
    finally:
        driver.quit()
    shutil.copy(tmp_path / "whatsapp.png", REPO / "docs" / "whatsapp.png")
    assert KEY not in json.dumps(fetch("app_db", "SELECT metadata FROM whatsapp_accounts"), default=str)
