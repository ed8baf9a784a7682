"""MySQL/MariaDB target: ``LOAD DATA LOCAL INFILE`` of the branch's CSV, or multi-row ``INSERT ...
ON DUPLICATE KEY UPDATE`` in bounded statements where the server or the connection refuses local
files (or the branch cannot stream CSV).

A chunk of CSV reaches the server through a named pipe a thread feeds (no temporary file, no copy
beyond the chunk itself). LOCAL implies IGNORE (a bad value or a duplicate key becomes a warning
and a skipped or altered row), so every load must report no warning and as many rows as were sent,
else the chunk fails naming the column and value and its transaction rolls back. An initial load
goes straight into the table; any other chunk into the session's staging table, merged by one
``INSERT ... SELECT ... ON DUPLICATE KEY UPDATE``. The server's own report of each statement
("Records: N  Duplicates: D" and the affected-rows count: 1 per insert, 2 per update, 0 per
unchanged row) gives exact processed/skipped counts.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import os
import re
import tempfile
import threading
from decimal import Decimal
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from include.common.db import Cursor, PermanentError
from include.common.db.columns import Unbounded
from include.common.db.dialects import Dialect
from include.common.db.errors import error_code
from include.branch_sync.reader import Chunk
from include.branch_sync.wire import Wire, csv_records
from include.branch_sync.writers.base import Counts, Writer, adapt_value

log = logging.getLogger(__name__)

_MAX_ROWS = 1000
_MAX_BYTES = 4 * 1024 * 1024  # well under the default max_allowed_packet (16 MiB)
_INFO = re.compile(rb"Records:\s*(\d+)\s+Duplicates:\s*(\d+)")
# "local infile" refused: by the server's local_infile=OFF or the client (MariaDB 4166, MySQL 3948,
# older servers 1148, MySQL's client library 2068).
_LOCAL_INFILE_REFUSED = {1148, 2068, 3948, 4166}
_DUPLICATE_ENTRY = 1062
_WARNING_COLUMN = re.compile(r"column (?:`[^`]*`\.)*`([^`]+)`|column '([^']+)'")
_WARNING_ROW = re.compile(r"at row (\d+)")
_ROW_ALIAS = "_sync_new"


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


def row_alias_supported(server_info: str) -> bool:
    """MySQL 8.0.19+ names the new row (``... AS alias``); ``VALUES(col)`` is deprecated there from
    8.0.20. MariaDB has no row alias and keeps ``VALUES()``."""
    if "mariadb" in server_info.lower():
        return False
    match = re.match(r"(\d+)\.(\d+)\.(\d+)", server_info)
    return bool(match) and tuple(int(n) for n in match.groups()) >= (8, 0, 19)


def on_duplicate_sql(quote: Any, update: Sequence[str], alias: str | None) -> str:
    """``ON DUPLICATE KEY UPDATE`` taking the new row's ``update`` columns: from the row alias where
    the server has one, else through ``VALUES()``."""
    new = (lambda c: f"{alias}.{quote(c)}") if alias else (lambda c: f"VALUES({quote(c)})")
    return " ON DUPLICATE KEY UPDATE " + ", ".join(f"{quote(c)} = {new(c)}" for c in update)


def _feed(path: str, chunk: Chunk, errors: list[BaseException]) -> None:
    """Write the chunk's CSV into the named pipe the client reads the load from, block by block as
    the branch sends it."""
    try:
        with open(path, "wb") as pipe:
            for block in chunk.blocks():
                pipe.write(block)
    except BrokenPipeError:
        pass  # the client stopped reading: the statement failed, and says why
    except BaseException as exc:  # the load is then short, and this says why
        errors.append(exc)


class MySqlWriter(Writer):
    def wire(self, source: Dialect, key_columns: Sequence[str]) -> Wire:
        """CSV for ``LOAD DATA`` where the branch streams load text and the connection and server
        take local files, else tuples for multi-row INSERTs."""
        selects = [source.load_text_select(c) for c in self.columns] if "csv" in source.copy_forms else [None]
        if any(s is None for s in selects):
            return Wire("rows")
        for column in self.columns:
            if column.name in key_columns and source.load_text_key(column, "") is None:
                return Wire("rows", note=f"key column {column.name!r} ({column.source_type}) does not travel "
                                         f"exactly as CSV: rows are inserted instead of LOAD DATA")
        refused = self._local_infile_refused()
        if refused:
            return Wire("rows", note=f"LOAD DATA LOCAL INFILE is refused ({refused}): rows are inserted instead, "
                                     f"several times slower; enable local_infile on the server and the connection "
                                     f"for LOAD DATA")
        return Wire("csv", tuple(s for s in selects if s is not None))

    def _local_infile_refused(self) -> str | None:
        """Why the connection cannot load local files (the server or the client refuses), or None:
        an empty load into the table asks them both (no row, nothing locked after it)."""
        with tempfile.TemporaryDirectory(prefix="sync-load-") as tmp:
            path = os.path.join(tmp, "empty.csv")
            open(path, "wb").close()
            try:
                self.db.run(lambda cur: cur.execute(self._load_sql(self.table), [path]),
                            what="probe LOAD DATA LOCAL INFILE")
            except Exception as exc:
                if error_code(exc) in _LOCAL_INFILE_REFUSED:
                    return f"{error_code(exc)}: {exc.args[-1] if exc.args else exc}"
                raise
        return None

    def _load_sql(self, table: str) -> str:
        """LOAD DATA of the branch's CSV into ``table``; bytes arrive as hex."""
        targets, sets = [], []
        for i, name in enumerate(self.names):
            column = self.columns[i] if i < len(self.columns) else None
            if column is not None and column.kind == "bytes":
                targets.append(f"@hex{i}")
                sets.append(f"{self.q(name)} = UNHEX(@hex{i})")
            else:
                targets.append(self.q(name))
        return (f"LOAD DATA LOCAL INFILE %s INTO TABLE {self.q(table)} CHARACTER SET utf8mb4 "
                f"FIELDS TERMINATED BY 0x2c OPTIONALLY ENCLOSED BY 0x22 ESCAPED BY '' LINES TERMINATED BY 0x0a "
                f"({', '.join(targets)})" + (f" SET {', '.join(sets)}" if sets else ""))

    def _load(self, cur: Cursor, table: str, chunk: Chunk) -> int:
        """Load a CSV chunk into ``table``: every row, no warning, or a PermanentError naming why."""
        errors: list[BaseException] = []
        with tempfile.TemporaryDirectory(prefix="sync-load-") as tmp:
            path = os.path.join(tmp, "rows.csv")
            os.mkfifo(path, 0o600)
            feeder = threading.Thread(target=_feed, args=(path, chunk, errors), name="sync-load-feeder",
                                      daemon=True)
            feeder.start()
            try:
                loaded = cur.execute(self._load_sql(table), [path])
            finally:
                if feeder.is_alive():  # the client never opened the pipe: let the feeder's open return
                    os.close(os.open(path, os.O_RDONLY | os.O_NONBLOCK))
                feeder.join()
        if errors:
            raise errors[0]
        warnings = cur.db.raw.warning_count()
        if warnings or loaded != len(chunk):
            raise self._refusal(cur, chunk, loaded, warnings)
        return loaded

    def _refusal(self, cur: Cursor, chunk: Chunk, loaded: int, warnings: int) -> PermanentError:
        """What the server did not take, in the words of its first warning, with the value."""
        shown = cur.fetch("SHOW WARNINGS LIMIT 1") if warnings else []
        if not shown:
            return PermanentError(f"table {self.table!r}: LOAD DATA stored {loaded} of {len(chunk)} rows of a chunk")
        message, code = str(shown[0].get("Message")), shown[0].get("Code")
        if code == _DUPLICATE_ENTRY:
            return PermanentError(f"table {self.table!r}: two rows of one chunk have the same key in MySQL/MariaDB "
                                  f"({message}); keys distinct at the source must stay distinct here")
        column_match, row_match = _WARNING_COLUMN.search(message), _WARNING_ROW.search(message)
        if column_match and row_match:
            column = column_match.group(1) or column_match.group(2)
            value = self._value_at(chunk, int(row_match.group(1)), column)
            return PermanentError(f"table {self.table!r} column {column!r}: value {value!r} cannot be stored in "
                                  f"MySQL/MariaDB ({message}); change it at the source or sync this table into "
                                  f"PostgreSQL")
        return PermanentError(f"table {self.table!r}: LOAD DATA warned ({message}); nothing of the chunk was kept")

    def _value_at(self, chunk: Chunk, row: int, column: str) -> str | None:
        """The CSV value of ``column`` in the chunk's ``row`` (1-based, as warnings count)."""
        if column not in self.names:
            return None
        for number, record in enumerate(csv_records(chunk.data().decode()), start=1):
            if number == row:
                return record[self.names.index(column)]
        return None

    def _row_alias(self, cur: Cursor) -> str | None:
        if not hasattr(self, "_alias"):
            self._alias = _ROW_ALIAS if row_alias_supported(cur.db.raw.get_server_info()) else None
        return self._alias

    def _statement(self, cur: Cursor, table: str, n: int, upsert: bool) -> str:
        marks = "(" + ", ".join(["%s"] * len(self.names)) + ")"
        sql = f"INSERT INTO {self.q(table)} ({self.col_list}) VALUES " + ", ".join([marks] * n)
        if not upsert:
            return sql
        alias = self._row_alias(cur)
        return sql + (f" AS {alias}" if alias else "") + self._on_duplicate(alias)

    def _on_duplicate(self, alias: str | None) -> str:
        return on_duplicate_sql(self.q, self.value_columns or [self.key[0]], alias)

    def _merge_from(self, cur: Cursor, source: str) -> str:
        """INSERT ... SELECT of every row of ``source`` (a staging table) into the target."""
        alias = self._row_alias(cur)
        select = f"SELECT {self.col_list} FROM {self.q(source)}"
        if alias:
            select = f"SELECT * FROM ({select}) AS {alias}"
        return f"INSERT INTO {self.q(self.table)} ({self.col_list}) {select}" + self._on_duplicate(alias)

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
        if chunk.form == "csv":  # none of the pair's rows are here yet: straight into the table
            return Counts(processed=self._load(cur, self.table, chunk))
        return self.upsert(cur, chunk)

    def upsert(self, cur: Cursor, chunk: Chunk) -> Counts:
        if chunk.form == "csv":
            # emptied before, not after: a pair's last chunk leaves its rows to the session's end
            cur.execute(f"DELETE FROM {self.q(self.stage_table)}")
            staged = self._load(cur, self.stage_table, chunk)
            return self._counts(cur, staged, cur.execute(self._merge_from(cur, self.stage_table)))
        total = Counts()
        for batch in _batches(chunk.rows, self.table, self.names):
            affected = cur.execute(self._statement(cur, self.table, len(batch), True), [v for r in batch for v in r])
            total += self._counts(cur, len(batch), affected)
        return total

    def stage(self, cur: Cursor, chunk: Chunk) -> None:
        if chunk.form == "csv":
            self._load(cur, self.stage_table, chunk)
            return
        for batch in _batches(chunk.rows, self.table, self.names):
            cur.execute(self._statement(cur, self.stage_table, len(batch), False), [v for r in batch for v in r])

    def merge_stage(self, cur: Cursor) -> Counts:
        staged = int(cur.scalar(f"SELECT COUNT(*) FROM {self.q(self.stage_table)}"))
        affected = cur.execute(self._merge_from(cur, self.stage_table))
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
