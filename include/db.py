"""Database access by Airflow connection id, for every dialect the bundle supports.

One class, :class:`Database`, opens connections late through the connection's provider hook,
quotes identifiers for its dialect, and runs idempotent work with reconnect-and-retry so that a
dropped connection ("MySQL server has gone away", "server closed the connection unexpectedly")
costs a retry, never a lost write.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any, Literal, TypeVar

log = logging.getLogger(__name__)

Dialect = Literal["postgresql", "mysql", "sqlite"]
T = TypeVar("T")

_CONN_TYPE_DIALECT: dict[str, Dialect] = {
    "postgres": "postgresql",
    "postgresql": "postgresql",
    "mysql": "mysql",
    "mariadb": "mysql",
    "sqlite": "sqlite",
}

# SQLSTATE classes and codes that mean "try again on a fresh connection".
_PG_TRANSIENT_CLASSES = ("08", "53", "57P", "58")
_PG_TRANSIENT_CODES = {"40001", "40P01", "55P03", "57014", "57P01", "57P02", "57P03"}
# MySQL/MariaDB client and server error numbers that are transient.
_MYSQL_TRANSIENT = {1040, 1053, 1205, 1213, 1317, 2002, 2003, 2006, 2013, 2055, 4031}
_TRANSIENT_TEXT = re.compile(
    r"server closed the connection|connection (refused|reset|timed out)|could not connect|"
    r"terminating connection|gone away|lost connection|database is locked|timeout expired|"
    r"connection is closed|the connection is lost|broken pipe|no route to host|"
    r"temporary failure in name resolution",
    re.IGNORECASE,
)


# Column kinds of the tracking tables, per dialect.
_TRACKING_TYPES: dict[str, dict[str, str]] = {
    "id": {"postgresql": "VARCHAR(64)", "mysql": "VARCHAR(64)", "sqlite": "TEXT"},
    "name": {"postgresql": "VARCHAR(255)", "mysql": "VARCHAR(191)", "sqlite": "TEXT"},
    "status": {"postgresql": "VARCHAR(32)", "mysql": "VARCHAR(32)", "sqlite": "TEXT"},
    "text": {"postgresql": "TEXT", "mysql": "LONGTEXT", "sqlite": "TEXT"},
    "int": {"postgresql": "INTEGER", "mysql": "INT", "sqlite": "INTEGER"},
    "bigint": {"postgresql": "BIGINT", "mysql": "BIGINT", "sqlite": "INTEGER"},
    "float": {"postgresql": "DOUBLE PRECISION", "mysql": "DOUBLE", "sqlite": "REAL"},
    "ts": {"postgresql": "TIMESTAMP WITH TIME ZONE", "mysql": "DATETIME(6)", "sqlite": "TEXT"},
    "bool": {"postgresql": "BOOLEAN", "mysql": "TINYINT(1)", "sqlite": "INTEGER"},
}


class PermanentError(Exception):
    """An error a retry cannot fix: bad config, missing table or column, type mismatch."""


def is_transient(exc: BaseException) -> bool:
    """True when a retry on a fresh connection may succeed (connection loss, timeout, deadlock)."""
    if isinstance(exc, PermanentError):
        return False
    sqlstate = getattr(exc, "sqlstate", None) or getattr(exc, "pgcode", None)
    if isinstance(sqlstate, str) and sqlstate:
        return sqlstate in _PG_TRANSIENT_CODES or sqlstate.startswith(_PG_TRANSIENT_CLASSES)
    args = getattr(exc, "args", ())
    if args and isinstance(args[0], int):
        return args[0] in _MYSQL_TRANSIENT
    if isinstance(exc, (ConnectionError, TimeoutError)):
        return True
    return bool(_TRANSIENT_TEXT.search(str(exc)))


def scrub(message: str, secrets: Sequence[str | None] = ()) -> str:
    """Remove passwords and credentials from an error message before it is stored or logged."""
    for secret in secrets:
        if secret and len(secret) >= 3:
            message = message.replace(secret, "***")
    message = re.sub(r"(password|passwd|pwd|api_key|apikey)(\s*[=:]\s*)([^\s&'\",]+)", r"\1\2***", message, flags=re.I)
    message = re.sub(r"(\w+://[^:/@\s]*:)([^@\s]+)@", r"\1***@", message)
    return message


class Database:
    """A database reached through an Airflow connection id.

    SQL is written with ``%s`` placeholders; SQLite's ``?`` is substituted here.
    """

    def __init__(self, conn_id: str, *, retries: int = 5, backoff_seconds: float = 0.5):
        from airflow.sdk import BaseHook

        self.conn_id = conn_id
        self.connection = BaseHook.get_connection(conn_id)
        conn_type = (self.connection.conn_type or "").lower()
        if conn_type not in _CONN_TYPE_DIALECT:
            raise PermanentError(
                f"connection {conn_id!r} has type {conn_type!r}; supported: postgres, mysql, sqlite"
            )
        self.dialect: Dialect = _CONN_TYPE_DIALECT[conn_type]
        self.retries = retries
        self.backoff_seconds = backoff_seconds
        self._raw: Any = None

    # -- connections ---------------------------------------------------------------------------
    def connect(self) -> Any:
        """A fresh DBAPI connection from the provider hook, not in autocommit mode."""
        if self.dialect == "sqlite":
            import sqlite3

            # Airflow parses sqlite:////abs/file.db into schema '/abs/file.db' (host empty); the
            # JSON form may use host. An empty path would silently open a throwaway database.
            path = self.connection.host or self.connection.schema or ""
            if not path:
                raise PermanentError(f"connection {self.conn_id!r} is sqlite without a database file path")
            # check_same_thread off: the sync reader streams in a prefetch thread; one thread at a
            # time uses the connection.
            raw = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
            raw.execute("PRAGMA journal_mode=WAL")
            raw.execute("PRAGMA busy_timeout=30000")
            raw.isolation_level = "DEFERRED"
            return raw
        raw = self.connection.get_hook().get_conn()
        if self.dialect == "mysql":
            raw.autocommit(False)
            with raw.cursor() as cur:
                cur.execute("SET SESSION time_zone = '+00:00'")
        else:
            raw.autocommit = False
        return raw

    @property
    def raw(self) -> Any:
        if self._raw is None:
            self._raw = self.connect()
        return self._raw

    def close(self) -> None:
        if self._raw is not None:
            try:
                self._raw.close()
            except Exception:  # closing a dead connection may fail; it is gone either way
                pass
            self._raw = None

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- SQL helpers ---------------------------------------------------------------------------
    def quote(self, name: str) -> str:
        """Quote a (possibly schema-qualified) identifier that was validated against the config."""
        parts = name.split(".")
        if self.dialect == "mysql":
            return ".".join("`" + p.replace("`", "``") + "`" for p in parts)
        return ".".join('"' + p.replace('"', '""') + '"' for p in parts)

    def sql(self, text: str) -> str:
        return text.replace("%s", "?") if self.dialect == "sqlite" else text

    def ts(self, value: datetime | None) -> Any:
        """A UTC timestamp as this dialect stores it (aware for PostgreSQL, naive UTC for MySQL,
        ISO text for SQLite)."""
        if value is None:
            return None
        value = value.astimezone(timezone.utc)
        if self.dialect == "postgresql":
            return value
        if self.dialect == "mysql":
            return value.replace(tzinfo=None)
        return value.isoformat(sep=" ", timespec="microseconds")  # fixed width: text order is time order

    @staticmethod
    def parse_ts(value: Any) -> datetime | None:
        """A stored timestamp back as an aware UTC datetime, whatever the dialect returned."""
        if value is None or value == "":
            return None
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)

    def column_type(self, kind: str) -> str:
        """DDL type for the tracking tables' few column kinds."""
        return _TRACKING_TYPES[kind][self.dialect]

    def create_table_sql(self, table: str, columns: Sequence[tuple[str, str, bool]], key: Sequence[str],
                         defaults: Mapping[str, str] | None = None, unique: Sequence[str] = ()) -> str:
        """``CREATE TABLE IF NOT EXISTS`` from (column, kind, not null) triples of the few kinds
        :meth:`column_type` knows, with a primary key and optional defaults and unique columns."""
        defaults = defaults or {}
        defs = [f"{self.quote(name)} {self.column_type(kind)}"
                + (f" DEFAULT {defaults[name]}" if name in defaults else "") + (" NOT NULL" if not_null else "")
                for name, kind, not_null in columns]
        defs.append(f"PRIMARY KEY ({', '.join(self.quote(k) for k in key)})")
        defs += [f"UNIQUE ({self.quote(column)})" for column in unique]
        return f"CREATE TABLE IF NOT EXISTS {self.quote(table)} ({', '.join(defs)})"

    def insert_ignore(self, table: str, columns: Sequence[str]) -> str:
        """INSERT that leaves an existing row (by primary or unique key) untouched."""
        cols = ", ".join(self.quote(c) for c in columns)
        marks = ", ".join(["%s"] * len(columns))
        if self.dialect == "mysql":
            return f"INSERT IGNORE INTO {self.quote(table)} ({cols}) VALUES ({marks})"
        return f"INSERT INTO {self.quote(table)} ({cols}) VALUES ({marks}) ON CONFLICT DO NOTHING"

    def upsert(self, table: str, columns: Sequence[str], key: Sequence[str], update: Sequence[str] | None = None) -> str:
        """INSERT ... or update the non-key columns of the row with the same key."""
        update = [c for c in (columns if update is None else update) if c not in key]
        cols = ", ".join(self.quote(c) for c in columns)
        marks = ", ".join(["%s"] * len(columns))
        head = f"INSERT INTO {self.quote(table)} ({cols}) VALUES ({marks})"
        if self.dialect == "mysql":
            sets = ", ".join(f"{self.quote(c)} = VALUES({self.quote(c)})" for c in update)
            return f"{head} ON DUPLICATE KEY UPDATE {sets or self.quote(key[0]) + ' = ' + self.quote(key[0])}"
        conflict = ", ".join(self.quote(c) for c in key)
        if not update:
            return f"{head} ON CONFLICT ({conflict}) DO NOTHING"
        sets = ", ".join(f"{self.quote(c)} = excluded.{self.quote(c)}" for c in update)
        return f"{head} ON CONFLICT ({conflict}) DO UPDATE SET {sets}"

    # -- running work --------------------------------------------------------------------------
    def run(self, work: Callable[[Any], T], *, what: str = "statement") -> T:
        """Run ``work(cursor)`` in one transaction and commit; on a transient error roll back,
        reconnect and run it again. ``work`` must be idempotent."""
        attempt = 0
        while True:
            attempt += 1
            try:
                cur = self.raw.cursor()
                try:
                    result = work(Cursor(self, cur))
                finally:
                    try:
                        cur.close()
                    except Exception:
                        pass
                self.raw.commit()
                return result
            except Exception as exc:
                self._rollback_quietly()
                if not is_transient(exc) or attempt > self.retries:
                    raise
                delay = min(self.backoff_seconds * 2 ** (attempt - 1), 30.0)
                log.warning(
                    "%s on %s failed (%s: %s); reconnecting, attempt %d of %d in %.1fs",
                    what, self.conn_id, type(exc).__name__, scrub(str(exc), [self.connection.password]).strip(),
                    attempt, self.retries, delay,
                )
                self.close()
                time.sleep(delay)

    def execute(self, sql: str, params: Sequence[Any] = (), *, what: str = "statement") -> int:
        """Execute one idempotent statement in its own transaction; returns the row count."""
        return self.run(lambda cur: cur.execute(sql, params), what=what)

    def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        return self.run(lambda cur: cur.fetch(sql, params), what="query")

    def fetchone(self, sql: str, params: Sequence[Any] = ()) -> dict[str, Any] | None:
        rows = self.fetchall(sql, params)
        return rows[0] if rows else None

    def _rollback_quietly(self) -> None:
        if self._raw is not None:
            try:
                self._raw.rollback()
            except Exception:
                self.close()

    @contextmanager
    def transaction(self) -> Iterator[Cursor]:
        """One transaction without retry, for work that is resumed at a higher level."""
        cur = self.raw.cursor()
        try:
            yield Cursor(self, cur)
            self.raw.commit()
        except BaseException:
            self._rollback_quietly()
            raise
        finally:
            try:
                cur.close()
            except Exception:
                pass


class Cursor:
    """A DBAPI cursor that speaks ``%s`` placeholders in every dialect and returns dict rows."""

    def __init__(self, db: Database, cur: Any):
        self.db = db
        self.raw = cur

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        self.raw.execute(self.db.sql(sql), tuple(params))
        return self.raw.rowcount

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> int:
        self.raw.executemany(self.db.sql(sql), rows)
        return self.raw.rowcount

    def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        self.raw.execute(self.db.sql(sql), tuple(params))
        if self.raw.description is None:
            return []
        names = [d[0] for d in self.raw.description]
        return [dict(zip(names, row)) for row in self.raw.fetchall()]

    def scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        rows = self.fetch(sql, params)
        return next(iter(rows[0].values())) if rows else None
