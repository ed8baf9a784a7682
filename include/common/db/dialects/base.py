"""What a database dialect must answer, so that no caller ever tests a dialect's name.

One subclass per dialect (``postgresql.py``, ``mysql.py``, ``sqlite.py``, the same methods in each,
as Airflow's ``common.sql`` dialects and dlt's ``destinations/impl/<name>/`` do). A caller asks the
object (``db.dialect.quote(...)``, ``db.dialect.true``); adding a dialect is one new file here plus a
writer in ``include/branch_sync/writers/`` (see ``docs/architecture.md``).
"""

from __future__ import annotations

import hashlib
import re
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from include.common.db.columns import Column


@dataclass(frozen=True)
class Index:
    """An index on whole columns (no expression, no predicate), columns in index order."""

    name: str
    columns: tuple[str, ...]
    unique: bool


class Dialect(ABC):
    name: ClassVar[str]
    conn_types: ClassVar[tuple[str, ...]]  # Airflow connection types served by this dialect
    # DDL types of the tracking and app tables' few column kinds ("serial": an auto-increment key).
    tracking_types: ClassVar[Mapping[str, str]]
    true: ClassVar[str] = "TRUE"  # boolean literal in SQL text
    int_div: ClassVar[str] = "/"  # integer division of two integers
    for_update: ClassVar[str] = " FOR UPDATE"  # row lock suffix of a SELECT
    text_cast: ClassVar[str] = "VARCHAR(64)"  # CAST(%s AS ...) of a short text parameter
    text_timestamps: ClassVar[bool] = False  # the tracking tables keep timestamps as ISO text
    alters_defaults: ClassVar[bool] = True  # can give an existing column a default (set_default)
    # COPY forms a read can stream rows in without a Python value per field ("text", "binary",
    # "csv": see copy_out); empty where the dialect has no COPY.
    copy_forms: ClassVar[tuple[str, ...]] = ()
    # An initial load into a table the sync just created may build the primary key after the rows
    # (PostgreSQL); False where the key is the table's storage order (InnoDB) and is kept from the start.
    defer_primary_key: ClassVar[bool] = False
    # statements pinning, for the current transaction, the session settings canonical_text's
    # rendering depends on (a verification runs them in each side's snapshot)
    canonical_settings: ClassVar[tuple[str, ...]] = ()
    # statements before and after a GROUP BY of few groups over many rows that the planner cannot
    # estimate (a remainder or a hash prefix of a unique key looks like one group per row), so
    # that it hashes the groups instead of sorting every row
    few_groups_settings: ClassVar[tuple[tuple[str, ...], tuple[str, ...]]] = ((), ())

    # -- connections ---------------------------------------------------------------------------
    @abstractmethod
    def connect(self, connection: Any, conn_id: str, *, local_infile: bool = False) -> Any:
        """A fresh DBAPI connection, not in autocommit mode, session in UTC. ``local_infile``: the
        client may send local files (``LOAD DATA LOCAL INFILE``) where the dialect has that."""

    def ensure_database(self, connection: Any) -> None:
        """Create the connection's database where the server lacks it (the compose demo's branches);
        a dialect whose database is a file or is created by its server does nothing."""

    # -- SQL text ------------------------------------------------------------------------------
    def quote(self, name: str) -> str:
        """Quote a (possibly schema-qualified) identifier that was validated against the config."""
        return ".".join('"' + p.replace('"', '""') + '"' for p in name.split("."))

    def sql(self, text: str) -> str:
        """SQL written with ``%s`` placeholders, in this driver's placeholder style."""
        return text

    def ts(self, value: datetime) -> Any:
        """An aware UTC timestamp as this dialect stores it."""
        return value

    def param(self, value: Any) -> Any:
        """A Python value (bool, Decimal, date ...) as this driver binds it into a plain column."""
        return value

    def insert_ignore(self, table: str, cols: str, marks: str) -> str:
        """INSERT that leaves an existing row (by primary or unique key) untouched (quoted names)."""
        return f"INSERT INTO {table} ({cols}) VALUES ({marks}) ON CONFLICT DO NOTHING"

    def upsert(self, table: str, cols: str, marks: str, key: Sequence[str], update: Sequence[str]) -> str:
        """INSERT or update the ``update`` columns of the row with the same ``key`` (quoted names)."""
        head = f"INSERT INTO {table} ({cols}) VALUES ({marks})"
        conflict = ", ".join(key)
        if not update:
            return f"{head} ON CONFLICT ({conflict}) DO NOTHING"
        sets = ", ".join(f"{c} = excluded.{c}" for c in update)
        return f"{head} ON CONFLICT ({conflict}) DO UPDATE SET {sets}"

    def create_index(self, cur: Any, table: str, index: str, columns: Sequence[str]) -> None:
        """Create an index where it is missing (``cur``: an :class:`include.common.db.Cursor`)."""
        cols = ", ".join(self.quote(c) for c in columns)
        cur.execute(f"CREATE INDEX IF NOT EXISTS {self.quote(index)} ON {self.quote(table)} ({cols})")

    # -- reading a table in one snapshot -----------------------------------------------------------
    @abstractmethod
    def begin_snapshot(self, raw: Any, clock_column: Column | None) -> Any:
        """Open a REPEATABLE READ, read-only snapshot on ``raw``; return the server's clock in the
        type of the temporal ``clock_column`` when the dialect can give it, else None."""

    def server_cursor(self, raw: Any, chunk_rows: int) -> Any:
        """A cursor that streams a large result instead of holding it in the client."""
        return raw.cursor()

    def bind(self, column: Column, value: Any, text: str | None) -> tuple[str, Any]:
        """Placeholder SQL and parameter for a key value read back from a checkpoint (the decoded
        ``value``, or its ``text`` form for dialects that cast text to the exact type)."""
        return "%s", value

    def same_copy_format(self, other: Dialect) -> bool:
        """True when rows read by this dialect as COPY text can be written by ``other`` unchanged."""
        return "text" in self.copy_forms and type(other) is type(self)

    def copy_out(self, raw: Any, sql: str, params: Sequence[Any], form: str, chunk_rows: int, chunk_bytes: int,
                 block_bytes: int) -> Iterator[tuple[list[Any], bool]]:
        """The rows of ``sql`` streamed by COPY in ``form`` (one of :attr:`copy_forms`), as blocks
        (lists of row buffers of about ``block_bytes``) each with whether it ends a chunk (at most
        ``chunk_rows`` rows or about ``chunk_bytes``; the last block ends one)."""
        raise NotImplementedError(f"{self.name} has no COPY")

    def binary_value(self, raw: Any, type_oid: int, data: bytes) -> Any:
        """One field of a binary COPY row as a Python value (used for a chunk's last key only)."""
        raise NotImplementedError(f"{self.name} has no binary COPY")

    def load_text_select(self, column: Column) -> str | None:
        """An expression giving ``column`` as *load text*, the CSV value a ``LOAD DATA`` target reads
        back exactly: booleans 0/1, aware timestamps as naive UTC, ``time with time zone`` as its
        local time, bytes as hex, numbers as the source prints them (floats shortest-exact), JSON, arrays (as JSON), intervals and anything else
        as the source's text. None where the dialect cannot stream CSV."""
        return None

    def load_text_key(self, column: Column, text: str) -> str | None:
        """The load text of a key value back as text this dialect casts to the column's exact type
        (see :meth:`bind`), or None where load text loses what the key needs (then a read with
        that key keeps another form)."""
        return None

    def read_sorts(self, cur: Any, sql: str, params: Sequence[Any]) -> bool | None:
        """Whether the server must sort the rows of ``sql`` because no index gives their order, by
        EXPLAIN without running it; None where the dialect cannot tell."""
        return None

    # -- table introspection and DDL ------------------------------------------------------------
    @abstractmethod
    def describe(self, cur: Any, table: str) -> list[Column] | None:
        """The table's columns in order, or None when the table does not exist."""

    def select_column(self, column: Column) -> str:
        """The expression a sync read selects for ``column`` (its quoted name unless the dialect
        must hand over text, as PostgreSQL does for ``interval``)."""
        return self.quote(column.name)

    def table_options(self, cur: Any) -> str:
        """Options after ``CREATE TABLE (...)`` for a synced table (e.g. a binary collation)."""
        return ""

    def lossy_key_columns(self, cur: Any, table: str, columns: Sequence[str]) -> list[tuple[str, str]]:
        """Text ``columns`` of an existing table whose comparison folds distinct values together
        (case, accents, trailing spaces), as (column, collation); empty where none does."""
        return []

    def row_estimates(self, cur: Any, tables: Sequence[str]) -> dict[str, int]:
        """``{table: rows}`` from the catalog's statistics (no scan) for the tables it knows;
        empty where the dialect keeps none. A planning hint, never a count."""
        return {}

    def indexes(self, cur: Any, table: str) -> list[Index]:
        """The table's indexes on whole columns (no expression, no predicate), primary key included;
        empty where the dialect cannot tell."""
        return []

    def unique_keys(self, cur: Any, table: str) -> list[tuple[str, ...]]:
        """The column sets the table's unique indexes (whole columns, no predicate) guarantee
        unique; empty where the dialect cannot tell, so the caller verifies the data instead."""
        return [index.columns for index in self.indexes(cur, table) if index.unique]

    def allowed_values(self, cur: Any, table: str, columns: Sequence[Column]) -> dict[str, frozenset[str]]:
        """Columns that accept only a fixed set of values (an enum type, or a CHECK that lists them,
        as Laravel's ``enum()`` makes), by column name; a column absent here takes any value."""
        return {}

    # -- migrating the bundle's own tables (include/common/schema.py) ------------------------------
    def session_time_zone(self, cur: Any) -> str:
        """The time zone in which this session stores an aware timestamp into a column without one."""
        return "UTC"

    def lock_schema(self, cur: Any, name: str) -> None:
        """Wait until no other process migrates this database's tables (``name``: the lock's name),
        then hold that right until :meth:`unlock_schema` or the end of the transaction."""

    def unlock_schema(self, cur: Any, name: str) -> None:
        """Give up the right :meth:`lock_schema` took where the commit does not."""

    def add_column(self, cur: Any, table: str, column: str, ddl_type: str, default: str | None) -> None:
        """Add a nullable column to a table that may hold rows: rows already there keep NULL
        (unknown, not a made-up default); rows inserted later get ``default``."""
        cur.execute(f"ALTER TABLE {self.quote(table)} ADD COLUMN {self.quote(column)} {ddl_type}")
        if default is not None:
            self.set_default(cur, table, column, default)

    def set_default(self, cur: Any, table: str, column: str, default: str) -> None:
        """Give an existing column a default for rows inserted from now on."""
        cur.execute(f"ALTER TABLE {self.quote(table)} ALTER COLUMN {self.quote(column)} SET DEFAULT {default}")

    def create_unique_index(self, cur: Any, table: str, index: str, columns: Sequence[str]) -> None:
        """Create a unique index (the caller knows it is missing and the rows allow it)."""
        cols = ", ".join(self.quote(c) for c in columns)
        cur.execute(f"CREATE UNIQUE INDEX {self.quote(index)} ON {self.quote(table)} ({cols})")

    @abstractmethod
    def column_type(self, column: Column, *, is_key: bool = False) -> str:
        """The DDL type of a (possibly foreign) column in this dialect."""

    # -- canonical row text (verification checksums) ---------------------------------------------------
    # A verification hashes each row inside both databases; the two hashes agree only if both
    # render a value as the same text. These methods give that rendering; None where the dialect
    # has none, and the caller then compares those values client-side (see include/sync_verify).
    def canonical_text(self, expr: str, column: Column) -> str | None:
        """SQL text of ``expr`` (a column holding values of the source ``column``, as a sync stores
        them here) that every dialect renders alike (under :attr:`canonical_settings`): integers
        and trimmed decimals in plain digits, booleans 1/0, dates ``YYYY-MM-DD``, timestamps as UTC
        ``YYYY-MM-DD HH:MM:SS`` with ``.ffffff`` only when the microseconds are not zero, trailing
        zeros trimmed (PostgreSQL's ISO output, its cheapest rendering), bytes as lower hex; NULL
        stays NULL. None where no rendering agrees across dialects (floats, JSON)."""
        return None

    def native_text(self, expr: str) -> str | None:
        """The value as this dialect's own text (agrees only with the same dialect); None if none."""
        return None

    def md5_hex(self, expr: str) -> str | None:
        """Lower-case hex MD5 of the UTF-8 bytes of a text expression; None where SQL has no MD5."""
        return None

    def hex_int(self, expr: str) -> str:
        """The non-negative integer of a text of up to 15 hex digits."""
        raise NotImplementedError(f"{self.name} has no hex-to-integer conversion")

    def concat(self, parts: Sequence[str]) -> str:
        """Concatenation of text expressions (NULL if any part is NULL)."""
        return " || ".join(parts)

    def char_length(self, expr: str) -> str:
        return f"CHAR_LENGTH({expr})"

    def text_of_int(self, expr: str) -> str:
        return f"CAST({expr} AS {self.text_cast})"

    def bytewise(self, expr: str) -> str:
        """``expr`` ordered byte by byte (ORDER BY), whatever the database's collation."""
        return expr


def lock_key(name: str) -> int:
    """A signed 64-bit number standing for ``name`` (PostgreSQL's advisory locks take numbers)."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


def quoted_literals(text: str) -> list[str]:
    """The single-quoted SQL string literals in ``text`` (``''`` inside one is a quote)."""
    return [m.replace("''", "'") for m in re.findall(r"'((?:[^']|'')*)'", text)]
