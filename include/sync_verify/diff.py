"""The pure decisions of a verification: which buckets differ, whether to split them further or
fetch their rows, which rows differ (a merge of two streams ordered by key hash), and what each
difference is. No database here; ``engine`` runs the queries these decide.

Rows are placed in buckets by the first hex digits of the MD5 of their key text, not by key
ranges: both databases agree on a hash, while two collations (a PostgreSQL locale, MariaDB's
binary one) order the same text keys differently, so a key range would hold different rows on
each side. A bucket is split ("bisected") 256 ways by two more hex digits.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

ROWS_PER_BUCKET = 32  # the first level aims at this many rows per bucket
MAX_FIRST_DEPTH = 4  # at most 16^4 = 65,536 buckets in one GROUP BY answer
MAX_DEPTH = 12
FETCH_ROWS = 20_000  # differing buckets holding at most this many rows are fetched row by row
STREAM_SHARE = 0.25  # more than this share of the table in differing buckets: stream it all
SAMPLE_MAX = 20  # differing keys kept in the tracking row


@dataclass(frozen=True)
class Bucket:
    rows: int
    checksum: int  # sum of the 60-bit slices of the rows' MD5s


def first_depth(rows: int) -> int:
    """Hex digits of the first level: about :data:`ROWS_PER_BUCKET` rows per bucket."""
    if rows <= ROWS_PER_BUCKET:
        return 1
    return max(1, min(MAX_FIRST_DEPTH, math.ceil(math.log(rows / ROWS_PER_BUCKET, 16))))


def differing(source: Mapping[str, Bucket], central: Mapping[str, Bucket]) -> dict[str, int]:
    """``{bucket: rows at stake}`` (the larger side's count) for every bucket that differs."""
    out = {}
    for name in source.keys() | central.keys():
        a, b = source.get(name), central.get(name)
        if a != b:
            out[name] = max(a.rows if a else 0, b.rows if b else 0)
    return out


@dataclass(frozen=True)
class Step:
    action: str  # "done" | "fetch" | "split" | "stream"
    buckets: tuple[str, ...] = ()
    depth: int = 0


def next_step(diff: Mapping[str, int], depth: int, total_rows: int) -> Step:
    """What to do with the differing buckets of level ``depth``: nothing, fetch their rows
    (few enough), split each 256 ways, or, when much of the table differs, stream it whole."""
    if not diff:
        return Step("done")
    at_stake = sum(diff.values())
    if at_stake <= FETCH_ROWS or depth + 2 > MAX_DEPTH:
        return Step("fetch", tuple(sorted(diff)), depth)
    if at_stake > STREAM_SHARE * max(total_rows, 1):
        return Step("stream")
    return Step("split", tuple(sorted(diff)), depth + 2)


# -- rows ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Row:
    """One row as a side streams it: its key hash (the merge order), key values as that side
    returns them, the compared fields' texts, and (source side) the cursor value."""

    key_hash: str
    key: tuple[Any, ...]
    fields: tuple[Any, ...]
    cursor: Any = None


@dataclass(frozen=True)
class Difference:
    kind: str  # "missing" (in central) | "extra" (in central) | "changed"
    source: Row | None
    central: Row | None
    columns: tuple[str, ...] = ()  # changed: the columns that differ


def compare(source: Iterable[Row], central: Iterable[Row], names: Sequence[str]) -> Iterator[Difference]:
    """Merge two streams ordered by key hash; yield every row that is not the same on both sides
    (``names``: the column of each field)."""
    src, dst = iter(source), iter(central)
    a, b = next(src, None), next(dst, None)
    while a is not None or b is not None:
        if b is None or (a is not None and a.key_hash < b.key_hash):
            yield Difference("missing", a, None)
            a = next(src, None)
        elif a is None or b.key_hash < a.key_hash:
            yield Difference("extra", None, b)
            b = next(dst, None)
        else:
            if a.fields != b.fields:
                yield Difference("changed", a, b, tuple(n for n, x, y in zip(names, a.fields, b.fields) if x != y))
            a, b = next(src, None), next(dst, None)


@dataclass(frozen=True)
class Watermark:
    """How far the pair's last sync got (``sync_state``): rows past it are the next sync's work."""

    synced: bool  # the pair has a checkpoint at all
    cursor: Any = None  # the cursor value of the last committed row
    lookback_from: Any = None  # rows at or after this are re-read by the next sync (look-back window)
    has_cursor: bool = True


def not_yet_synced(diff: Difference, mark: Watermark | None) -> bool:
    """A row the branch changed after the pair's last sync watermark: the next sync carries it,
    so it is not drift. Only rows the branch has (missing or changed) qualify; never for a
    table without a cursor (refreshed whole, nothing is pending between runs)."""
    if diff.source is None or mark is None or not mark.has_cursor:
        return False
    if not mark.synced:
        return True
    value = diff.source.cursor
    if value is None:
        return True  # a NULL cursor never passes the watermark: every sync re-reads it
    try:
        if mark.cursor is not None and value > mark.cursor:
            return True
        return mark.lookback_from is not None and value >= mark.lookback_from
    except TypeError:  # incomparable (naive vs aware): cannot tell, so it counts as drift
        return False


@dataclass
class Findings:
    """The classified differences of a pair: counts, a bounded sample, and the rows a repair needs."""

    missing: int = 0
    extra: int = 0
    changed: int = 0
    not_yet_synced: int = 0
    sample: list[dict[str, Any]] = field(default_factory=list)
    to_write: list[tuple[Any, ...]] = field(default_factory=list)  # source keys: missing and changed
    to_delete: list[tuple[Any, ...]] = field(default_factory=list)  # central keys: extra

    @property
    def drift(self) -> int:
        return self.missing + self.extra + self.changed

    def add(self, diff: Difference, mark: Watermark | None, key_names: Sequence[str]) -> None:
        kind = "not_yet_synced" if not_yet_synced(diff, mark) else diff.kind
        setattr(self, kind, getattr(self, kind) + 1)
        row = diff.source or diff.central
        assert row is not None
        if kind == "extra":
            self.to_delete.append(row.key)
        elif kind in ("missing", "changed"):
            self.to_write.append(row.key)
        if len(self.sample) < SAMPLE_MAX:
            entry: dict[str, Any] = {"kind": kind, "key": dict(zip(key_names, (_plain(v) for v in row.key)))}
            if diff.columns:
                entry["columns"] = list(diff.columns)
            self.sample.append(entry)


def _plain(value: Any) -> Any:
    """A key value as JSON can hold it."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (bytes, memoryview)):
        return bytes(value).hex()
    return value.isoformat() if hasattr(value, "isoformat") else str(value)
