"""A batch report for download: xlsx (a summary sheet and a detail sheet: frozen header, filters,
column widths, real numbers and durations) or CSV. Text that a spreadsheet would run as a formula
(starting with ``= + - @``, or a tab/CR) is written as text: a string cell in xlsx, a leading ``'``
in CSV. :func:`export_batch` is the one entry the download endpoints call."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
SYNC_COLUMNS = (("Connection", "connection_name"), ("Table", "table_name"), ("Model", "model_name"),
                ("Status", "status"), ("Records processed", "records_processed"),
                ("Records skipped", "records_skipped"), ("Records deleted", "records_deleted"),
                ("Duration", "duration_seconds"), ("Retries", "retry_count"), ("Started (UTC)", "started_at"),
                ("Completed (UTC)", "completed_at"), ("Error", "error_message"))
CERT_COLUMNS = (("Row", "row_number"), ("Participant", "participant_name"), ("E-mail", "email"),
                ("Certificate number", "certificate_number"), ("Status", "status"), ("Error", "error_message"),
                ("Column", "error_column"), ("Attempts", "attempts"), ("Generated (UTC)", "generated_at"))
MEDIA = {"xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "csv": "text/csv; charset=utf-8"}


def csv_safe(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def export_batch(kind: str, summary: Mapping[str, Any], rows: Sequence[Mapping[str, Any]], fmt: str) -> bytes:
    """``kind`` sync or certificates; ``summary`` the batch as the API gives it; ``rows`` every item."""
    columns = SYNC_COLUMNS if kind == "sync" else CERT_COLUMNS
    if fmt == "csv":
        return _csv(columns, rows)
    return _xlsx(kind, summary, columns, rows)


def _csv(columns: Sequence[tuple[str, str]], rows: Sequence[Mapping[str, Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([title for title, _ in columns])
    for row in rows:
        writer.writerow([csv_safe("" if row.get(key) is None else row.get(key)) for _, key in columns])
    return ("\ufeff" + out.getvalue()).encode("utf-8")  # the BOM lets Excel read UTF-8 names right


def _text_cell(cell: Any, value: Any) -> None:
    cell.value = value
    if isinstance(value, str):
        cell.data_type = "s"  # never a formula, whatever it starts with


def _xlsx(kind: str, summary: Mapping[str, Any], columns: Sequence[tuple[str, str]],
          rows: Sequence[Mapping[str, Any]]) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    book = Workbook()
    first = book.active
    first.title = "Summary"
    for key in sorted(k for k, v in summary.items() if not isinstance(v, (list, dict))):
        first.append([key, None])
        _text_cell(first.cell(row=first.max_row, column=2), summary[key])
    first.column_dimensions["A"].width, first.column_dimensions["B"].width = 24, 60
    detail = book.create_sheet("Sync tables" if kind == "sync" else "Participants")
    detail.append([title for title, _ in columns])
    for cell in detail[1]:
        cell.font = Font(bold=True)
    widths = [len(title) for title, _ in columns]
    for r, row in enumerate(rows, start=2):
        for c, (_, key) in enumerate(columns, start=1):
            value = row.get(key)
            cell = detail.cell(row=r, column=c)
            if key == "duration_seconds" and value is not None:
                cell.value = float(value) / 86400  # a real duration: [h]:mm:ss
                cell.number_format = "[h]:mm:ss"
            elif key.startswith("records_") or key in ("retry_count", "row_number", "attempts"):
                cell.value = value
                cell.number_format = "#,##0"
            else:
                _text_cell(cell, value)
            widths[c - 1] = max(widths[c - 1], min(len(str(value or "")), 60))
    for c, width in enumerate(widths, start=1):
        detail.column_dimensions[get_column_letter(c)].width = width + 2
    detail.freeze_panes = "A2"
    detail.auto_filter.ref = f"A1:{get_column_letter(len(columns))}{max(len(rows) + 1, 1)}"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
