"""The tracking table ``sync_verifications`` in central: one row per verification run and pair.

Written as ``sync_progress`` is: ``plan`` inserts the pending rows of the run (and which task
instance verifies each), the task marks a pair ``in_progress`` and records its result (in the
transaction that repaired it, when it repaired), and the task callbacks settle the rows a try
left open (a retry puts them back to ``pending``, a final failure marks them ``failed`` with
the reason). Every write is one idempotent statement or transaction through ``Database.run``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from include.common.batches import ERROR_MAX
from include.common.clock import utcnow
from include.common.db import Cursor, Database
from include.common.schema import TableDef, ensure_tables
from include.common.scrub import scrub

VERIFICATIONS = "sync_verifications"
STATUSES = ("pending", "in_progress", "clean", "drift", "repaired", "failed")
FINAL_STATUSES = ("clean", "drift", "repaired", "failed")
OPEN_STATUSES = ("pending", "in_progress")

_ZERO = {"branch_rows": "0", "central_rows": "0", "missing_rows": "0", "extra_rows": "0", "changed_rows": "0",
         "not_yet_synced": "0", "repaired_rows": "0", "retry_count": "0", "repair": "0"}
TABLE = TableDef(VERIFICATIONS, (
    ("verification_id", "id", True),
    ("connection_name", "name", True),
    ("table_name", "name", True),
    ("dag_id", "name", False),
    ("run_id", "name", False),
    ("status", "status", True),
    ("repair", "int", True),
    ("method", "status", False),
    ("branch_rows", "bigint", True),
    ("central_rows", "bigint", True),
    ("missing_rows", "bigint", True),
    ("extra_rows", "bigint", True),
    ("changed_rows", "bigint", True),
    ("not_yet_synced", "bigint", True),
    ("repaired_rows", "bigint", True),
    ("sample_keys", "text", False),
    ("note", "text", False),
    ("error_message", "text", False),
    ("started_at", "ts", False),
    ("completed_at", "ts", False),
    ("duration_seconds", "float", False),
    ("retry_count", "int", True),
    ("task_id", "name", False),
    ("map_index", "int", False),
    ("updated_at", "ts", False),
), key=("verification_id", "connection_name", "table_name"), defaults=_ZERO,
    indexes=(("ix_sync_verifications_pair", ("connection_name", "table_name")),), values={"status": STATUSES})
SCHEMA = (TABLE,)  # this job's tables in the central database: a new table is one more TableDef here

_PAIR = "verification_id = %s AND connection_name = %s AND table_name = %s"


def ensure_schema(db: Database) -> None:
    """Create or migrate ``sync_verifications`` (see :mod:`include.common.schema`)."""
    ensure_tables(db, SCHEMA, what="migrate sync_verifications")


@dataclass(frozen=True)
class Planned:
    connection: str
    table: str
    task_id: str
    map_index: int


def start(db: Database, verification_id: str, dag_id: str, run_id: str, repair: bool,
          pairs: Iterable[Planned]) -> None:
    """The run's pending rows, and which task instance verifies each; a retried ``plan``
    changes nothing but the task assignment."""
    pairs = list(pairs)
    now = db.ts(utcnow())

    def write(cur: Cursor) -> None:
        if not pairs:
            return
        cur.executemany(db.insert_ignore(VERIFICATIONS, ["verification_id", "connection_name", "table_name", "dag_id",
                                                         "run_id", "status", "repair", "updated_at"]),
                        [(verification_id, p.connection, p.table, dag_id, run_id, "pending", int(repair), now)
                         for p in pairs])
        cur.executemany(f"UPDATE {db.quote(VERIFICATIONS)} SET task_id = %s, map_index = %s WHERE {_PAIR}",
                        [(p.task_id, p.map_index, verification_id, p.connection, p.table) for p in pairs])

    db.run(write, what="create verification rows")


def status_of(db: Database, verification_id: str, connection: str, table: str) -> str | None:
    row = db.fetchone(f"SELECT status FROM {db.quote(VERIFICATIONS)} WHERE {_PAIR}", (verification_id, connection, table))
    return row["status"] if row else None


def mark_started(db: Database, verification_id: str, connection: str, table: str) -> None:
    """A try of this pair begins; a row already past ``pending`` counts a retry."""
    now = db.ts(utcnow())
    db.execute(
        f"UPDATE {db.quote(VERIFICATIONS)} SET retry_count = retry_count + CASE WHEN status = 'pending' THEN 0 "
        f"ELSE 1 END, status = 'in_progress', started_at = %s, completed_at = NULL, duration_seconds = NULL, "
        f"error_message = NULL, updated_at = %s WHERE {_PAIR}",
        (now, now, verification_id, connection, table), what="mark verification in_progress")


def record(cur: Cursor, verification_id: str, result: Any) -> None:
    """The pair's result (an ``engine.PairResult``), inside the caller's transaction."""
    db = cur.db
    now = utcnow()
    cur.execute(
        f"UPDATE {db.quote(VERIFICATIONS)} SET status = %s, method = %s, branch_rows = %s, central_rows = %s, "
        f"missing_rows = %s, extra_rows = %s, changed_rows = %s, not_yet_synced = %s, repaired_rows = %s, "
        f"sample_keys = %s, note = %s, error_message = NULL, completed_at = %s, duration_seconds = %s, "
        f"updated_at = %s WHERE {_PAIR}",
        (result.status, result.method, result.branch_rows, result.central_rows, result.missing, result.extra,
         result.changed, result.not_yet_synced, result.repaired, json.dumps(result.sample, default=str),
         result.note, db.ts(now), result.seconds, db.ts(now), verification_id, result.connection, result.table))


def mark_failed(db: Database, verification_id: str, pairs: Sequence[tuple[str, str]], error: str,
                only_open: bool = False) -> None:
    """These pairs failed with ``error`` (scrubbed); ``only_open``: those not already final."""
    now = utcnow()

    def write(cur: Cursor) -> None:
        for connection, table in pairs:
            rows = cur.fetch(f"SELECT status, started_at FROM {db.quote(VERIFICATIONS)} WHERE {_PAIR}",
                             (verification_id, connection, table))
            if not rows or (only_open and rows[0]["status"] not in OPEN_STATUSES):
                continue
            started = db.parse_ts(rows[0]["started_at"])
            cur.execute(
                f"UPDATE {db.quote(VERIFICATIONS)} SET status = 'failed', error_message = %s, completed_at = %s, "
                f"duration_seconds = %s, updated_at = %s WHERE {_PAIR}",
                (scrub(error)[:ERROR_MAX], db.ts(now), (now - started).total_seconds() if started else None,
                 db.ts(now), verification_id, connection, table))

    db.run(write, what="mark verification failed")


def mark_retrying(db: Database, verification_id: str, pairs: Sequence[tuple[str, str]], error: str) -> None:
    """A try of the unit failed and Airflow retries it: its open rows go back to ``pending``."""
    now = db.ts(utcnow())

    def write(cur: Cursor) -> None:
        for connection, table in pairs:
            cur.execute(f"UPDATE {db.quote(VERIFICATIONS)} SET status = 'pending', retry_count = COALESCE(retry_count, 0) + 1, "
                        f"error_message = %s, updated_at = %s WHERE {_PAIR} AND status = 'in_progress'",
                        (scrub(error)[:ERROR_MAX], now, verification_id, connection, table))

    db.run(write, what="mark verification retrying")


def pairs_of_task(db: Database, dag_id: str, run_id: str, task_id: str, map_index: int
                  ) -> tuple[str, list[tuple[str, str]]] | None:
    """``(verification_id, [(connection, table)...])`` that ``task_id[map_index]`` of this run
    verifies, as ``start`` recorded it."""
    rows = db.fetchall(f"SELECT verification_id, connection_name, table_name FROM {db.quote(VERIFICATIONS)} "
                       f"WHERE dag_id = %s AND run_id = %s AND task_id = %s AND map_index = %s "
                       f"ORDER BY connection_name, table_name", (dag_id, run_id, task_id, map_index))
    if not rows:
        return None
    return rows[0]["verification_id"], [(r["connection_name"], r["table_name"]) for r in rows]


def rows_of(db: Database, verification_id: str) -> list[dict[str, Any]]:
    return db.fetchall(f"SELECT * FROM {db.quote(VERIFICATIONS)} WHERE verification_id = %s "
                       f"ORDER BY connection_name, table_name", (verification_id,))


def summary(rows: Sequence[dict[str, Any]]) -> dict[str, int]:
    """A run's counts, derived from its rows (pure)."""
    out = {s: 0 for s in STATUSES}
    totals = {"missing_rows": 0, "extra_rows": 0, "changed_rows": 0, "not_yet_synced": 0, "repaired_rows": 0}
    for r in rows:
        out[r["status"]] = out.get(r["status"], 0) + 1
        for k in totals:
            totals[k] += int(r.get(k) or 0)
    return {"pairs": len(rows), **out, **totals}
