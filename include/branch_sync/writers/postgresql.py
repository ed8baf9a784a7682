"""PostgreSQL target: COPY in, then one set-based upsert (``ON CONFLICT``) that skips unchanged rows."""

from __future__ import annotations

from collections.abc import Iterable

from include.common.db import Cursor
from include.branch_sync.reader import Chunk
from include.branch_sync.writers.base import Counts, Writer, adapt_value

# Types without an equality operator are compared as text when detecting changed rows.
_NO_EQUALITY = {"json", "xml", "point", "line", "lseg", "box", "path", "polygon", "circle"}


class PostgresWriter(Writer):
    def _copy(self, cur: Cursor, table: str, chunk: Chunk, columns: str | None = None) -> None:
        with cur.raw.copy(f"COPY {self.q(table)} ({columns or self.col_list}) FROM STDIN") as copy:
            if chunk.copy_format:
                copy.write(chunk.rows)
            else:
                for row in chunk.rows:
                    copy.write_row([adapt_value(v) for v in row])

    def prepare(self, cur: Cursor) -> None:
        cur.execute(f"CREATE TEMP TABLE IF NOT EXISTS {self.q(self.stage_table)} "
                    f"(LIKE {self.q(self.table)} INCLUDING DEFAULTS)")
        cur.execute(f"TRUNCATE {self.q(self.stage_table)}")

    def insert(self, cur: Cursor, chunk: Chunk) -> Counts:
        self._copy(cur, self.table, chunk)
        return Counts(processed=len(chunk))

    def upsert(self, cur: Cursor, chunk: Chunk) -> Counts:
        self._copy(cur, self.stage_table, chunk)
        processed = cur.execute(self._merge_sql())
        cur.execute(f"TRUNCATE {self.q(self.stage_table)}")
        return Counts(processed=processed, skipped=len(chunk) - processed)

    def stage(self, cur: Cursor, chunk: Chunk) -> None:
        self._copy(cur, self.stage_table, chunk)

    def merge_stage(self, cur: Cursor) -> Counts:
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

    def _merge_sql(self) -> str:
        conflict = ", ".join(self.q(k) for k in self.key)
        head = (f"INSERT INTO {self.q(self.table)} AS t ({self.col_list}) "
                f"SELECT {self.col_list} FROM {self.q(self.stage_table)} ON CONFLICT ({conflict}) DO ")
        if not self.value_columns:
            return head + "NOTHING"
        sets = ", ".join(f"{self.q(c)} = EXCLUDED.{self.q(c)}" for c in self.value_columns)

        def cmp(alias: str, c: str) -> str:
            base = self.target_types.get(c, "").split("(")[0].strip()
            return f"{alias}.{self.q(c)}::text" if base in _NO_EQUALITY else f"{alias}.{self.q(c)}"

        old = ", ".join(cmp("t", c) for c in self.value_columns)
        new = ", ".join(cmp("EXCLUDED", c) for c in self.value_columns)
        return head + f"UPDATE SET {sets} WHERE ROW({old}) IS DISTINCT FROM ROW({new})"
