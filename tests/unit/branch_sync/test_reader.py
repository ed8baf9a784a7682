"""COPY text parsing and the typed encoding of checkpoint keys."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from include.branch_sync.reader import SourceReader, as_text, decode_value, encode_value
from include.branch_sync.wire import copy_field


@pytest.mark.parametrize("raw, value", [
    (b"\\N", None),
    (b"plain", "plain"),
    (b"tab\\there", "tab\there"),
    (b"nl\\nand\\\\back", "nl\nand\\back"),
    (b"\\101\\x42", "AB"),
    ("日本語".encode(), "日本語"),
])
def test_copy_field_unescapes(raw, value):
    assert copy_field(raw) == value


@pytest.mark.parametrize("value", [
    None, 42, 3.5, Decimal("12.30"), "O'Brien", True,
    dt.datetime(2026, 1, 2, 3, 4, 5, 678901), dt.date(2026, 5, 6), dt.time(7, 8, 9), b"\x00\xff",
])
def test_key_values_round_trip_with_their_type(value):
    decoded = decode_value(encode_value(value))
    assert decoded == value and type(decoded) is type(value)


def test_aware_timestamps_are_kept_in_utc():
    jakarta = dt.timezone(dt.timedelta(hours=7))
    tagged = encode_value(dt.datetime(2026, 1, 1, 10, 0, tzinfo=jakarta))
    assert tagged == ["dt", "2026-01-01T03:00:00+00:00"]
    assert as_text(tagged) == "2026-01-01T03:00:00+00:00"


def test_copy_key_reads_the_last_row():
    line = b"7\tINV\\t1\t2026-03-03 03:03:03+00\t\\N\n"
    assert SourceReader.text_key(memoryview(line), [2, 0]) == [["pg", "2026-03-03 03:03:03+00"], ["pg", "7"]]
    assert SourceReader.text_key(line, [3]) == [["n", None]]
