"""The job-agnostic sheet writer: types, layout and formula-injection safety, read back with
openpyxl and the csv module."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import openpyxl
import pytest

from include.common.spreadsheet_export import Column, Sheet, csv_value, needs_text_guard, write_csv, write_xlsx

EVIL = ["=cmd|' /C calc'!A0", "+1+2", "-2+3", "@SUM(A1:A2)", "\tx", "\rx", "=HYPERLINK(\"http://x\")"]
COLUMNS = (Column("Name"), Column("Records", "int"), Column("Rate", "float"), Column("Started (UTC)", "datetime"),
           Column("Duration", "duration"), Column("Note"))


def sheet(rows):
    return Sheet("Detail", COLUMNS, rows)


def workbook(*sheets):
    buf = io.BytesIO()
    write_xlsx(sheets, buf)
    return openpyxl.load_workbook(io.BytesIO(buf.getvalue()))


def test_types_layout_and_text_guard():
    started = datetime(2025, 11, 8, 14, 30, 52, tzinfo=timezone.utc)
    rows = [[name, 15234, Decimal("2.5"), started, 97389.0, None] for name in EVIL]
    rows.append(["plain", None, None, "2025-11-08T21:30:52+07:00", timedelta(seconds=5), "a\x01b"])
    wb = workbook(Sheet("Summary", (Column("Batch"),), [["sync_x"]]), sheet(rows))
    assert wb.sheetnames == ["Summary", "Detail"]
    ws = wb["Detail"]
    assert ws.freeze_panes == "A2"
    assert ws.auto_filter.ref == f"A1:F{len(rows) + 1}"
    assert [c.value for c in ws[1]] == [c.header for c in COLUMNS]
    assert ws.column_dimensions["A"].width >= len("=HYPERLINK(\"http://x\")")
    for i, name in enumerate(EVIL, start=2):
        cell = ws.cell(i, 1)
        assert cell.value == name and cell.data_type == "s", name
        assert cell.quotePrefix
        assert ws.cell(i, 2).value == 15234 and ws.cell(i, 2).data_type == "n"
        assert ws.cell(i, 3).value == 2.5
        assert ws.cell(i, 4).value == datetime(2025, 11, 8, 14, 30, 52)
        assert ws.cell(i, 5).number_format == "[h]:mm:ss"
        assert ws.cell(i, 5).value == timedelta(seconds=97389)  # 27:03:09, a time value
    last = len(rows) + 1
    assert ws.cell(last, 2).value is None
    assert ws.cell(last, 4).value == datetime(2025, 11, 8, 14, 30, 52), "aware times are stored in UTC"
    assert ws.cell(last, 6).value == "ab", "characters XML cannot hold are dropped"
    assert ws.max_row == last


def test_csv_prefixes_formulas_and_writes_seconds():
    buf = io.BytesIO()
    write_csv(sheet([[EVIL[0], 1234567, 0.5, datetime(2025, 1, 2, 3, 4, 5), 97389.5, "x, \"y\"\nz"]]), buf)
    text = buf.getvalue().decode("utf-8")
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text[1:])))
    assert rows[0] == ["Name", "Records", "Rate", "Started (UTC)", "Duration (s)", "Note"]
    assert rows[1] == ["'" + EVIL[0], "1234567", "0.5", "2025-01-02 03:04:05", "97389.500", "x, \"y\"\nz"]


def test_guard_and_bad_rows():
    assert all(needs_text_guard(v) for v in EVIL)
    assert not needs_text_guard("Budi") and not needs_text_guard(None) and not needs_text_guard(-5)
    assert csv_value(-5, Column("n", "int")) == "-5", "numbers are never prefixed"
    with pytest.raises(ValueError, match="row 1 has 2 cells"):
        write_csv(sheet([["a", 1]]), io.BytesIO())
    with pytest.raises(ValueError, match="unknown kind"):
        Column("x", "money")
