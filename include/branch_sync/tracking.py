"""The sync tracking tables ``sync_batches`` and ``sync_progress`` in the central DB.

Every write here is one idempotent statement (or one transaction) run through
:meth:`include.common.db.Database.run`, so a dropped connection is retried rather than lost. Counts
are never incremented blindly: batch counts are derived from the progress rows, and progress rows'
record counts are added in the same transaction as the rows they count (see the sync engine).
The batch is finalized in one function, :func:`finish_batch`; :func:`reconcile_batch` repairs the
rows from Airflow's task states by a pure plan (:func:`include.branch_sync.repairs.plan_repairs`)
applied in one transaction.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from include.branch_sync.checkpoint import TABLE as STATE_TABLE
from include.branch_sync.repairs import OPEN_PAIR_STATUSES, plan_repairs
from include.common.batches import ERROR_MAX
from include.common.clock import utcnow
from include.common.db import Cursor, Database
from include.common.schema import TableDef, ensure_tables
from include.common.scrub import scrub

BATCHES = "sync_batches"
PROGRESS = "sync_progress"

BATCH_STATUSES = ("running", "completed", "failed", "interrupted")
PAIR_STATUSES = ("pending", "in_progress", "completed", "failed", "skipped")
OPEN_BATCH_STATUSES = ("running",)

_COUNT_DEFAULTS = {"total_tables": "0", "completed_tables": "0", "failed_tables": "0", "skipped_tables": "0",
                   "records_processed": "0", "records_skipped": "0", "records_deleted": "0", "retry_count": "0"}
TABLES = (
    TableDef(BATCHES, (
        ("batch_id", "id", True),
        ("dag_id", "name", False),
        ("run_id", "name", False),
        ("status", "status", True),
        ("total_tables", "int", True),
        ("completed_tables", "int", True),
        ("failed_tables", "int", True),
        ("skipped_tables", "int", True),
        ("command_options", "text", False),
        ("error_message", "text", False),
        ("started_at", "ts", False),
        ("completed_at", "ts", False),
        ("duration_seconds", "float", False),
        ("updated_at", "ts", False),
    ), key=("batch_id",), defaults=_COUNT_DEFAULTS, indexes=(("ix_sync_batches_started", ("started_at",)),)),
    TableDef(PROGRESS, (
        ("batch_id", "id", True),
        ("connection_name", "name", True),
        ("table_name", "name", True),
        ("model_name", "name", False),
        ("status", "status", True),
        ("records_processed", "bigint", True),
        ("records_skipped", "bigint", True),
        ("records_deleted", "bigint", True),
        ("error_message", "text", False),
        ("started_at", "ts", False),
        ("completed_at", "ts", False),
        ("duration_seconds", "float", False),
        ("retry_count", "int", True),
        ("task_id", "name", False),
        ("map_index", "int", False),
        ("updated_at", "ts", False),
    ), key=("batch_id", "connection_name", "table_name"), defaults=_COUNT_DEFAULTS,
        indexes=(("ix_sync_progress_status", ("status",)),)),
)


def ensure_schema(db: Database) -> None:
    """Create the tracking tables (and the checkpoint table) where missing: no migration step."""
    ensure_tables(db, (*TABLES, STATE_TABLE), what="create tracking tables")


@dataclass(frozen=True)
class Pair:
    connection: str
    table: str
    model: str
    task_id: str


def start_batch(db: Database, batch_id: str, dag_id: str, run_id: str, options: Mapping[str, Any],
                pairs: Iterable[Pair]) -> None:
    """Create the batch row and one ``pending`` progress row per pair, in one transaction.

    Re-running it for the same batch (a retried planning task) changes nothing."""
    pairs = list(pairs)
    now = db.ts(utcnow())

    def write(cur: Cursor) -> None:
        cur.execute(
            db.insert_ignore(BATCHES, ["batch_id", "dag_id", "run_id", "status", "total_tables",
                                       "command_options", "started_at", "updated_at"]),
            (batch_id, dag_id, run_id, "running", len(pairs), json.dumps(dict(options), sort_keys=True, default=str),
             now, now),
        )
        _insert_pending(db, cur, batch_id, pairs, now)

    db.run(write, what="create sync batch")
    refresh_batch_counts(db, batch_id)


def resume_batch(db: Database, batch_id: str, dag_id: str, run_id: str, options: Mapping[str, Any],
                 pairs: Iterable[Pair]) -> list[Pair]:
    """Continue an earlier batch from a new run: returns the pairs not yet ``completed`` in it."""
    pairs = list(pairs)
    now = db.ts(utcnow())

    def write(cur: Cursor) -> list[Pair]:
        rows = cur.fetch(f"SELECT status FROM {db.quote(BATCHES)} WHERE batch_id = %s", (batch_id,))
        if not rows:
            raise LookupError(f"param 'resume': batch {batch_id!r} does not exist in {BATCHES}")
        done = {
            (r["connection_name"], r["table_name"])
            for r in cur.fetch(
                f"SELECT connection_name, table_name FROM {db.quote(PROGRESS)} WHERE batch_id = %s AND status = %s",
                (batch_id, "completed"),
            )
        }
        _insert_pending(db, cur, batch_id, pairs, now)
        cur.execute(
            f"UPDATE {db.quote(BATCHES)} SET status = %s, dag_id = %s, run_id = %s, command_options = %s, "
            f"completed_at = NULL, duration_seconds = NULL, error_message = NULL, updated_at = %s WHERE batch_id = %s",
            ("running", dag_id, run_id, json.dumps(dict(options), sort_keys=True, default=str), now, batch_id),
        )
        return [p for p in pairs if (p.connection, p.table) not in done]

    remaining = db.run(write, what="resume sync batch")
    refresh_batch_counts(db, batch_id)
    return remaining


def assign_tasks(db: Database, batch_id: str, pairs: Iterable[Pair]) -> None:
    """Record which task instance (task id, map index) syncs each pair in the current run; pairs
    outside this run (completed in an earlier run of a resumed batch) get no map index, so no
    task state of this run is ever read as theirs."""
    indexes: dict[str, int] = {}
    rows = []
    for p in pairs:
        index = indexes.get(p.task_id, 0)
        indexes[p.task_id] = index + 1
        rows.append((p.task_id, index, batch_id, p.connection, p.table))

    def write(cur: Cursor) -> None:
        cur.execute(f"UPDATE {db.quote(PROGRESS)} SET map_index = NULL WHERE batch_id = %s", (batch_id,))
        if rows:
            cur.executemany(f"UPDATE {db.quote(PROGRESS)} SET task_id = %s, map_index = %s WHERE {_PAIR}",
                            rows)

    db.run(write, what="record task of each pair")


def pair_of_task(db: Database, dag_id: str, run_id: str, task_id: str, map_index: int) -> tuple[str, str, str] | None:
    """``(batch_id, connection, table)`` that the task instance ``task_id[map_index]`` of this run
    syncs, as :func:`assign_tasks` recorded it; None when no row says so."""
    row = db.fetchone(
        f"SELECT p.batch_id, p.connection_name, p.table_name FROM {db.quote(PROGRESS)} p "
        f"JOIN {db.quote(BATCHES)} b ON b.batch_id = p.batch_id "
        f"WHERE b.dag_id = %s AND b.run_id = %s AND p.task_id = %s AND p.map_index = %s",
        (dag_id, run_id, task_id, map_index),
    )
    return (row["batch_id"], row["connection_name"], row["table_name"]) if row else None


def _insert_pending(db: Database, cur: Cursor, batch_id: str, pairs: list[Pair], now: Any) -> None:
    if not pairs:
        return
    cur.executemany(
        db.insert_ignore(PROGRESS, ["batch_id", "connection_name", "table_name", "model_name", "status",
                                    "task_id", "updated_at"]),
        [(batch_id, p.connection, p.table, p.model, "pending", p.task_id, now) for p in pairs],
    )


_PAIR = "batch_id = %s AND connection_name = %s AND table_name = %s"


def mark_started(db: Database, batch_id: str, connection: str, table: str) -> None:
    """A try begins: ``in_progress``; a row that was already past ``pending`` counts a retry
    (a cleared task or a resumed batch); the batch is ``running`` again."""
    now = db.ts(utcnow())

    def write(cur: Cursor) -> None:
        cur.execute(
            f"UPDATE {db.quote(PROGRESS)} SET "
            f"retry_count = retry_count + CASE WHEN status IN ('failed', 'in_progress', 'completed', 'skipped') "
            f"THEN 1 ELSE 0 END, status = 'in_progress', started_at = %s, completed_at = NULL, "
            f"duration_seconds = NULL, error_message = NULL, updated_at = %s WHERE {_PAIR}",
            (now, now, batch_id, connection, table),
        )
        cur.execute(
            f"UPDATE {db.quote(BATCHES)} SET status = 'running', completed_at = NULL, duration_seconds = NULL, "
            f"updated_at = %s WHERE batch_id = %s AND status <> 'running'",
            (now, batch_id),
        )

    db.run(write, what="mark pair in_progress")


def mark_finished(db: Database, batch_id: str, connection: str, table: str, status: str,
                  error: str | None = None) -> None:
    """A try ended as ``completed``, ``failed`` or ``skipped``; duration from the row's start."""
    db.run(lambda cur: _finish_pair(cur, batch_id, connection, table, status, error), what=f"mark pair {status}")


def _finish_pair(cur: Cursor, batch_id: str, connection: str, table: str, status: str, error: str | None) -> None:
    if status not in ("completed", "failed", "skipped"):
        raise ValueError(f"not a final pair status: {status}")
    db = cur.db
    now = utcnow()
    rows = cur.fetch(f"SELECT started_at, status FROM {db.quote(PROGRESS)} WHERE {_PAIR}",
                     (batch_id, connection, table))
    if not rows:
        return
    if status == "skipped" and rows[0]["status"] == "completed":
        return  # a resumed batch skips what is done; the row keeps saying so
    started = db.parse_ts(rows[0]["started_at"])
    duration = (now - started).total_seconds() if started else None
    cur.execute(
        f"UPDATE {db.quote(PROGRESS)} SET status = %s, completed_at = %s, duration_seconds = %s, "
        f"error_message = %s, updated_at = %s WHERE {_PAIR}",
        (status, db.ts(now), duration, (error or None) and scrub(error)[:ERROR_MAX], db.ts(now), batch_id,
         connection, table),
    )
    _derive_batch_counts(cur, batch_id)  # the batch row shows true progress while it runs


def mark_retrying(db: Database, batch_id: str, connection: str, table: str, error: str,
                  only_in_progress: bool = False) -> None:
    """A try failed and Airflow will retry it: ``retry_count`` + 1, back to ``pending``.
    ``only_in_progress``: only a row still ``in_progress`` (the scheduler may report one lost try twice)."""
    db.run(lambda cur: _retry_pair(cur, batch_id, connection, table, error, only_in_progress),
           what="mark pair retrying")


def _retry_pair(cur: Cursor, batch_id: str, connection: str, table: str, error: str,
                only_in_progress: bool = False) -> None:
    db = cur.db
    cur.execute(
        f"UPDATE {db.quote(PROGRESS)} SET status = 'pending', retry_count = retry_count + 1, error_message = %s, "
        f"completed_at = NULL, updated_at = %s WHERE {_PAIR}" + (" AND status = 'in_progress'" if only_in_progress else ""),
        (scrub(error)[:ERROR_MAX], db.ts(utcnow()), batch_id, connection, table),
    )


def add_counts(cur: Cursor, batch_id: str, connection: str, table: str, processed: int, skipped: int,
               deleted: int = 0) -> None:
    """Add a committed chunk's counts, inside the chunk's own transaction (exact by construction)."""
    db = cur.db
    cur.execute(
        f"UPDATE {db.quote(PROGRESS)} SET records_processed = records_processed + %s, "
        f"records_skipped = records_skipped + %s, records_deleted = records_deleted + %s, updated_at = %s "
        f"WHERE {_PAIR}",
        (processed, skipped, deleted, db.ts(utcnow()), batch_id, connection, table),
    )


def refresh_batch_counts(db: Database, batch_id: str) -> dict[str, int]:
    """Derive the batch's counts from its progress rows (never incremented)."""
    return db.run(lambda cur: _derive_batch_counts(cur, batch_id), what="refresh batch counts")


def _derive_batch_counts(cur: Cursor, batch_id: str) -> dict[str, int]:
    db = cur.db
    rows = cur.fetch(
        f"SELECT status, COUNT(*) AS n FROM {db.quote(PROGRESS)} WHERE batch_id = %s GROUP BY status", (batch_id,))
    counts = {r["status"]: int(r["n"]) for r in rows}
    total = sum(counts.values())
    cur.execute(
        f"UPDATE {db.quote(BATCHES)} SET total_tables = %s, completed_tables = %s, failed_tables = %s, "
        f"skipped_tables = %s, updated_at = %s WHERE batch_id = %s",
        (total, counts.get("completed", 0), counts.get("failed", 0), counts.get("skipped", 0),
         db.ts(utcnow()), batch_id),
    )
    return {"total": total, **counts}


def finish_batch(db: Database, batch_id: str, status: str | None = None, error: str | None = None) -> dict[str, Any]:
    """Finalize a batch: counts derived from its rows; ``completed`` when every pair completed
    (or was skipped), else ``failed`` (or the given status, e.g. ``interrupted``)."""
    return db.run(lambda cur: _finish_batch(cur, batch_id, status, error), what="finish batch")


def _finish_batch(cur: Cursor, batch_id: str, status: str | None, error: str | None) -> dict[str, Any]:
    db = cur.db
    counts = _derive_batch_counts(cur, batch_id)
    open_pairs = sum(counts.get(s, 0) for s in OPEN_PAIR_STATUSES)
    if status is None:
        status = "completed" if counts.get("failed", 0) == 0 and open_pairs == 0 else "failed"
    now = utcnow()
    row = cur.fetch(f"SELECT started_at FROM {db.quote(BATCHES)} WHERE batch_id = %s", (batch_id,))
    started = db.parse_ts(row[0]["started_at"]) if row else None
    cur.execute(
        f"UPDATE {db.quote(BATCHES)} SET status = %s, completed_at = %s, duration_seconds = %s, "
        f"error_message = %s, updated_at = %s WHERE batch_id = %s",
        (status, db.ts(now), (now - started).total_seconds() if started else None,
         (error or None) and scrub(error)[:ERROR_MAX], db.ts(now), batch_id),
    )
    return {"batch_id": batch_id, "status": status, **counts}


def get_batch(db: Database, batch_id: str) -> dict[str, Any] | None:
    return db.fetchone(f"SELECT * FROM {db.quote(BATCHES)} WHERE batch_id = %s", (batch_id,))


def get_progress(db: Database, batch_id: str) -> list[dict[str, Any]]:
    return db.fetchall(
        f"SELECT * FROM {db.quote(PROGRESS)} WHERE batch_id = %s ORDER BY connection_name, table_name", (batch_id,))


# -- repair from Airflow's task states ----------------------------------------------------------------------
def reconcile_batch(db: Database, batch_id: str, task_states: Mapping[str, str | None],
                    run_state: str | None) -> dict[str, Any]:
    """Repair a batch's progress rows from Airflow's task states (see :func:`plan_repairs`) and
    derive its counts, in one transaction. Returns the repaired count and the batch's counts."""

    def work(cur: Cursor) -> dict[str, Any]:
        rows = cur.fetch(f"SELECT * FROM {db.quote(PROGRESS)} WHERE batch_id = %s "
                         f"ORDER BY connection_name, table_name{db.dialect.for_update}", (batch_id,))
        batch = cur.fetch(f"SELECT status FROM {db.quote(BATCHES)} WHERE batch_id = %s", (batch_id,))
        plan = plan_repairs(rows, batch[0]["status"] if batch else None, task_states, run_state)
        for repair in plan.repairs:
            if repair.action == "retry":
                _retry_pair(cur, batch_id, repair.connection, repair.table, repair.error or "")
            else:
                _finish_pair(cur, batch_id, repair.connection, repair.table, repair.status or "failed", repair.error)
        if plan.finish:
            return {"repaired": len(plan.repairs), **_finish_batch(cur, batch_id, plan.batch_status, plan.batch_error)}
        return {"repaired": len(plan.repairs), **_derive_batch_counts(cur, batch_id)}

    return db.run(work, what="reconcile sync batch")
