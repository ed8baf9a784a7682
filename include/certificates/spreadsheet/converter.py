"""One row's cells into a ``ParticipantRow`` or its ``RowError``s, against the header's columns.

Duplicates are looked for separately (``RowConverter.duplicate``), by the reader's own process
over all rows in order: rows may be converted in two processes (see ``helper``).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from include.certificates.spreadsheet.cells import CELL_ERROR_MARK, TEXT_OF, CellError, number_text, other_text
from include.certificates.spreadsheet.table import Column, Header, column_letter
from include.certificates.spreadsheet.types import (
    CELL_MAX_CHARS,
    CONTROL_RE,
    FIELDS,
    MAX_COLUMNS,
    NAME_MAX_CHARS,
    ParticipantRow,
    RowError,
)

# Pragmatic e-mail check: one @, no spaces, a dotted domain of letters/digits/hyphens, no empty
# dot-separated parts. Catches the typos that happen in spreadsheets ("budi@gmail", "budi gmail.com",
# "budi@gmail,com") without rejecting valid international addresses.
_EMAIL_RE: Final = re.compile(
    r"^(?!\.)(?!.*\.\.)[^@\s\"(),:;<>\[\\\]]{1,64}(?<!\.)"
    r"@(?=.{1,253}$)(?:[^\W_](?:[\w-]{0,61}[^\W_])?\.)+[^\W\d_]{2,63}$"
)
# A phone written by Excel in scientific notation ("8.12346E+09") has lost its digits.
_SCIENTIFIC_RE: Final = re.compile(r"^[+-]?\d+(?:[.,]\d+)?[eE][+-]?\d+$")


@dataclass(frozen=True, slots=True)
class _Plan:
    """Where things sit in a row's list of texts, for one (first column, width) shape of row."""

    fields: dict[str, int]               # field -> offset, or -1 (the "" appended to every row)
    extras: list[tuple[str, int]]        # (key in extra, offset) of headed extra columns
    unheaded: list[tuple[str, int]]      # ("Column F", offset) of cells under no header
    checks: list[tuple[int, str, int]]   # (offset, column title, max length) of every read cell
    pad: int                             # "" cells to append so every offset exists
    beyond: int                          # offsets from here on are not read


class RowConverter:
    """Turns one row's cells into a ParticipantRow or its RowErrors."""

    def __init__(self, header: Header) -> None:
        self.header = header
        self.titles = {column.field: column.title for column in header.columns if column.field}
        self._extra_titles = _extra_titles(header.columns)
        self._plans: dict[tuple[int, int], _Plan] = {}
        self._last_shape = (-1, -1)
        self._last_plan: _Plan | None = None

    def convert(self, number: int, first_column: int, cells: Sequence[object],
                bad: dict[int, str] | None) -> ParticipantRow | list[RowError] | None:
        """The row's participant or errors; None for a blank row (every cell empty or spaces).

        Duplicates are not looked for here (see ``duplicate``): rows may be converted in two
        processes, and only the reader's own process sees all of them in order.
        """
        # One comprehension per row: text cells are stripped at C speed, the rest converted.
        text_of, float_text = TEXT_OF.get, number_text
        texts = [value.strip() if (kind := value.__class__) is str  # type: ignore[attr-defined]
                 else float_text(value) if kind is float  # type: ignore[arg-type]
                 else text_of(kind, other_text)(value) for value in cells]
        if bad:
            _mark_bad_cells(texts, first_column, bad)
        # One C-level join answers three questions: blank row, a bad cell (its NUL mark), and
        # whether any cell can be too long (not while the whole row is short).
        joined = "".join(texts)
        if not joined:
            return None
        plan = self._plan(first_column, len(texts))
        if plan.pad:
            texts.extend([""] * plan.pad)
        texts.append("")   # what a missing column's offset (-1) reads
        errors: list[RowError] = []
        if CELL_ERROR_MARK in joined or (len(joined) > NAME_MAX_CHARS and max(map(len, texts)) > NAME_MAX_CHARS):
            _cell_errors(number, texts, plan, errors)
        if len(texts) > plan.beyond + 1 and any(texts[plan.beyond:]):
            errors.append(RowError(number, None, f"data beyond column {column_letter(MAX_COLUMNS * 2 - 1)} "
                                   "is not read; remove the stray cells"))
        extra = {key: texts[offset] for key, offset in plan.extras}
        for key, offset in plan.unheaded:
            if texts[offset]:
                extra[key] = texts[offset]
        fields = plan.fields
        name = texts[fields["name"]]
        if not name.isascii():
            name = unicodedata.normalize("NFC", name)
        name = " ".join(name.split())
        email = texts[fields["email"]] or None
        phone = texts[fields["phone"]] or None
        name_title = self.titles["name"]
        if not name and not any(error.column == name_title for error in errors):
            errors.append(RowError(number, name_title, "the name is empty"))
        elif not name.isprintable() and CONTROL_RE.search(name):
            errors.append(RowError(number, name_title, "the name contains control characters"))
        if email and not _EMAIL_RE.match(email):
            errors.append(RowError(number, self.titles["email"], f"'{email}' is not a valid e-mail address"))
        if phone and ("E" in phone or "e" in phone) and _SCIENTIFIC_RE.match(phone):
            errors.append(RowError(number, self.titles["phone"], f"'{phone}' is a number in scientific "
                                   "notation and its digits are lost; format the column as Text and "
                                   "type the numbers again"))
        if errors:
            return errors
        return ParticipantRow(number, name, email, phone, texts[fields["organization"]] or None,
                              texts[fields["position"]] or None, extra)

    def duplicate(self, row: ParticipantRow, seen: dict[str, int]) -> RowError | None:
        """The error for a row with the same name and e-mail (or name and phone when there is no
        e-mail) as an earlier good row, else None; the row is remembered as seen.

        The keys are kept as text, about 13 MiB per 100,000 rows: exact, unlike a hash.
        """
        email, phone = row.email, row.phone
        key = f"{row.name.casefold()}\x1f{email.casefold() if email else phone or ''}"
        first = seen.setdefault(key, row.row_number)
        if first == row.row_number:
            return None
        same = "same name and e-mail" if email else "same name and phone" if phone else "same name"
        return RowError(row.row_number, self.titles["name"], f"duplicate of row {first} ({same})")

    def _plan(self, first_column: int, width: int) -> _Plan:
        shape = (first_column, width)
        if shape == self._last_shape:   # every row of an XLSX range has the same shape
            return self._last_plan  # type: ignore[return-value]
        plan = self._plans.get(shape)
        if plan is None:
            plan = self._plans[shape] = self._make_plan(first_column, width)
        self._last_shape, self._last_plan = shape, plan
        return plan

    def _make_plan(self, first_column: int, width: int) -> _Plan:
        columns = self.header.columns
        headed = {column.index - first_column: column for column in columns}
        # A row of 16,384 cells (stray data far right) is not read beyond twice the column limit.
        beyond = max(MAX_COLUMNS * 2 - first_column, 0)
        unheaded = [(f"Column {column_letter(first_column + offset)}", offset)
                    for offset in range(min(width, beyond)) if offset not in headed]
        checks = [(offset, column.title, column.limit) for offset, column in headed.items()]
        checks += [(offset, title, CELL_MAX_CHARS) for title, offset in unheaded]
        return _Plan(
            fields={name: next((offset for offset, column in headed.items() if column.field == name), -1)
                    for name in FIELDS},
            extras=[(self._extra_titles[column.index], offset) for offset, column in headed.items()
                    if not column.field],
            unheaded=unheaded,
            checks=sorted(checks),
            pad=max(max(headed, default=-1) + 1 - width, 0),
            beyond=beyond,
        )


def _mark_bad_cells(texts: list[str], first_column: int, bad: dict[int, str]) -> None:
    """Put the XML scan's findings (calamine read those cells as "") into the row."""
    for index, message in bad.items():
        offset = index - first_column
        if offset < 0:
            continue
        if offset >= len(texts):
            texts.extend([""] * (offset + 1 - len(texts)))
        texts[offset] = CellError(message)


def _cell_errors(number: int, texts: list[str], plan: _Plan, errors: list[RowError]) -> None:
    """RowErrors for bad and over-long cells; their text becomes "" so nothing else trips on it."""
    for offset, title, limit in plan.checks:
        text = texts[offset]
        if type(text) is CellError:
            errors.append(RowError(number, title, text.message))
            texts[offset] = ""
        elif len(text) > limit:
            errors.append(RowError(number, title, f"the value is {len(text):,} characters long; at "
                                   f"most {limit:,} are allowed"))
            texts[offset] = ""


def _extra_titles(columns: list[Column]) -> dict[int, str]:
    """Column index -> key in ParticipantRow.extra, made unique ("Catatan (2)")."""
    titles: dict[int, str] = {}
    used: set[str] = set()
    for column in columns:
        if column.field is not None:
            continue
        title, suffix = column.title, 2
        while title in used:
            title, suffix = f"{column.title} ({suffix})", suffix + 1
        used.add(title)
        titles[column.index] = title
    return titles
