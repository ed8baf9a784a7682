"""Counted reads: a page's statements run in one transaction on one connection, and are counted,
so the JSON can say how many a page took (it must not grow with the rows)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from include.common.db import Cursor, Database

T = TypeVar("T")


class Reader:
    """A cursor that counts the statements it runs (``statements``)."""

    def __init__(self, cur: Cursor):
        self.cur = cur
        self.db = cur.db
        self.statements = 0

    def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        self.statements += 1
        return self.cur.fetch(sql, params)

    def one(self, sql: str, params: Sequence[Any] = ()) -> dict[str, Any] | None:
        rows = self.fetch(sql, params)
        return rows[0] if rows else None

    def scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        row = self.one(sql, params)
        return next(iter(row.values())) if row else None

    def quote(self, name: str) -> str:
        return self.db.quote(name)


def read(db: Database, work: Callable[[Reader], T]) -> tuple[T, int]:
    """``work(reader)`` in one read transaction; returns its result and the statement count."""
    counter: list[int] = []

    def run(cur: Cursor) -> T:
        reader = Reader(cur)
        result = work(reader)
        counter.append(reader.statements)
        return result

    result = db.run(run, what="console read")
    return result, counter[-1]


def placeholders(values: Sequence[Any]) -> str:
    return ", ".join(["%s"] * len(values))
