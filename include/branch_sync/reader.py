"""Reading a branch table in one consistent snapshot, streamed in chunks.

PostgreSQL to PostgreSQL streams COPY text rows (no Python value per field); every other pair
streams tuples from a server-side cursor. Each chunk carries the key of its last row, the
checkpoint a resumed sync continues from.
"""

from __future__ import annotations

import datetime as dt
import json
import queue
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from include.branch_sync.checkpoint import as_text, decode_value, encode_value
from include.branch_sync.config import BRANCH_COLUMN
from include.common.db import Cursor, Database
from include.common.db.columns import Column


@dataclass
class Chunk:
    rows: Any  # COPY text rows as one bytes blob (copy_format), or a list of tuples
    copy_format: bool
    last_key: list[Any] | None  # encoded key values of the last row (see encode_value)
    count: int = 0

    def __post_init__(self) -> None:
        if not self.copy_format:
            self.count = len(self.rows)

    def __len__(self) -> int:
        return self.count


_COPY_ESCAPES = {ord("b"): b"\b", ord("f"): b"\f", ord("n"): b"\n", ord("r"): b"\r", ord("t"): b"\t",
                 ord("v"): b"\v", ord("\\"): b"\\"}


def copy_field(raw: bytes) -> str | None:
    r"""One field of a COPY text row, unescaped (``\N`` is NULL)."""
    if raw == b"\\N":
        return None
    if b"\\" not in raw:
        return raw.decode()
    out = bytearray()
    i = 0
    while i < len(raw):
        ch = raw[i]
        if ch == 0x5C and i + 1 < len(raw):
            nxt = raw[i + 1]
            if nxt in _COPY_ESCAPES:
                out += _COPY_ESCAPES[nxt]
                i += 2
                continue
            if 0x30 <= nxt <= 0x37:
                j = i + 1
                while j < len(raw) and j < i + 4 and 0x30 <= raw[j] <= 0x37:
                    j += 1
                out.append(int(raw[i + 1:j], 8) & 0xFF)
                i = j
                continue
            if nxt == ord("x"):
                j = i + 2
                while j < len(raw) and j < i + 4 and chr(raw[j]) in "0123456789abcdefABCDEF":
                    j += 1
                out.append(int(raw[i + 2:j], 16))
                i = j
                continue
            out.append(nxt)
            i += 2
            continue
        out.append(ch)
        i += 1
    return out.decode()


# -- the reader ------------------------------------------------------------------------------------------
class SourceReader:
    """Reads one table of one branch inside a REPEATABLE READ, read-only snapshot."""

    def __init__(self, db: Database, table: str, columns: list[Column], branch_value: str | None,
                 copy_format: bool, chunk_rows: int):
        self.db = db
        self.table = table
        self.columns = columns
        self.branch_value = branch_value
        self.copy_format = copy_format and db.dialect.copy_text
        self.chunk_rows = chunk_rows
        self._by_name = {c.name: c for c in columns}

    @property
    def output_columns(self) -> list[str]:
        """Column order of every row read (the branch column last, when there is one)."""
        return [c.name for c in self.columns] + ([BRANCH_COLUMN] if self.branch_value is not None else [])

    def begin(self, cursor_column: str | None) -> str | None:
        """Open the snapshot; return the source's clock in the cursor's type (JSON of the tagged
        value) where the dialect gives one: the next run's look-back window starts there."""
        clock = self.db.dialect.begin_snapshot(self.db.raw, self._by_name.get(cursor_column or ""))
        return None if clock is None else json.dumps(encode_value(clock))

    def end(self) -> None:
        try:
            self.db.raw.rollback()
        except Exception:
            self.db.close()

    def count(self) -> int:
        """The table's rows in this snapshot."""
        return int(self._cursor().scalar(f"SELECT COUNT(*) FROM {self.db.quote(self.table)}"))

    def keys(self, key_columns: Sequence[str]) -> Iterator[Chunk]:
        """Every key of the table in this snapshot (the branch column last, where there is one),
        unordered: the key set a deletion check compares the target with."""
        wanted = set(key_columns)
        only_keys = SourceReader(self.db, self.table, [c for c in self.columns if c.name in wanted],
                                 self.branch_value, self.copy_format, self.chunk_rows)
        return only_keys.read()

    def _cursor(self) -> Cursor:
        """A cursor inside the open snapshot (nothing is committed on the read connection)."""
        return Cursor(self.db, self.db.raw.cursor())

    def duplicate_key(self, key_columns: Sequence[str]) -> tuple[list[Any], int] | None:
        """A key value held by more than one row, and how many, or None. Skipped (None) when a
        unique index of the source guarantees the key; otherwise one grouped scan of the table."""
        cur = self._cursor()
        if any(set(unique) <= set(key_columns) for unique in self.db.dialect.unique_keys(cur, self.table)):
            return None
        q = self.db.quote
        cols = ", ".join(q(c) for c in key_columns)
        rows = cur.fetch(f"SELECT {cols}, COUNT(*) AS n_rows_ FROM {q(self.table)} GROUP BY {cols} "
                         f"HAVING COUNT(*) > 1 LIMIT 1")
        if not rows:
            return None
        return [rows[0][c] for c in key_columns], int(rows[0]["n_rows_"])

    def _bind(self, column: Column, tagged: Sequence[Any]) -> tuple[str, Any]:
        return self.db.dialect.bind(column, decode_value(tagged), as_text(tagged))

    def after_key(self, key_columns: Sequence[str], key: Sequence[Sequence[Any]]) -> tuple[str, list[Any]]:
        """SQL for "rows after this (cursor, pk...) key" in keyset order (NULL cursors first)."""
        q = self.db.quote
        cols = [self._by_name[name] for name in key_columns]
        binds = [self._bind(c, v) for c, v in zip(cols, key)]
        cursor_col, pk_cols = cols[0], cols[1:]
        pk_sql = f"({', '.join(q(c.name) for c in pk_cols)}) > ({', '.join(b[0] for b in binds[1:])})"
        if key[0][1] is None:
            return (f"(({q(cursor_col.name)} IS NULL AND {pk_sql}) OR {q(cursor_col.name)} IS NOT NULL)",
                    [b[1] for b in binds[1:]])
        all_cols = ", ".join(q(c.name) for c in cols)
        return f"({all_cols}) > ({', '.join(b[0] for b in binds)})", [b[1] for b in binds]

    def window(self, key_columns: Sequence[str], since: Any, until_key: Sequence[Sequence[Any]]
               ) -> tuple[str, list[Any]]:
        """SQL for the look-back window: cursor >= since, up to and including the checkpoint key."""
        after_sql, after_params = self.after_key(key_columns, until_key)
        cursor_col = self._by_name[key_columns[0]]
        bind_sql, bind_value = self._bind(cursor_col, encode_value(since))
        return (f"{self.db.quote(cursor_col.name)} >= {bind_sql} AND NOT ({after_sql})",
                [bind_value, *after_params])

    def null_cursor_rows(self, key_columns: Sequence[str], until_key: Sequence[Sequence[Any]]
                         ) -> tuple[str, list[Any]]:
        """SQL for the rows whose cursor is NULL, up to and including the checkpoint key (the
        keyset puts NULLs first): a NULL never passes a watermark, so these are read every run."""
        q = self.db.quote
        cursor_sql = f"{q(key_columns[0])} IS NULL"
        if until_key[0][1] is not None:
            return cursor_sql, []  # the checkpoint is past every NULL
        binds = [self._bind(self._by_name[n], v) for n, v in zip(key_columns[1:], until_key[1:])]
        pk_sql = f"({', '.join(q(n) for n in key_columns[1:])}) <= ({', '.join(b[0] for b in binds)})"
        return f"{cursor_sql} AND {pk_sql}", [b[1] for b in binds]

    def order_by(self, key_columns: Sequence[str]) -> str:
        q = self.db.quote
        return ", ".join([q(key_columns[0]) + self.db.dialect.nulls_first, *(q(c) for c in key_columns[1:])])

    def read(self, where: str | None = None, params: Sequence[Any] = (), key_columns: Sequence[str] = ()
             ) -> Iterator[Chunk]:
        """Stream the selected rows in chunks, ordered by ``key_columns`` when given."""
        q = self.db.quote
        select = [self.db.dialect.select_column(c) for c in self.columns]
        params = list(params)
        if self.branch_value is not None:
            select.append(f"CAST(%s AS {self.db.dialect.text_cast})")
            params.insert(0, self.branch_value)
        sql = f"SELECT {', '.join(select)} FROM {q(self.table)}"
        if where:
            sql += f" WHERE {where}"
        if key_columns:
            sql += f" ORDER BY {self.order_by(key_columns)}"
        key_index = [self.output_columns.index(name) for name in key_columns]
        reading = self._read_copy(sql, params, key_index) if self.copy_format else self._read_tuples(sql, params, key_index)
        # Read the next chunk while the caller writes this one, as a COPY | COPY pipe does.
        yield from prefetched(reading, depth=2)

    def _read_copy(self, sql: str, params: list[Any], key_index: list[int]) -> Iterator[Chunk]:
        # One blob per chunk: a million row objects in a list cost more than reading them.
        with self.db.raw.cursor() as cur, cur.copy(f"COPY ({sql}) TO STDOUT", params) as copy:
            buffer, count, last = bytearray(), 0, b""
            for line in copy:
                buffer += line
                count += 1
                last = line
                if count >= self.chunk_rows:
                    yield Chunk(bytes(buffer), True, self._copy_key(last, key_index), count)
                    buffer, count = bytearray(), 0
            if count:
                yield Chunk(bytes(buffer), True, self._copy_key(last, key_index), count)

    @staticmethod
    def _copy_key(line: Any, key_index: list[int]) -> list[Any] | None:
        if not key_index:
            return None
        fields = bytes(line).rstrip(b"\n").split(b"\t")
        key = []
        for i in key_index:
            text = copy_field(fields[i])
            key.append(["n", None] if text is None else ["pg", text])
        return key

    def _read_tuples(self, sql: str, params: list[Any], key_index: list[int]) -> Iterator[Chunk]:
        cur = self.db.dialect.server_cursor(self.db.raw, self.chunk_rows)
        try:
            cur.execute(self.db.sql(sql), params)
            while True:
                rows = cur.fetchmany(self.chunk_rows)
                if not rows:
                    break
                last = rows[-1]
                yield Chunk(list(rows), False, [encode_value(last[i]) for i in key_index] if key_index else None)
        finally:
            cur.close()


def prefetched(items: Iterator[Chunk], depth: int) -> Iterator[Chunk]:
    """Run ``items`` in a thread, ``depth`` chunks ahead of the consumer. Errors of the producer
    surface in the consumer; a consumer that stops early stops the producer before returning."""
    done = object()
    slots: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        slots.put(item, timeout=0.2)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            slots.put(done)
        except BaseException as exc:  # handed to the consumer
            slots.put(exc)
        finally:
            if stop.is_set() and hasattr(items, "close"):
                items.close()  # type: ignore[union-attr]

    thread = threading.Thread(target=produce, name="sync-source-reader", daemon=True)
    thread.start()
    try:
        while True:
            item = slots.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while thread.is_alive():
            try:
                slots.get(timeout=0.1)
            except queue.Empty:
                pass
        thread.join()


def json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (dt.date, dt.datetime, dt.time)):
        return value.isoformat()
    return str(value)


def dumps(value: Any) -> str:
    return json.dumps(value, default=json_default, sort_keys=True)
