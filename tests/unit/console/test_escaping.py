"""A hostile value stored in any text column the console shows (a participant name, a table's model,
an error, a session id, a notice's error, ...) is shown as text on every page that shows it: the
templates escape by construction (Jinja2 autoescape), so no stored value can add markup or script.
Rows are real rows in a SQLite database, read by the console's own queries."""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from html.parser import HTMLParser

import pytest

from include.branch_sync import tracking
from include.certificates import batches as cert_batches
from include.common.db import Database
from include.common.notify import store
from include.console import certs, pages, params, sync
from include.health.whatsapp.accounts import add_account, ensure_accounts_table
from include.health.whatsapp.status import whatsapp_status

HOSTILE = "<script>alert(1)</script>\"'><img src=x onerror=alert(2)>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;&#34;&#39;&gt;&lt;img src=x onerror=alert(2)&gt;"
SYNC_ID, CERT_ID = "sync_20261120_010000_hostile1", "cert_20261120_010000_hostile1"
T0 = datetime(2026, 11, 20, 1, 0, tzinfo=timezone.utc)


class Markup(HTMLParser):
    """The elements of a page and its scripts' text."""

    def __init__(self, page: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[str] = []
        self._in_script = False
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_endtag(self, tag):
        self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.scripts.append(data)


def assert_shown_as_text(page: str, times: int) -> None:
    """The value appears escaped ``times`` times or more and never as markup: no element but the
    page's own, no attribute broken out of, no script holding it."""
    assert HOSTILE not in page and "<script>alert" not in page and "<img" not in page
    assert page.count(ESCAPED) >= times, (page.count(ESCAPED), times)
    parsed = Markup(page)
    assert not [t for t, _ in parsed.tags if t == "img"]
    assert not [k for _, attrs in parsed.tags for k, a in attrs.items() if k.startswith("on") and "alert(" in a]
    assert not [k for _, attrs in parsed.tags for k in attrs if k in ("onerror", "src")]
    assert not [s for s in parsed.scripts if "alert(" in s]


@pytest.fixture
def db(tmp_path, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_CONSOLE_HOSTILE", json.dumps({"conn_type": "sqlite",
                                                                   "host": str(tmp_path / "hostile.db")}))
    monkeypatch.setenv("CERTIFICATE_OUTPUT_BASE", str(tmp_path / "out"))
    with Database("console_hostile") as database:
        tracking.ensure_schema(database)
        cert_batches.ensure_schema(database)
        ensure_accounts_table(database)
        store.ensure_schema(database)
        yield database


def fill_sync(db: Database) -> None:
    db.execute("INSERT INTO sync_batches (batch_id, dag_id, run_id, status, total_tables, started_at, "
               "duration_seconds, error_message, updated_at) VALUES (%s, %s, %s, %s, 0, %s, %s, %s, %s)",
               (SYNC_ID, "branch_sync", HOSTILE, "failed", db.ts(T0), 12.5, HOSTILE, db.ts(T0)))
    db.execute("INSERT INTO sync_progress (batch_id, connection_name, table_name, model_name, status, "
               "records_processed, duration_seconds, retry_count, error_message, task_id, map_index, updated_at) "
               "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
               (SYNC_ID, "pgsql_a", HOSTILE, HOSTILE, "failed", 3, 0.4, 1, HOSTILE, HOSTILE, 0, db.ts(T0)))
    db.execute("INSERT INTO sync_progress (batch_id, connection_name, table_name, model_name, status, "
               "records_processed, duration_seconds, retry_count, updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s, "
               "%s, %s)", (SYNC_ID, "pgsql_b", HOSTILE, HOSTILE, "completed", 3, 0.4, 0, db.ts(T0)))
    assert store.claim(db, SYNC_ID, "failed", "webhook", "branch_sync")
    store.record(db, SYNC_ID, "failed", "webhook", HOSTILE)


def test_sync_pages_show_hostile_values_as_text(db):
    fill_sync(db)
    listing = sync.list_batches(db, params.sync_list({}))
    assert_shown_as_text(pages.sync_list(listing, {}), 0)  # the list shows ids and counts only
    detail = sync.batch_detail(db, SYNC_ID, params.sync_detail({}))
    detail["stuck_lines"] = [HOSTILE, f"- {HOSTILE}", f"fix: {HOSTILE}"]
    # the run id, the batch error, the table (cells, row keys, filter option), its model, its
    # error, the notice's error, the stuck banner's three lines (links carry it url-encoded)
    assert_shown_as_text(pages.sync_detail(detail, {}, can_act=True), 12)
    history = sync.history(db, params.history({}))
    # the table (the slowest) and its model in the three tables, the chooser and the title of its
    # chart; the bars' labels are cut to 26 characters (escaped too: no "<script>alert" anywhere)
    assert_shown_as_text(pages.history(history, {}), 6)


def test_certificate_pages_show_hostile_values_as_text(db):
    people = [cert_batches.Participant(2, HOSTILE, "x@example.com"),
              cert_batches.Participant(3, None, error=HOSTILE)]
    cert_batches.create_batch(db, CERT_ID, dag_id="certificate_dispatch", run_id=HOSTILE, data_source="file",
                              source_file=HOSTILE, event_name=HOSTILE, event_date="2026-11-20",
                              participants=people, chunk_size=10)
    listing = certs.list_batches(db, params.cert_list({}))
    assert_shown_as_text(pages.cert_list(listing, {}), 2)  # source file, event
    detail = certs.batch_detail(db, CERT_ID, params.cert_detail({}))
    # source, event, the run (text), the name, the bad row's error
    assert_shown_as_text(pages.cert_detail(detail, {}, can_act=True), 5)


def test_whatsapp_page_and_messages_show_hostile_values_as_text(db):
    add_account(db, HOSTILE, 7, status="disconnected", phone_number=HOSTILE,
                metadata={"reason": HOSTILE, "auto_disconnected_at": HOSTILE, "reconnect_requested_by": HOSTILE,
                          "reconnect_requested_outcome": HOSTILE})
    data = whatsapp_status(db, None, limit=100, offset=0)
    page = pages.whatsapp({**data, "page": 1, "per_page": 100}, {})
    assert_shown_as_text(page, 4)  # session, phone, reason, when
    assert "<button" not in page and "reconnect-selected" not in page  # a reader gets no button
    # with the right to act: the buttons, and the session id also in the row's data attribute and a label
    acting = pages.whatsapp({**data, "page": 1, "per_page": 100}, {}, can_act=True)
    assert_shown_as_text(acting, 7)  # and the user who asked for a reconnect, and what the service did
    assert 'id="reconnect-selected"' in acting and 'class="reconnect"' in acting
    assert_shown_as_text(pages.message(HOSTILE, HOSTILE), 3)  # title, heading, text


def test_request_values_echoed_in_links_stay_inside_their_attribute():
    """Filter values from the query string are carried into links: url-encoded, then escaped."""
    page = pages.cert_list({"status": None, "batches": [], "page": 1, "per_page": 50, "total": 0},
                           {"sort": HOSTILE})
    assert HOSTILE not in page and "<img" not in page
    assert re.search(r'href="/backoffice/certificates\?sort=%3Cscript%3E', page)


def test_verification_pages_show_hostile_values_as_text():
    from include.console import verify
    from tests.unit.console.test_verify_pages import _pair

    pair = {**_pair(HOSTILE, HOSTILE, "drift", changed=1,
                    sample=[{"kind": "changed", "key": {"code": HOSTILE}, "columns": [HOSTILE]}]),
            "error": HOSTILE, "note": HOSTILE}
    overview = verify.overview_page({"tables": [pair], "runs": []})
    assert_shown_as_text(overview, 2)  # the table and the connection (and both in the row's key)
    run = verify.run_page({"verification_id": "verify_20260101_010000_Ab12Cd34", "pairs": [pair]})
    # the pair's cells and card title, its error, note and sampled column; the key as JSON text
    assert_shown_as_text(run, 6)
    assert "&#34;code&#34;: &#34;&lt;script&gt;alert(1)&lt;/script&gt;" in run
