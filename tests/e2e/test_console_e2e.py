"""The Back office console on a running Airflow (api-server, scheduler, dag-processor on
PostgreSQL metadata) with real batches made by real runs: branch_sync into a PostgreSQL central
database (one pair fails: a branch lacks the table) and certificate_dispatch into MariaDB. Checked
over HTTP (auth, numbers against the tracking tables, filters, 400/404, resume as viewer and op) and
in headless Chromium (log in, the nav entry, every page, filter to failed, Resume until complete)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import requests

from include.common.db import Database
from include.common.text import format_duration
from include.demo import data as demo_data
from tests.integration.sync_helpers import fetch, run_sql, write_config

REPO = Path(__file__).resolve().parents[2]
SYNC = "branch_sync"
CERT = "certificate_dispatch"
TABLES = [
    {"table": "m_product", "model": "MProduct", "primary_key": ["m_product_id"], "cursor": "updated",
     "single_source": "pgsql_aa"},
    {"table": "c_invoice", "model": "CInvoice", "primary_key": ["c_invoice_id"], "cursor": "updated"},
    {"table": "m_pricelist", "model": "MPricelist", "primary_key": ["m_pricelist_id"]},
]
USERS = "admin:admin,vic:viewer,oscar:op,cora:op"
# cora operates certificate_dispatch only (tests/e2e/dag_scoped_auth_manager.py): the console must
# show her nothing of branch_sync or health_reconcile.
SCOPES = "cora:certificate_dispatch"


def token(server, user: str) -> str:
    passwords = json.loads((server.home / "simple_auth_manager_passwords.json").read_text())
    resp = requests.post(f"{server.base_url}/auth/token", json={"username": user, "password": passwords[user]},
                         timeout=30)
    assert resp.status_code == 201, resp.text
    return resp.json()["access_token"]


def pdf_text(data: bytes) -> str:
    """The text of every page, as a standard extractor (pypdf) reads it."""
    import io

    import pypdf

    return "\n".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(data)).pages)


def get(server, path: str, tok: str | None = None, **kw):
    headers = {"Authorization": f"Bearer {tok}"} if tok else {}
    return requests.get(f"{server.base_url}/backoffice{path}", headers=headers, timeout=60, **kw)


def post(server, path: str, tok: str | None = None):
    headers = {"Authorization": f"Bearer {tok}"} if tok else {}
    return requests.post(f"{server.base_url}/backoffice{path}", headers=headers, json={}, timeout=60)


@pytest.fixture(scope="module")
def console(airflow_server_factory, pg_database, mariadb_database, tmp_path_factory):
    import os

    uris = {"pgsql_aa": pg_database("con_aa"), "pgsql_bb": pg_database("con_bb"),
            "central_db": pg_database("con_c"), "app_db": mariadb_database("con_app")}
    for conn_id, uri in uris.items():
        os.environ[f"AIRFLOW_CONN_{conn_id.upper()}"] = uri
    for number, conn in enumerate(["pgsql_aa", "pgsql_bb"], start=1):
        with Database(conn) as db:
            demo_data.populate(db, number, {"m_product": 120, "c_invoice": 250, "m_pricelist": 12}
                               if conn == "pgsql_aa" else {"c_invoice": 180, "m_pricelist": 12})
    base = tmp_path_factory.mktemp("console")
    config = write_config(base / "sync.yaml", "central_db", ["pgsql_aa", "pgsql_bb"], TABLES, retries=0,
                          retry_delay_seconds=1)
    uploads, output = base / "uploads", base / "output"
    uploads.mkdir()
    lines = ["No,Nama,E-mail"] + [f"{i},Peserta {i},p{i}@example.com" for i in range(1, 13)] + ["13,,nobody@x.com"]
    (uploads / "hadir.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    env = {f"AIRFLOW_CONN_{k.upper()}": v for k, v in uris.items()} | {
        "SYNC_CONFIG": str(config), "CERTIFICATE_UPLOAD_BASE": str(uploads), "CERTIFICATE_OUTPUT_BASE": str(output),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": USERS, "E2E_DAG_SCOPES": SCOPES,
        "AIRFLOW__CORE__AUTH_MANAGER": "tests.e2e.dag_scoped_auth_manager.DagScopedAuthManager"}
    server = airflow_server_factory(env)
    for conn in ("pgsql_aa", "pgsql_bb"):
        server.api("POST", "pools", json={"name": f"sync_{conn}", "slots": 2})
    server.wait_for_dag(SYNC)
    server.wait_for_dag(CERT)
    server.unpause(SYNC)
    server.unpause(CERT)
    run_sql("pgsql_bb", "ALTER TABLE c_invoice RENAME TO c_invoice_moved")  # one pair fails
    sync_run = server.trigger(SYNC, {})
    cert_run = server.trigger(CERT, {"data_source": "file", "file": "hadir.csv", "event_name": "Rapat",
                                     "event_date": "2026-11-23", "chunk_size": 5})
    assert server.wait_for_run(SYNC, sync_run, timeout=300) == "failed", server.failure_report(SYNC, sync_run)
    assert server.wait_for_run(CERT, cert_run, timeout=300) == "success", server.failure_report(CERT, cert_run)
    (batch,) = fetch("central_db", "SELECT * FROM sync_batches WHERE run_id = %s", (sync_run,))
    (cert,) = fetch("app_db", "SELECT * FROM certificate_batches WHERE run_id = %s", (cert_run,))
    return {"server": server, "sync_run": sync_run, "batch": batch, "cert": cert, "output": output}


def test_auth_numbers_filters_and_bad_input(console):
    server, batch, cert = console["server"], console["batch"], console["cert"]
    bid = batch["batch_id"]
    viewer, op = token(server, "vic"), token(server, "oscar")
    assert get(server, "/api/sync/batches").status_code == 401
    assert get(server, "/api/sync/batches", "not-a-jwt").status_code == 403
    listing = get(server, "/api/sync/batches", viewer)
    assert listing.status_code == 200, listing.text
    (row,) = listing.json()["batches"]
    assert (row["batch_id"], row["status"], row["total_tables"], row["completed_tables"], row["failed_tables"]) == (
        bid, "failed", batch["total_tables"], batch["completed_tables"], batch["failed_tables"]) == (
        bid, "failed", 5, 4, 1)
    detail = get(server, f"/api/sync/batches/{bid}", viewer).json()
    stored = {(r["connection_name"], r["table_name"]): r for r in fetch(
        "central_db", "SELECT * FROM sync_progress WHERE batch_id = %s", (bid,))}
    assert len(detail["tables"]) == 5
    for t in detail["tables"]:
        s = stored[(t["connection_name"], t["table_name"])]
        assert (t["status"], t["records_processed"], t["retry_count"]) == (s["status"], s["records_processed"],
                                                                           s["retry_count"])
    assert detail["records_processed"] == sum(s["records_processed"] for s in stored.values())
    assert detail["stuck"] is None  # only a running batch is diagnosed
    failed = get(server, f"/api/sync/batches/{bid}", viewer, params={"failed": "true"}).json()
    assert [(t["connection_name"], t["table_name"]) for t in failed["tables"]] == [("pgsql_bb", "c_invoice")]
    one = get(server, f"/api/sync/batches/{bid}", viewer, params={"connection": "pgsql_aa", "sort": "-processed"}).json()
    assert {t["connection_name"] for t in one["tables"]} == {"pgsql_aa"} and len(one["tables"]) == 3
    assert [t["records_processed"] for t in one["tables"]] == sorted((t["records_processed"] for t in one["tables"]),
                                                                      reverse=True)
    missing = get(server, "/api/sync/batches/sync_20200101_000000_nothere1", viewer)
    assert missing.status_code == 404 and "sync_20200101_000000_nothere1" in missing.json()["detail"]
    assert get(server, "/api/sync/batches/1;drop", viewer).status_code == 400
    bad = get(server, "/api/sync/batches", viewer, params={"per_page": "-3"})
    assert bad.status_code == 400 and "per_page" in bad.json()["detail"]
    assert get(server, "/api/sync/batches", viewer, params={"status": "bogus"}).status_code == 400
    assert get(server, "/api/sync/history", viewer).json()["most_failing_tables"][0]["table_name"] == "c_invoice"
    # certificates (MariaDB): one bad source row, 12 generated
    c = get(server, f"/api/certificates/{cert['batch_id']}", viewer).json()
    assert (c["total_participants"], c["generated_count"], c["failed_count"], c["status"]) == (
        cert["total_participants"], cert["success_count"], cert["failed_count"], cert["status"]) == (
        13, 12, 1, "completed_with_errors")
    pdf = get(server, f"/certificates/{cert['batch_id']}/pdf/2", viewer)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert get(server, f"/certificates/{cert['batch_id']}/pdf/14", viewer).status_code == 404
    retry = post(server, f"/api/certificates/{cert['batch_id']}/retry", op)
    assert retry.status_code == 409 and "bad source row" in retry.json()["detail"]  # nothing a retry can fix
    # exports hold exactly the batch's rows
    import io

    import openpyxl

    book = openpyxl.load_workbook(io.BytesIO(get(server, f"/sync/{bid}/export.xlsx", viewer).content))
    assert book["Tables"].max_row == 1 + 5 and book["Summary"].max_row == 2
    assert get(server, f"/sync/{bid}/export.csv", viewer).text.count("\n") == 1 + 5
    # the PDF reports, read back with pypdf: the batch id, when it was true, every pair / participant
    report = get(server, f"/sync/{bid}/export.pdf", viewer)
    assert report.status_code == 200 and report.headers["content-type"] == "application/pdf"
    text = pdf_text(report.content)
    assert bid in text and "true as of" in text and "Tables (5 rows)" in text
    for s in stored.values():
        assert f"{s['connection_name']} {s['table_name']} {s['model_name']}" in text, s
    text = pdf_text(get(server, f"/certificates/{cert['batch_id']}/export.pdf", viewer).content)
    people = fetch("app_db", "SELECT participant_name, error_message FROM certificates WHERE batch_id = %s",
                   (cert["batch_id"],))
    assert cert["batch_id"] in text and len(people) == 13
    for person in people:
        assert (person["participant_name"] or person["error_message"]) in text, person
    assert get(server, f"/sync/{bid}/export.doc", viewer).status_code == 400
    assert get(server, "/api/whatsapp", viewer).status_code == 200
    # a viewer reads but cannot resume; the tab of the run leads to its batch
    assert post(server, f"/api/sync/batches/{bid}/resume", viewer).status_code == 403
    tab = get(server, f"/run/{SYNC}/{console['sync_run']}", viewer, allow_redirects=False)
    assert tab.status_code in (302, 307) and tab.headers["location"].endswith(f"/sync/{bid}")


def test_a_user_without_access_to_a_dag_sees_none_of_its_data(console):
    server, bid, cert = console["server"], console["batch"]["batch_id"], console["cert"]
    cora = token(server, "cora")
    # the auth manager really scopes her: Airflow's own API lists only her DAG
    dags = requests.get(f"{server.base_url}/api/v2/dags", headers={"Authorization": f"Bearer {cora}"}, timeout=60)
    assert dags.status_code == 200 and [d["dag_id"] for d in dags.json()["dags"]] == [CERT]
    refused = {path: get(server, path, cora) for path in (
        "/api/sync/batches", "/sync", f"/api/sync/batches/{bid}", f"/sync/{bid}", f"/sync/{bid}/export.xlsx",
        f"/sync/{bid}/export.csv", f"/sync/{bid}/export.pdf", "/api/sync/history", "/history", "/api/whatsapp", "/whatsapp",
        f"/run/{SYNC}/{console['sync_run']}")}
    for path, resp in refused.items():
        assert resp.status_code == 403, (path, resp.status_code)
        assert bid not in resp.text and "records_processed" not in resp.text and "pgsql_" not in resp.text, path
    assert post(server, f"/api/sync/batches/{bid}/resume", cora).status_code == 403
    # her own DAG's data she reads, and the console's home leads her there, not to a 403
    mine = get(server, f"/api/certificates/{cert['batch_id']}", cora)
    assert mine.status_code == 200 and mine.json()["generated_count"] == cert["success_count"]
    home = get(server, "/", cora, allow_redirects=False)
    assert home.status_code in (302, 307) and home.headers["location"].endswith("/certificates")
    assert get(server, "/", token(server, "vic"), allow_redirects=False).headers["location"].endswith("/sync")


def test_browser_login_pages_filter_and_resume(console, tmp_path):
    from selenium import webdriver
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    server, bid = console["server"], console["batch"]["batch_id"]
    passwords = json.loads((server.home / "simple_auth_manager_passwords.json").read_text())
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    wait = WebDriverWait(driver, 60)
    shots = []

    def shot(name: str) -> None:
        path = tmp_path / f"{name}.png"
        driver.save_screenshot(str(path))
        shots.append(path)

    try:
        driver.get(f"{server.base_url}/auth/login")
        wait.until(lambda d: d.find_elements(By.NAME, "username"))
        driver.find_element(By.NAME, "username").send_keys("oscar")
        driver.find_element(By.NAME, "password").send_keys(passwords["oscar"])
        driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        wait.until(lambda d: d.get_cookie("_token"))
        driver.get(f"{server.base_url}/")
        entry = wait.until(lambda d: d.find_elements(By.XPATH, "//a[contains(@href, '/plugin/backoffice')] | "
                                                               "//*[contains(@aria-label, 'Back office')]"))
        entry[0].click()
        wait.until(lambda d: d.find_elements(By.TAG_NAME, "iframe"))
        driver.switch_to.frame(driver.find_element(By.TAG_NAME, "iframe"))
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, f'tr[data-batch="{bid}"]'))
        driver.switch_to.default_content()
        shot("ui-nav-entry")
        # the pages themselves, as the iframe shows them
        driver.get(f"{server.base_url}/backoffice/sync")
        row = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, f'tr[data-batch="{bid}"]'))
        assert "4/5" in row.text and "failed" in row.text
        shot("sync-list")
        driver.get(f"{server.base_url}/backoffice/sync/{bid}")
        wait.until(lambda d: d.find_elements(By.ID, "pairs"))
        assert "4 of 5 tables, 80.0 %" in driver.find_element(By.ID, "truth").text
        # the live refresh writes durations as the server does (under a minute "0.42 s", then HH:MM:SS)
        samples = [0, 0.004, 0.42, 5, 59.5, 59.995, 60, 3723, 97389, -0.3, None]
        assert driver.execute_script(f"return {json.dumps(samples)}.map(duration)") == [
            format_duration(v) for v in samples]
        shot("sync-detail")
        driver.find_element(By.ID, "failed-only").click()
        wait.until(lambda d: "failed=true" in d.current_url)
        rows = driver.find_elements(By.CSS_SELECTOR, "#pairs tr")
        assert len(rows) == 1 and "pgsql_bb" in rows[0].text and "does not exist" in rows[0].text
        shot("sync-detail-failed")
        for page in ("history", "certificates", f"certificates/{console['cert']['batch_id']}", "whatsapp"):
            driver.get(f"{server.base_url}/backoffice/{page}")
            wait.until(lambda d: d.find_elements(By.TAG_NAME, "h1"))
            if page.startswith("certificates/"):
                body = driver.find_element(By.TAG_NAME, "body").text
                assert "Peserta 12" in body and "column 'Nama'" in body, body[:2000]
            shot(page.replace("/", "-"))
        # fix the source, press Resume, watch the batch complete without reloading
        run_sql("pgsql_bb", "ALTER TABLE c_invoice_moved RENAME TO c_invoice")
        driver.get(f"{server.base_url}/backoffice/sync/{bid}")
        wait.until(lambda d: d.find_element(By.ID, "resume")).click()
        result = wait.until(lambda d: d.find_element(By.ID, "action-result") if d.find_element(
            By.ID, "action-result").text else None)
        assert "Cleared" in result.text and "step2.pgsql_bb[0]" in result.text, result.text
        # the live refresh replaces the badge between finding it and reading it: a stale element is a retry
        WebDriverWait(driver, 240, poll_frequency=2, ignored_exceptions=(StaleElementReferenceException,)).until(
            lambda d: d.find_element(By.CSS_SELECTOR, "#s-status .badge").get_attribute("data-status") == "completed")
        assert "5 of 5 tables, 100.0 %" in driver.find_element(By.ID, "truth").text
        shot("sync-detail-resumed")
        driver.get(f"{server.base_url}/backoffice/sync")
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, f'tr[data-batch="{bid}"]'))
        shot("console-list")
    finally:
        driver.quit()
    (after,) = fetch("central_db", "SELECT * FROM sync_batches WHERE batch_id = %s", (bid,))
    assert (after["status"], after["completed_tables"], after["failed_tables"]) == ("completed", 5, 0)
    shutil.copy(tmp_path / "console-list.png", REPO / "docs" / "console.png")
    print("screenshots:", *shots, sep="\n  ")


def test_resume_triggers_a_new_run_when_the_batch_run_is_gone(console):
    """Resume on a failed batch whose DAG run was deleted: the console triggers branch_sync with
    resume=<batch_id>, the new run finishes the same batch and skips its completed pairs."""
    server = console["server"]
    op = token(server, "oscar")
    run_sql("pgsql_bb", "ALTER TABLE c_invoice RENAME TO c_invoice_moved")
    try:
        failed_run = server.trigger(SYNC, {})
        assert server.wait_for_run(SYNC, failed_run, timeout=300) == "failed", server.failure_report(SYNC, failed_run)
    finally:
        run_sql("pgsql_bb", "ALTER TABLE c_invoice_moved RENAME TO c_invoice")
    (batch,) = fetch("central_db", "SELECT * FROM sync_batches WHERE run_id = %s", (failed_run,))
    bid = batch["batch_id"]
    done_before = {(r["connection_name"], r["table_name"]): r["completed_at"] for r in fetch(
        "central_db", "SELECT * FROM sync_progress WHERE batch_id = %s AND status = 'completed'", (bid,))}
    assert len(done_before) == 4
    server.api("DELETE", f"dags/{SYNC}/dagRuns/{failed_run}", expect_json=False)
    resumed = post(server, f"/api/sync/batches/{bid}/resume", op)
    assert resumed.status_code == 200, resumed.text
    answer = resumed.json()
    assert answer["action"] == "triggered" and answer["run_id"] != failed_run and bid in answer["message"]
    new_run = server.get_run(SYNC, answer["run_id"])
    assert new_run["conf"] == {"resume": bid}
    assert server.wait_for_run(SYNC, answer["run_id"], timeout=300) == "success", server.failure_report(
        SYNC, answer["run_id"])
    (after,) = fetch("central_db", "SELECT * FROM sync_batches WHERE batch_id = %s", (bid,))
    assert (after["status"], after["completed_tables"], after["failed_tables"]) == ("completed", 5, 0)
    rows = fetch("central_db", "SELECT * FROM sync_progress WHERE batch_id = %s", (bid,))
    assert len(rows) == 5  # the same batch, no new rows
    for r in rows:  # the pairs completed before were skipped, not synced again
        if (r["connection_name"], r["table_name"]) in done_before:
            assert r["completed_at"] == done_before[(r["connection_name"], r["table_name"])]
    detail = get(server, f"/api/sync/batches/{bid}", op).json()
    assert detail["status"] == "completed" and detail["completed_tables"] == 5


def test_retry_failed_participants_regenerates_them(console):
    """A participant whose name the font cannot print fails alone; once the name is corrected,
    Retry clears that chunk (and finalize) of the same run and the batch completes."""
    server = console["server"]
    op = token(server, "oscar")
    uploads = Path(server.extra_env["CERTIFICATE_UPLOAD_BASE"])
    lines = ["No,Nama,E-mail"] + [f"{i},{'Peserta 名前' if i == 5 else f'Peserta {i}'},r{i}@example.com"
                                  for i in range(1, 7)]
    (uploads / "retry.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    run = server.trigger(CERT, {"data_source": "file", "file": "retry.csv", "event_name": "Rapat ulang",
                                "event_date": "2026-11-30", "chunk_size": 3})
    assert server.wait_for_run(CERT, run, timeout=300) == "success", server.failure_report(CERT, run)
    (batch,) = fetch("app_db", "SELECT * FROM certificate_batches WHERE run_id = %s", (run,))
    cid = batch["batch_id"]
    assert (batch["status"], batch["success_count"], batch["failed_count"]) == ("completed_with_errors", 5, 1)
    (bad,) = fetch("app_db", "SELECT * FROM certificates WHERE batch_id = %s AND status = 'failed'", (cid,))
    assert "名" in (bad["error_message"] or "")
    run_sql("app_db", "UPDATE certificates SET participant_name = 'Peserta Lima' WHERE batch_id = %s "
                      "AND status = 'failed'", params=[(cid,)])
    viewer = token(server, "vic")
    assert post(server, f"/api/certificates/{cid}/retry", viewer).status_code == 403
    retry = post(server, f"/api/certificates/{cid}/retry", op)
    assert retry.status_code == 200, retry.text
    answer = retry.json()
    assert answer["action"] == "cleared" and answer["chunks"] == [bad["chunk_index"]] and answer["run_id"] == run
    assert {(t["task_id"], t["map_index"]) for t in answer["task_instances"]} >= {("generate", bad["chunk_index"])}
    assert server.wait_for_run(CERT, run, timeout=300) == "success", server.failure_report(CERT, run)
    (after,) = fetch("app_db", "SELECT * FROM certificate_batches WHERE batch_id = %s", (cid,))
    assert (after["status"], after["success_count"], after["failed_count"]) == ("completed", 6, 0)
    pdf = get(server, f"/certificates/{cid}/pdf/{bad['row_number']}", viewer)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
