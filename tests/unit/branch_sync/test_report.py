"""Unit tests of include.branch_sync.report: the renderers over hand-made rows, no database."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from include.branch_sync import report as sr
from include.common import text as tx

ANSI = re.compile(r"\x1b\[[0-9;]*m")
UTC = timezone.utc
T0 = datetime(2025, 11, 8, 14, 30, 52, tzinfo=UTC)
BATCH_ID = "sync_20251108_143052_aB3dEf9h"


def progress_row(conn, table, status, *, records=0, duration=None, error=None, started=None, model=None):
    return {
        "batch_id": BATCH_ID, "connection_name": conn, "table_name": table, "model_name": model,
        "status": status, "records_processed": records, "records_skipped": 0, "records_deleted": 0,
        "error_message": error, "started_at": started, "completed_at": None, "duration_seconds": duration,
        "retry_count": 0, "task_id": f"sync.{table}", "map_index": None, "updated_at": None,
    }


@pytest.fixture
def batch():
    return {
        "batch_id": BATCH_ID, "dag_id": "branch_sync", "run_id": "manual__2025-11-08T14:30:52",
        "status": "running", "total_tables": 120, "completed_tables": 0, "failed_tables": 0,
        "skipped_tables": 0, "command_options": '{"connections": ["pgsql_lmp"], "skip_step1": false}',
        "error_message": None, "started_at": "2025-11-08 14:30:52+00:00", "completed_at": None,
        "duration_seconds": None, "updated_at": T0,
    }


@pytest.fixture
def progress():
    return [
        progress_row("pgsql_lmp", "ad_org", "completed", records=17, duration=5, started=T0, model="AdOrg"),
        progress_row("pgsql_sby", "m_product", "completed", records=15234, duration=135.4, started=T0,
                     model="MProduct"),
        progress_row("pgsql_bdg", "c_invoice", "in_progress", records=999, started=T0, model="CInvoice"),
        progress_row("pgsql_jkt", "c_order", "failed", records=50, duration=90,
                     error="Connection timed out\nwhile reading chunk 7 of c_order from 10.1.2.3:5432 "
                           "(server closed the connection unexpectedly)", started=T0, model="COrder"),
        progress_row("pgsql_jkt", "c_bpartner", "pending", model="CBPartner"),
        progress_row("pgsql_lmp", "m_locator", "skipped", model="MLocator"),
    ]


def table_lines(text):
    return [line for line in text.splitlines() if line.startswith(("│", "┌", "├", "└"))]


def data_rows(text):
    """The cells of each body row of the (only) table in ``text``."""
    lines = table_lines(ANSI.sub("", text))
    body = lines[3:-1]
    return [[c.strip() for c in line.strip("│").split("│")] for line in body]


# -- formatters ------------------------------------------------------------------------------------
@pytest.mark.parametrize("seconds, expected", [
    # under a minute: seconds with two decimals (a nightly run's sub-second tables are not zeros)
    (0, "0.00 s"), (0.004, "0.00 s"), (0.005, "0.01 s"), (0.42, "0.42 s"), (5, "5.00 s"), ("42.0", "42.00 s"),
    (59.5, "59.50 s"), (59.994, "59.99 s"), (-0.3, "-0.30 s"), (-0.001, "0.00 s"),
    # from a minute on (also what rounds up to it): the seed's HH:MM:SS
    (59.995, "00:01:00"), (60, "00:01:00"), (135.4, "00:02:15"), (3600, "01:00:00"), (86399, "23:59:59"),
    (97389, "27:03:09"), (360000, "100:00:00"), (-75, "-00:01:15"),
    (None, "-"), ("", "-"), ("soon", "-"), (float("nan"), "-"),
])
def test_format_duration(seconds, expected):
    assert tx.format_duration(seconds) == expected


@pytest.mark.parametrize("value, expected", [
    (0, "0"), (17, "17"), (999, "999"), (1000, "1,000"), (15234, "15,234"), (1234567890, "1,234,567,890"),
    (None, "-"),
])
def test_format_count(value, expected):
    assert tx.format_count(value) == expected


def test_timestamps_from_every_dialect_mean_the_same_instant():
    aware = datetime(2025, 11, 8, 21, 30, 52, tzinfo=ZoneInfo("Asia/Jakarta"))  # PostgreSQL
    naive = datetime(2025, 11, 8, 14, 30, 52)  # MySQL, naive UTC
    text = "2025-11-08 14:30:52+00:00"  # SQLite
    for value in (aware, naive, text):
        assert tx.format_ts(value) == "2025-11-08 14:30:52"
        assert tx.iso_utc(value) == "2025-11-08T14:30:52.000000Z"
    assert tx.format_ts(text, ZoneInfo("Asia/Jakarta")) == "2025-11-08 21:30:52"
    assert tx.format_ts(None) == "-"
    assert tx.iso_utc(None) is None


@pytest.mark.parametrize("done, total, places, expected", [
    (45, 120, 1, 37.5), (45, 120, 0, 38.0), (1, 8, 0, 13.0), (1, 3, 1, 33.3), (2, 3, 1, 66.7),
    (120, 120, 1, 100.0), (0, 0, 1, 0.0),
])
def test_percentage_rounds_half_up(done, total, places, expected):
    assert tx.percentage(done, total, places) == expected


def test_truncate():
    assert tx.truncate("short", 10) == "short"
    assert tx.truncate("line one\n  line two", 100) == "line one line two"
    cut = tx.truncate("Connection refused by the server", 12)
    assert cut == "Connectio..." and len(cut) == 12


def test_display_width_counts_wide_characters_twice():
    assert tx.display_width("abc") == 3
    assert tx.display_width("東京") == 4
    assert tx.display_width("e\u0301") == 1
    assert tx.display_width("\x1b[32mok\x1b[0m") == 2


# -- the table renderer ----------------------------------------------------------------------------
def test_columns_fit_the_longest_value():
    rows = [["a", "1"], ["a_much_longer_value", "22"], ["東京", "333"]]
    text = tx.render_table(["Name", "N"], rows)
    lines = text.splitlines()
    widths = {tx.display_width(line) for line in lines}
    assert len(widths) == 1, "every line of the table has the same width"
    assert lines[0] == "┌─────────────────────┬─────┐"
    assert "│ a_much_longer_value │ 22  │" in lines
    assert "│ 東京                │ 333 │" in lines


def test_table_refuses_ragged_rows():
    with pytest.raises(ValueError):
        tx.render_table(["a", "b"], [["only one"]])


# -- the batch detail report -----------------------------------------------------------------------
def test_detail_report(batch, progress):
    text = sr.render_batch_detail(batch, progress)
    assert "\x1b[" not in text
    assert f"Sync Batch Details: {BATCH_ID}" in text
    assert text.startswith("=" * 68 + "\n")
    assert "Batch Summary:" in text and "Table Progress:" in text
    assert "  Status: running\n" in text
    assert "  Started: 2025-11-08 14:30:52 UTC\n" in text
    # counts derived from the six rows, not from the batch row's stale counters (120 / 0)
    assert "  Progress: 2/6 tables (33.3%)\n" in text
    assert "  Failed: 1 table\n" in text
    assert "  Skipped: 1 table\n" in text
    assert "  Remaining: 1 in progress, 1 pending\n" in text
    assert "  DAG run: branch_sync / manual__2025-11-08T14:30:52\n" in text

    rows = {(r[0], r[1]): r for r in data_rows(text)}
    assert len(rows) == 6
    assert rows[("pgsql_lmp", "ad_org")] == ["pgsql_lmp", "ad_org", "AdOrg", "completed", "17", "5.00 s", "-"]
    assert rows[("pgsql_sby", "m_product")][4:6] == ["15,234", "00:02:15"]
    assert rows[("pgsql_bdg", "c_invoice")][3:6] == ["in_progress", "N/A", "Running.."]
    failed = rows[("pgsql_jkt", "c_order")]
    assert failed[3:6] == ["failed", "N/A", "00:01:30"]
    assert failed[6].startswith("Connection timed out while") and failed[6].endswith("...")
    assert len(failed[6]) == sr.DEFAULT_ERROR_WIDTH
    assert rows[("pgsql_jkt", "c_bpartner")][3:6] == ["pending", "N/A", "-"]
    assert rows[("pgsql_lmp", "m_locator")][3:6] == ["skipped", "N/A", "-"]
    # keeps the order it was given
    assert [r[1] for r in data_rows(text)] == [r["table_name"] for r in progress]
    widths = {tx.display_width(line) for line in table_lines(text)}
    assert len(widths) == 1


def test_detail_error_width(batch, progress):
    text = sr.render_batch_detail(batch, progress, error_width=12)
    failed = [r for r in data_rows(text) if r[3] == "failed"][0]
    assert failed[6] == "Connectio..."


def test_failed_only_shows_only_failed_rows_but_counts_all(batch, progress):
    text = sr.render_batch_detail(batch, progress, failed_only=True)
    rows = data_rows(text)
    assert [(r[0], r[1], r[3]) for r in rows] == [("pgsql_jkt", "c_order", "failed")]
    assert "Failed Tables:" in text
    assert "  Progress: 2/6 tables (33.3%)\n" in text


def test_failed_only_without_failures(batch, progress):
    ok = [r for r in progress if r["status"] != "failed"]
    text = sr.render_batch_detail(batch, ok, failed_only=True)
    assert "No failed tables." in text
    assert "┌" not in text


def test_detail_of_finished_batch_over_a_day(batch, progress):
    done = dict(batch, status="completed", completed_at=T0 + timedelta(hours=27, minutes=3, seconds=9),
                duration_seconds=None)
    rows = [dict(r, status="completed") for r in progress]
    rows[0]["duration_seconds"] = 97389
    text = sr.render_batch_detail(done, rows)
    assert "  Finished: 2025-11-09 17:34:01 UTC\n" in text
    assert "  Duration: 27:03:09\n" in text
    assert "  Progress: 6/6 tables (100.0%)\n" in text
    assert "  Failed: 0 tables\n" in text
    assert data_rows(text)[0][5] == "27:03:09"


def test_detail_without_progress_rows_uses_the_batch_counters(batch):
    text = sr.render_batch_detail(dict(batch, completed_tables=45, failed_tables=2), [])
    assert "  Progress: 45/120 tables (37.5%)\n" in text
    assert "  Failed: 2 tables\n" in text
    assert "No table progress recorded." in text


def test_detail_in_another_time_zone(batch, progress):
    text = sr.render_batch_detail(batch, progress, tz=ZoneInfo("Asia/Jakarta"))
    assert "  Started: 2025-11-08 21:30:52 Asia/Jakarta\n" in text


def test_colour_only_when_asked(batch, progress):
    plain = sr.render_batch_detail(batch, progress, color=False)
    coloured = sr.render_batch_detail(batch, progress, color=True)
    assert "\x1b[" not in plain
    assert "\x1b[32mcompleted" in coloured
    assert "\x1b[33min_progress" in coloured
    assert "\x1b[31mfailed" in coloured
    assert "\x1b[90mpending" in coloured
    assert "\x1b[36mskipped" in coloured
    assert "Status: \x1b[33mrunning\x1b[0m" in coloured
    # colour never moves a border: without the escapes the text is the plain text
    assert ANSI.sub("", coloured) == plain


# -- the listing -----------------------------------------------------------------------------------
@pytest.fixture
def batches():
    return [
        {"batch_id": "sync_20251108_143052_aB3dEf9h", "status": "running", "started_at": T0,
         "completed_at": None, "duration_seconds": None, "total_tables": 120, "completed_tables": 45,
         "failed_tables": 2, "skipped_tables": 0},
        {"batch_id": "sync_20251108_100000_xY7zKl2m", "status": "completed",
         "started_at": datetime(2025, 11, 8, 10, 0, 0), "completed_at": None, "duration_seconds": 8130.0,
         "total_tables": 120, "completed_tables": 120, "failed_tables": 0, "skipped_tables": 0},
        {"batch_id": "sync_20251107_230000_pQ4wRt5n", "status": "interrupted",
         "started_at": "2025-11-07 23:00:00+00:00", "completed_at": "2025-11-08 00:45:20+00:00",
         "duration_seconds": None, "total_tables": 120, "completed_tables": 85, "failed_tables": 5,
         "skipped_tables": 0},
        {"batch_id": "sync_20251105_000000_lOnGrUn1", "status": "failed",
         "started_at": "2025-11-05 00:00:00+00:00", "completed_at": None, "duration_seconds": 97389.2,
         "total_tables": 1200, "completed_tables": 1199, "failed_tables": 1, "skipped_tables": 0},
    ]


def test_batch_list(batches):
    text = sr.render_batch_list(batches)
    assert "All Sync Batches" in text
    assert "\x1b[" not in text
    header = table_lines(text)[1]
    assert [c.strip() for c in header.strip("│").split("│")] == [
        "Batch ID", "Status", "Started (UTC)", "Duration", "Progress", "Failed"]
    rows = data_rows(text)
    assert rows[0] == ["sync_20251108_143052_aB3dEf9h", "running", "2025-11-08 14:30:52", "Running..",
                       "45/120 (38%)", "2"]
    assert rows[1] == ["sync_20251108_100000_xY7zKl2m", "completed", "2025-11-08 10:00:00", "02:15:30",
                       "120/120 (100%)", "0"]
    assert rows[2] == ["sync_20251107_230000_pQ4wRt5n", "interrupted", "2025-11-07 23:00:00", "01:45:20",
                       "85/120 (71%)", "5"]
    assert rows[3][3:5] == ["27:03:09", "1199/1200 (100%)"]
    assert len({tx.display_width(line) for line in table_lines(text)}) == 1
    assert "sync-status {batch_id}" in text


def test_batch_list_colours(batches):
    text = sr.render_batch_list(batches, color=True)
    assert "\x1b[33mrunning" in text and "\x1b[32mcompleted" in text
    assert "\x1b[35minterrupted" in text and "\x1b[31mfailed" in text
    assert ANSI.sub("", text) == sr.render_batch_list(batches)


def test_batch_list_uses_derived_counts(batches):
    fixed = sr.with_counts(batches[0], {"completed": 50, "failed": 3, "in_progress": 1, "pending": 66})
    assert data_rows(sr.render_batch_list([fixed]))[0][4:] == ["50/120 (42%)", "3"]
    assert sr.with_counts(batches[0], None) == batches[0]


def test_empty_batch_list():
    text = sr.render_batch_list([])
    assert "No sync batches found." in text
    assert "┌" not in text


# -- JSON ------------------------------------------------------------------------------------------
def test_batch_to_json(batch, progress):
    doc = sr.batch_to_json(batch, progress)
    assert list(doc) == sorted(doc)
    assert doc["batch_id"] == BATCH_ID
    assert doc["status"] == "running"
    assert doc["started_at"] == "2025-11-08T14:30:52.000000Z"
    assert doc["updated_at"] == "2025-11-08T14:30:52.000000Z"
    assert doc["completed_at"] is None and doc["duration_seconds"] is None
    assert doc["command_options"] == {"connections": ["pgsql_lmp"], "skip_step1": False}
    assert (doc["total_tables"], doc["completed_tables"], doc["failed_tables"], doc["skipped_tables"],
            doc["in_progress_tables"], doc["pending_tables"]) == (6, 2, 1, 1, 1, 1)
    assert doc["progress_percentage"] == 33.3
    assert [t["status"] for t in doc["tables"]] == [r["status"] for r in progress]
    order = doc["tables"][3]
    assert list(order) == sorted(order)
    assert order["error_message"] == progress[3]["error_message"], "the full error, not cut"
    assert order["records_processed"] == 50 and isinstance(order["records_processed"], int)
    assert order["duration_seconds"] == 90.0 and isinstance(order["duration_seconds"], float)
    assert order["started_at"] == "2025-11-08T14:30:52.000000Z"
    assert doc["tables"][4]["started_at"] is None


def test_json_is_stable_and_plain(batch, progress):
    first = sr.dumps(sr.batch_to_json(batch, progress))
    again = sr.dumps(sr.batch_to_json(dict(reversed(list(batch.items()))),
                                      [dict(reversed(list(r.items()))) for r in progress]))
    assert first == again
    assert "\x1b[" not in first
    assert json.loads(first)["tables"][1]["records_processed"] == 15234


def test_json_failed_only(batch, progress):
    doc = sr.batch_to_json(batch, progress, failed_only=True)
    assert [t["table_name"] for t in doc["tables"]] == ["c_order"]
    assert doc["total_tables"] == 6


def test_json_types_from_strings_and_decimals(batch):
    from decimal import Decimal

    row = progress_row("c", "t", "completed", records=Decimal("15234"), duration="12.5")
    doc = sr.batch_to_json(dict(batch, duration_seconds=Decimal("97389.2"), status="completed"), [row])
    assert doc["duration_seconds"] == 97389.2 and isinstance(doc["duration_seconds"], float)
    assert doc["tables"][0]["records_processed"] == 15234 and isinstance(doc["tables"][0]["records_processed"], int)
    assert doc["tables"][0]["duration_seconds"] == 12.5
    json.loads(sr.dumps(doc))


def test_batches_to_json(batches):
    docs = sr.batches_to_json(batches)
    assert [d["batch_id"] for d in docs] == [b["batch_id"] for b in batches]
    assert all("tables" not in d for d in docs)
    assert docs[0]["progress_percentage"] == 37.5
    assert docs[1]["started_at"] == "2025-11-08T10:00:00.000000Z"
    assert docs[2]["duration_seconds"] == 6320.0  # from started/completed when not stored
    assert sr.batches_to_json([]) == []
