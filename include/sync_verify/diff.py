"""The pure decisions of a verification: which buckets differ, whether to split them further or
fetch their rows, which rows differ (a merge of two streams ordered the same way), and what each
difference is. No database here; ``engine`` runs the queries these decide.

Rows are placed in buckets by their key, not by key ranges: a single integer key by its value
modulo the bucket count, any other key by the first hex digits of the MD5 of its text. Both
databases agree on both, while two collations (a PostgreSQL locale, MariaDB's binary one) order
the same text keys differently, so a range of text keys would hold different rows on each side.
A level is its number of buckets; a differing bucket is split ("bisected") 256 ways: modulo 256
times as much (which refines the previous modulus), or two more hex digits.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

ROWS_PER_BUCKET = 256  # the first level aims at this many rows per bucket
# first levels by table size: powers of 16 for key hashes (a prefix of hex digits), for integer
# keys the largest prime below each, so that ids stepping by 2, 10 or 17 still fill every bucket.
# At most about 4,096: the aggregate's hash table then stays in the CPU cache (measured on a 1M-row
# scan: +10 % over a plain checksum sum, +30 % with 65,536 groups); a larger table splits its
# differing buckets once more instead.
HASH_LEVELS = (16, 256, 4096)
INTEGER_LEVELS = (13, 251, 4093)
SPLIT = 256  # a differing bucket is split this many ways
MAX_BUCKETS = 16 ** 12  # no finer level (12 hex digits of the key hash)
# differing buckets holding at most this many rows have their rows' keys and hashes fetched (a
# short line each: under 20 MB per side at most), the rows that differ then compared value by value
FETCH_ROWS = 50_000
STREAM_SHARE = 0.25  # more than this share of the table in differing buckets: stream it all
SAMPLE_MAX = 20  # differing keys kept in the tracking row

BucketId = Any  # a hex prefix (str) or an integer key's remainder (int)


@dataclass(frozen=True)
class Bucket:
    rows: int
    checksum: int  # sum of the 60-bit slices of the rows' MD5s


def first_level(rows: int, integer_key: bool) -> int:
    """Buckets of the first level: about :data:`ROWS_PER_BUCKET` rows per bucket, at most the
    last of the levels."""
    levels = INTEGER_LEVELS if integer_key else HASH_LEVELS
    return next((n for n in levels if n * ROWS_PER_BUCKET >= rows), levels[-1])


def differing(source: Mapping[BucketId, Bucket], central: Mapping[BucketId, Bucket]) -> dict[BucketId, int]:
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
    buckets: tuple[BucketId, ...] = ()  # the differing buckets to fetch or split
    level: int = 0  # fetch: the level they belong to; split: the level to split them into


def next_step(diff: Mapping[BucketId, int], level: int, total_rows: int) -> Step:
    """What to do with the differing buckets of ``level``: nothing, fetch their rows (few
    enough), split each :data:`SPLIT` ways, or, when much of the table differs, stream it whole."""
    if not diff:
        return Step("done")
    at_stake = sum(diff.values())
    if at_stake <= FETCH_ROWS or level * SPLIT > MAX_BUCKETS:
        return Step("fetch", tuple(sorted(diff)), level)
    if at_stake > STREAM_SHARE * max(total_rows, 1):
        return Step("stream")
    return Step("split", tuple(sorted(diff)), level * SPLIT)


# -- rows ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Row:
    """One row as a side streams it: its merge key (the integer key, or the key hash: what both
    streams are ordered by), key values as that side returns them, the compared fields' texts,
    and (source side) the cursor value."""

    merge_key: Any
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
    """Merge two streams ordered by merge key; yield every row that is not the same on both sides
    (``names``: the column of each field)."""
    src, dst = iter(source), iter(central)
    a, b = next(src, None), next(dst, None)
    while a is not None or b is not None:
        if b is None or (a is not None and a.merge_key < b.merge_key):
            yield Difference("missing", a, None)
            a = next(src, None)
        elif a is None or b.merge_key < a.merge_key:
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
