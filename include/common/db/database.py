"""Database access by Airflow connection id, for every dialect the bundle supports.

One class, :class:`Database`, opens connections late through the connection's provider hook and
runs idempotent work with reconnect-and-retry so that a dropped connection ("MySQL server has gone
away", "server closed the connection unexpectedly") costs a retry, never a lost write. Everything
that differs between dialects is asked of ``self.dialect`` (see ``dialects/``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any, TypeVar

from include.common.db.dialects import Dialect, dialect_for
from include.common.db.errors import is_transient
from include.common.scrub import scrub

log = logging.getLogger(__name__)

T = TypeVar("T")


class Database:
    """A database reached through an Airflow connection id.

    SQL is written with ``%s`` placeholders; SQLite's ``?`` is substituted here. ``statements``
    counts the statements sent (the console shows it per page; benchmarks print it).
    """

    def __init__(self, conn_id: str, *, retries: int = 5, backoff_seconds: float = 0.5, local_infile: bool = False):
        from airflow.sdk import BaseHook

        self.conn_id = conn_id
        self.connection = BaseHook.get_connection(conn_id)
        self.dialect: Dialect = dialect_for(self.connection.conn_type, conn_id)
        self.retries = retries
        self.backoff_seconds = backoff_seconds
        self.local_infile = local_infile  # the client may send files to the server (LOAD DATA LOCAL)
        self._raw: Any = None
        self.statements = 0

    # -- connections ---------------------------------------------------------------------------
    def connect(self) -> Any:
        """A fresh DBAPI connection from the provider hook, not in autocommit mode."""
        return self.dialect.connect(self.connection, self.conn_id, local_infile=self.local_infile)

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
        return self.dialect.quote(name)

    def sql(self, text: str) -> str:
        return self.dialect.sql(text)

    def ts(self, value: datetime | None) -> Any:
        """A UTC timestamp as this dialect stores it (aware for PostgreSQL, naive UTC for MySQL,
        fixed-width ISO text for SQLite)."""
        return None if value is None else self.dialect.ts(value.astimezone(timezone.utc))

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
        return self.dialect.tracking_types[kind]

    def insert_ignore(self, table: str, columns: Sequence[str]) -> str:
        """INSERT that leaves an existing row (by primary or unique key) untouched."""
        return self.dialect.insert_ignore(self.quote(table), ", ".join(self.quote(c) for c in columns),
                                          ", ".join(["%s"] * len(columns)))

    def upsert(self, table: str, columns: Sequence[str], key: Sequence[str], update: Sequence[str] | None = None) -> str:
        """INSERT ... or update the non-key columns of the row with the same key."""
        update = [c for c in (columns if update is None else update) if c not in key]
        return self.dialect.upsert(self.quote(table), ", ".join(self.quote(c) for c in columns),
                                   ", ".join(["%s"] * len(columns)), [self.quote(k) for k in key],
                                   [self.quote(c) for c in update])

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
        self.db.statements += 1
        self.raw.execute(self.db.sql(sql), tuple(params))
        return self.raw.rowcount

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> int:
        self.db.statements += 1
        self.raw.executemany(self.db.sql(sql), rows)
        return self.raw.rowcount

    def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        self.db.statements += 1
        self.raw.execute(self.db.sql(sql), tuple(params))
        if self.raw.description is None:
            return []
        names = [d[0] for d in self.raw.description]
        return [dict(zip(names, row)) for row in self.raw.fetchall()]

    def scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        rows = self.fetch(sql, params)
        return next(iter(rows[0].values())) if rows else None
