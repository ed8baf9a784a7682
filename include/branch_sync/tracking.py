"""The sync tracking tables ``sync_batches`` and ``sync_progress`` in the central DB.

Every write here is one idempotent statement (or one transaction) run through
:meth:`include.common.db.Database.run`, so a dropped connection is retried rather than lost. Counts
are never incremented blindly: batch counts are derived from the progress rows, and progress rows'
record counts are added in the same transaction as the rows they count (see the sync engine).
The batch is finalized in one function, :func:`finish_batch`; :func:`reconcile_batch` repairs the
rows from Airflow's task states by a pure plan (:func:`include.branch_sync.repairs.plan_repairs`)
applied in one transaction.

Kept whole: every way a progress row or its batch changes state (plan, a table's start and end in
its work unit, in-task and Airflow retries, the callbacks' decisions for a unit, repairs and the
finalize) is here, so one reading shows all of them and the statuses they share.
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
RESUMES = "sync_resume_attempts"

BATCH_STATUSES = ("running", "completed", "failed", "interrupted")
PAIR_STATUSES = ("pending", "in_progress", "completed", "failed", "skipped")
OPEN_BATCH_STATUSES = ("running",)
RESUME_OUTCOMES = ("triggering", "triggered", "failed")  # of an automatic resume attempt

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
    ), key=("batch_id",), defaults=_COUNT_DEFAULTS, indexes=(("ix_sync_batches_started", ("started_at",)),),
        values={"status": BATCH_STATUSES}),
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
        ("sync_mode", "status", False),  # initial | incremental | full_refresh: the history units plan by
        ("expected_seconds", "float", False),  # the cost plan expected when it formed the work units
    ), key=("batch_id", "connection_name", "table_name"), defaults=_COUNT_DEFAULTS,
        indexes=(("ix_sync_progress_status", ("status",)),), values={"status": PAIR_STATUSES}),
    # One row per automatic resume of an interrupted batch (written by health_reconcile): who, when,
    # which run it triggered, and the cap in force then, so a reader can tell "out of attempts".
    TableDef(RESUMES, (
        ("batch_id", "id", True),
        ("attempt", "int", True),
        ("max_attempts", "int", True),
        ("triggered_by", "name", True),
        ("api_user", "name", False),
        ("attempted_at", "ts", True),
        ("dag_id", "name", True),
        ("run_id", "name", True),
        ("outcome", "status", True),
        ("error_message", "text", False),
        ("updated_at", "ts", False),
    ), key=("batch_id", "attempt"), values={"outcome": RESUME_OUTCOMES}),
)
# Every table of this job in the central database: a new table is one more TableDef here.
SCHEMA = (*TABLES, STATE_TABLE)


def ensure_schema(db: Database) -> None:
    """Create or migrate the tracking tables and the checkpoint table (see
    :mod:`include.common.schema`): once per process; :class:`SchemaError` naming what cannot be used."""
    ensure_tables(db, SCHEMA, what="migrate tracking tables")


@dataclass(frozen=True)
class Pair:
    connection: str
    table: str
    model: str
    task_id: str


@dataclass(frozen=True)
class Assignment:
    """The task instance (``task_id[map_index]``, the pair's work unit) that syncs a pair in the
    current run, and the cost the plan expected of it."""

    pair: Pair
    map_index: int
    expected_seconds: float | None = None


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
    """Continue an earlier batch from a new run: returns the pairs not yet ``completed`` in it,
    which are ``pending`` again (their retry counted)."""
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
        # The pairs this run syncs again are pending from now: a batch whose resumed run dies before
        # they start is interrupted (open pairs), not failed by what its earlier run left. A row
        # that had run counts its retry here, as mark_started would have.
        again = [(now, batch_id, p.connection, p.table) for p in pairs if (p.connection, p.table) not in done]
        if again:
            cur.executemany(
                f"UPDATE {db.quote(PROGRESS)} SET retry_count = retry_count + CASE WHEN status IN "
                f"('failed', 'in_progress', 'skipped') THEN 1 ELSE 0 END, status = 'pending', error_message = NULL, "
                f"completed_at = NULL, duration_seconds = NULL, updated_at = %s WHERE {_PAIR} AND status <> 'completed'",
                again)
        cur.execute(
            f"UPDATE {db.quote(BATCHES)} SET status = %s, dag_id = %s, run_id = %s, command_options = %s, "
            f"completed_at = NULL, duration_seconds = NULL, error_message = NULL, updated_at = %s WHERE batch_id = %s",
            ("running", dag_id, run_id, json.dumps(dict(options), sort_keys=True, default=str), now, batch_id),
        )
        return [p for p in pairs if (p.connection, p.table) not in done]

    remaining = db.run(write, what="resume sync batch")
    refresh_batch_counts(db, batch_id)
    return remaining


def assign_tasks(db: Database, batch_id: str, assignments: Iterable[Assignment]) -> None:
    """Record which task instance (task id, map index: the work unit) syncs each pair in the
    current run; pairs outside this run (completed in an earlier run of a resumed batch) get no
    map index, so no task state of this run is ever read as theirs."""
    rows = [(a.pair.task_id, a.map_index, a.expected_seconds, batch_id, a.pair.connection, a.pair.table)
            for a in assignments]

    def write(cur: Cursor) -> None:
        cur.execute(f"UPDATE {db.quote(PROGRESS)} SET map_index = NULL WHERE batch_id = %s", (batch_id,))
        if rows:
            cur.executemany(f"UPDATE {db.quote(PROGRESS)} SET task_id = %s, map_index = %s, expected_seconds = %s "
                            f"WHERE {_PAIR}", rows)

    db.run(write, what="record task of each pair")


def pairs_of_task(db: Database, dag_id: str, run_id: str, task_id: str, map_index: int) -> list[tuple[str, str, str]]:
    """``(batch_id, connection, table)`` of every pair the task instance ``task_id[map_index]`` of
    this run syncs (its work unit), as :func:`assign_tasks` recorded them."""
    rows = db.fetchall(
        f"SELECT p.batch_id, p.connection_name, p.table_name FROM {db.quote(PROGRESS)} p "
        f"JOIN {db.quote(BATCHES)} b ON b.batch_id = p.batch_id "
        f"WHERE b.dag_id = %s AND b.run_id = %s AND p.task_id = %s AND p.map_index = %s "
        f"ORDER BY p.table_name",
        (dag_id, run_id, task_id, map_index),
    )
    return [(r["batch_id"], r["connection_name"], r["table_name"]) for r in rows]


def statuses(db: Database, batch_id: str, connection: str, tables: Iterable[str]) -> dict[str, str]:
    """``{table: status}`` of some of a connection's pairs in a batch."""
    tables = list(tables)
    if not tables:
        return {}
    rows = db.fetchall(
        f"SELECT table_name, status FROM {db.quote(PROGRESS)} WHERE batch_id = %s AND connection_name = %s "
        f"AND table_name IN ({', '.join(['%s'] * len(tables))})", (batch_id, connection, *tables))
    return {r["table_name"]: r["status"] for r in rows}


def pair_history(db: Database, connections: Iterable[str], runs: int) -> dict[tuple[str, str, str], list[float]]:
    """``{(connection, table, sync_mode): durations}`` of the last ``runs`` completed syncs of
    each pair and mode (newest first), for planning work units by expected cost. Rows recorded
    without a mode (before units existed) are not history: their mode is unknown."""
    connections = list(connections)
    if not connections:
        return {}
    rows = db.fetchall(
        f"SELECT connection_name, table_name, sync_mode, duration_seconds FROM ("
        f"SELECT connection_name, table_name, sync_mode, duration_seconds, ROW_NUMBER() OVER ("
        f"PARTITION BY connection_name, table_name, sync_mode ORDER BY completed_at DESC) AS n "
        f"FROM {db.quote(PROGRESS)} WHERE status = 'completed' AND sync_mode IS NOT NULL "
        f"AND duration_seconds IS NOT NULL AND connection_name IN ({', '.join(['%s'] * len(connections))})"
        f") recent WHERE n <= %s", (*connections, runs))
    out: dict[tuple[str, str, str], list[float]] = {}
    for r in rows:
        out.setdefault((r["connection_name"], r["table_name"], r["sync_mode"]), []).append(float(r["duration_seconds"]))
    return out


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
            f"retry_count = COALESCE(retry_count, 0) + CASE WHEN status IN ('failed', 'in_progress', 'completed', 'skipped') "
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
                  error: str | None = None, sync_mode: str | None = None) -> None:
    """A try ended as ``completed``, ``failed`` or ``skipped``; duration from the row's start;
    ``sync_mode`` (initial, incremental, full_refresh) of a completed sync, the history that
    work units are planned by."""
    db.run(lambda cur: _finish_pair(cur, batch_id, connection, table, status, error, sync_mode),
           what=f"mark pair {status}")


def _finish_pair(cur: Cursor, batch_id: str, connection: str, table: str, status: str, error: str | None,
                 sync_mode: str | None = None) -> None:
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
        f"error_message = %s, sync_mode = %s, updated_at = %s WHERE {_PAIR}",
        (status, db.ts(now), duration, (error or None) and scrub(error)[:ERROR_MAX], sync_mode, db.ts(now),
         batch_id, connection, table),
    )
    _derive_batch_counts(cur, batch_id)  # the batch row shows true progress while it runs


def mark_retrying(db: Database, batch_id: str, connection: str, table: str, error: str,
                  only_in_progress: bool = False) -> None:
    """A try failed and Airflow will retry it: ``retry_count`` + 1, back to ``pending``.
    ``only_in_progress``: only a row still ``in_progress`` (the scheduler may report one lost try twice)."""
    db.run(lambda cur: _retry_pair(cur, batch_id, connection, table, error, only_in_progress),
           what="mark pair retrying")


def finish_open_pairs(db: Database, batch_id: str, connection: str, tables: Iterable[str], status: str,
                      error: str | None = None) -> None:
    """What Airflow decided about a whole work unit (failed, skipped) for its tables that had not
    finished: rows ``pending`` or ``in_progress`` end as ``status``; a table that completed or
    failed on its own keeps what it recorded."""
    tables = list(tables)

    def write(cur: Cursor) -> None:
        open_tables = _open_tables(cur, batch_id, connection, tables)
        for table in open_tables:
            _finish_pair(cur, batch_id, connection, table, status, error)

    db.run(write, what=f"mark unit's open pairs {status}")


def retry_open_pairs(db: Database, batch_id: str, connection: str, tables: Iterable[str], error: str) -> None:
    """Airflow retries a work unit: its tables still ``in_progress`` (the one the try was in) go
    back to ``pending`` with ``retry_count`` + 1; the others keep their status (a completed table
    is skipped by the next try; one not yet started was not tried)."""
    tables = list(tables)
    db.run(lambda cur: [_retry_pair(cur, batch_id, connection, table, error, only_in_progress=True)
                        for table in tables], what="mark unit's pairs retrying")


def _open_tables(cur: Cursor, batch_id: str, connection: str, tables: list[str]) -> list[str]:
    if not tables:
        return []
    rows = cur.fetch(
        f"SELECT table_name FROM {cur.db.quote(PROGRESS)} WHERE batch_id = %s AND connection_name = %s "
        f"AND status IN ({', '.join(['%s'] * len(OPEN_PAIR_STATUSES))}) "
        f"AND table_name IN ({', '.join(['%s'] * len(tables))})",
        (batch_id, connection, *OPEN_PAIR_STATUSES, *tables))
    return sorted(r["table_name"] for r in rows)


def mark_retrying_in_task(db: Database, batch_id: str, connection: str, table: str, error: str) -> None:
    """A table of a work unit failed transiently and its task tries it again after a back-off:
    ``retry_count`` + 1 and the error, while the row stays ``in_progress``."""
    db.execute(
        f"UPDATE {db.quote(PROGRESS)} SET retry_count = COALESCE(retry_count, 0) + 1, error_message = %s, updated_at = %s "
        f"WHERE {_PAIR}", (scrub(error)[:ERROR_MAX], db.ts(utcnow()), batch_id, connection, table),
        what="mark pair retrying in its task")


def _retry_pair(cur: Cursor, batch_id: str, connection: str, table: str, error: str,
                only_in_progress: bool = False) -> None:
    db = cur.db
    cur.execute(
        f"UPDATE {db.quote(PROGRESS)} SET status = 'pending', retry_count = COALESCE(retry_count, 0) + 1, error_message = %s, "
        f"completed_at = NULL, updated_at = %s WHERE {_PAIR}" + (" AND status = 'in_progress'" if only_in_progress else ""),
        (scrub(error)[:ERROR_MAX], db.ts(utcnow()), batch_id, connection, table),
    )


def add_counts(cur: Cursor, batch_id: str, connection: str, table: str, processed: int, skipped: int,
               deleted: int = 0) -> None:
    """Add a committed chunk's counts, inside the chunk's own transaction (exact by construction).
    COALESCE: a row of an adopted table may lack a count (NULL, unknown) until its pair re-runs."""
    db = cur.db
    cur.execute(
        f"UPDATE {db.quote(PROGRESS)} SET records_processed = COALESCE(records_processed, 0) + %s, "
        f"records_skipped = COALESCE(records_skipped, 0) + %s, "
        f"records_deleted = COALESCE(records_deleted, 0) + %s, updated_at = %s "
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


def resume_attempts(db: Database, batch_ids: Iterable[str]) -> dict[str, list[dict[str, Any]]]:
    """The automatic resume attempts of these batches, oldest first (one statement; empty lists
    before the first attempt created the table)."""
    ids = list(dict.fromkeys(batch_ids))
    found: dict[str, list[dict[str, Any]]] = {batch_id: [] for batch_id in ids}
    if not ids:
        return found
    try:
        rows = db.fetchall(f"SELECT * FROM {db.quote(RESUMES)} WHERE batch_id IN ({', '.join(['%s'] * len(ids))}) "
                           f"ORDER BY batch_id, attempt", ids)
    except Exception:
        db.close()  # no such table yet (a failed query leaves the transaction aborted on PostgreSQL)
        return found
    for row in rows:
        found[row["batch_id"]].append(row)
    return found


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
