"""What every target dialect's writer offers the sync engine.

A writer works inside the caller's transaction (a :class:`include.common.db.Cursor`); the engine decides
where transactions begin and end, so data, checkpoint and counts commit together.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from abc import ABC, abstractmethod
from dataclasses import dataclass
from collections.abc import Iterable, Sequence
from typing import Any

from include.branch_sync.config import BRANCH_COLUMN
from include.branch_sync.reader import Chunk
from include.branch_sync.wire import Wire
from include.common.db import Cursor, Database
from include.common.db.columns import Column
from include.common.db.dialects import Dialect


def adapt_value(value: Any) -> Any:
    """Python values every target driver takes: JSON text for dicts/lists, text for UUIDs, bytes
    for memoryviews (each dialect's writer adds its own cases before this)."""
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, memoryview):
        return bytes(value)
    return value


@dataclass
class Counts:
    processed: int = 0  # rows inserted or changed at the target
    skipped: int = 0  # rows read that the target already held unchanged
    deleted: int = 0  # rows a full refresh removed because the source no longer has them

    def __iadd__(self, other: Counts) -> Counts:
        self.processed += other.processed
        self.skipped += other.skipped
        self.deleted += other.deleted
        return self


class Writer(ABC):
    def __init__(self, db: Database, table: str, columns: list[Column], key: tuple[str, ...],
                 branch_value: str | None, target_columns: list[Column] | None = None):
        self.db = db
        self.table = table
        self.columns = columns
        self.key = key
        self.branch_value = branch_value
        self.target_types = {c.name: c.source_type for c in target_columns or []}  # the target's exact types
        self.target_oids = {c.name: c.type_oid for c in target_columns or []}
        self.names = [c.name for c in columns] + ([BRANCH_COLUMN] if branch_value is not None else [])
        self.value_columns = [n for n in self.names if n not in key]
        digest = hashlib.sha1(table.encode()).hexdigest()[:8]
        self.stage_table = f"_sync_stage_{digest}"
        self.keys_table = f"_sync_keys_{digest}"
        # the key columns in the order the source's key read returns them (SourceReader.keys)
        self.key_names = [c.name for c in columns if c.name in key] + ([BRANCH_COLUMN] if branch_value is not None else [])

    def q(self, name: str) -> str:
        return self.db.quote(name)

    @property
    def col_list(self) -> str:
        return ", ".join(self.q(n) for n in self.names)

    def branch_filter(self, alias: str = "") -> tuple[str, list[str]]:
        """SQL limiting a statement to this branch's rows (per-branch tables share one target)."""
        if self.branch_value is None:
            return "", []
        prefix = f"{alias}." if alias else ""
        return f"{prefix}{self.q(BRANCH_COLUMN)} = %s", [self.branch_value]

    def target_has_rows(self, cur: Cursor) -> bool:
        where, params = self.branch_filter()
        sql = f"SELECT 1 FROM {self.q(self.table)}" + (f" WHERE {where}" if where else "") + " LIMIT 1"
        return bool(cur.fetch(sql, params))

    def count_rows(self, cur: Cursor) -> int:
        """This branch's rows at the target."""
        where, params = self.branch_filter()
        return int(cur.scalar(f"SELECT COUNT(*) FROM {self.q(self.table)}" + (f" WHERE {where}" if where else ""),
                              params))

    def wire(self, source: Dialect, key_columns: Sequence[str]) -> Wire:
        """The form rows travel in from a ``source`` table whose keyset is ``key_columns`` (see
        :mod:`include.branch_sync.wire`): COPY text between two dialects that share it, else rows.
        A writer with a faster path overrides this."""
        return Wire("text") if source.same_copy_format(self.db.dialect) else Wire("rows")

    def begin_load(self, direct: bool) -> None:
        """Before a pair writes: ``direct`` when the target holds none of its rows and only inserts
        follow (a writer may build the table's key after them, see PostgreSQL)."""

    def end_load(self, *, build: bool = True) -> None:
        """After a pair wrote (``build`` False when it failed)."""

    @abstractmethod
    def prepare(self, cur: Cursor) -> None:
        """In the pair's first transaction, before its reads: an empty staging table for the
        session (or the writer's own preparation)."""

    @abstractmethod
    def insert(self, cur: Cursor, chunk: Chunk) -> Counts:
        """Insert rows the target does not hold yet (initial load of an empty target)."""

    @abstractmethod
    def upsert(self, cur: Cursor, chunk: Chunk) -> Counts:
        """Insert or update by key; rows identical at the target count as skipped."""

    @abstractmethod
    def stage(self, cur: Cursor, chunk: Chunk) -> None:
        """Add rows to the staging table (full refresh)."""

    @abstractmethod
    def merge_stage(self, cur: Cursor) -> Counts:
        """Upsert the staged rows and delete this branch's rows the stage lacks (full refresh)."""

    @abstractmethod
    def delete_missing(self, cur: Cursor, keys: Iterable[Chunk]) -> int:
        """Delete this branch's rows whose key is not among ``keys`` (every key of the source, read
        in the snapshot the run read its rows in); return how many were deleted."""
