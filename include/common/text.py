"""Text for people: durations (``0.42 s`` under a minute, ``HH:MM:SS`` from it on), counts with thousands separators, timestamps in a
chosen zone, and box-drawing tables that keep their columns aligned with wide characters and
colours. Pure functions, no database, no Airflow: the CLI reports of every job use them.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from datetime import datetime, timezone, tzinfo
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

NA = "N/A"
EMPTY = "-"
SECONDS_SHOWN_WITH_FRACTIONS = 60  # below this a duration reads "0.42 s"; from it on "HH:MM:SS"

# ANSI SGR codes per status (seed 002: green completed, yellow running/in_progress, red failed,
# magenta interrupted, gray pending, cyan skipped).
STATUS_COLORS: dict[str, str] = {
    "completed": "32",
    "running": "33",
    "in_progress": "33",
    "failed": "31",
    "interrupted": "35",
    "pending": "90",
    "skipped": "36",
    "clean": "32",  # a verification: nothing differs
    "drift": "31",  # a verification found rows that differ
    "repaired": "36",
}
_RESET = "\x1b[0m"
BOLD = "1"

# -- small formatters ------------------------------------------------------------------------------
def colorize(text: str, code: str | None, color: bool) -> str:
    """``text`` wrapped in an ANSI SGR sequence when ``color`` is on and a code is given."""
    if not color or not code or not text:
        return text
    return f"\x1b[{code}m{text}{_RESET}"


def status_color(status: str | None) -> str | None:
    return STATUS_COLORS.get((status or "").lower())


def format_duration(seconds: Any) -> str:
    """A duration people can read: under a minute in seconds with two decimals (``0.42 s``,
    ``12.50 s``), so a nightly run's sub-second tables are not a column of zeros; from a minute
    on the seed's ``HH:MM:SS``, hours not wrapped at a day (``27:03:09``). ``-`` when unknown.
    Machine output (``--json``, CSV) keeps the seconds as numbers instead."""
    if seconds is None or seconds == "":
        return EMPTY
    try:
        value = Decimal(str(seconds))
        if not value.is_finite():
            return EMPTY
        hundredths = value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    except Exception:
        return EMPTY
    if not hundredths:
        hundredths = abs(hundredths)  # no "-0.00 s"
    if abs(hundredths) < SECONDS_SHOWN_WITH_FRACTIONS:
        return f"{hundredths} s"
    total = int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))
    sign = "-" if total < 0 else ""
    total = abs(total)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{sign}{hours:02d}:{minutes:02d}:{secs:02d}"


def format_count(value: Any) -> str:
    """An integer with thousands separators (``15,234``); ``-`` when unknown."""
    if value is None or value == "":
        return EMPTY
    return f"{int(value):,}"


def to_utc(value: Any) -> datetime | None:
    """A stored timestamp (aware or naive datetime, or ISO text as SQLite keeps it) as aware UTC.

    Naive values are UTC, as the tracking tables store them (see :meth:`include.common.db.Database.ts`).
    """
    if value is None or value == "":
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value.strip())
    if not isinstance(value, datetime):
        raise TypeError(f"not a timestamp: {value!r}")
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def format_ts(value: Any, tz: tzinfo | None = timezone.utc) -> str:
    """``YYYY-mm-dd HH:MM:SS`` in ``tz`` (UTC by default); ``-`` when unknown."""
    ts = to_utc(value)
    if ts is None:
        return EMPTY
    return ts.astimezone(tz or timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def tz_label(tz: tzinfo | None) -> str:
    """A short name for a timezone (``UTC``, ``Asia/Jakarta``, ``WIB``)."""
    if tz is None or tz is timezone.utc:
        return "UTC"
    key = getattr(tz, "key", None)  # zoneinfo.ZoneInfo
    if key:
        return key
    name = datetime.now(tz).tzname()
    return name or str(tz)


def iso_utc(value: Any) -> str | None:
    """ISO-8601 in UTC with a fixed shape: ``2025-11-08T14:30:52.000000Z``."""
    ts = to_utc(value)
    if ts is None:
        return None
    return ts.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def percentage(done: int, total: int, places: int = 1) -> float:
    """``done / total * 100`` rounded half-up to ``places`` decimals (0.0 for an empty batch)."""
    if not total:
        return 0.0
    quantum = Decimal(1).scaleb(-places)
    return float((Decimal(done) * 100 / Decimal(total)).quantize(quantum, rounding=ROUND_HALF_UP))


def as_int(value: Any, default: int = 0) -> int:
    if value is None or value == "":
        return default
    return int(value)


def known_int(value: Any) -> int | None:
    """An integer, or None when the stored value is unknown (a row written before its column
    existed, e.g. by the system this bundle replaced): shown as ``-``, never as a made-up 0."""
    return None if value is None or value == "" else int(value)


def as_float(value: Any) -> float | None:
    if value is None or value == "":
        return None
    return float(value)


def display_width(text: str) -> int:
    """Terminal columns ``text`` occupies: wide East Asian characters count two, combining and
    zero-width characters none, ANSI colour sequences none."""
    text = _ANSI.sub("", text)
    width = 0
    for ch in text:
        if unicodedata.combining(ch) or ch in "\u200b\u200c\u200d\ufeff":
            continue
        category = unicodedata.category(ch)
        if category in ("Cc", "Cf", "Mn", "Me"):
            continue
        width += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return width


_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_WHITESPACE = re.compile(r"\s+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def truncate(text: str, width: int) -> str:
    """``text`` on one line, cut to ``width`` columns with ``...`` when it was longer; control
    characters (an ESC from stored data would drive the terminal) are dropped."""
    text = _CONTROL.sub("", _WHITESPACE.sub(" ", text).strip())
    if width <= 0 or display_width(text) <= width:
        return text
    if width <= 3:
        return "." * width
    out, used = [], 0
    for ch in text:
        w = display_width(ch)
        if used + w > width - 3:
            break
        out.append(ch)
        used += w
    return "".join(out).rstrip() + "..."


def _pad(text: str, width: int) -> str:
    return text + " " * max(0, width - display_width(text))


# -- the table renderer ----------------------------------------------------------------------------
def render_table(headers: Sequence[str], rows: Sequence[Sequence[str]],
                 colors: Sequence[Sequence[str | None]] | None = None, *, color: bool = False) -> str:
    """A box-drawing table whose columns fit their longest cell.

    ``colors`` (same shape as ``rows``) gives an ANSI code per cell, applied only when ``color``
    is on and after padding, so colour never shifts the borders.
    """
    widths = [display_width(h) for h in headers]
    for row in rows:
        if len(row) != len(headers):
            raise ValueError(f"row has {len(row)} cells, the table has {len(headers)} columns")
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], display_width(cell))

    def border(left: str, mid: str, right: str) -> str:
        return left + mid.join("─" * (w + 2) for w in widths) + right

    def line(cells: Sequence[str], codes: Sequence[str | None]) -> str:
        return "│" + "│".join(f" {colorize(_pad(c, w), code, color)} " for c, w, code in zip(cells, widths, codes)) + "│"

    out = [border("┌", "┬", "┐"), line(headers, [BOLD] * len(headers)), border("├", "┼", "┤")]
    for r, row in enumerate(rows):
        out.append(line(row, colors[r] if colors else [None] * len(row)))
    out.append(border("└", "┴", "┘"))
    return "\n".join(out)
