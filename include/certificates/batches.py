"""Certificate batches in ``app_db``: one ``certificate_batches`` row per run, one ``certificates``
row per participant.

Progress is exact by construction: each participant's row is written idempotently (keyed by
``(batch_id, row_number)``, conditional on its status), and the batch counts are derived from
those rows, never incremented. A batch is created, recorded, derived and finalized here, in one
place: :func:`finalize_batch` is the only way a batch reaches a final state. Every write goes
through :meth:`include.common.db.Database.run`, which reconnects and retries after "MySQL server
has gone away" (2006/2013) or a dropped PostgreSQL connection.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from include.common.batches import (
    ERROR_MAX,
    TERMINAL_RUN_STATES,
    batches_to_check,
    delete_old_batches as delete_old_rows,
    run_ended_text,
)
from include.common.clock import utcnow
from include.common.db import Cursor, Database
from include.common.schema import TableDef, ensure_tables
from include.common.scrub import scrub

log = logging.getLogger(__name__)

BATCHES = "certificate_batches"
ITEMS = "certificates"
EMPLOYEES = "employees"
BATCH_PREFIX = "cert"  # batch ids: cert_YYYYmmdd_HHMMSS_xxxxxxxx
OPEN_BATCH_STATUSES = ("pending", "processing")
FINAL_BATCH_STATUSES = ("completed", "completed_with_errors", "failed")
BATCH_STATUSES = (*OPEN_BATCH_STATUSES, *FINAL_BATCH_STATUSES)
ITEM_STATUSES = ("pending", "generated", "failed")
DATA_SOURCES = ("file", "database")

TABLES = (
    TableDef(BATCHES, (
        ("batch_id", "id", True), ("dag_id", "name", False), ("run_id", "name", False),
        ("data_source", "status", True), ("source_file", "text", False), ("event_name", "name", False),
        ("event_date", "status", False), ("total_participants", "int", True), ("processed_count", "int", True),
        ("success_count", "int", True), ("failed_count", "int", True), ("progress_percentage", "float", True),
        ("status", "status", True), ("error_message", "text", False), ("started_at", "ts", False),
        ("completed_at", "ts", False), ("updated_at", "ts", False),
    ), key=("batch_id",), defaults={"total_participants": "0", "processed_count": "0", "success_count": "0",
                                    "failed_count": "0", "progress_percentage": "0"},
        values={"status": BATCH_STATUSES, "data_source": DATA_SOURCES}),
    TableDef(ITEMS, (
        ("batch_id", "id", True), ("row_number", "int", True), ("chunk_index", "int", True),
        ("participant_name", "name", False), ("email", "name", False), ("phone", "status", False),
        ("organization", "name", False), ("position", "name", False), ("certificate_number", "id", True),
        ("verification_token", "id", True), ("file_path", "text", False), ("status", "status", True),
        ("error_message", "text", False), ("attempts", "int", True), ("generated_at", "ts", False),
        ("updated_at", "ts", False),
    ), key=("batch_id", "row_number"), defaults={"attempts": "0"}, unique=("certificate_number",),
        values={"status": ITEM_STATUSES}),
    # Owned by the web app; created only where missing (the demo, a fresh database).
    TableDef(EMPLOYEES, (
        ("id", "bigint", True), ("name", "name", True), ("email", "name", False), ("phone", "status", False),
        ("position", "name", False), ("department", "name", False), ("is_active", "bool", True),
    ), key=("id",), defaults={"is_active": True}, app_owned=True),
)
SCHEMA = TABLES  # every table of this job in app_db: a new table is one more TableDef here


class DispatchError(ValueError):
    """A request the DAG refuses before writing anything (bad param, file outside the upload base)."""


def ensure_schema(db: Database) -> None:
    """Create or migrate the certificate tables (see :mod:`include.common.schema`)."""
    ensure_tables(db, SCHEMA, what="migrate certificate tables")


# -- the request ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Participant:
    row_number: int
    name: str | None
    email: str | None = None
    phone: str | None = None
    organization: str | None = None
    position: str | None = None
    error: str | None = None  # a bad row: reported, never generated


def create_batch(db: Database, batch_id: str, *, dag_id: str, run_id: str, data_source: str,
                 source_file: str | None, event_name: str, event_date: str,
                 participants: Iterable[Participant], chunk_size: int) -> dict[str, int]:
    """Write the batch and one row per participant (idempotent: a retried task adds nothing)."""
    now = db.ts(utcnow())
    cols = ["batch_id", "row_number", "chunk_index", "participant_name", "email", "phone", "organization", "position",
            "certificate_number", "verification_token", "status", "error_message", "updated_at"]
    insert = db.insert_ignore(ITEMS, cols)
    db.run(lambda cur: cur.execute(
        db.insert_ignore(BATCHES, ["batch_id", "dag_id", "run_id", "data_source", "source_file", "event_name",
                                   "event_date", "status", "started_at", "updated_at"]),
        (batch_id, dag_id, run_id, data_source, source_file, event_name, event_date, "pending", now, now)),
        what="create certificate batch")
    ordinal, good, bad, pending_rows = 0, 0, 0, []

    def flush() -> None:
        rows = list(pending_rows)
        db.run(lambda cur: cur.executemany(insert, rows), what="create certificate rows")
        pending_rows.clear()

    for p in participants:
        number = f"CERT-{event_date.replace('-', '')}-{batch_id[-8:]}-{p.row_number:06d}"
        status = "failed" if p.error else "pending"
        pending_rows.append((batch_id, p.row_number, ordinal // chunk_size if not p.error else -1, p.name, p.email,
                             p.phone, p.organization, p.position, number, secrets.token_urlsafe(24), status,
                             p.error and p.error[:ERROR_MAX], now))
        if p.error:
            bad += 1
        else:
            good += 1
            ordinal += 1
        if len(pending_rows) >= 500:
            flush()
    if pending_rows:
        flush()
    counts = refresh_counts(db, batch_id)
    return {"valid": good, "invalid": bad, "chunks": -(-good // chunk_size) if good else 0, **counts}


def record_results(db: Database, batch_id: str, outcomes: Sequence[tuple[int, str, str | None, str | None]]) -> None:
    """Participants' outcomes ``(row_number, status, file_path, error)`` in one transaction, then
    the batch's counts derived; idempotent: a generated certificate is never overwritten."""
    if not outcomes:
        return
    now = db.ts(utcnow())
    rows = [(status, file_path, error and scrub(error)[:ERROR_MAX], now if status == "generated" else None, now,
             batch_id, row_number) for row_number, status, file_path, error in outcomes]

    def write(cur: Cursor) -> None:
        cur.executemany(
            f"UPDATE {db.quote(ITEMS)} SET status = %s, file_path = %s, error_message = %s, attempts = COALESCE(attempts, 0) + 1, "
            f"generated_at = %s, updated_at = %s WHERE batch_id = %s AND {db.quote('row_number')} = %s "
            f"AND status <> 'generated'", rows)
        _derive_counts(cur, batch_id, final=False)

    db.run(write, what="record certificate results")


def refresh_counts(db: Database, batch_id: str) -> dict[str, Any]:
    """Derive the batch's counts and status from its rows (exact under any concurrency); an open
    batch stays open (``pending``/``processing``) until :func:`finalize_batch`."""
    return db.run(lambda cur: _derive_counts(cur, batch_id, final=False), what="derive certificate batch counts")


def finalize_batch(db: Database, batch_id: str, *, reason: str | None = None,
                   run_ended: str | None = None) -> dict[str, Any]:
    """The one way a batch reaches its final state, in one transaction (no reader sees it final
    without its reason):

    * plain: counts and status from the rows (``completed``, ``completed_with_errors``, ``failed``);
    * ``reason``: the batch cannot finish; every participant still pending is failed with the
      reason (each row tells its final state, and a cleared chunk regenerates it), the batch
      ``failed`` with it;
    * ``run_ended`` (how the batch's DAG run ended): as plain, but participants left pending are
      failed as by ``reason``."""

    def work(cur: Cursor) -> dict[str, Any]:
        text = reason
        if text is None and run_ended is not None:
            pending = int(cur.scalar(f"SELECT COUNT(*) FROM {db.quote(ITEMS)} WHERE batch_id = %s "
                                     f"AND status = 'pending'", (batch_id,)) or 0)
            if pending:
                text = f"interrupted: the DAG run {run_ended} with {pending} participant(s) not generated"
        if text is None:
            return _derive_counts(cur, batch_id, final=True)
        text = scrub(text)[:ERROR_MAX]
        cur.execute(f"UPDATE {db.quote(ITEMS)} SET status = 'failed', error_message = %s, updated_at = %s "
                    f"WHERE batch_id = %s AND status = 'pending'",
                    (f"not generated: {text}"[:ERROR_MAX], db.ts(utcnow()), batch_id))
        return _derive_counts(cur, batch_id, final=True, reason=text)

    return db.run(work, what="finalize certificate batch")


def _derive_counts(cur: Cursor, batch_id: str, final: bool, reason: str | None = None) -> dict[str, Any]:
    """Counts from the rows; with ``reason`` the batch is ``failed`` with it, whatever the rows say."""
    db = cur.db
    rows = cur.fetch(f"SELECT status, COUNT(*) AS n FROM {db.quote(ITEMS)} WHERE batch_id = %s GROUP BY status",
                     (batch_id,))
    counts = {r["status"]: int(r["n"]) for r in rows}
    total = sum(counts.values())
    success, failed = counts.get("generated", 0), counts.get("failed", 0)
    processed = success + failed
    percentage = round(100.0 * processed / total, 2) if total else 0.0
    if reason is not None:
        status = "failed"
    elif total and processed == total:
        status = "completed" if not failed else ("completed_with_errors" if success else "failed")
    elif final:
        status = "failed"
    else:
        status = "processing" if processed else "pending"
    done = status in FINAL_BATCH_STATUSES
    now = db.ts(utcnow())
    error = reason
    if status == "failed" and error is None:
        error = "no usable participants" if not total or not success else f"all {failed} certificates failed"
    cur.execute(
        f"UPDATE {db.quote(BATCHES)} SET total_participants = %s, processed_count = %s, success_count = %s, "
        f"failed_count = %s, progress_percentage = %s, status = %s, error_message = %s, completed_at = %s, "
        f"updated_at = %s WHERE batch_id = %s",
        (total, processed, success, failed, percentage, status, error, now if done else None, now, batch_id))
    return {"total": total, "processed": processed, "success": success, "failed": failed,
            "progress_percentage": percentage, "status": status}


def params_summary(params: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={params.get(k)!r}" for k in ("data_source", "file", "event_name", "event_date"))


def get_batch(db: Database, batch_id: str) -> dict[str, Any] | None:
    return db.fetchone(f"SELECT * FROM {db.quote(BATCHES)} WHERE batch_id = %s", (batch_id,))


def regroup_chunks(db: Database, batch_id: str, factor: int) -> None:
    """Merge every ``factor`` chunks into one (integer division keeps the order)."""
    db.execute(f"UPDATE {db.quote(ITEMS)} SET chunk_index = chunk_index {db.dialect.int_div} %s "
               f"WHERE batch_id = %s AND chunk_index >= 0", (factor, batch_id), what="regroup certificate chunks")


def reconcile_batches(db: Database, run_state_of: Any, dry_run: bool = False,
                      batch_ids: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """Re-derive unfinished certificate batches (every one, or those of ``batch_ids``) from their
    rows; a batch whose DAG run ended or vanished is finalized (:func:`finalize_batch`). A given
    batch that is already finished is reported as it is (its counts were derived from its rows
    when it finished). ``run_state_of(dag_id, run_id)`` returns the run's state, or None when the
    run no longer exists."""
    batches = batches_to_check(
        db, BATCHES, ("batch_id", "dag_id", "run_id", "status", "total_participants", "processed_count",
                      "success_count", "failed_count"), OPEN_BATCH_STATUSES, batch_ids, label="certificate batch")
    results = []
    for batch in batches:
        state = run_state_of(batch["dag_id"], batch["run_id"]) if batch["dag_id"] and batch["run_id"] else None
        if batch["status"] not in OPEN_BATCH_STATUSES:
            results.append({"batch_id": batch["batch_id"], "run_state": state, "status": batch["status"],
                            "total": batch["total_participants"], "processed": batch["processed_count"],
                            "success": batch["success_count"], "failed": batch["failed_count"], "unchanged": True})
            continue
        ended = state is None or state in TERMINAL_RUN_STATES
        if dry_run:
            results.append({"batch_id": batch["batch_id"], "run_state": state, "would_finalize": ended})
            continue
        if ended:
            counts = finalize_batch(db, batch["batch_id"], run_ended=run_ended_text(state))
        else:
            counts = refresh_counts(db, batch["batch_id"])
        results.append({"batch_id": batch["batch_id"], "run_state": state, **counts})
    return results


def delete_old_batches(db: Database, cutoff: datetime, dry_run: bool = False) -> dict[str, int]:
    """Delete certificate tracking rows of finished batches started before ``cutoff`` (the PDFs stay)."""
    return delete_old_rows(db, BATCHES, ITEMS, OPEN_BATCH_STATUSES, cutoff, dry_run)
