"""Verify one (branch, table) pair against its rows in central, and repair it on request.

The branch is read in one REPEATABLE READ snapshot (the sync's own reader), central in another;
nothing is copied. Both sides count their rows and add up, per bucket of keys (``fields``: an
integer key modulo the bucket count, or a prefix of the key's MD5), a checksum of their rows'
canonical text, inside each database (one GROUP BY scan each). Buckets that differ are split
until they hold few rows, whose canonical fields are then fetched from both sides, merged in key
(or key hash) order and compared value by value (``diff``). A pair with a column that has no
rendering common to both dialects is streamed whole instead (``fields``).

Repair writes the differing rows through the sync's writer (``writers.writer_for``: the same
upsert a sync does) and deletes the extra ones, limited to the pair's rows, in one central
transaction that also records the result, so the repaired count is exact.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any, TypeVar

from include.branch_sync.checkpoint import Checkpoints, decode_value
from include.branch_sync.config import SyncConfig, TableSpec
from include.branch_sync.engine import _minus_lookback
from include.branch_sync.prefetch import prefetched
from include.branch_sync.reader import SourceReader
from include.branch_sync.wire import Wire
from include.branch_sync.writers import Counts, writer_for
from include.common.db import Cursor, Database, PermanentError
from include.common.db.columns import TEMPORAL_KINDS
from include.sync_verify import diff
from include.sync_verify.fields import Side, build_sides, normalise, pin_canonical_settings

log = logging.getLogger(__name__)

T = TypeVar("T")
IN_LIST = 500  # buckets or keys per IN list: bounded statements whatever the drift
STREAM_ROWS = 10_000


@dataclass
class PairResult:
    connection: str
    table: str
    method: str  # checksum | stream
    branch_rows: int
    central_rows: int
    missing: int
    extra: int
    changed: int
    not_yet_synced: int
    repaired: int
    sample: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    note: str | None = None  # why the pair was streamed instead of checksummed

    @property
    def drift(self) -> int:
        return self.missing + self.extra + self.changed

    @property
    def status(self) -> str:
        if self.drift == 0:
            return "clean"
        return "repaired" if self.repaired else "drift"

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "status": self.status}


Record = Callable[[Cursor, PairResult], None]


def verify_pair(config: SyncConfig, spec: TableSpec, connection: str, *, repair: bool = False,
                record: Record | None = None) -> PairResult:
    """Compare the pair; with ``repair`` write its drift through the sync's writer. ``record``
    writes the result in the central transaction that repairs (or in one of its own)."""
    started = time.monotonic()
    if spec.single_source and connection != spec.single_source:
        raise PermanentError(f"table {spec.table!r} is read from {spec.single_source!r} only, not {connection!r}")
    branch_value = connection if spec.per_branch else None
    with Database(connection) as source, Database(config.target) as snapshot, Database(config.target) as central:
        columns = source.run(lambda cur: source.dialect.describe(cur, spec.table), what="describe branch table")
        if columns is None:
            raise PermanentError(f"branch table {spec.table!r} does not exist on connection {connection!r}")
        target_columns = central.run(lambda cur: central.dialect.describe(cur, spec.target_table),
                                     what="describe central table")
        if target_columns is None:
            raise PermanentError(f"central table {spec.target_table!r} does not exist: run branch_sync for it first")
        src, dst, portable = build_sides(source, snapshot, spec.table, spec.target_table, columns, target_columns,
                                         spec.primary_key, branch_value)
        state = Checkpoints(central, connection, spec.table, spec.cursor, None).load()
        # repairs are few rows: COPY text between two PostgreSQL databases, tuples otherwise
        wire = Wire("text" if source.dialect.same_copy_format(central.dialect) else "rows")
        reader = SourceReader(source, spec.table, columns, branch_value, wire, chunk_rows=config.chunk_rows)
        reader.begin(None)
        snapshot.dialect.begin_snapshot(snapshot.raw, None)
        for db in (source, snapshot):
            pin_canonical_settings(db)
        try:
            mark = _watermark(reader, spec, state)
            pair = _Pair(src, dst, spec, mark)
            findings, method = pair.find(portable)
            snapshot.close()  # central's read snapshot ends before any write
            result = PairResult(connection, spec.table, method, pair.rows[0], pair.rows[1], findings.missing,
                                findings.extra, findings.changed, findings.not_yet_synced, 0, findings.sample,
                                note=None if portable else _stream_note(src))
            if repair and findings.drift:
                writer = writer_for(central, spec.target_table, columns, spec.target_key, branch_value, target_columns)
                with central.transaction() as cur:
                    written = _repair(cur, reader, writer, dst, spec.primary_key, findings)
                    result.repaired = written
                    result.seconds = round(time.monotonic() - started, 3)
                    if record:
                        record(cur, result)
            else:
                result.seconds = round(time.monotonic() - started, 3)
                if record:
                    central.run(lambda cur: record(cur, result), what="record verification")
        finally:
            reader.end()
    log.info("verified %s.%s (%s): %d at the branch, %d in central; %d missing, %d extra, %d changed, "
             "%d not yet synced, %d repaired in %.1fs", connection, spec.table, result.method, result.branch_rows,
             result.central_rows, result.missing, result.extra, result.changed, result.not_yet_synced,
             result.repaired, result.seconds)
    return result


def _stream_note(src: Side) -> str:
    names = [f"{f.column.name} ({f.column.kind})" for f in (*src.keys, *src.values) if f.sql is None]
    return f"streamed: no checksum text common to both databases for {', '.join(names)}"


def _watermark(reader: SourceReader, spec: TableSpec, state: Any) -> diff.Watermark:
    """The pair's watermark, its values read back through the branch in the cursor's own type
    (a checkpoint may hold a value as the source's text)."""
    if spec.cursor is None:
        return diff.Watermark(synced=state is not None, has_cursor=False)
    if state is None or not state.key:
        return diff.Watermark(synced=False)
    column = next(c for c in reader.columns if c.name == spec.cursor)
    cur = Cursor(reader.db, reader.db.raw.cursor())

    def typed(tagged: Sequence[Any]) -> Any:
        if tagged[0] != "pg":
            return decode_value(tagged)
        sql, param = reader._bind(column, tagged)  # the source's text, cast to the column's type there
        return cur.scalar(f"SELECT {sql} AS v", [param])

    cursor = typed(state.key[0])
    since = None
    if state.clock and spec.lookback_seconds and column.kind in TEMPORAL_KINDS:
        since = _minus_lookback(typed(json.loads(state.clock)), spec.lookback_seconds)
    return diff.Watermark(synced=True, cursor=cursor, lookback_from=since)


class _Pair:
    def __init__(self, src: Side, dst: Side, spec: TableSpec, mark: diff.Watermark):
        self.src, self.dst, self.spec, self.mark = src, dst, spec, mark
        self.names = [f.column.name for f in (*src.keys, *src.values)]
        self.rows = (0, 0)

    def find(self, portable: bool) -> tuple[diff.Findings, str]:
        findings = diff.Findings()
        if not portable:
            self.rows = _both(_count, self.src, self.dst)
            self._merge(findings)
            return findings, "stream"
        level, within, parent = diff.first_level(_size(self.src), self.src.integer_key), (), 0
        while True:
            a, b = _both(lambda side: _buckets(side, level, parent, within), self.src, self.dst)
            if not within:  # the first level holds every row: its counts are the pair's, exactly
                self.rows = (sum(x.rows for x in a.values()), sum(x.rows for x in b.values()))
            step = diff.next_step(diff.differing(a, b), level, max(self.rows))
            if step.action == "done":
                return findings, "checksum"
            if step.action == "stream":
                self._merge(findings)
                return findings, "checksum"
            if step.action == "fetch":
                self._fetch(findings, level, step.buckets)
                return findings, "checksum"
            parent, within, level = level, step.buckets, step.level

    def _merge(self, findings: diff.Findings) -> None:
        """Every row of both sides, streamed in merge order and compared value by value."""
        self._classify(findings, _rows(self.src, self.spec.cursor), _rows(self.dst, None))

    def _fetch(self, findings: diff.Findings, level: int, buckets: Sequence[diff.BucketId]) -> None:
        """The rows of a few differing buckets, in two steps: each side's keys and row hashes (one
        short line a row, however wide the table: one scan per side), then the fields of just the
        rows whose hash differs or that one side lacks, looked up by key and compared value by value."""
        a, b = _both(lambda side: _row_hashes(side, level, buckets), self.src, self.dst)
        src_keys = [key for merge_key, (key, row_hash) in a.items() if b.get(merge_key, ((), None))[1] != row_hash]
        dst_keys = [key for merge_key, (key, row_hash) in b.items() if a.get(merge_key, ((), None))[1] != row_hash]
        src_rows, dst_rows = _both(lambda side: _rows_by_key(side, src_keys if side is self.src else dst_keys,
                                                            self.spec.cursor if side is self.src else None),
                                   self.src, self.dst)
        self._classify(findings, src_rows, dst_rows)

    def _classify(self, findings: diff.Findings, source: Iterable[diff.Row], central: Iterable[diff.Row]) -> None:
        key_names = [f.column.name for f in self.src.keys]
        for d in diff.compare(source, central, self.names):
            findings.add(d, self.mark, key_names)


def _both(work: Callable[[Side], T], src: Side, dst: Side) -> tuple[T, T]:
    """``work`` on both sides at once (each on its own connection): the two databases scan side
    by side, so a pair costs about its slower side, not the sum of both."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="verify-central") as pool:
        central = pool.submit(work, dst)
        source = work(src)
        return source, central.result()


def _size(side: Side) -> int:
    """About how many rows the side has, to size the first level: the database's estimate when
    it keeps one (no scan; the exact counts come from the checksum scan), else ``count(*)``."""
    cur = Cursor(side.db, side.db.raw.cursor())
    estimate = side.db.dialect.row_estimates(cur, [side.table]).get(side.table)
    return _count(side) if estimate is None else estimate


def _count(side: Side) -> int:
    cur = Cursor(side.db, side.db.raw.cursor())
    return int(cur.scalar(f"SELECT COUNT(*) AS n FROM {side.db.quote(side.table)}{side.filter()}", side.params))


def _in_buckets(side: Side, level: int, buckets: Sequence[diff.BucketId]) -> tuple[str, list[Any]]:
    return f"{side.bucket(level)} IN ({', '.join(['%s'] * len(buckets))})", list(buckets)


def _bucket_id(value: Any) -> diff.BucketId:
    """A bucket as both databases return it: a hex prefix, or a remainder (an int whatever the
    driver made of it, e.g. a Decimal from a NUMERIC key)."""
    value = _text(value)
    return value if isinstance(value, str) else int(value)


def _buckets(side: Side, level: int, parent: int, within: Sequence[diff.BucketId]) -> dict[diff.BucketId, diff.Bucket]:
    """``{bucket: (rows, checksum)}`` of the side at ``level`` buckets, within the given buckets of
    level ``parent`` (every row when none): one GROUP BY per :data:`IN_LIST` buckets. The row hash
    is the scan's only MD5 for an integer key (its bucket is arithmetic)."""
    d, q = side.db.dialect, side.db.quote
    bucket = side.bucket(level)
    out: dict[diff.BucketId, diff.Bucket] = {}
    cur = Cursor(side.db, side.db.raw.cursor())
    before, after = d.few_groups_settings
    for statement in before:
        cur.execute(statement)
    for i in range(0, max(len(within), 1), IN_LIST):
        where, params = _in_buckets(side, parent, within[i:i + IN_LIST]) if within else ("", [])
        sql = (f"SELECT {bucket} AS b_, COUNT(*) AS n_, SUM({d.hex_int(f'SUBSTR({side.row_hash}, 1, 15)')}) AS s_ "
               f"FROM {q(side.table)}{side.filter(where)} GROUP BY {bucket}")
        for r in cur.fetch(sql, [*side.params, *params]):
            out[_bucket_id(r["b_"])] = diff.Bucket(int(r["n_"]), int(r["s_"]))
    for statement in after:
        cur.execute(statement)
    return out


def _row_hashes(side: Side, level: int, buckets: Sequence[diff.BucketId]) -> dict[Any, tuple[tuple[Any, ...], str]]:
    """``{merge key: (key, row hash)}`` of the side's rows in the given buckets (at most
    ``diff.FETCH_ROWS`` rows at stake: bounded memory), one scan per :data:`IN_LIST` buckets."""
    q = side.db.quote
    keys = [q(f.column.name) for f in side.keys]
    out: dict[Any, tuple[tuple[Any, ...], str]] = {}
    raw = side.db.raw.cursor()
    try:
        for i in range(0, len(buckets), IN_LIST):
            where, params = _in_buckets(side, level, buckets[i:i + IN_LIST])
            raw.execute(side.db.sql(f"SELECT {side.merge_key} AS kh_, {', '.join(keys)}, {side.row_hash} AS rh_ "
                                    f"FROM {q(side.table)}{side.filter(where)}"), [*side.params, *params])
            for r in raw.fetchall():
                out[_text(r[0])] = (tuple(r[1:-1]), _text(r[-1]))
    finally:
        raw.close()
    return out


def _row_sql(side: Side, cursor: str | None, where: str) -> str:
    """The side's rows as compared: merge key, key values, every field's canonical text (or raw
    value, for a client field), and (source side) the cursor value."""
    q = side.db.quote
    fields = [f.sql or q(f.column.name) for f in (*side.keys, *side.values)]
    select = [f"{side.merge_key} AS kh_", *(q(f.column.name) for f in side.keys), *fields,
              *([q(cursor)] if cursor else [])]
    return f"SELECT {', '.join(select)} FROM {q(side.table)}{side.filter(where)}"


def _row_maker(side: Side, cursor: str | None) -> Callable[[Sequence[Any]], diff.Row]:
    all_fields = (*side.keys, *side.values)
    n_keys = len(side.keys)

    def row(r: Sequence[Any]) -> diff.Row:
        values = r[1 + n_keys:1 + n_keys + len(all_fields)]
        texts = tuple(_text(v) if f.sql else normalise(v, f.column) for f, v in zip(all_fields, values))
        return diff.Row(_text(r[0]), tuple(r[1:1 + n_keys]), texts, r[-1] if cursor else None)
    return row


def _rows(side: Side, cursor: str | None) -> Iterator[diff.Row]:
    """Every row of the side in merge order (an integer key's index gives them in order),
    streamed; the next batch is read in a thread while this one is compared (both databases
    work at once)."""
    for batch in prefetched(_row_batches(side, cursor), depth=2):
        yield from batch


def _row_batches(side: Side, cursor: str | None) -> Iterator[list[diff.Row]]:
    row = _row_maker(side, cursor)
    raw = side.db.dialect.server_cursor(side.db.raw, STREAM_ROWS)
    try:
        raw.execute(side.db.sql(f"SELECT * FROM ({_row_sql(side, cursor, '')}) z ORDER BY {side.merge_order}"),
                    list(side.params))
        while True:
            batch = raw.fetchmany(STREAM_ROWS)
            if not batch:
                break
            yield [row(r) for r in batch]
    finally:
        raw.close()


def _rows_by_key(side: Side, keys: Sequence[tuple[Any, ...]], cursor: str | None) -> list[diff.Row]:
    """The side's rows of the given keys (index lookups), in merge order: sorted here, as they
    are few (at most the rows of the differing buckets)."""
    row = _row_maker(side, cursor)
    names = [f.column.name for f in side.keys]
    out = []
    raw = side.db.raw.cursor()
    try:
        for i in range(0, len(keys), IN_LIST):
            where, params = _key_in(side.db, names, keys[i:i + IN_LIST])
            raw.execute(side.db.sql(_row_sql(side, cursor, where)), [*side.params, *params])
            out.extend(row(r) for r in raw.fetchall())
    finally:
        raw.close()
    return sorted(out, key=lambda r: r.merge_key)


def _text(value: Any) -> Any:
    return value.decode() if isinstance(value, (bytes, bytearray)) else value


def _key_in(db: Database, names: Sequence[str], keys: Sequence[tuple[Any, ...]]) -> tuple[str, list[Any]]:
    row = "(" + ", ".join(["%s"] * len(names)) + ")"
    cols = "(" + ", ".join(db.quote(n) for n in names) + ")"
    return f"{cols} IN ({', '.join([row] * len(keys))})", [db.dialect.param(v) for k in keys for v in k]


def _repair(cur: Cursor, reader: SourceReader, writer: Any, dst: Side, key: Sequence[str],
            findings: diff.Findings) -> int:
    """Upsert the branch's version of the missing and changed rows (read in the verification's
    snapshot) and delete the extra rows of this pair; returns the rows written or deleted."""
    writer.prepare(cur)
    counts = Counts()
    names = [f.column.name for f in dst.keys]  # key order of both sides' streams
    for i in range(0, len(findings.to_write), IN_LIST):
        where, params = _key_in(reader.db, names, findings.to_write[i:i + IN_LIST])
        for chunk in reader.read(where, params):
            counts += writer.upsert(cur, chunk)
    deleted = 0
    for i in range(0, len(findings.to_delete), IN_LIST):
        where, params = _key_in(dst.db, names, findings.to_delete[i:i + IN_LIST])
        pair_where = f"{dst.where} AND " if dst.where else ""
        deleted += cur.execute(f"DELETE FROM {dst.db.quote(dst.table)} WHERE {pair_where}{where}",
                               [*dst.params, *params])
    return counts.processed + deleted
