"""A batch report as a PDF people can print: the summary sheet and the detail sheet of a job's
report (:mod:`include.common.spreadsheet_export` sheets, the same the xlsx and CSV downloads hold),
with the time the batch's numbers were true.

Layout (A4 landscape): every page carries the title and "true as of …" on top and "page i of n"
below; page 1 starts with the summary as label/value pairs, then the detail table, whose header
row repeats on every page. Values are written for people as the CLI writes them (counts with
separators, durations ``0.42 s`` / ``HH:MM:SS``, UTC timestamps). A column gets the width of its
longest value (capped); when the columns do not fit the page, the narrow ones keep theirs and the
wide ones share the rest; a value longer than its column wraps onto more lines, at most
:data:`MAX_CELL_LINES`, the last ending in "…" (the xlsx holds every character). All text is in the
text layer, so the report can be searched and extracted.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from reportlab.lib.colors import HexColor

from include.common.pdf.font import bundled_font
from include.common.pdf.writer import PAGE_HEIGHT, PAGE_WIDTH, Page, document
from include.common.spreadsheet_export import Column, Sheet, typed
from include.common.text import EMPTY, format_count, format_duration, format_ts

MARGIN = 32.0
TABLE_SIZE, SUMMARY_SIZE, TITLE_SIZE, SMALL_SIZE = 7.0, 8.5, 13.0, 7.0
LEADING = 1.25               # line height, in font sizes
PAD_X, PAD_Y = 3.0, 2.5      # inside a table cell
MAX_COLUMN_WIDTH = 230.0
MAX_CELL_LINES = 6
WIDTH_SAMPLE_ROWS = 2000     # rows whose values size the columns (as the xlsx widths)
ELLIPSIS = "…"

INK = HexColor("#111827")
MUTED = HexColor("#6b7280")
RULE = HexColor("#e5e7eb")
HEAD_FILL = HexColor("#f3f4f6")

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def cell_text(value: Any, column: Column) -> str:
    """A value as people read it, on one line (control characters dropped)."""
    value = typed(value, column.kind)
    if value is None:
        return "" if column.kind == "text" else EMPTY
    if column.kind == "int":
        return format_count(value)
    if column.kind == "float":
        return f"{value:,.2f}"
    if column.kind == "percent":
        return f"{value:.1f} %"
    if column.kind == "duration":
        return format_duration(value)
    if column.kind == "datetime":
        return format_ts(value)
    return " ".join(_CONTROL.sub(" ", str(value)).split())


def _widths(text: str, size: float) -> list[float]:
    face = bundled_font().face
    widths, default, scale = face.charWidths, face.defaultWidth, size / 1000
    return [widths.get(ord(ch), default) * scale for ch in text]


def text_width(text: str, size: float) -> float:
    return sum(_widths(text, size))


def wrap(text: str, width: float, size: float, max_lines: int = MAX_CELL_LINES) -> list[str]:
    """``text`` in lines no wider than ``width``: broken at spaces, a word longer than a line
    broken where it no longer fits; beyond ``max_lines`` the last line ends in an ellipsis."""
    if not text:
        return [""]
    char_widths = _widths(text, size)
    lines: list[str] = []
    start, used, last_space = 0, 0.0, -1
    for i, (ch, w) in enumerate(zip(text, char_widths)):
        if ch == " ":
            last_space = i
        if used + w > width and i > start:
            cut = last_space if last_space > start else i
            lines.append(text[start:cut])
            start = cut + 1 if cut == last_space else cut
            used = sum(char_widths[start:i + 1])
            last_space = -1
            continue
        used += w
    lines.append(text[start:])
    if len(lines) > max_lines:
        kept = lines[:max_lines]
        last = kept[-1]
        while last and text_width(last + ELLIPSIS, size) > width:
            last = last[:-1]
        kept[-1] = last + ELLIPSIS
        return kept
    return lines


def fit_columns(natural: Sequence[float], available: float) -> list[float]:
    """Column widths within ``available``: the narrowest keep their natural width while it is
    under an equal share of what is left; the others share the rest equally."""
    widths = [0.0] * len(natural)
    left = available
    order = sorted(range(len(natural)), key=lambda i: natural[i])
    for k, i in enumerate(order):
        widths[i] = min(natural[i], left / (len(natural) - k))
        left -= widths[i]
    return widths


class _Pages:
    """The pages being laid out, top to bottom; ``room(height)`` starts a new page when needed."""

    def __init__(self, title: str, as_of_text: str) -> None:
        self.title, self.as_of_text = title, as_of_text
        self.pages: list[Page] = []
        self.y = 0.0
        self.new_page()

    def new_page(self) -> None:
        page = Page(PAGE_WIDTH, PAGE_HEIGHT)
        top = PAGE_HEIGHT - MARGIN
        page.text(self.title, MARGIN, top - TITLE_SIZE, TITLE_SIZE, INK, bold=True)
        page.text(self.as_of_text, PAGE_WIDTH - MARGIN - text_width(self.as_of_text, SMALL_SIZE + 1),
                  top - TITLE_SIZE, SMALL_SIZE + 1, MUTED)
        page.line(MARGIN, top - TITLE_SIZE - 7, PAGE_WIDTH - MARGIN, top - TITLE_SIZE - 7, RULE, 0.8)
        self.pages.append(page)
        self.y = top - TITLE_SIZE - 20

    @property
    def page(self) -> Page:
        return self.pages[-1]

    def room(self, height: float) -> bool:
        """True when a new page had to be started for ``height`` more points."""
        if self.y - height >= MARGIN + 14:
            return False
        self.new_page()
        return True

    def finish(self) -> list[Page]:
        for number, page in enumerate(self.pages, start=1):
            footer = f"{self.title} · page {number} of {len(self.pages)}"
            page.text(footer, PAGE_WIDTH / 2 - text_width(footer, SMALL_SIZE) / 2, MARGIN - 4, SMALL_SIZE, MUTED)
        return self.pages


def _summary(pages: _Pages, sheet: Sheet) -> None:
    """The summary sheet's (first) row as label/value pairs, two pairs to a line."""
    row = sheet.rows[0] if sheet.rows else [None] * len(sheet.columns)
    pairs = [(c.header, cell_text(v, c)) for c, v in zip(sheet.columns, row)]
    label_w = max(text_width(label, SUMMARY_SIZE) for label, _ in pairs) + 8
    half = (PAGE_WIDTH - 2 * MARGIN) / 2
    leading = SUMMARY_SIZE * LEADING
    for start in range(0, len(pairs), 2):
        cells = [(label, wrap(value or EMPTY, half - label_w - 12, SUMMARY_SIZE)) for label, value in
                 pairs[start:start + 2]]
        height = max(len(lines) for _, lines in cells) * leading
        pages.room(height)
        for k, (label, lines) in enumerate(cells):
            x = MARGIN + k * half
            pages.page.text(label, x, pages.y - SUMMARY_SIZE, SUMMARY_SIZE, MUTED)
            for n, line in enumerate(lines):
                pages.page.text(line, x + label_w, pages.y - SUMMARY_SIZE - n * leading, SUMMARY_SIZE, INK)
        pages.y -= height + 2


def _table(pages: _Pages, sheet: Sheet) -> None:
    """The detail sheet as a table: header row on every page, each row as tall as its longest cell."""
    headers = [c.header for c in sheet.columns]
    texts = ([cell_text(v, c) for v, c in zip(row, sheet.columns)] for row in sheet.rows)
    natural = [text_width(h, TABLE_SIZE) for h in headers]
    for row in sheet.rows[:WIDTH_SAMPLE_ROWS]:
        for i, (value, column) in enumerate(zip(row, sheet.columns)):
            natural[i] = max(natural[i], text_width(cell_text(value, column), TABLE_SIZE))
    widths = fit_columns([min(w + 2 * PAD_X, MAX_COLUMN_WIDTH) for w in natural], PAGE_WIDTH - 2 * MARGIN)
    leading = TABLE_SIZE * LEADING
    head_lines = [wrap(h, w - 2 * PAD_X, TABLE_SIZE, 3) for h, w in zip(headers, widths)]
    head_height = max(len(lines) for lines in head_lines) * leading + 2 * PAD_Y

    def header_row() -> None:
        pages.page.rect(MARGIN, pages.y - head_height, sum(widths), head_height, None, fill=HEAD_FILL)
        draw(head_lines, head_height, bold=True)

    def draw(cells: list[list[str]], height: float, bold: bool = False) -> None:
        x = MARGIN
        for lines, width, column in zip(cells, widths, sheet.columns):
            for n, line in enumerate(lines):
                right = column.kind != "text" and not bold
                left = x + width - PAD_X - text_width(line, TABLE_SIZE) if right else x + PAD_X
                pages.page.text(line, left, pages.y - PAD_Y - TABLE_SIZE - n * leading, TABLE_SIZE, INK, bold=bold)
            x += width
        pages.y -= height
        pages.page.line(MARGIN, pages.y, MARGIN + sum(widths), pages.y, RULE, 0.5)

    pages.room(head_height + leading + 2 * PAD_Y)
    header_row()
    for values in texts:
        cells = [wrap(text, width - 2 * PAD_X, TABLE_SIZE) for text, width in zip(values, widths)]
        height = max(len(lines) for lines in cells) * leading + 2 * PAD_Y
        if pages.room(height):
            header_row()
        draw(cells, height)


def write_report(summary: Sheet, detail: Sheet, *, title: str, as_of: datetime | None, creator: str,
                 omit: Sequence[str] = ()) -> bytes:
    """The report as PDF bytes: ``title`` (e.g. ``Sync batch sync_…``) and ``as_of`` (when its
    numbers were true: the newest of its rows) on every page, the summary, then every detail row;
    the detail columns named in ``omit`` are left out (a server path has no use on paper, and its
    width is better given to the names)."""
    if omit:
        keep = [i for i, c in enumerate(detail.columns) if c.header not in omit]
        detail = Sheet(detail.name, tuple(detail.columns[i] for i in keep),
                       [[row[i] for i in keep] for row in detail.rows])
    as_of_text = f"true as of {format_ts(as_of)} UTC" if as_of else "true as of - (no rows yet)"
    pages = _Pages(title, as_of_text)
    _summary(pages, summary)
    pages.y -= 10
    heading = f"{detail.name} ({format_count(len(detail.rows))} {'row' if len(detail.rows) == 1 else 'rows'})"
    pages.room(SUMMARY_SIZE * 2 + 40)
    pages.page.text(heading, MARGIN, pages.y - SUMMARY_SIZE - 2, SUMMARY_SIZE + 2, INK, bold=True)
    pages.y -= SUMMARY_SIZE + 10
    _table(pages, detail)
    return document(pages.finish(), title=title, subject=as_of_text, creator=creator)
