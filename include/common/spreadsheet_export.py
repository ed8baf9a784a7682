"""Sheets of rows written as ``.xlsx`` or CSV for people who open them in a spreadsheet: knows no
job. A job describes its report as :class:`Sheet` objects (columns with a kind, rows of plain
Python values); :func:`write_xlsx` and :func:`write_csv` write them to a path or a binary stream
(a web download can stream a ``BytesIO`` or a temporary file).

What the files hold:

* **xlsx**: one worksheet per sheet, header row in bold and frozen, an autofilter over the data,
  column widths from the longest value (capped). Numbers are numbers; timestamps are Excel dates
  (UTC, ``yyyy-mm-dd hh:mm:ss``); **durations are Excel time values** (days, the cell formatted
  ``[h]:mm:ss``) so they read like the CLI's ``27:03:09`` and still sum and average in Excel.
* **CSV** (one sheet per file, UTF-8 with BOM so Excel reads accents, ``,`` separated): numbers as
  plain digits, timestamps as ``YYYY-mm-dd HH:MM:SS`` UTC, **durations as seconds** (the header
  says ``(s)``), since CSV has no formats and scripts need numbers.
* **No formula ever runs**: a text cell starting with ``=``, ``+``, ``-``, ``@``, tab or carriage
  return (OWASP's CSV-injection list) is written as a text cell in xlsx (type ``s`` with Excel's
  quote prefix, the value unchanged), and prefixed with ``'`` in CSV. Characters XML cannot hold
  are dropped from xlsx text.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
KINDS = ("text", "int", "float", "percent", "duration", "datetime")
DATETIME_FORMAT = "yyyy-mm-dd hh:mm:ss"
DURATION_FORMAT = "[h]:mm:ss"
MAX_WIDTH = 60
_ILLEGAL_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_SHEET_NAME_BAD = re.compile(r"[\[\]:*?/\\]")


@dataclass(frozen=True)
class Column:
    """A column: its header and the kind of its values (``text``, ``int``, ``float``,
    ``percent`` (0-100 as a number), ``duration`` (seconds, or a ``timedelta``), ``datetime``)."""

    header: str
    kind: str = "text"

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"column {self.header!r}: unknown kind {self.kind!r}; known: {', '.join(KINDS)}")


@dataclass(frozen=True)
class Sheet:
    """One table: a name (at most 31 characters in xlsx), its columns and its rows."""

    name: str
    columns: tuple[Column, ...]
    rows: Sequence[Sequence[Any]] = field(default_factory=list)


# -- values ----------------------------------------------------------------------------------------
def needs_text_guard(value: Any) -> bool:
    """A text value a spreadsheet would read as a formula (or a command in a DDE attack)."""
    return isinstance(value, str) and value.startswith(FORMULA_START)


def _seconds(value: Any) -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, timedelta):
        return value.total_seconds()
    return float(value)


def _utc_naive(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value.strip())
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(timezone.utc).replace(tzinfo=None)
        return value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    raise TypeError(f"not a timestamp: {value!r}")


def _number(value: Any, kind: str) -> int | float | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return int(value)
    if kind == "int":
        return int(value)
    if isinstance(value, Decimal):
        return float(value)
    return float(value) if not isinstance(value, (int, float)) else value


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, (bytes, bytearray, memoryview)):
        value = bytes(value).decode("utf-8", "replace")
    return str(value)


def typed(value: Any, kind: str) -> Any:
    """A cell's value as the writers store it: number, naive-UTC datetime, seconds, text or None."""
    if kind in ("int", "float", "percent"):
        return _number(value, kind)
    if kind == "duration":
        return _seconds(value)
    if kind == "datetime":
        return _utc_naive(value)
    return _text(value)


def _display_len(value: Any, kind: str) -> int:
    if value is None:
        return 0
    if kind == "datetime":
        return 19
    if kind == "duration":
        return 9
    if isinstance(value, float):
        return len(f"{value:,.2f}")
    if isinstance(value, int):
        return len(f"{value:,}")
    return max((len(line) for line in str(value).splitlines()), default=0)


def column_widths(sheet: Sheet, sample: int = 2000) -> list[float]:
    """Widths (in characters) from the header and the first ``sample`` rows, capped at
    :data:`MAX_WIDTH`."""
    widths = [len(c.header) + 3 for c in sheet.columns]  # room for the filter button
    for row in sheet.rows[:sample]:
        for i, (value, column) in enumerate(zip(row, sheet.columns)):
            widths[i] = max(widths[i], _display_len(typed(value, column.kind), column.kind) + 2)
    return [float(min(w, MAX_WIDTH)) for w in widths]


def safe_sheet_name(name: str) -> str:
    cleaned = _SHEET_NAME_BAD.sub("_", name).strip("'") or "Sheet"
    return cleaned[:31]


def _check(sheet: Sheet) -> None:
    for n, row in enumerate(sheet.rows, start=1):
        if len(row) != len(sheet.columns):
            raise ValueError(f"sheet {sheet.name!r} row {n} has {len(row)} cells, the sheet has "
                             f"{len(sheet.columns)} columns")


# -- xlsx ------------------------------------------------------------------------------------------
def write_xlsx(sheets: Iterable[Sheet], target: str | Path | IO[bytes]) -> None:
    """Write the sheets as one workbook (openpyxl, write-only: rows are streamed, not kept twice)."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    workbook = Workbook(write_only=True)
    bold = Font(bold=True)
    used: set[str] = set()
    for sheet in sheets:
        _check(sheet)
        name = safe_sheet_name(sheet.name)
        base, n = name, 1
        while name.lower() in used:
            n += 1
            name = f"{base[:28]}_{n}"
        used.add(name.lower())
        ws = workbook.create_sheet(name)
        ncols = len(sheet.columns)
        for i, width in enumerate(column_widths(sheet), start=1):
            ws.column_dimensions[get_column_letter(i)].width = width
        ws.freeze_panes = "A2"
        last_row = len(sheet.rows) + 1
        if ncols:
            ws.auto_filter.ref = f"A1:{get_column_letter(ncols)}{last_row}"
        header = []
        for column in sheet.columns:
            cell = WriteOnlyCell(ws, value=_xml_text(column.header))
            cell.data_type = "s"
            cell.font = bold
            header.append(cell)
        ws.append(header)
        for row in sheet.rows:
            ws.append([_xlsx_cell(ws, WriteOnlyCell, value, column) for value, column in zip(row, sheet.columns)])
    if not workbook.worksheets:
        workbook.create_sheet("Empty")
    workbook.save(target)


def _xml_text(text: str) -> str:
    return _ILLEGAL_XML.sub("", text)


def _xlsx_cell(ws: Any, cell_class: Any, value: Any, column: Column) -> Any:
    value = typed(value, column.kind)
    if value is None:
        return None
    if column.kind == "duration":
        cell = cell_class(ws, value=timedelta(seconds=value))  # openpyxl stores days, numeric
        cell.number_format = DURATION_FORMAT
        return cell
    if column.kind == "datetime":
        cell = cell_class(ws, value=value)
        cell.number_format = DATETIME_FORMAT
        return cell
    if column.kind in ("int", "float", "percent"):
        cell = cell_class(ws, value=value)
        cell.number_format = {"int": "#,##0", "float": "#,##0.00", "percent": "0.0"}[column.kind]
        return cell
    text = _xml_text(value)
    cell = cell_class(ws, value=text)
    cell.data_type = "s"  # openpyxl would make '=...' a formula; text it stays
    if needs_text_guard(text):
        cell.quotePrefix = True  # and Excel keeps it text when the cell is edited
    return cell


# -- CSV -------------------------------------------------------------------------------------------
def csv_header(column: Column) -> str:
    return f"{column.header} (s)" if column.kind == "duration" else column.header


def csv_value(value: Any, column: Column) -> str:
    """One CSV field: formula-looking text prefixed with ``'``; numbers plain; durations seconds."""
    value = typed(value, column.kind)
    if value is None:
        return ""
    if column.kind == "datetime":
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if column.kind == "duration":
        return str(int(value)) if float(value).is_integer() else f"{value:.3f}"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, int):
        return str(value)
    return f"'{value}" if needs_text_guard(value) else value


def write_csv(sheet: Sheet, target: str | Path | IO[bytes]) -> None:
    """Write one sheet as CSV (UTF-8 with BOM, ``\\r\\n`` line ends as RFC 4180 says)."""
    _check(sheet)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([csv_value(csv_header(c), Column(c.header)) for c in sheet.columns])
    for row in sheet.rows:
        writer.writerow([csv_value(v, c) for v, c in zip(row, sheet.columns)])
    data = ("\ufeff" + buffer.getvalue()).encode("utf-8")
    if isinstance(target, (str, Path)):
        Path(target).write_bytes(data)
    else:
        target.write(data)
