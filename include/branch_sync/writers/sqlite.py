"""SQLite target (the embedded demo): ``INSERT ... ON CONFLICT DO UPDATE ... WHERE`` changed."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from include.common.db import Cursor
from include.branch_sync.reader import Chunk
from include.branch_sync.writers.base import Counts, Writer, adapt_value


def _adapt(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)  # kept exact as text
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.timezone.utc)
        return value.isoformat(sep=" ")
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, bool):
        return int(value)
    return adapt_value(value)


class SqliteWriter(Writer):
    def _upsert_sql(self, source: str) -> str:
        conflict = ", ".join(self.q(k) for k in self.key)
        head = f"INSERT INTO {self.q(self.table)} AS t ({self.col_list}) {source} ON CONFLICT ({conflict}) DO "
        if not self.value_columns:
            return head + "NOTHING"
        sets = ", ".join(f"{self.q(c)} = excluded.{self.q(c)}" for c in self.value_columns)
        same = " AND ".join(f"t.{self.q(c)} IS excluded.{self.q(c)}" for c in self.value_columns)
        return head + f"UPDATE SET {sets} WHERE NOT ({same})"

    def _changes(self, cur: Cursor) -> int:
        return cur.db.raw.total_changes

    def prepare(self, cur: Cursor) -> None:
        cur.execute(f"CREATE TEMP TABLE IF NOT EXISTS {self.q(self.stage_table)} AS "
                    f"SELECT {self.col_list} FROM {self.q(self.table)} WHERE 0")
        cur.execute(f"DELETE FROM {self.q(self.stage_table)}")

    def insert(self, cur: Cursor, chunk: Chunk) -> Counts:
        return self.upsert(cur, chunk)

    def upsert(self, cur: Cursor, chunk: Chunk) -> Counts:
        before = self._changes(cur)
        marks = ", ".join(["%s"] * len(self.names))
        cur.executemany(self._upsert_sql(f"VALUES ({marks})"), [[_adapt(v) for v in row] for row in chunk.rows])
        processed = self._changes(cur) - before
        return Counts(processed=processed, skipped=len(chunk) - processed)

    def stage(self, cur: Cursor, chunk: Chunk) -> None:
        marks = ", ".join(["%s"] * len(self.names))
        cur.executemany(f"INSERT INTO {self.q(self.stage_table)} ({self.col_list}) VALUES ({marks})",
                        [[_adapt(v) for v in row] for row in chunk.rows])

    def merge_stage(self, cur: Cursor) -> Counts:
        staged = int(cur.scalar(f"SELECT COUNT(*) FROM {self.q(self.stage_table)}"))
        before = self._changes(cur)
        cur.execute(self._upsert_sql(f"SELECT {self.col_list} FROM {self.q(self.stage_table)} WHERE true"))
        processed = self._changes(cur) - before
        where, params = self.branch_filter()
        keys = ", ".join(self.q(k) for k in self.key)
        deleted = cur.execute(
            f"DELETE FROM {self.q(self.table)} WHERE {where + ' AND ' if where else ''}"
            f"({keys}) NOT IN (SELECT {keys} FROM {self.q(self.stage_table)})", params)
        cur.execute(f"DELETE FROM {self.q(self.stage_table)}")
        return Counts(processed=processed, skipped=staged - processed, deleted=deleted)

    def delete_missing(self, cur: Cursor, keys: Iterable[Chunk]) -> int:
        cols = ", ".join(self.q(k) for k in self.key_names)
        cur.execute(f"CREATE TEMP TABLE IF NOT EXISTS {self.q(self.keys_table)} AS "
                    f"SELECT {cols} FROM {self.q(self.table)} WHERE 0")
        cur.execute(f"DELETE FROM {self.q(self.keys_table)}")
        marks = ", ".join(["%s"] * len(self.key_names))
        for chunk in keys:
            cur.executemany(f"INSERT INTO {self.q(self.keys_table)} ({cols}) VALUES ({marks})",
                            [[_adapt(v) for v in row] for row in chunk.rows])
        where, params = self.branch_filter()
        deleted = cur.execute(
            f"DELETE FROM {self.q(self.table)} WHERE {where + ' AND ' if where else ''}"
            f"({cols}) NOT IN (SELECT {cols} FROM {self.q(self.keys_table)})", params)
        cur.execute(f"DELETE FROM {self.q(self.keys_table)}")
        return deleted
