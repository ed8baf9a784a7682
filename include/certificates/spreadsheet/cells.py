"""Cell values as text.

Every value comes out as text. Numbers that are whole lose Excel's ".0" (a phone stored as the
number 8123456789 gives "8123456789"); text cells keep their leading zeros; Excel dates give ISO
dates. Numbers of 16+ digits (an NIK typed as a number) were already rounded by Excel, and
formulas that were never calculated (files written by scripts) have no value at all: both are
reported on their cell rather than passed on wrong or empty.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from datetime import date, datetime, time, timedelta
from typing import Any, Final

EXCEL_EXACT_DIGITS: Final = 15   # Excel keeps 15 significant digits of a number


class CellError(str):
    """A cell without usable text (uncalculated formula, #N/A, rounded number) and why.

    A str, so that a row's cells stay one list of text; its text is a single NUL, which the row's
    fast check finds in the joined row, and which is replaced by "" once the error is recorded.
    """

    message: str

    def __new__(cls, message: str) -> CellError:
        cell = super().__new__(cls, CELL_ERROR_MARK)
        cell.message = message
        return cell


CELL_ERROR_MARK: Final = "\x00"


def cell_at(cells: Sequence[object], first_column: int, index: int) -> object:
    offset = index - first_column
    return cells[offset] if 0 <= offset < len(cells) else None


def is_empty(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def is_blank(cells: Sequence[object]) -> bool:
    # A loop rather than all(generator): it returns at the first cell of nearly every row.
    for value in cells:
        if value is None or value == "" or (value.__class__ is str and value.isspace()):
            continue
        return False
    return True


def cell_text(value: object) -> str:
    """A cell as text (see the module docstring); a CellError for a number Excel rounded."""
    if isinstance(value, str):
        return value.strip()
    return TEXT_OF.get(value.__class__, other_text)(value)


def other_text(value: object) -> str:
    return str(value).strip()


def _datetime_text(value: datetime) -> str:
    if value.time() == time(0, 0):
        return value.date().isoformat()
    return value.isoformat(sep=" ", timespec="seconds")


_EXACT_LIMIT: Final = 10.0 ** EXCEL_EXACT_DIGITS


def number_text(value: float) -> str:
    if value.is_integer() and -_EXACT_LIMIT < value < _EXACT_LIMIT:
        return str(int(value))   # 8123456789.0 -> "8123456789": phones and ids stay digits
    if not math.isfinite(value):
        return CellError("the cell holds an invalid number")
    if value.is_integer():
        return CellError(f"the number {value:.0f} has more than {EXCEL_EXACT_DIGITS} digits, so "
                          "Excel has already rounded it (e.g. an NIK or card number); format the "
                          "column as Text and type it again")
    # 15 significant digits is what Excel displays: 0.1+0.2 shows as 0.3, not 0.30000000000000004.
    return f"{value:.{EXCEL_EXACT_DIGITS}g}"


# Converters by exact type (a dict lookup instead of an isinstance chain: 150,000 dates and
# numbers per 100,000 rows). bool is listed so True never falls through to int's "1".
TEXT_OF: Final[dict[type, Callable[[Any], str]]] = {
    float: number_text,
    int: str,
    bool: lambda value: "TRUE" if value else "FALSE",
    datetime: _datetime_text,
    date: date.isoformat,
    time: lambda value: value.isoformat(timespec="seconds"),
    timedelta: str,
    type(None): lambda value: "",
}
