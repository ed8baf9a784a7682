"""Reading a branch table in one consistent snapshot, streamed in chunks.

A PostgreSQL branch streams COPY data in the form the target's writer chose (binary, CSV or text,
see :mod:`include.branch_sync.wire`: no Python value per field); every other pair streams tuples
from a server-side cursor. Each chunk carries the key of its last row, the checkpoint a resumed
sync continues from.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, TypeVar

from include.branch_sync.checkpoint import as_text, decode_value, encode_value
from include.branch_sync.config import BRANCH_COLUMN
from include.branch_sync.prefetch import prefetched
from include.branch_sync.wire import Wire, binary_fields, copy_field, csv_records
from include.common.db import Cursor, Database
from include.common.db.columns import Column

T = TypeVar("T")


@dataclass
class Chunk:
    """Rows written in one target transaction with the checkpoint of their last row.

    COPY data (form binary, csv or text) may still be arriving while the chunk is written: ``rows``
    is then an iterator of blocks, which a writer consumes once through :meth:`blocks` (a COPY
    open on the target while the branch still sends its rows, as in a pipe); :attr:`count` and
    :attr:`last_key` are final once it has. Form ``rows``: a list of tuples."""

    rows: Any  # list of tuples (form rows); COPY data: bytes, or an iterator of bytes blocks
    form: str  # see include.branch_sync.wire
    last_key: list[Any] | None  # encoded key values of the last row (see encode_value)
    count: int = 0
    complete: bool = True  # False while COPY blocks are still to come
    final: bool = False  # the read's last chunk (known once complete)
    kept: list[bytes] = field(default_factory=list)  # the CSV blocks written so far (to name a refused value)

    def __post_init__(self) -> None:
        if self.form == "rows":
            self.count = len(self.rows)

    def __len__(self) -> int:
        return self.count

    def blocks(self) -> Iterator[bytes]:
        """The chunk's COPY data, block by block, once."""
        if isinstance(self.rows, (bytes, bytearray, memoryview)):
            self.kept = [bytes(self.rows)] if self.form == "csv" else []
            yield self.rows
            return
        for block in self.rows:
            if self.form == "csv":
                self.kept.append(block)
            yield block

    def data(self) -> bytes:
        """The CSV written so far (only kept for form csv)."""
        return b"".join(self.kept)


@dataclass
class _Block:
    """A block of COPY rows as the producer thread hands it over."""

    data: bytes
    rows: int
    ends_chunk: bool
    last_key: list[Any] | None = None
    ends_read: bool = False  # the read's last block


# A chunk ends at chunk_rows rows or at this many bytes of COPY data, whichever comes first: wide
# rows keep memory flat too. Its rows travel in blocks of about BLOCK_BYTES, BLOCKS_AHEAD of them
# read ahead of the writer.
CHUNK_BYTES = 32 * 1024 * 1024
BLOCK_BYTES = 1024 * 1024
BLOCKS_AHEAD = 8


# -- the reader ------------------------------------------------------------------------------------------
class SourceReader:
    """Reads one table of one branch inside a REPEATABLE READ, read-only snapshot.

    Ordered reads follow the keyset ``(cursor, primary key...)`` in a form an index on those columns
    serves (ascending, no ``NULLS FIRST``): a nullable cursor is read as two ranges, its NULL rows in
    key order, then the others. Whether the server still had to sort is asked of its plan
    (``EXPLAIN``) and kept in :attr:`sorted_reads`."""

    def __init__(self, db: Database, table: str, columns: list[Column], branch_value: str | None,
                 wire: Wire, chunk_rows: int):
        self.db = db
        self.table = table
        self.columns = columns
        self.branch_value = branch_value
        self.wire = wire if wire.form == "rows" or wire.form in db.dialect.copy_forms else Wire("rows")
        self.chunk_rows = chunk_rows
        self._by_name = {c.name: c for c in columns}
        self.sorted_reads: list[str] = []  # the ORDER BY of each ordered read whose plan sorted every row

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
        unordered: the key set a deletion check compares the target with (COPY text between two
        PostgreSQL databases, tuples otherwise)."""
        wanted = set(key_columns)
        form = "text" if self.wire.form in ("binary", "text") else "rows"
        only_keys = SourceReader(self.db, self.table, [c for c in self.columns if c.name in wanted],
                                 self.branch_value, Wire(form), self.chunk_rows)
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

    def _row_compare(self, columns: Sequence[str], key: Sequence[Sequence[Any]], op: str) -> tuple[str, list[Any]]:
        q = self.db.quote
        binds = [self._bind(self._by_name[name], v) for name, v in zip(columns, key)]
        return (f"({', '.join(q(c) for c in columns)}) {op} ({', '.join(b[0] for b in binds)})",
                [b[1] for b in binds])

    def keyset(self, key_columns: Sequence[str], after: Sequence[Sequence[Any]] | None
               ) -> list[tuple[str | None, list[Any], list[str]]]:
        """The ordered reads (where, params, order by) of every row after the key ``after`` (all
        rows when None) in keyset order: NULL cursors first, in key order, then ``(cursor, key)``.
        Each is ascending on ``(cursor, key...)`` (the NULL range too, where that is key order),
        as an index on those columns holds them."""
        cursor, pk = key_columns[0], list(key_columns[1:])
        q = self.db.quote
        if not self._by_name[cursor].nullable:
            if after is None:
                return [(None, [], list(key_columns))]
            return [(*self._row_compare(key_columns, after, ">"), list(key_columns))]
        not_null = f"{q(cursor)} IS NOT NULL"
        if after is not None and after[0][1] is not None:
            return [(*self._row_compare(key_columns, after, ">"), list(key_columns))]
        null_part: tuple[str | None, list[Any], list[str]] = (f"{q(cursor)} IS NULL", [], list(key_columns))
        if after is not None:
            pk_sql, pk_params = self._row_compare(pk, after[1:], ">")
            null_part = (f"{q(cursor)} IS NULL AND {pk_sql}", pk_params, list(key_columns))
        return [null_part, (not_null, [], list(key_columns))]

    def window(self, key_columns: Sequence[str], since: Any, until_key: Sequence[Sequence[Any]]
               ) -> tuple[str, list[Any]] | None:
        """SQL for the look-back window: cursor >= since, up to and including the checkpoint key
        (None when the checkpoint sits among NULL cursors: no stamped row is at or before it)."""
        if until_key[0][1] is None:
            return None
        upto_sql, upto_params = self._row_compare(key_columns, until_key, "<=")
        cursor_col = self._by_name[key_columns[0]]
        bind_sql, bind_value = self._bind(cursor_col, encode_value(since))
        return f"{self.db.quote(cursor_col.name)} >= {bind_sql} AND {upto_sql}", [bind_value, *upto_params]

    def null_cursor_rows(self, key_columns: Sequence[str], until_key: Sequence[Sequence[Any]]
                         ) -> tuple[str, list[Any]]:
        """SQL for the rows whose cursor is NULL, up to and including the checkpoint key (the
        keyset puts NULLs first): a NULL never passes a watermark, so these are read every run."""
        cursor_sql = f"{self.db.quote(key_columns[0])} IS NULL"
        if until_key[0][1] is not None:
            return cursor_sql, []  # the checkpoint is past every NULL
        pk_sql, pk_params = self._row_compare(key_columns[1:], until_key[1:], "<=")
        return f"{cursor_sql} AND {pk_sql}", pk_params

    def last_key(self, key_columns: Sequence[str]) -> list[Any] | None:
        """The greatest ``(cursor, key...)`` of the table in keyset order (a full refresh reads in
        no order and leaves its checkpoint here), by backward index scans where indexed."""
        q = self.db.quote
        cursor = key_columns[0]
        cols = ", ".join(q(c) for c in key_columns)
        cur = self._cursor()
        for where, order in ((f"{q(cursor)} IS NOT NULL", key_columns), (f"{q(cursor)} IS NULL", key_columns[1:])):
            rows = cur.fetch(f"SELECT {cols} FROM {q(self.table)} WHERE {where} ORDER BY "
                             f"{', '.join(q(c) + ' DESC' for c in order)} LIMIT 1")
            if rows:
                return [encode_value(rows[0][c]) for c in key_columns]
            if not self._by_name[cursor].nullable:
                break
        return None

    def read(self, where: str | None = None, params: Sequence[Any] = (), key_columns: Sequence[str] = (),
             order: Sequence[str] | None = None) -> Iterator[Chunk]:
        """Stream the selected rows in chunks, ordered by ``order`` (default ``key_columns``);
        each chunk carries the ``key_columns`` of its last row."""
        q = self.db.quote
        wire = self.wire
        select = list(wire.selects) or [self.db.dialect.select_column(c) for c in self.columns]
        params = list(params)
        if self.branch_value is not None:
            select.append(f"CAST(%s AS {self.db.dialect.text_cast})")
            params.insert(0, self.branch_value)
        sql = f"SELECT {', '.join(select)} FROM {q(self.table)}"
        if where:
            sql += f" WHERE {where}"
        order = list(key_columns if order is None else order)
        if order:
            sql += f" ORDER BY {', '.join(q(c) for c in order)}"
            if self.db.dialect.read_sorts(self._cursor(), sql, params):
                self.sorted_reads.append(", ".join(order))
        key_index = [self.output_columns.index(name) for name in key_columns]
        if wire.form == "rows":
            # Read the next chunk while the caller writes this one.
            yield from prefetched(self._read_tuples(sql, params, key_index), depth=2)
            return
        # COPY rows travel as a pipe does: the writer's COPY takes each block while the branch sends
        # the next; a chunk ends where its checkpoint is.
        blocks = prefetched(self._read_blocks(sql, params, key_index), depth=BLOCKS_AHEAD)
        for head in blocks:
            chunk = Chunk(None, wire.form, None, complete=False)
            chunk.rows = self._chunk_blocks(chunk, head, blocks)
            yield chunk
            if not chunk.complete:
                raise RuntimeError(f"a chunk of {self.table!r} was left before its last block was written")

    @staticmethod
    def _chunk_blocks(chunk: Chunk, head: _Block, blocks: Iterator[_Block]) -> Iterator[bytes]:
        block = head
        while True:
            chunk.count += block.rows
            yield block.data
            if block.ends_chunk:
                chunk.last_key, chunk.complete, chunk.final = block.last_key, True, block.ends_read
                return
            block = next(blocks)

    def _read_blocks(self, sql: str, params: list[Any], key_index: list[int]) -> Iterator[_Block]:
        # One bytes object per block: a million row objects in a list cost more than reading them.
        # Each block's last key is decoded (one row in thousands): the block that ends a chunk may
        # come empty, after its rows.
        last_key = None
        blocks = self.db.dialect.copy_out(self.db.raw, sql, params, self.wire.form, self.chunk_rows, CHUNK_BYTES,
                                          BLOCK_BYTES)
        for (rows, ends_chunk), last in _with_last(blocks):
            if rows:
                last_key = self._copy_key(rows[-1], key_index)
            yield _Block(b"".join(rows), len(rows), ends_chunk, last_key, ends_read=last)

    def _copy_key(self, row: Any, key_index: list[int]) -> list[Any] | None:
        if not key_index:
            return None
        form = self.wire.form
        if form == "text":
            return self.text_key(row, key_index)
        if form == "binary":
            values = []
            for i, raw in zip(key_index, binary_fields(row, key_index)):
                values.append(None if raw is None else self.db.dialect.binary_value(
                    self.db.raw, self.wire.type_oids[i], raw))
            return [encode_value(v) for v in values]
        record = next(csv_records(bytes(row).decode()))
        key = []
        for i in key_index:
            text = record[i]
            if text is not None:  # back to text the branch casts (the writer chose csv for such keys only)
                text = self.db.dialect.load_text_key(self._by_name[self.output_columns[i]], text)
                if text is None:
                    raise RuntimeError(f"key column {self.output_columns[i]!r} of {self.table!r} cannot travel as CSV")
            key.append(["n", None] if text is None else ["pg", text])
        return key

    @staticmethod
    def text_key(line: Any, key_index: list[int]) -> list[Any] | None:
        """The key fields of one COPY text row, as text the source casts back."""
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
            while rows := cur.fetchmany(self.chunk_rows):
                key = [encode_value(rows[-1][i]) for i in key_index] if key_index else None
                # a short chunk is the last; a read that ends on a chunk's boundary does not know
                # it (holding a chunk of tuples back to tell would hold its memory too)
                yield Chunk(list(rows), "rows", key, final=len(rows) < self.chunk_rows)
        finally:
            cur.close()


def _with_last(items: Iterator[T]) -> Iterator[tuple[T, bool]]:
    """Each item with whether it is the last: one item (a COPY block) read ahead by the prefetching
    thread, so the writer does not wait for it, and the read's last chunk can complete the run."""
    items = iter(items)
    try:
        held = next(items)
    except StopIteration:
        return
    for item in items:
        yield held, False
        held = item
    yield held, True


def json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (dt.date, dt.datetime, dt.time)):
        return value.isoformat()
    return str(value)


def dumps(value: Any) -> str:
    return json.dumps(value, default=json_default, sort_keys=True)
