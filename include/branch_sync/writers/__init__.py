"""One writer per target dialect, the same methods in each (``base.Writer``), as dlt keeps one
folder per destination. :func:`writer_for` picks the target's; the engine never names a dialect."""

from __future__ import annotations

from include.branch_sync.writers.base import Counts, Writer
from include.branch_sync.writers.mysql import MySqlWriter
from include.branch_sync.writers.postgresql import PostgresWriter
from include.branch_sync.writers.sqlite import SqliteWriter
from include.common.db import Database
from include.common.db.columns import Column

WRITERS: dict[str, type[Writer]] = {"postgresql": PostgresWriter, "mysql": MySqlWriter, "sqlite": SqliteWriter}


def writer_for(db: Database, table: str, columns: list[Column], key: tuple[str, ...], branch_value: str | None,
               target_columns: list[Column]) -> Writer:
    """The writer of ``db``'s dialect for one target table (``target_columns``: as the target describes them)."""
    return WRITERS[db.dialect.name](db, table, columns, key, branch_value, target_columns)


__all__ = ["Counts", "Writer", "writer_for"]
