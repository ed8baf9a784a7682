"""Counted reads: a page's data and the number of SQL statements it took (shown in the JSON as
``sql_statements``; it must not grow with the rows)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from include.common.db import Database

T = TypeVar("T")


def read(db: Database, work: Callable[[Database], T]) -> tuple[T, int]:
    """``work(db)`` and the statements it sent (:attr:`include.common.db.Database.statements`)."""
    before = db.statements
    result = work(db)
    return result, db.statements - before
