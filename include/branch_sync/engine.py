"""Sync one (branch, table) pair into the central database.

Incremental tables are read by a keyset on ``(cursor, primary key...)`` in one REPEATABLE READ
snapshot and written chunk by chunk; every chunk commits its rows, its checkpoint (``sync_state``)
and its counts (``sync_progress``) in one target transaction, so a crash resumes at the last
committed chunk and the counts are never ahead of or behind the data. Rows that share one cursor
value across a chunk boundary are not lost because the key includes the primary key. A look-back
window re-reads rows stamped shortly before the previous run's snapshot (a long transaction can
commit them late); they are upserted, so re-reading costs a skip, not a duplicate. Rows whose
cursor is NULL (a nullable cursor column) never pass a watermark, so they are re-read the same way
every run; a NOT NULL cursor skips that read. A table with ``delete_missing`` then compares the
target's keys with the source's key set of the same snapshot and deletes the rows the source lost,
in the transaction that completes the run (counted in ``records_deleted``).

Tables without a cursor (and any table with ``full_refresh``) are refreshed in one target
transaction: a failure half-way leaves the previous data intact.

Rows travel in the form the target's writer chooses for the pair (``Writer.wire``: binary COPY,
CSV for LOAD DATA, COPY text or tuples, see :mod:`include.branch_sync.wire`); a writer may build a
new table's primary key after its initial load (``Writer.begin_load``/``end_load``).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import time
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

from include.branch_sync import tracking
from include.branch_sync.checkpoint import Checkpoint, Checkpoints, decode_value
from include.branch_sync.columns import add_column_sql, create_table_sql
from include.branch_sync.config import BRANCH_COLUMN, SyncConfig, TableSpec
from include.branch_sync.reader import Chunk, SourceReader, dumps
from include.branch_sync.writers import Counts, Writer, writer_for
from include.common.db import Cursor, Database, PermanentError
from include.common.db.columns import TEMPORAL_KINDS, Column
from include.common.db.errors import error_code

log = logging.getLogger(__name__)

# DDL races between branches creating one shared target table: the loser re-reads and goes on.
_DDL_RACE_CODES = {"42P07", "23505", "42701", 1050, 1060}


@dataclass
class SyncResult:
    connection: str
    table: str
    mode: str  # initial | incremental | full_refresh
    rows_read: int
    processed: int
    skipped: int
    deleted: int
    seconds: float


def sync_pair(config: SyncConfig, spec: TableSpec, connection: str, batch_id: str | None = None, *,
              full_refresh: bool = False, source: Database | None = None,
              target: Database | None = None) -> SyncResult:
    """Sync the table of ``spec`` from branch ``connection`` into ``config.target``; ``source`` and
    ``target`` are open databases to reuse (a work unit syncs its tables over one of each), else
    the pair opens and closes its own."""
    started = time.monotonic()
    if spec.single_source and connection != spec.single_source:
        raise PermanentError(f"table {spec.table!r} is read from {spec.single_source!r} only, not {connection!r}")
    branch_value = connection if spec.per_branch else None
    with ExitStack() as opened:
        source = source or opened.enter_context(Database(connection))
        target = target or opened.enter_context(Database(config.target, local_infile=True))
        columns = source.run(lambda cur: source.dialect.describe(cur, spec.table), what="describe source table")
        if columns is None:
            raise PermanentError(f"source table {spec.table!r} does not exist on connection {connection!r}")
        _check_columns(spec, columns, connection)
        target_columns = _ensure_target(target, spec, columns, per_branch=spec.per_branch)
        writer = writer_for(target, spec.target_table, columns, spec.target_key, branch_value, target_columns)
        key_cols = [spec.cursor, *spec.primary_key] if spec.cursor else list(spec.primary_key)
        wire = writer.wire(source.dialect, key_cols)
        if wire.note:
            log.warning("%s from %s: %s", spec.table, connection, wire.note)
        reader = SourceReader(source, spec.table, columns, branch_value, wire, chunk_rows=config.chunk_rows)
        checkpoints = Checkpoints(target, connection, spec.table, spec.cursor, batch_id)
        run = _PairRun(spec, connection, batch_id, reader, writer, target, checkpoints,
                       dumps([c.name for c in columns]))
        if spec.cursor is None or full_refresh:
            mode, rows_read, counts = "full_refresh", *run.full_refresh()
        else:
            mode, rows_read, counts = run.incremental()
    result = SyncResult(connection, spec.table, mode, rows_read, counts.processed, counts.skipped,
                        counts.deleted, round(time.monotonic() - started, 3))
    log.info("synced %s.%s (%s, %s): %d read, %d written, %d unchanged, %d deleted in %.1fs", connection,
             spec.table, mode, reader.wire.form, rows_read, counts.processed, counts.skipped, counts.deleted,
             result.seconds)
    return result


def _check_columns(spec: TableSpec, columns: list[Column], connection: str) -> None:
    names = {c.name for c in columns}
    wanted = [*spec.primary_key, *([spec.cursor] if spec.cursor else [])]
    missing = [c for c in wanted if c not in names]
    if missing:
        raise PermanentError(
            f"source table {spec.table!r} on {connection!r} has no column(s) {', '.join(missing)} "
            f"(named in the sync config as primary_key/cursor)")
    if spec.per_branch and BRANCH_COLUMN in names:
        raise PermanentError(f"source table {spec.table!r} already has a column {BRANCH_COLUMN!r}")


def _ensure_target(target: Database, spec: TableSpec, columns: list[Column], per_branch: bool) -> list[Column]:
    """Create the target table from the source's columns, or add the columns it lacks; the target's
    columns as it describes them. A dialect that can (``defer_primary_key``) creates the table
    without its primary key: the initial load builds it after the rows (see the writer)."""

    def work(cur: Cursor) -> list[Column]:
        existing = target.dialect.describe(cur, spec.target_table)
        if existing is None:
            cur.execute(create_table_sql(target, spec.target_table, columns, spec.target_key,
                                         BRANCH_COLUMN if per_branch else None, target.dialect.table_options(cur),
                                         with_key=not target.dialect.defer_primary_key))
        else:
            folded = target.dialect.lossy_key_columns(cur, spec.target_table, spec.primary_key)
            if folded:
                raise PermanentError(
                    f"target table {spec.target_table!r}: key column(s) "
                    f"{', '.join(f'{c!r} (collation {coll})' for c, coll in folded)} compare case-, accent- or "
                    f"space-insensitively, so keys distinct at the source ('abc', 'ABC', 'abc ') would merge "
                    f"into one row; convert them to a binary collation (MariaDB: utf8mb4_nopad_bin) or drop the "
                    f"table so that the sync creates it")
            have = {c.name for c in existing}
            if per_branch and BRANCH_COLUMN not in have:
                raise PermanentError(
                    f"target table {spec.target_table!r} exists without the {BRANCH_COLUMN!r} key column "
                    f"that a table read from every branch needs")
            missing = [c for c in columns if c.name not in have]
            for column in missing:
                log.info("adding column %s to target table %s", column.name, spec.target_table)
                cur.execute(add_column_sql(target, spec.target_table, column))
            if not missing:
                return existing
        return target.dialect.describe(cur, spec.target_table) or []

    for attempt in range(3):
        try:
            return target.run(work, what="prepare target table")
        except Exception as exc:
            raced = error_code(exc) in _DDL_RACE_CODES
            if not raced or attempt == 2:
                raise
    raise AssertionError("unreachable")


class _PairRun:
    def __init__(self, spec: TableSpec, connection: str, batch_id: str | None, reader: SourceReader,
                 writer: Writer, target: Database, checkpoints: Checkpoints, signature: str):
        self.spec = spec
        self.connection = connection
        self.batch_id = batch_id
        self.reader = reader
        self.writer = writer
        self.target = target
        self.checkpoints = checkpoints
        self.signature = signature

    def save_state(self, cur: Cursor, key: list[Any] | None, clock: str | None, complete: bool) -> None:
        self.checkpoints.save(cur, key, clock, self.signature, complete, read_sorted=bool(self.reader.sorted_reads))

    def check_source_key(self) -> None:
        """Refuse a configured key that the source holds twice (no key constraint there): the
        target keeps one row per key, so the second would overwrite the first without a word."""
        duplicate = self.reader.duplicate_key(self.spec.primary_key)
        if duplicate:
            values, n = duplicate
            raise PermanentError(
                f"source table {self.spec.table!r} on {self.connection!r} holds key "
                f"({', '.join(self.spec.primary_key)}) = ({', '.join(map(repr, values))}) in {n} rows: the "
                f"configured primary_key is not unique there, and the target keeps one row per key. Fix the "
                f"duplicates or configure a unique key (a unique index at the source skips this check)")

    def count(self, cur: Cursor, counts: Counts) -> None:
        if self.batch_id:
            tracking.add_counts(cur, self.batch_id, self.connection, self.spec.table,
                                counts.processed, counts.skipped, counts.deleted)

    # -- modes ----------------------------------------------------------------------------------------
    def full_refresh(self) -> tuple[int, Counts]:
        """One target transaction; the read needs no order (nothing resumes inside it), and a table
        with a cursor leaves its checkpoint at its greatest key for the incremental runs after it."""
        key_cols = [self.spec.cursor, *self.spec.primary_key] if self.spec.cursor else []
        clock = self.reader.begin(self.spec.cursor)
        counts, rows_read = Counts(), 0
        _, direct = self._start(load_state=False)
        loaded = False
        try:
            self.check_source_key()
            self.writer.begin_load(direct)
            last_key = self.reader.last_key(key_cols) if key_cols else None
            with self.target.transaction() as cur:
                for chunk in self.reader.read():
                    if direct:
                        counts += self.writer.insert(cur, chunk)
                    else:
                        self.writer.stage(cur, chunk)
                    rows_read += len(chunk)  # counted once written: COPY rows arrive as they are written
                if not direct:
                    counts += self.writer.merge_stage(cur)
                self.save_state(cur, last_key, clock, complete=True)
                self.count(cur, counts)
            loaded = True
        finally:
            self._end_load(loaded)
            self.reader.end()
        return rows_read, counts

    def incremental(self) -> tuple[str, int, Counts]:
        spec = self.spec
        key_cols = [spec.cursor, *spec.primary_key]
        state, direct = self._start(load_state=True)
        resumable = bool(state and state.key and state.signature == self.signature)
        checkpoint = state.key if resumable and state else None
        previous_clock = state.clock if resumable and state else None
        cursor_column = next(c for c in self.reader.columns if c.name == spec.cursor)
        clock = self.reader.begin(spec.cursor)
        counts, rows_read = Counts(), 0
        mode = "initial" if direct else "incremental"
        loaded = False
        try:
            self.check_source_key()
            rereads = []  # rows at or before the checkpoint that may have changed: upserted, in no order
            if checkpoint and cursor_column.nullable:
                rereads.append(self.reader.null_cursor_rows(key_cols, checkpoint))
            if checkpoint and previous_clock and spec.lookback_seconds and cursor_column.kind in TEMPORAL_KINDS:
                since = _minus_lookback(decode_value(json.loads(previous_clock)), spec.lookback_seconds)
                window = self.reader.window(key_cols, since, checkpoint)
                rereads += [window] if window else []
            self.writer.begin_load(direct and not rereads)
            for where, params in rereads:
                for chunk in self.reader.read(where, params):
                    with self.target.transaction() as cur:
                        written = self.writer.upsert(cur, chunk)
                        self.count(cur, written)
                    counts += written
                    rows_read += len(chunk)
            ranges = self.reader.keyset(key_cols, checkpoint)
            finished = False
            for n, (where, params, order) in enumerate(ranges, 1):
                for chunk in self.reader.read(where, params, key_cols, order):
                    with self.target.transaction() as cur:
                        written = (self.writer.insert if direct else self.writer.upsert)(cur, chunk)
                        self.count(cur, written)
                        # The run's last chunk completes it in its own transaction (one commit
                        # less per pair); any other saves where to resume.
                        finished = n == len(ranges) and chunk.final
                        if finished:
                            written += self._finish(cur, chunk.last_key, clock or previous_clock, direct)
                        else:
                            self.save_state(cur, chunk.last_key, previous_clock, complete=False)
                    counts += written
                    rows_read += len(chunk)
                    checkpoint = chunk.last_key
            if not finished:
                with self.target.transaction() as cur:
                    counts += self._finish(cur, checkpoint, clock or previous_clock, direct)
            loaded = True
        finally:
            self._end_load(loaded)
            self.reader.end()
        if self.reader.sorted_reads:
            log.warning("%s from %s: the branch sorted every row it read (ORDER BY %s): no index serves the "
                        "read; create one on (%s) at the branch", spec.table, self.connection,
                        "; ".join(self.reader.sorted_reads), ", ".join(key_cols))
        return mode, rows_read, counts

    def _start(self, load_state: bool) -> tuple[Checkpoint | None, bool]:
        """One target transaction before the reads: the pair's checkpoint (where asked), the
        session's empty staging table, and whether the target holds none of this pair's rows (a
        direct load: inserts only)."""
        with self.target.transaction() as cur:
            state = self.checkpoints.load(cur) if load_state else None
            self.writer.prepare(cur)
            return state, not self.writer.target_has_rows(cur)

    def _finish(self, cur: Cursor, key: list[Any] | None, clock: str | None, direct: bool) -> Counts:
        """Complete an incremental run inside ``cur``'s transaction: delete what the source lost
        (``delete_missing``) and save the checkpoint as complete."""
        deleted = Counts()
        if self.spec.delete_missing and not direct:
            deleted = Counts(deleted=self._delete_missing(cur))
            self.count(cur, deleted)
        self.save_state(cur, key, clock, complete=True)
        return deleted

    def _end_load(self, loaded: bool) -> None:
        if loaded:
            self.writer.end_load()
            return
        try:  # after a failure: release what the load held, without hiding the failure
            self.writer.end_load(build=False)
        except Exception as exc:
            log.warning("%s from %s: releasing the load failed too (%s)", self.spec.table, self.connection, exc)

    def _delete_missing(self, cur: Cursor) -> int:
        """Delete the rows the source no longer has, by the key set of this same snapshot. After
        the incremental read the target holds every source row, so equal row counts mean nothing
        was deleted: two counts instead of a key scan in the common case."""
        source_rows, target_rows = self.reader.count(), self.writer.count_rows(cur)
        if source_rows == target_rows:
            return 0
        if target_rows < source_rows:
            log.warning("%s from %s: the target holds %d rows, the source %d; comparing keys", self.spec.table,
                        self.connection, target_rows, source_rows)
        return self.writer.delete_missing(cur, self.reader.keys(self.spec.primary_key))


def _minus_lookback(value: Any, seconds: int) -> Any:
    if isinstance(value, dt.datetime):
        return value - dt.timedelta(seconds=seconds)
    if isinstance(value, dt.date):
        return value - dt.timedelta(days=max(1, math.ceil(seconds / 86400)))
    return value
