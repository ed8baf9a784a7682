"""SQLite: the standard library's driver on the file the connection names (the demo's default)."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Any

from include.common.db.columns import Column, column_from
from include.common.db.dialects.base import Dialect, Index
from include.common.db.errors import PermanentError

# SQLite: exact decimals are kept as text, which NUMERIC affinity would round.
_TYPES = {
    "int2": "INTEGER", "int4": "INTEGER", "int8": "INTEGER", "float": "REAL", "bool": "INTEGER",
    "decimal": "TEXT", "text": "TEXT", "date": "DATE", "time": "TEXT", "timestamp": "TIMESTAMP",
    "timestamptz": "TIMESTAMPTZ", "json": "TEXT", "bytes": "BLOB", "uuid": "TEXT", "interval": "TEXT",
}


def _kind(declared: str) -> str:
    """SQLite declares loosely; follow its affinity rules, refined by common type names."""
    t = declared.lower()
    if "bool" in t:
        return "bool"
    if "int" in t:
        return "int8"
    if re.search(r"timestamptz|with time zone", t):
        return "timestamptz"
    if "timestamp" in t or "datetime" in t:
        return "timestamp"
    if t.startswith("date"):
        return "date"
    if "json" in t:
        return "json"
    if any(s in t for s in ("char", "clob", "text")):
        return "text"
    if "blob" in t or not t:
        return "bytes" if "blob" in t else "text"
    if any(s in t for s in ("real", "floa", "doub")):
        return "float"
    if "dec" in t or "num" in t:
        return "decimal"
    return "text"


class SqliteDialect(Dialect):
    name = "sqlite"
    conn_types = ("sqlite",)
    tracking_types = {
        "id": "TEXT", "name": "TEXT", "status": "TEXT", "text": "TEXT", "int": "INTEGER", "bigint": "INTEGER",
        "float": "REAL", "ts": "TEXT", "bool": "INTEGER", "serial": "INTEGER PRIMARY KEY AUTOINCREMENT",
    }
    true = "1"
    for_update = ""  # SQLite serializes writers itself
    text_cast = "VARCHAR(64)"
    text_timestamps = True
    alters_defaults = False  # ALTER TABLE cannot change an existing column's default

    def connect(self, connection: Any, conn_id: str, *, local_infile: bool = False) -> Any:
        import sqlite3

        # Airflow parses sqlite:////abs/file.db into schema '/abs/file.db' (host empty); the
        # JSON form may use host. An empty path would silently open a throwaway database.
        path = connection.host or connection.schema or ""
        if not path:
            raise PermanentError(f"connection {conn_id!r} is sqlite without a database file path")
        # check_same_thread off: the sync reader streams in a prefetch thread; one thread at a
        # time uses the connection.
        raw = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
        raw.execute("PRAGMA journal_mode=WAL")
        raw.execute("PRAGMA busy_timeout=30000")
        raw.isolation_level = "DEFERRED"
        return raw

    def sql(self, text: str) -> str:
        return text.replace("%s", "?")

    def ts(self, value: dt.datetime) -> Any:
        return value.astimezone(dt.timezone.utc).isoformat(sep=" ", timespec="microseconds")  # text order is time order

    def param(self, value: Any) -> Any:
        if isinstance(value, bool):
            return int(value)
        if isinstance(value, (Decimal, dt.date)):
            return str(value)
        return value

    def begin_snapshot(self, raw: Any, clock_column: Column | None) -> Any:
        raw.execute("BEGIN")
        return None

    def read_sorts(self, cur: Any, sql: str, params: Any) -> bool | None:
        rows = cur.fetch(f"EXPLAIN QUERY PLAN {sql}", params)
        return any("TEMP B-TREE FOR ORDER BY" in str(r.get("detail", "")).upper() for r in rows)

    def describe(self, cur: Any, table: str) -> list[Column] | None:
        rows = cur.fetch(f"PRAGMA table_info({self.quote(table)})")
        if not rows:
            return None
        # INTEGER PRIMARY KEY is the rowid: SQLite fills it
        return [column_from(r["name"], r["type"] or "", _kind(r["type"] or ""), nullable=not r["notnull"],
                            has_default=r["dflt_value"] is not None
                            or (bool(r["pk"]) and (r["type"] or "").upper() == "INTEGER"))
                for r in rows]

    def indexes(self, cur: Any, table: str) -> list[Index]:
        # The primary key first: an INTEGER PRIMARY KEY is the rowid, which index_list omits.
        key = sorted((r["pk"], r["name"]) for r in cur.fetch(f"PRAGMA table_info({self.quote(table)})") if r["pk"])
        out = [Index("PRIMARY", tuple(name for _, name in key), True)] if key else []
        for index in cur.fetch(f"PRAGMA index_list({self.quote(table)})"):
            if index.get("partial"):
                continue
            cols = tuple(r["name"] for r in cur.fetch(f"PRAGMA index_info({self.quote(index['name'])})"))
            if cols and all(cols):  # an expression part has no name
                out.append(Index(index["name"], cols, bool(index["unique"])))
        return out

    def lock_schema(self, cur: Any, name: str) -> None:
        # SQLite has one writer at a time: taking the write lock now serializes migrations, and
        # the DDL that follows commits (or rolls back) as one transaction.
        if cur.raw.connection.in_transaction:
            cur.raw.connection.commit()
        cur.execute("BEGIN IMMEDIATE")

    def add_column(self, cur: Any, table: str, column: str, ddl_type: str, default: str | None) -> None:
        # SQLite cannot give an existing column a default: the column is added with it, so rows
        # already there read the default too.
        cur.execute(f"ALTER TABLE {self.quote(table)} ADD COLUMN {self.quote(column)} {ddl_type}"
                    + (f" DEFAULT {default}" if default is not None else ""))

    def column_type(self, column: Column, *, is_key: bool = False) -> str:
        return _TYPES[column.kind]
