"""The Back office console on a running Airflow (api-server, scheduler, dag-processor on
PostgreSQL metadata) with real batches made by real runs: branch_sync into a PostgreSQL central
database (one pair fails: a branch lacks the table) and certificate_dispatch into MariaDB. Checked
over HTTP (auth, numbers against the tracking tables, filters, 400/404, resume as viewer and op, the
PDF reports read back with pypdf, bad uploads refused before anything is stored or run) and in
headless Chromium (log in, the nav entry, every page, filter to failed, Resume until complete, then
a sync_verify run after drift made by hand in central and its Verification page, a participants file
uploaded through the form, previewed and started, until its batch completes)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import requests

from include.common.db import Database
from include.common.text import format_duration, format_ts
from include.demo import data as demo_data
from tests.integration.sync_helpers import fetch, run_sql, write_config

REPO = Path(__file__).resolve().parents[2]
SYNC = "branch_sync"
CERT = "certificate_dispatch"
VERIFY = "sync_verify"
DRIFTED = ("pgsql_aa", "c_invoice")  # the pair whose central rows the browser test edits by hand
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
UPLOAD_LIMIT = 200_000  # CERTIFICATE_UPLOAD_MAX_BYTES of this deployment
HOSTILE = "<script>alert(1)</script> Budi"


def token(server, user: str) -> str:
    passwords = json.loads((server.home / "simple_auth_manager_passwords.json").read_text())
    resp = requests.post(f"{server.base_url}/auth/token", json={"username": user, "password": passwords[user]},
                         timeout=30)
    assert resp.status_code == 201, resp.text
    return resp.json()["access_token"]


def pdf_text(data: bytes) -> str:
    """The text of every page, as a standard extractor (pypdf) reads it, without whitespace: a value
    too long for its column wraps, a word longer than the column breaks (compare with :func:`bare`)."""
    import io

    import pypdf

    return "".join(bare(page.extract_text()) for page in pypdf.PdfReader(io.BytesIO(data)).pages)


def bare(text: str) -> str:
    return "".join(str(text).split())


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
        "CERTIFICATE_UPLOAD_MAX_BYTES": str(UPLOAD_LIMIT),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": USERS, "E2E_DAG_SCOPES": SCOPES,
        "AIRFLOW__CORE__AUTH_MANAGER": "tests.e2e.dag_scoped_auth_manager.DagScopedAuthManager"}
    server = airflow_server_factory(env)
    for conn in ("pgsql_aa", "pgsql_bb"):
        server.api("POST", "pools", json={"name": f"sync_{conn}", "slots": 2})
    server.wait_for_dag(SYNC)
    server.wait_for_dag(CERT)
    server.wait_for_dag(VERIFY)
    server.unpause(SYNC)
    server.unpause(CERT)
    server.unpause(VERIFY)
    run_sql("pgsql_bb", "ALTER TABLE c_invoice RENAME TO c_invoice_moved")  # one pair fails
    sync_run = server.trigger(SYNC, {})
    cert_run = server.trigger(CERT, {"data_source": "file", "file": "hadir.csv", "event_name": "Rapat",
                                     "event_date": "2026-11-23", "chunk_size": 5})
    assert server.wait_for_run(SYNC, sync_run, timeout=300) == "failed", server.failure_report(SYNC, sync_run)
    assert server.wait_for_run(CERT, cert_run, timeout=300) == "success", server.failure_report(CERT, cert_run)
    (batch,) = fetch("central_db", "SELECT * FROM sync_batches WHERE run_id = %s", (sync_run,))
    (cert,) = fetch("app_db", "SELECT * FROM certificate_batches WHERE run_id = %s", (cert_run,))
    return {"server": server, "sync_run": sync_run, "batch": batch, "cert": cert, "output": output, "uploads": uploads}


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
    assert bid in text and "trueasof" in text and "Tables(5rows)" in text
    for s in stored.values():
        assert bare(f"{s['connection_name']} {s['table_name']} {s['model_name']}") in text, s
    text = pdf_text(get(server, f"/certificates/{cert['batch_id']}/export.pdf", viewer).content)
    people = fetch("app_db", "SELECT participant_name, error_message FROM certificates WHERE batch_id = %s",
                   (cert["batch_id"],))
    assert cert["batch_id"] in text and len(people) == 13
    for person in people:
        assert bare(person["participant_name"] or person["error_message"]) in text, person
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


def browser(server, user: str, width: int = 1400, height: int = 1000):
    """Headless Chromium signed in to the deployment as ``user``."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    passwords = json.loads((server.home / "simple_auth_manager_passwords.json").read_text())
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", f"--window-size={width},{height}"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    wait = WebDriverWait(driver, 60)
    try:
        driver.get(f"{server.base_url}/auth/login")
        wait.until(lambda d: d.find_elements(By.NAME, "username"))
        driver.find_element(By.NAME, "username").send_keys(user)
        driver.find_element(By.NAME, "password").send_keys(passwords[user])
        driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        wait.until(lambda d: d.get_cookie("_token"))
    except BaseException:
        driver.quit()
        raise
    return driver, wait


def drift_central_and_verify(server) -> tuple[str, list[int], list[int]]:
    """Real drift in central: one synced row of :data:`DRIFTED` edited by hand, another deleted, then
    one ``sync_verify`` run (repair is off by default, so the drift stays to be seen). The two oldest
    rows by cursor are taken: far behind the sync's watermark, they are drift, not *not yet synced*.
    Returns the run id and the keys changed and deleted."""
    conn, table = DRIFTED
    oldest = [r["c_invoice_id"] for r in fetch(
        "central_db", f"SELECT c_invoice_id FROM {table} WHERE sync_branch = %s ORDER BY updated, c_invoice_id "
                      "LIMIT 2", (conn,))]
    changed, deleted = oldest[:1], oldest[1:]
    run_sql("central_db",
            f"UPDATE {table} SET documentno = documentno || ' (hand edit)' WHERE sync_branch = %s "
            "AND c_invoice_id = %s",
            f"DELETE FROM {table} WHERE sync_branch = %s AND c_invoice_id = %s",
            params=[(conn, changed[0]), (conn, deleted[0])])
    run = server.trigger(VERIFY, {})
    # generous: another agent may load this 2-core machine; the run itself takes seconds
    assert server.wait_for_run(VERIFY, run, timeout=600) == "success", server.failure_report(VERIFY, run)
    return run, changed, deleted


def row_counts(conn: str, table: str) -> tuple[int, int]:
    """Rows of the pair at the branch and in central (a table read from every branch lands in central
    with its ``sync_branch``)."""
    (branch,) = fetch(conn, f"SELECT COUNT(*) AS n FROM {table}")
    per_branch = not any(t["table"] == table and "single_source" in t for t in TABLES)
    where, params = (" WHERE sync_branch = %s", (conn,)) if per_branch else ("", ())
    (central,) = fetch("central_db", f"SELECT COUNT(*) AS n FROM {table}{where}", params)
    return branch["n"], central["n"]


def test_browser_login_pages_filter_and_resume(console, tmp_path):
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    server, bid = console["server"], console["batch"]["batch_id"]
    driver, wait = browser(server, "oscar")
    shots = []

    def shot(name: str) -> None:
        path = tmp_path / f"{name}.png"
        driver.save_screenshot(str(path))
        shots.append(path)

    try:
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
        # the batch complete, central is made to drift by hand and sync_verify runs once: what it stored
        # must be what was changed, and the Verification page must show an operator exactly that
        verify_run, changed, deleted = drift_central_and_verify(server)
        stored = {(r["connection_name"], r["table_name"]): r for r in fetch(
            "central_db", "SELECT * FROM sync_verifications WHERE run_id = %s", (verify_run,))}
        synced = {(r["connection_name"], r["table_name"]) for r in fetch(
            "central_db", "SELECT connection_name, table_name FROM sync_progress WHERE batch_id = %s", (bid,))}
        assert set(stored) == synced and len({r["verification_id"] for r in stored.values()}) == 1
        for pair, r in stored.items():
            branch_rows, central_rows = row_counts(*pair)
            drift = pair == DRIFTED
            assert central_rows == branch_rows - (len(deleted) if drift else 0), pair  # the drift is real
            assert (r["status"], r["branch_rows"], r["central_rows"], r["missing_rows"], r["extra_rows"],
                    r["changed_rows"], r["not_yet_synced"], r["repaired_rows"]) == (
                "drift" if drift else "clean", branch_rows, central_rows, len(deleted) if drift else 0, 0,
                len(changed) if drift else 0, 0, 0), (pair, r)
        sample = json.loads(stored[DRIFTED]["sample_keys"])
        assert sorted((s["kind"], s["key"]["c_invoice_id"], tuple(s.get("columns") or ())) for s in sample) == sorted(
            [("changed", k, ("documentno",)) for k in changed] + [("missing", k, ()) for k in deleted])
        driver.get(f"{server.base_url}/backoffice/verify")
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "tr[data-pair]"))
        assert f"{len(stored)} tables verified; 1 with drift not repaired" in driver.find_element(
            By.CSS_SELECTOR, "p.truth").text
        heads = [th.text for th in driver.find_elements(By.XPATH, "//tr[@data-pair]/ancestor::table[1]/thead//th")]
        shown = driver.find_elements(By.CSS_SELECTOR, "tr[data-pair]")
        assert sorted(row.get_attribute("data-pair") for row in shown) == sorted(f"{c}.{t}" for c, t in stored)
        for (conn, table), r in stored.items():
            row = driver.find_element(By.CSS_SELECTOR, f'tr[data-pair="{conn}.{table}"]')
            cells = dict(zip(heads, (td.text for td in row.find_elements(By.TAG_NAME, "td")), strict=True))
            assert row.find_element(By.CSS_SELECTOR, ".badge").get_attribute("data-status") == r["status"]
            assert ("drift" in row.get_attribute("class").split()) == ((conn, table) == DRIFTED)
            assert {h: cells[h] for h in ("At branch", "In central", "Missing", "Extra", "Changed", "Not yet synced",
                                          "Repaired", "Verification", "Finished", "Duration")} == {
                "At branch": f"{r['branch_rows']:,}", "In central": f"{r['central_rows']:,}",
                "Missing": f"{r['missing_rows']:,}", "Extra": f"{r['extra_rows']:,}",
                "Changed": f"{r['changed_rows']:,}", "Not yet synced": f"{r['not_yet_synced']:,}",
                "Repaired": f"{r['repaired_rows']:,}", "Verification": r["verification_id"],
                "Finished": format_ts(r["completed_at"]), "Duration": format_duration(r["duration_seconds"])}, (
                conn, table)
            # only a count that differs is marked: a 0 in a drifted row is not drift
            marked = {h for h, td in zip(heads, row.find_elements(By.TAG_NAME, "td"))
                      if "hot" in td.get_attribute("class").split()}
            assert marked == {h for h, k in (("Missing", "missing_rows"), ("Extra", "extra_rows"),
                                             ("Changed", "changed_rows")) if r["status"] == "drift" and r[k]}
        # every column, Duration the last, fits the window: nothing to scroll to in the screenshot
        assert driver.execute_script("const e = document.documentElement; return e.scrollWidth <= e.clientWidth")
        shot("verification")
        # the drifted pair's run page names the keys that differ
        driver.find_element(By.CSS_SELECTOR, f'tr[data-pair="{DRIFTED[0]}.{DRIFTED[1]}"] a').click()
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, ".card"))
        card = driver.find_element(By.CSS_SELECTOR, ".card").text
        lines = card.splitlines()
        assert lines[0] == f"{DRIFTED[0]}.{DRIFTED[1]}", card
        assert sorted(lines[1:]) == sorted(f"{s['kind']}: {json.dumps(s['key'], ensure_ascii=False)}"
                                           + (f" ({', '.join(s['columns'])})" if s.get("columns") else "")
                                           for s in sample), card
    finally:
        driver.quit()
    (after,) = fetch("central_db", "SELECT * FROM sync_batches WHERE batch_id = %s", (bid,))
    assert (after["status"], after["completed_tables"], after["failed_tables"]) == ("completed", 5, 0)
    shutil.copy(tmp_path / "console-list.png", REPO / "docs" / "console.png")
    shutil.copy(tmp_path / "verification.png", REPO / "docs" / "console-verification.png")
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


def uploaded_files(console) -> set[str]:
    return {str(p.relative_to(console["uploads"])) for p in console["uploads"].rglob("*") if p.is_file()}


def cert_runs(server) -> list[str]:
    runs = server.api("GET", f"dags/{CERT}/dagRuns", params={"limit": 100})["dag_runs"]
    return sorted(r["dag_run_id"] for r in runs)


def upload_form(server, tok: str | None, name: str, data: bytes, **fields):
    headers = {"Authorization": f"Bearer {tok}"} if tok else {}
    form = {"event_name": "Rapat", "event_date": "2026-11-23", "chunk_size": "5", **fields}
    return requests.post(f"{server.base_url}/backoffice/certificates/new", headers=headers, data=form,
                         files={"file": (name, data)}, timeout=120, allow_redirects=False)


def test_bad_uploads_are_refused_with_the_reason_before_anything_is_stored_or_run(console):
    server = console["server"]
    op, viewer = token(server, "oscar"), token(server, "vic")
    files, runs = uploaded_files(console), cert_runs(server)
    good = "Nama,Email\nAna,ana@example.com\n".encode()
    refused = [
        (("../../../etc/cron.d/peserta.csv", good), 400, "the file name holds a path"),
        (("..\\..\\Windows\\peserta.csv", good), 400, "the file name holds a path"),
        (("peserta.csv:secret", good), 400, "':' (a drive or a stream) is not allowed"),
        (("peserta.csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(300)), 415, "NUL bytes"),
        (("peserta.xlsx", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj"), 415, "this is a PDF document"),
        (("peserta.csv", b"Nama,Email\n" + b"Ana,ana@example.com\n" * 12_000), 413, "larger than the limit of 200,000 bytes"),
        (("peserta.csv", b"No,Email\n1,ana@example.com\n"), 422, "no header row with a name column"),
    ]
    for (name, data), status, reason in refused:
        resp = upload_form(server, op, name, data)
        assert resp.status_code == status and reason in resp.text.replace("&#39;", "'"), (name, resp.status_code,
                                                                                          resp.text[-1500:])
        assert "Refused, nothing was stored or run" in resp.text
    assert upload_form(server, op, "p.csv", good, event_date="23/11/2026").status_code == 400
    # too large is refused from the request's declared size, before its body is read
    big = upload_form(server, op, "big.csv", b"Nama\n" + b"x" * (UPLOAD_LIMIT + 100_000))
    assert big.status_code == 413 and "larger than the limit" in big.text
    # a viewer may not start a batch: no button, 403 on the form and on the post
    assert get(server, "/certificates/new", viewer).status_code == 403
    assert upload_form(server, viewer, "p.csv", good).status_code == 403
    assert 'id="new-batch"' not in get(server, "/certificates", viewer).text
    assert 'id="new-batch"' in get(server, "/certificates", op).text
    # a form posted from another site is refused
    cross = requests.post(f"{server.base_url}/backoffice/certificates/new/start",
                          headers={"Authorization": f"Bearer {op}", "Origin": "https://evil.example"},
                          data={"file": "hadir.csv", "event_name": "x", "event_date": "2026-11-23"}, timeout=60)
    assert cross.status_code == 403
    # a confirmation may only name a file inside the upload base
    outside = requests.post(f"{server.base_url}/backoffice/certificates/new/start",
                            headers={"Authorization": f"Bearer {op}"}, timeout=60, allow_redirects=False,
                            data={"file": "../sync.yaml", "event_name": "x", "event_date": "2026-11-23"})
    assert outside.status_code == 400 and "outside the upload base" in outside.text
    assert uploaded_files(console) == files and cert_runs(server) == runs  # nothing stored, nothing run


def test_browser_upload_preview_start_until_the_batch_completes(console, tmp_path):
    """A participants workbook uploaded through the console's form in a real browser: the preview
    says what the reader found; Start triggers certificate_dispatch as the signed-in user and the
    browser lands on the batch's page, which completes; its PDF report holds every row."""
    import openpyxl
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    server = console["server"]
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "Peserta"
    for row in [["Daftar Hadir Pelatihan K3"], [], ["No", "Nama Lengkap", "Email", "Instansi"],
                *[[i, f"Peserta Unggah {i}", f"u{i}@example.com", "PT Maju"] for i in range(1, 8)],
                [8, HOSTILE, "budi@example.com", "PT <b>Maju</b>"], [9, None, "kosong@example.com", None],
                [10, "张伟", "zhang@example.com", None]]:
        sheet.append(row)
    path = tmp_path / "Daftar Hadir K3.xlsx"
    workbook.save(path)
    files, runs = uploaded_files(console), cert_runs(server)
    driver, wait = browser(server, "oscar", height=1700)  # the preview whole, its Start button too
    try:
        driver.get(f"{server.base_url}/backoffice/certificates")
        wait.until(lambda d: d.find_element(By.ID, "new-batch")).click()
        wait.until(lambda d: d.find_elements(By.ID, "upload-form"))
        # first a scan saved under a .csv name: refused with the reason, the form kept as filled in
        scan = tmp_path / "daftar hadir.csv"
        scan.write_bytes(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n")
        driver.find_element(By.ID, "file").send_keys(str(scan))
        driver.find_element(By.ID, "event_name").send_keys("Pelatihan K3 Gudang")
        driver.execute_script("document.getElementById('event_date').value = '2026-11-23'")
        driver.find_element(By.ID, "chunk_size").clear()
        driver.find_element(By.ID, "chunk_size").send_keys("4")
        driver.find_element(By.ID, "read-file").click()
        refused = wait.until(lambda d: d.find_element(By.ID, "refused"))
        assert "daftar hadir.csv: this is a PDF document" in refused.text, refused.text
        assert driver.find_element(By.ID, "event_name").get_attribute("value") == "Pelatihan K3 Gudang"
        assert uploaded_files(console) == files
        driver.save_screenshot(str(REPO / "docs" / "console-upload-refused.png"))
        driver.find_element(By.ID, "file").send_keys(str(path))
        driver.find_element(By.ID, "read-file").click()
        found = wait.until(lambda d: d.find_element(By.ID, "found"))
        assert "8 participants will get a certificate; 2 rows will fail" in found.text, found.text
        body = driver.find_element(By.TAG_NAME, "body").text
        assert "Excel workbook (.xlsx)" in body and "sheet 'Peserta'" in body and "Header row\n3" in body
        columns = driver.find_element(By.ID, "columns").text
        assert "B Nama Lengkap name" in columns and "A No kept as an extra column" in columns
        first = driver.find_element(By.ID, "first-rows").text
        assert "Peserta Unggah 1" in first and HOSTILE in first  # shown as text, not run
        problems = driver.find_element(By.ID, "problems").text
        assert "12 Nama Lengkap the name is empty recorded failed by prepare" in problems, problems
        assert "cannot be printed on the certificate" in problems and "fails at generate" in problems
        stored = driver.find_element(By.ID, "stored").text
        assert stored.startswith("console/") and stored.endswith("/Daftar Hadir K3.xlsx")
        assert uploaded_files(console) == files | {stored} and cert_runs(server) == runs  # stored, not run yet
        driver.save_screenshot(str(REPO / "docs" / "console-upload-preview.png"))
        driver.find_element(By.ID, "start").click()
        WebDriverWait(driver, 240, poll_frequency=2).until(lambda d: "/backoffice/certificates/cert_" in d.current_url)
        batch_id = driver.current_url.rsplit("/", 1)[1]
        WebDriverWait(driver, 300, poll_frequency=3).until(
            lambda d: (d.refresh() or True) and d.find_element(By.CSS_SELECTOR, ".summary .badge").get_attribute(
                "data-status") in ("completed", "completed_with_errors", "failed"))
        with pytest.raises(NoAlertPresentException):
            driver.switch_to.alert.text  # the hostile name ran nothing
        page = driver.find_element(By.TAG_NAME, "body").text
        assert HOSTILE in page and "Peserta Unggah 7" in page
        assert driver.find_element(By.ID, "download-pdf").get_attribute("href").endswith(f"/{batch_id}/export.pdf")
        driver.save_screenshot(str(REPO / "docs" / "console-certificate-batch.png"))
        cookie = driver.get_cookie("_token")["value"]
        pdf = requests.get(f"{server.base_url}/backoffice/certificates/{batch_id}/export.pdf",
                           cookies={"_token": cookie}, timeout=120)
        report = tmp_path / f"{batch_id}.pdf"
        report.write_bytes(pdf.content)
        driver.get(report.as_uri())  # Chromium's own PDF viewer
        import time

        time.sleep(3)
        driver.save_screenshot(str(REPO / "docs" / "console-report-pdf.png"))
    finally:
        driver.quit()
    (batch,) = fetch("app_db", "SELECT * FROM certificate_batches WHERE batch_id = %s", (batch_id,))
    assert (batch["status"], batch["total_participants"], batch["success_count"], batch["failed_count"]) == (
        "completed_with_errors", 10, 8, 2)
    assert batch["source_file"] == stored and batch["event_name"] == "Pelatihan K3 Gudang"
    (run,) = set(cert_runs(server)) - set(runs)
    assert batch["run_id"] == run and server.get_run(CERT, run)["conf"]["file"] == stored
    people = fetch("app_db", "SELECT participant_name, error_message, status FROM certificates WHERE batch_id = %s",
                   (batch_id,))
    text = pdf_text(pdf.content)
    assert batch_id in text and len(people) == 10
    for person in people:
        assert bare(person["participant_name"] or person["error_message"]) in text, person
