"""PostgreSQL target: COPY in (binary where the branch's types match, else text or rows), then one
set-based upsert (``ON CONFLICT``) that skips unchanged rows.

An initial load into a table the sync created without its primary key (:attr:`defer_primary_key`)
builds the key after the rows are in; every other write needs the key and builds it first. Each
chunk commits with ``synchronous_commit = off``: its rows, checkpoint and counts commit together,
so a commit a server crash loses is simply read again.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Sequence

from include.branch_sync.columns import primary_key_order
from include.branch_sync.config import BRANCH_COLUMN
from include.branch_sync.reader import Chunk
from include.branch_sync.wire import Wire
from include.branch_sync.writers.base import Counts, Writer, adapt_value
from include.common.db import Cursor
from include.common.db.dialects import Dialect
from include.common.db.dialects.postgresql import BINARY_HEADER, BINARY_TRAILER
from include.common.db.errors import error_code

log = logging.getLogger(__name__)

# Types without an equality operator are compared as text when detecting changed rows.
_NO_EQUALITY = {"json", "xml", "point", "line", "lseg", "box", "path", "polygon", "circle"}
# Built-in types (OIDs below FirstNormalObjectId) have one binary format in every database; a type
# created in a database (an enum, a composite) has an OID of its own there.
_FIRST_NORMAL_OID = 16384
_TEXT_OIDS = {"text": 25, "character varying": 1043}
# Strings share one binary format (the target applies its own length, as it does to text).
_STRING_OIDS = {25, 1042, 1043}
# Casts at the source that give exactly what the target would parse from the text: wider integers.
_WIDENING = {(21, 23): "integer", (21, 20): "bigint", (23, 20): "bigint",
             (21, 1700): "numeric", (23, 1700): "numeric", (20, 1700): "numeric"}
# Key types whose binary value decodes exactly (a chunk's last key becomes its checkpoint).
_KEY_OIDS = {16, 17, 19, 20, 21, 23, 25, 26, 700, 701, 1042, 1043, 1082, 1083, 1114, 1184, 1700, 2950}
_DUPLICATE_KEY_CODES = {"42P16", "42P07"}  # another pair built the key first


class PostgresWriter(Writer):
    _keyed = False  # the table had its primary key when the pair began (see prepare)

    def wire(self, source: Dialect, key_columns: Sequence[str]) -> Wire:
        """Binary where every column's type is the target column's type (a typmod may differ: the
        target applies its own, as it does to text) or the target column is text; COPY text where
        a column differs otherwise."""
        if "binary" not in source.copy_forms or type(source) is not type(self.db.dialect):
            return super().wire(source, key_columns)
        selects, oids = [], []
        for column in self.columns:
            target_oid = self.target_oids.get(column.name)
            target_type = self.target_types.get(column.name, "")
            source_oid = column.type_oid
            if source_oid is not None and source_oid < _FIRST_NORMAL_OID and (
                    source_oid == target_oid or {source_oid, target_oid} <= _STRING_OIDS):
                selects.append(self.q(column.name))
                oids.append(source_oid)
            elif (source_oid, target_oid) in _WIDENING:
                selects.append(f"CAST({self.q(column.name)} AS {_WIDENING[source_oid, target_oid]})")
                oids.append(target_oid)
            elif target_type in _TEXT_OIDS:
                selects.append(f"CAST({self.q(column.name)} AS {target_type})")
                oids.append(_TEXT_OIDS[target_type])
            else:
                return Wire("text", note=f"column {column.name!r} is {column.source_type} at the branch and "
                                         f"{target_type or 'missing'} at the target: COPY text, parsed by the target")
            if column.name in key_columns and oids[-1] not in _KEY_OIDS:
                return Wire("text", note=f"key column {column.name!r} ({column.source_type}) has no exact binary "
                                         f"decoding for its checkpoint: COPY text")
        return Wire("binary", tuple(selects), tuple(oids))

    def _copy(self, cur: Cursor, table: str, chunk: Chunk, columns: str | None = None) -> int:
        """COPY the chunk into ``table`` block by block as its rows arrive; the rows the COPY itself
        reports, which must be the rows the branch sent."""
        binary = chunk.form == "binary"
        with cur.raw.copy(f"COPY {self.q(table)} ({columns or self.col_list}) FROM STDIN"
                          + (" (FORMAT binary)" if binary else "")) as copy:
            if chunk.form == "rows":
                for row in chunk.rows:
                    copy.write_row([adapt_value(v) for v in row])
            else:
                if binary:  # each chunk is a whole binary COPY stream of its own
                    copy.write(BINARY_HEADER)
                for block in chunk.blocks():
                    copy.write(block)
                if binary:
                    copy.write(BINARY_TRAILER)
        copied = cur.raw.rowcount
        if copied != len(chunk):
            raise RuntimeError(f"COPY into {table!r} took {copied} rows of a chunk of {len(chunk)}")
        return copied

    def _begin_write(self, cur: Cursor, *, stage: bool = False) -> None:
        """One round trip before a write: the chunk's commit does not wait for its WAL flush;
        ``stage``: and the session's staging table exists, created on first use (a pair with
        nothing to upsert never makes one). It is emptied by every commit (no TRUNCATE per chunk,
        a new file each time); an upsert also takes its rows out as it merges them, for callers
        that upsert twice in one transaction."""
        cur.execute("SET LOCAL synchronous_commit = off" + (
            f"; CREATE TEMP TABLE IF NOT EXISTS {self.q(self.stage_table)} "
            f"(LIKE {self.q(self.table)} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS" if stage else ""))

    def prepare(self, cur: Cursor) -> None:
        self._keyed = self._key_in(cur)  # asked in the pair's first transaction, for begin_load

    def insert(self, cur: Cursor, chunk: Chunk) -> Counts:
        self._begin_write(cur)
        return Counts(processed=self._copy(cur, self.table, chunk))

    def upsert(self, cur: Cursor, chunk: Chunk) -> Counts:
        self._begin_write(cur, stage=True)
        staged = self._copy(cur, self.stage_table, chunk)
        processed = cur.execute(self._merge_sql(consume=True))
        return Counts(processed=processed, skipped=staged - processed)

    def stage(self, cur: Cursor, chunk: Chunk) -> None:
        self._begin_write(cur, stage=True)
        self._copy(cur, self.stage_table, chunk)

    def merge_stage(self, cur: Cursor) -> Counts:
        self._begin_write(cur, stage=True)  # a full refresh that read no rows staged none
        staged = cur.scalar(f"SELECT COUNT(*) FROM {self.q(self.stage_table)}")
        processed = cur.execute(self._merge_sql())
        where, params = self.branch_filter("t")
        match = " AND ".join(f"s.{self.q(k)} = t.{self.q(k)}" for k in self.key)
        deleted = cur.execute(
            f"DELETE FROM {self.q(self.table)} t WHERE {where + ' AND ' if where else ''}"
            f"NOT EXISTS (SELECT 1 FROM {self.q(self.stage_table)} s WHERE {match})", params)
        cur.execute(f"TRUNCATE {self.q(self.stage_table)}")
        return Counts(processed=processed, skipped=int(staged) - processed, deleted=deleted)

    def delete_missing(self, cur: Cursor, keys: Iterable[Chunk]) -> int:
        cols = ", ".join(self.q(k) for k in self.key_names)
        cur.execute(f"CREATE TEMP TABLE IF NOT EXISTS {self.q(self.keys_table)} AS "
                    f"SELECT {cols} FROM {self.q(self.table)} WHERE false")
        cur.execute(f"TRUNCATE {self.q(self.keys_table)}")
        for chunk in keys:
            self._copy(cur, self.keys_table, chunk, cols)
        cur.execute(f"ANALYZE {self.q(self.keys_table)}")  # a hash anti-join, not a nested loop
        where, params = self.branch_filter("t")
        match = " AND ".join(f"k.{self.q(c)} = t.{self.q(c)}" for c in self.key_names)
        deleted = cur.execute(
            f"DELETE FROM {self.q(self.table)} t WHERE {where + ' AND ' if where else ''}"
            f"NOT EXISTS (SELECT 1 FROM {self.q(self.keys_table)} k WHERE {match})", params)
        cur.execute(f"TRUNCATE {self.q(self.keys_table)}")
        return deleted

    def _merge_sql(self, consume: bool = False) -> str:
        """The upsert of the staged rows; ``consume``: taking them out of the stage as it goes."""
        conflict = ", ".join(self.q(k) for k in self.key)
        staged = self.q(self.stage_table)
        head = (f"WITH staged AS (DELETE FROM {staged} RETURNING {self.col_list}) " if consume else "") + (
            f"INSERT INTO {self.q(self.table)} AS t ({self.col_list}) "
            f"SELECT {self.col_list} FROM {'staged' if consume else staged} ON CONFLICT ({conflict}) DO ")
        if not self.value_columns:
            return head + "NOTHING"
        sets = ", ".join(f"{self.q(c)} = EXCLUDED.{self.q(c)}" for c in self.value_columns)

        def cmp(alias: str, c: str) -> str:
            base = self.target_types.get(c, "").split("(")[0].strip()
            return f"{alias}.{self.q(c)}::text" if base in _NO_EQUALITY else f"{alias}.{self.q(c)}"

        old = ", ".join(cmp("t", c) for c in self.value_columns)
        new = ", ".join(cmp("EXCLUDED", c) for c in self.value_columns)
        return head + f"UPDATE SET {sets} WHERE ROW({old}) IS DISTINCT FROM ROW({new})"

    # -- the primary key of a table created without it -------------------------------------------------
    def begin_load(self, direct: bool) -> None:
        """A direct (initial) load into a table without its key leaves the key for later, and says
        so with a shared advisory lock that other branches loading into the same table share; any
        other write builds the key first (ON CONFLICT needs it)."""
        self._deferring = False
        if self._keyed or self._has_key():  # a key, once built, stays
            return
        if not direct:
            self._build_key("before upserting")
            return
        self.db.run(lambda cur: cur.execute("SELECT pg_advisory_lock_shared(%s)", (self._lock_id,)),
                    what="share the deferred primary key")
        self._deferring = True
        if self._has_key():  # built while this pair waited for the lock
            self.end_load(build=False)

    def end_load(self, *, build: bool = True) -> None:
        """After a direct load: the last branch to finish loading builds the key. The shared lock is
        released first, so that of two pairs finishing together at least one gets the exclusive
        lock; a pair that does not (others still load) leaves the key to them, and a pair whose
        load failed leaves it to its next run, which builds it before it upserts."""
        if not getattr(self, "_deferring", False):
            return
        self._deferring = False

        def last_one(cur: Cursor) -> bool:
            cur.execute("SELECT pg_advisory_unlock_shared(%s)", (self._lock_id,))
            return bool(build and cur.scalar("SELECT pg_try_advisory_lock(%s)", (self._lock_id,)))

        if not self.db.run(last_one, what="release the deferred primary key"):
            return
        try:
            if not self._has_key():
                self._build_key("after the initial load")
        finally:
            self.db.run(lambda cur: cur.execute("SELECT pg_advisory_unlock(%s)", (self._lock_id,)),
                        what="release the primary key build")

    @property
    def _lock_id(self) -> int:
        digest = hashlib.sha1(f"branch_sync primary key {self.table}".encode()).digest()
        return int.from_bytes(digest[:8], "big", signed=True)

    def _has_key(self) -> bool:
        return self.db.run(self._key_in, what="look for the primary key")

    def _key_in(self, cur: Cursor) -> bool:
        wanted = set(self.key)
        return any(set(k) == wanted for k in self.db.dialect.unique_keys(cur, self.table))

    def _build_key(self, when: str) -> None:
        branch = BRANCH_COLUMN if self.branch_value is not None else None
        cols = ", ".join(self.q(k) for k in primary_key_order(self.key, branch))
        log.info("building the primary key (%s) of %s %s", ", ".join(self.key), self.table, when)
        def build(cur: Cursor) -> None:
            cur.execute("SET LOCAL maintenance_work_mem = '256MB'")  # one sort in memory, not in runs on disk
            cur.execute(f"ALTER TABLE {self.q(self.table)} ADD PRIMARY KEY ({cols})")

        try:
            self.db.run(build, what="build the primary key")
        except Exception as exc:
            if error_code(exc) not in _DUPLICATE_KEY_CODES or not self._has_key():
                raise
