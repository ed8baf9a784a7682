"""The console's pure parts and its reads, on a real SQLite tracking database (the demo's
embedded kind): request rules, counts derived from rows, a fixed statement count whatever the
rows, the history aggregates, the SVG charts, the exports and the pages."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timedelta, timezone

import openpyxl
import pytest

from include.branch_sync import tracking
from include.common.db import Database
from include.console import charts, pages, params, sync
from include.console.reader import read

T0 = datetime(2026, 11, 20, 1, 0, tzinfo=timezone.utc)


@pytest.fixture
def central(tmp_path, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_CONSOLE_CENTRAL", json.dumps({"conn_type": "sqlite",
                                                                  "host": str(tmp_path / "central.db")}))
    with Database("console_central") as db:
        tracking.ensure_schema(db)
        yield db


def add_batch(db, batch_id, pairs, started, status="completed", duration=60.0):
    """pairs: (connection, table, status, processed, duration, retries, error)"""
    db.execute("INSERT INTO sync_batches (batch_id, dag_id, run_id, status, total_tables, started_at, "
               "duration_seconds, updated_at) VALUES (%s, %s, %s, %s, 0, %s, %s, %s)",
               (batch_id, "branch_sync", f"manual__{batch_id}", status, db.ts(started), duration, db.ts(started)))
    for i, (conn, table, st, processed, dur, retries, error) in enumerate(pairs):
        db.execute("INSERT INTO sync_progress (batch_id, connection_name, table_name, model_name, status, "
                   "records_processed, duration_seconds, retry_count, error_message, task_id, map_index, updated_at) "
                   "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                   (batch_id, conn, table, table.title(), st, processed, dur, retries, error, f"step2.{conn}", i,
                    db.ts(started + timedelta(seconds=30))))


def test_request_rules_name_what_is_wrong():
    assert params.batch_id("sync_20251108_143052_aB3dEf9h") == "sync_20251108_143052_aB3dEf9h"
    for bad in ("sync_1", "x'; DROP TABLE sync_batches", "cert_20251108_143052_aB3dEf9h"):
        with pytest.raises(params.BadRequest, match="malformed sync batch id"):
            params.batch_id(bad)
    with pytest.raises(params.BadRequest, match="'page' must be a whole number"):
        params.sync_list({"page": "abc"})
    with pytest.raises(params.BadRequest, match="'per_page' must be from 1 to 500, not 0"):
        params.sync_list({"per_page": "0"})
    with pytest.raises(params.BadRequest, match="'status' must be one of running, completed"):
        params.sync_list({"status": "done"})
    with pytest.raises(params.BadRequest, match="'sort' must be one of"):
        params.sync_detail({"sort": "table_name; DELETE"})
    with pytest.raises(params.BadRequest, match="not a valid connection id"):
        params.sync_detail({"connection": "a b"})
    q = params.sync_detail({"sort": "-duration", "failed": "true"})
    assert (q.sort_column, q.descending, q.failed_only) == ("duration_seconds", True, True)


def test_list_counts_come_from_the_rows_and_statements_stay_fixed(central):
    add_batch(central, "sync_20261120_010000_aaaaaaaa", [("b1", "t1", "completed", 5, 1.0, 0, None)], T0)
    few = read(central, lambda r: sync.list_batches(r, params.sync_list({})))
    for n in range(1, 30):
        pairs = [("b1", f"t{i}", "failed" if i == 0 else "completed", 1000 * i, float(i), 1, "boom" if i == 0 else None)
                 for i in range(n % 7 + 1)]
        add_batch(central, f"sync_20261120_01{n:04d}_bbbbbbbb", pairs, T0 + timedelta(minutes=n),
                  status="failed" if pairs[0][2] == "failed" else "completed")
    data, statements = read(central, lambda r: sync.list_batches(r, params.sync_list({"per_page": "10"})))
    assert statements == few[1] == 2  # the job's page (counts derived in one statement) and the total
    assert data["total"] == 30 and len(data["batches"]) == 10
    newest = data["batches"][0]
    assert newest["batch_id"] == "sync_20261120_010029_bbbbbbbb"  # newest first
    assert (newest["total_tables"], newest["failed_tables"], newest["completed_tables"]) == (2, 1, 1)  # from rows
    failed, _ = read(central, lambda r: sync.list_batches(r, params.sync_list({"status": "failed"})))
    assert failed["total"] == 29 and {b["status"] for b in failed["batches"]} == {"failed"}


def test_detail_filters_sorts_and_counts(central):
    pairs = [("b1", "m_product", "completed", 15234, 3723.0, 0, None),
             ("b2", "m_product", "failed", 0, 2.0, 2, "relation m_product does not exist"),
             ("b1", "c_invoice", "in_progress", 100, None, 0, None),
             ("b2", "c_invoice", "pending", 0, None, 0, None)]
    add_batch(central, "sync_20261120_010000_cccccccc", pairs, T0, status="running")
    full, n = read(central, lambda r: sync.batch_detail(r, "sync_20261120_010000_cccccccc", params.sync_detail({})))
    # the page's five, its notices and its automatic resume attempts; no API given: no diagnosis
    assert n == 7 and full["stuck"] is None and full["auto_resume"] is None
    assert full["notifications"] == []  # no notice yet (not even the table)
    assert (full["total_tables"], full["completed_tables"], full["failed_tables"], full["in_progress_tables"],
            full["pending_tables"], full["progress_percentage"], full["records_processed"]) == (4, 1, 1, 1, 1, 25.0, 15334)
    assert full["connections"] == ["b1", "b2"] and full["tables_available"] == ["c_invoice", "m_product"]
    failed, _ = read(central, lambda r: sync.batch_detail(r, "sync_20261120_010000_cccccccc",
                                                          params.sync_detail({"failed": "1"})))
    assert [(t["connection_name"], t["error_message"]) for t in failed["tables"]] == [
        ("b2", "relation m_product does not exist")]
    assert failed["total_tables"] == 4  # counts cover every row, whatever the filter
    by_duration, _ = read(central, lambda r: sync.batch_detail(r, "sync_20261120_010000_cccccccc", params.sync_detail(
        {"sort": "-processed", "table": "m_product"})))
    assert [t["records_processed"] for t in by_duration["tables"]] == [15234, 0]
    with pytest.raises(LookupError, match="sync_20261120_010000_nothere1"):
        read(central, lambda r: sync.batch_detail(r, "sync_20261120_010000_nothere1", params.sync_detail({})))
    html = pages.sync_detail(full, {}, can_act=False)
    assert "15,234" in html and "01:02:03" in html and "1 of 4 tables, 25.0 %" in html
    assert "/dags/branch_sync/runs/manual__sync_20261120_010000_cccccccc/tasks/step2.b2/mapped/1" in html


def test_history_aggregates_over_the_last_batches(central):
    for n in range(4):
        add_batch(central, f"sync_20261120_0{n}0000_dddddddd",
                  [("b1", "slow", "completed", 10, 100.0 + n, 0, None),
                   ("b1", "flaky", "failed" if n % 2 else "completed", 1, 5.0, 3 if n % 2 else 0, "x" if n % 2 else None)],
                  T0 + timedelta(hours=n), duration=200.0 + n)
    data, statements = read(central, lambda r: sync.history(r, params.history({"batches": "3"})))
    assert statements == 5  # branch_sync.stats.sync_stats, the CLI's sync-stats
    assert data["table"] == "slow" and data["slowest_tables"][0]["avg_duration_seconds"] == pytest.approx(102.0)
    (flaky,) = data["most_failing_tables"]
    assert (flaky["table_name"], flaky["fail_count"], flaky["avg_retries"]) == ("flaky", 2, 3.0)
    assert {t["table_name"]: t["success_rate"] for t in data["success_rate"]} == {"flaky": pytest.approx(33.3),
                                                                                  "slow": 100.0}
    assert list(data["table_durations"]) == ["slow"]  # only the charted table's series
    assert [p["max_duration_seconds"] for p in data["table_durations"]["slow"]] == [101.0, 102.0, 103.0]  # oldest first
    html = pages.history(data, {})
    assert html.count("<svg") == 4 and "Success rate per table" in html


def _chart_svg(chart) -> str:
    from include.console.html import environment

    return environment.from_string('{% from "charts.html" import chart %}{{ chart(c) }}').render(c=chart)


def test_sub_second_durations_read_with_fractions_in_pages_and_charts(central):
    """A nightly incremental run: every table under a second. The history's slowest-tables chart
    and tables, the line chart's axis and the batch page say "0.42 s", not a column of zeros."""
    for n in range(3):
        add_batch(central, f"sync_20261120_0{n}0000_gggggggg",
                  [("b1", "fast", "completed", 10, 0.42, 0, None), ("b1", "faster", "completed", 1, 0.05, 0, None)],
                  T0 + timedelta(hours=n), duration=1.5)
    data, _ = read(central, lambda r: sync.history(r, params.history({})))
    html = pages.history(data, {})
    assert "00:00:00" not in html
    slow_chart = html[html.index("Slowest tables (average duration)"):html.index("</svg>")]
    assert ">0.42 s</text>" in slow_chart and ">0.05 s</text>" in slow_chart  # the bars' values
    assert ">1.50 s</text>" in html and ">2.00 s</text>" in html  # the batch durations' axis: 0 to 2 s
    assert '<td class="n">0.42 s</td>' in html  # the slowest table's average in the table below
    detail, _ = read(central, lambda r: sync.batch_detail(r, "sync_20261120_000000_gggggggg",
                                                         params.sync_detail({})))
    page = pages.sync_detail(detail, {}, can_act=False)
    assert '<td class="n dur">0.42 s</td>' in page and '<b id="s-duration">1.50 s</b>' in page


class FakeApi:
    def __init__(self, pools=None, fail=None):
        self._pools, self.fail, self.calls = pools or [], fail, 0

    def pools(self):
        self.calls += 1
        if self.fail:
            raise self.fail
        return self._pools

    def task_states(self, dag_id, run_id):
        return {}


def test_a_stuck_running_batch_says_why_on_its_page(central, monkeypatch):
    monkeypatch.setenv("SYNC_CONFIG", "/nonexistent/sync.yaml")  # the defaults: 600 s, pool sync_<connection>
    bid = "sync_20261120_010000_ffffffff"
    add_batch(central, bid, [("b1", "m_product", "completed", 5, 1.0, 0, None),
                             ("b9", "c_invoice", "pending", 0, None, 0, None)], T0, status="running")
    api = FakeApi(pools=[{"name": "sync_b1", "slots": 4, "open_slots": 4}])
    data, n = read(central, lambda r: sync.batch_detail(r, bid, params.sync_detail({}), api))
    assert n == 8 and api.calls == 1  # the page's five, its notices, resumes and the open pairs; the API once
    (finding,) = data["stuck"]["findings"]
    assert data["stuck_lines"][0].startswith("Stuck: 1 table(s) waiting to start")  # as sync-status says it
    assert finding["kind"] == "missing_pool" and finding["pool"] == "sync_b9"
    html = pages.sync_detail(data, {}, can_act=False)
    banner = html[html.index('id="stuck"'):html.index("</div>", html.index('id="stuck"'))]
    assert "Stuck: 1 table(s) waiting to start" in banner
    assert "pool &#39;sync_b9&#39; does not exist" in banner and "b9.c_invoice" in banner
    assert "fix: python -m include.cli pools --apply" in banner
    # the API refusing is one line saying the diagnosis is unavailable; the page still renders
    down, _ = read(central, lambda r: sync.batch_detail(r, bid, params.sync_detail({}), FakeApi(
        fail=ConnectionError("refused"))))
    html = pages.sync_detail(down, {}, can_act=False)
    assert "cannot tell why: the Airflow REST API is unreachable (ConnectionError: refused)" in html
    assert '<li class="why"' not in html and "1 of 2 tables" in html and len(down["stuck_lines"]) == 1
    assert '<div id="stuck-slot"></div>' in pages.sync_detail({**down, "stuck_lines": []}, {}, can_act=False)
    assert sync.stuck_text({"unavailable": "x", "waiting_pairs": None}) == ["Stuck diagnosis unavailable: x"]


def test_charts_scale_split_at_gaps_and_escape():
    assert [charts.nice_max(v) for v in (0.3, 1, 7, 12, 95, 101, 3600)] == [0.5, 1, 10, 20, 100, 200, 5000]
    line = charts.line_chart([("a<b", 1.0), ("b", None), ("c", 3.0)], title="t & u", y_label="s")
    assert len(line.segments) == 2 and [len(s) for s in line.segments] == [1, 1]  # a gap splits the line
    assert [label for _, label in line.grid] == ["0", "1.25", "2.5", "3.75", "5"]  # 3 rounds up to an axis of 5
    assert line.grid[0][0] > line.grid[-1][0]  # SVG y grows downwards: 0 at the bottom
    bars = charts.bar_chart([("x", 50.0), ("y", 100.0)], title="b", top=100)
    assert bars.bars[1].width == 2 * bars.bars[0].width
    svg = _chart_svg(line)
    assert "a&lt;b" in svg and "t &amp; u" in svg and svg.count("<polyline") == 2 and "<circle" in svg
    assert "No data yet" in _chart_svg(charts.bar_chart([], title="x"))


def test_downloads_are_the_jobs_report_sheets_with_formula_text_kept_as_text(central):
    from include.console.downloads import export_batch

    bid = "sync_20261120_010000_eeeeeeee"
    add_batch(central, bid, [("b1", "=cmd|' /C calc'!A0", "failed", 15234, 3723.0, 2, "@SUM(1)"),
                             ("b2", "m_product", "completed", 7, 1.5, 0, None)], T0, status="failed")
    book = openpyxl.load_workbook(io.BytesIO(export_batch(central, "sync", bid, "xlsx")))
    sheet = book["Tables"]
    assert sheet.freeze_panes == "A2" and sheet.auto_filter.ref == "A1:M3"
    rows = [[c.value for c in r] for r in sheet.iter_rows(min_row=2)]
    assert [(r[0], r[1], r[3], r[4]) for r in rows] == [("b1", "=cmd|' /C calc'!A0", "failed", 15234),
                                                        ("b2", "m_product", "completed", 7)]  # exactly the rows
    assert sheet["B2"].data_type == "s" and sheet["M2"].value == "@SUM(1)" and sheet["M2"].data_type == "s"
    assert sheet["E2"].data_type == "n" and sheet["J2"].number_format == "[h]:mm:ss"
    assert sheet["J2"].value == timedelta(seconds=3723)  # a real duration, read back as one
    summary = book["Summary"]
    assert summary.freeze_panes == "A2" and summary["A2"].value == bid and summary["F2"].value == 2
    text = export_batch(central, "sync", bid, "csv").decode("utf-8-sig")
    header, record, _ = list(csv.reader(io.StringIO(text)))
    assert header[9] == "Duration (s)" and record[9] == "3723"
    assert record[1] == "'=cmd|' /C calc'!A0" and record[12] == "'@SUM(1)" and record[4] == "15234"
    import pypdf

    pdf = pypdf.PdfReader(io.BytesIO(export_batch(central, "sync", bid, "pdf")))
    text = "\n".join(page.extract_text() for page in pdf.pages)
    assert bid in text and "Tables (2 rows)" in text and "true as of 2026-11-20 01:00:30 UTC" in text
    assert "b1 =cmd|' /C calc'!A0" in text and "b2 m_product" in text and "@SUM(1)" in text  # text, nothing runs
    with pytest.raises(LookupError, match="sync_20261120_010000_nothere1"):
        export_batch(central, "sync", "sync_20261120_010000_nothere1", "xlsx")


def test_the_batch_page_shows_what_the_operators_were_told(central):
    """A notice sent by e-mail and one whose webhook failed (retried by health_reconcile) appear in
    the JSON and on the page, as ``sync-status`` shows them."""
    from include.common.notify import store
    from include.console import pages

    bid = "sync_20261120_010000_dddddddd"
    add_batch(central, bid, [("b1", "m_product", "failed", 0, 1.0, 0, "boom")], T0, status="failed")
    store.ensure_schema(central)
    for channel, error in (("email", None), ("webhook", "HTTP 500 from the webhook")):
        assert store.claim(central, bid, "failed", channel, "branch_sync")
        store.record(central, bid, "failed", channel, error)
    data, n = read(central, lambda r: sync.batch_detail(r, bid, params.sync_detail({})))
    assert n == 7
    assert {(x["channel"], x["state"], x["last_error"]) for x in data["notifications"]} == {
        ("email", "sent", None), ("webhook", "failed", "HTTP 500 from the webhook")}
    html = pages.sync_detail(data, {}, can_act=False)
    assert "<h2>Notifications</h2>" in html and "HTTP 500 from the webhook" in html
    assert "<h2>Notifications</h2>" not in pages.sync_detail({**data, "notifications": []}, {}, can_act=False)


def test_a_batch_out_of_automatic_resume_attempts_says_so_on_its_page(central):
    bid = "sync_20261120_010000_rrrrrrrr"
    add_batch(central, bid, [("b1", "c_invoice", "failed", 0, None, 1, "interrupted: the DAG run no longer exists")],
              T0, status="interrupted")
    for attempt in (1, 2):
        central.execute(f"INSERT INTO {tracking.RESUMES} (batch_id, attempt, max_attempts, triggered_by, api_user, "
                        "attempted_at, dag_id, run_id, outcome, updated_at) VALUES (%s, %s, 2, %s, 'admin', %s, "
                        "'branch_sync', %s, 'triggered', %s)",
                        (bid, attempt, f"health_reconcile:scheduled__{attempt}", central.ts(T0),
                         f"auto_resume__{bid}__{attempt}", central.ts(T0)))
    data, _ = read(central, lambda r: sync.batch_detail(r, bid, params.sync_detail({})))
    assert data["auto_resume"]["exhausted"] and data["auto_resume"]["used"] == 2
    page = pages.sync_detail(data, {}, can_act=True)
    assert 'id="auto-resume"' in page and f"auto_resume__{bid}__2" in page
    assert f"out of attempts (2 of 2 used); resume it by hand: trigger branch_sync with resume={bid}" in page
