"""Where a (branch, table) pair's sync stopped: the ``sync_state`` table, one row per pair, and the
codec of its key values. One state manager (:class:`Checkpoints`), as Airbyte keeps one for every
stream: the engine loads a pair's checkpoint once and saves it inside each chunk's transaction,
so data, counts and checkpoint commit together.

A key value is stored as tagged JSON (``["dt", "2026-01-01T00:00:00+00:00"]``) that decodes to the
same Python type, and is bound back with the column's exact type where the dialect casts text.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from include.common.clock import utcnow
from include.common.db import Cursor, Database
from include.common.schema import TableDef

STATE = "sync_state"
TABLE = TableDef(STATE, (
    ("connection_name", "name", True),
    ("table_name", "name", True),
    ("cursor_column", "name", False),
    ("cursor_value", "text", False),
    ("cursor_key", "text", False),
    ("source_clock", "text", False),
    ("columns_signature", "text", False),
    ("run_complete", "int", True),
    ("batch_id", "id", False),
    ("updated_at", "ts", False),
    ("read_sorted", "int", False),  # 1: the branch sorted every row of the last ordered read (no index served it)
), key=("connection_name", "table_name"), defaults={"run_complete": "0"})
_COLUMNS = [name for name, _, _ in TABLE.columns]


@dataclass(frozen=True)
class Checkpoint:
    """A pair's last committed key and the source clock of the run that wrote it."""

    key: list[Any] | None  # encoded (cursor, primary key...) of the last committed row
    clock: str | None  # JSON of the encoded source clock at the start of that run
    signature: str | None  # the source columns it was taken with
    complete: bool


class Checkpoints:
    """The checkpoints of one (branch, table) pair in the target database."""

    def __init__(self, db: Database, connection: str, table: str, cursor_column: str | None, batch_id: str | None):
        self.db = db
        self.connection = connection
        self.table = table
        self.cursor_column = cursor_column
        self.batch_id = batch_id

    def load(self, cur: Cursor | None = None) -> Checkpoint | None:
        """The pair's checkpoint, read inside the caller's transaction where ``cur`` is given."""
        sql = f"SELECT * FROM {self.db.quote(STATE)} WHERE connection_name = %s AND table_name = %s"
        rows = (cur.fetch if cur else self.db.fetchall)(sql, (self.connection, self.table))
        if not rows:
            return None
        row = rows[0]
        return Checkpoint(json.loads(row["cursor_key"]) if row["cursor_key"] else None, row["source_clock"],
                          row["columns_signature"], bool(row["run_complete"]))

    def save(self, cur: Cursor, key: list[Any] | None, clock: str | None, signature: str, complete: bool, *,
             read_sorted: bool = False) -> None:
        """Inside the caller's transaction: the checkpoint commits with the rows it covers."""
        db = self.db
        cur.execute(db.upsert(STATE, _COLUMNS, ["connection_name", "table_name"]), (
            self.connection, self.table, self.cursor_column,
            json.dumps(key[0]) if key else None, json.dumps(key) if key else None, clock,
            signature, 1 if complete else 0, self.batch_id, db.ts(utcnow()), 1 if read_sorted else 0))


def pairs_with_state(db: Database, connections: Sequence[str]) -> set[tuple[str, str]]:
    """The (connection, table) pairs that hold a checkpoint: synced before, so a run with a cursor
    reads them incrementally (the planning of work units expects that cost)."""
    if not connections:
        return set()
    rows = db.fetchall(f"SELECT connection_name, table_name FROM {db.quote(STATE)} "
                       f"WHERE connection_name IN ({', '.join(['%s'] * len(connections))})", tuple(connections))
    return {(r["connection_name"], r["table_name"]) for r in rows}


def sorted_reads(db: Database) -> set[tuple[str, str]]:
    """The (connection, table) pairs whose last ordered read sorted every row at the branch: no
    index on ``(cursor, primary key...)`` there (``sync-status`` lists them)."""
    rows = db.fetchall(f"SELECT connection_name, table_name FROM {db.quote(STATE)} WHERE read_sorted = 1")
    return {(r["connection_name"], r["table_name"]) for r in rows}


# -- key values: stored as JSON in sync_state, bound back with the column's exact type ----------------
def encode_value(value: Any) -> list[Any]:
    """A tagged, JSON-safe form of one key value that decodes to the same type."""
    if value is None:
        return ["n", None]
    if isinstance(value, bool):
        return ["bool", value]
    if isinstance(value, int):
        return ["i", value]
    if isinstance(value, float):
        return ["f", value]
    if isinstance(value, Decimal):
        return ["dec", str(value)]
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.timezone.utc)  # watermarks are kept in UTC
        return ["dt", value.isoformat()]
    if isinstance(value, dt.date):
        return ["d", value.isoformat()]
    if isinstance(value, dt.time):
        return ["t", value.isoformat()]
    if isinstance(value, (bytes, memoryview)):
        return ["b", base64.b64encode(bytes(value)).decode()]
    return ["s", str(value)]


def decode_value(tagged: Sequence[Any]) -> Any:
    tag, value = tagged
    return {
        "n": lambda v: None, "bool": bool, "i": int, "f": float, "dec": Decimal,
        "dt": dt.datetime.fromisoformat, "d": dt.date.fromisoformat, "t": dt.time.fromisoformat,
        "b": base64.b64decode, "s": str, "pg": str,
    }[tag](value)


def as_text(tagged: Sequence[Any]) -> str | None:
    """The value as text a PostgreSQL cast parses (for ``CAST(%s AS type)``)."""
    value = decode_value(tagged)
    if value is None:
        return None
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, bytes):
        return "\\x" + value.hex()
    return str(value)
