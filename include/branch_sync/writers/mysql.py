"""MySQL/MariaDB target: multi-row ``INSERT ... ON DUPLICATE KEY UPDATE`` in bounded statements.

The server's own report of each statement ("Records: N  Duplicates: D" and the affected-rows
count: 1 per insert, 2 per update, 0 per unchanged row) gives exact processed/skipped counts.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from decimal import Decimal
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from include.common.db import Cursor, PermanentError
from include.common.db.columns import Unbounded
from include.branch_sync.reader import Chunk
from include.branch_sync.writers.base import Counts, Writer, adapt_value

_MAX_ROWS = 1000
_MAX_BYTES = 4 * 1024 * 1024  # well under the default max_allowed_packet (16 MiB)
_INFO = re.compile(rb"Records:\s*(\d+)\s+Duplicates:\s*(\d+)")


def _adapt(value: Any) -> Any:
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.astimezone(dt.timezone.utc).replace(tzinfo=None)
    if isinstance(value, dt.time) and value.tzinfo is not None:
        return value.replace(tzinfo=None)
    return adapt_value(value)


def _unstorable(value: Any) -> bool:
    """Values MySQL/MariaDB have no column type for: NaN and infinities (DOUBLE, DECIMAL,
    DATETIME). Stored as anything else they would change meaning, so they are refused by name."""
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, Decimal):
        return not value.is_finite()
    return isinstance(value, Unbounded)


def _batches(rows: Sequence[Sequence[Any]], table: str, names: Sequence[str]) -> Iterator[list[list[Any]]]:
    batch: list[list[Any]] = []
    size = 0
    for row in rows:
        adapted = [_adapt(v) for v in row]
        for name, value in zip(names, adapted):
            if _unstorable(value):
                raise PermanentError(f"table {table!r} column {name!r}: value {str(value)!r} cannot be stored "
                                     f"in MySQL/MariaDB (no NaN or infinity there); change it at the source "
                                     f"or sync this table into PostgreSQL")
        size += sum(len(v) if isinstance(v, (str, bytes)) else 8 for v in adapted)
        batch.append(adapted)
        if len(batch) >= _MAX_ROWS or size >= _MAX_BYTES:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


class MySqlWriter(Writer):
    def _statement(self, table: str, n: int, upsert: bool) -> str:
        marks = "(" + ", ".join(["%s"] * len(self.names)) + ")"
        sql = f"INSERT INTO {self.q(table)} ({self.col_list}) VALUES " + ", ".join([marks] * n)
        return sql + self._on_duplicate() if upsert else sql

    def _on_duplicate(self) -> str:
        cols = self.value_columns or [self.key[0]]
        return " ON DUPLICATE KEY UPDATE " + ", ".join(f"{self.q(c)} = VALUES({self.q(c)})" for c in cols)

    def _counts(self, cur: Cursor, rows: int, affected: int) -> Counts:
        """Exact inserted/updated/unchanged split from the server's statement report.

        Affected rows count 1 per insert, 2 per update, 0 per unchanged row. MariaDB's
        "Duplicates" counts the rows it changed; MySQL's counts every duplicate-key row."""
        info = cur.db.raw.info()
        if isinstance(info, str):
            info = info.encode()
        match = _INFO.search(info or b"")
        if match is None:  # single-row statements carry no report
            inserted, updated = (1, 0) if affected == 1 else (0, 1 if affected == 2 else 0)
        elif self._mariadb(cur):
            updated = int(match.group(2))
            inserted = affected - 2 * updated
        else:
            inserted = int(match.group(1)) - int(match.group(2))
            updated = (affected - inserted) // 2
        return Counts(processed=inserted + updated, skipped=rows - inserted - updated)

    def _mariadb(self, cur: Cursor) -> bool:
        if not hasattr(self, "_is_mariadb"):
            self._is_mariadb = "mariadb" in cur.db.raw.get_server_info().lower()
        return self._is_mariadb

    def prepare(self, cur: Cursor) -> None:
        cur.execute(f"CREATE TEMPORARY TABLE IF NOT EXISTS {self.q(self.stage_table)} LIKE {self.q(self.table)}")
        cur.execute(f"DELETE FROM {self.q(self.stage_table)}")

    def insert(self, cur: Cursor, chunk: Chunk) -> Counts:
        return self.upsert(cur, chunk)

    def upsert(self, cur: Cursor, chunk: Chunk) -> Counts:
        total = Counts()
        for batch in _batches(chunk.rows, self.table, self.names):
            affected = cur.execute(self._statement(self.table, len(batch), True), [v for r in batch for v in r])
            total += self._counts(cur, len(batch), affected)
        return total

    def stage(self, cur: Cursor, chunk: Chunk) -> None:
        for batch in _batches(chunk.rows, self.table, self.names):
            cur.execute(self._statement(self.stage_table, len(batch), False), [v for r in batch for v in r])

    def merge_stage(self, cur: Cursor) -> Counts:
        staged = int(cur.scalar(f"SELECT COUNT(*) FROM {self.q(self.stage_table)}"))
        affected = cur.execute(
            f"INSERT INTO {self.q(self.table)} ({self.col_list}) SELECT {self.col_list} FROM {self.q(self.stage_table)}"
            + self._on_duplicate())
        counts = self._counts(cur, staged, affected) if staged else Counts()
        where, params = self.branch_filter("t")
        join = " AND ".join(f"s.{self.q(k)} = t.{self.q(k)}" for k in self.key)
        counts.deleted = cur.execute(
            f"DELETE t FROM {self.q(self.table)} t LEFT JOIN {self.q(self.stage_table)} s ON {join} "
            f"WHERE s.{self.q(self.key[0])} IS NULL" + (f" AND {where}" if where else ""), params)
        cur.execute(f"DELETE FROM {self.q(self.stage_table)}")
        return counts

    def delete_missing(self, cur: Cursor, keys: Iterable[Chunk]) -> int:
        cols = ", ".join(self.q(k) for k in self.key_names)
        cur.execute(f"CREATE TEMPORARY TABLE IF NOT EXISTS {self.q(self.keys_table)} (PRIMARY KEY ({cols})) "
                    f"SELECT {cols} FROM {self.q(self.table)} LIMIT 0")
        cur.execute(f"DELETE FROM {self.q(self.keys_table)}")
        marks = "(" + ", ".join(["%s"] * len(self.key_names)) + ")"
        for chunk in keys:
            for batch in _batches(chunk.rows, self.table, self.key_names):
                cur.execute(f"INSERT INTO {self.q(self.keys_table)} ({cols}) VALUES " + ", ".join([marks] * len(batch)),
                            [v for r in batch for v in r])
        where, params = self.branch_filter("t")
        join = " AND ".join(f"k.{self.q(c)} = t.{self.q(c)}" for c in self.key_names)
        deleted = cur.execute(
            f"DELETE t FROM {self.q(self.table)} t LEFT JOIN {self.q(self.keys_table)} k ON {join} "
            f"WHERE k.{self.q(self.key_names[0])} IS NULL" + (f" AND {where}" if where else ""), params)
        cur.execute(f"DELETE FROM {self.q(self.keys_table)}")
        return deleted
