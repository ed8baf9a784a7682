"""The report of one sync batch as spreadsheet sheets (written by
:mod:`include.common.spreadsheet_export`, or as a PDF by :mod:`include.common.pdf.report`): a
summary sheet (one row: the batch, counts derived from its progress rows) and a detail sheet (one
row per (connection, table) pair, in the order they ran). Two statements whatever the batch's size,
read in one transaction so both sheets agree."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from include.branch_sync.report import derive_counts
from include.branch_sync.tracking import BATCHES, PROGRESS
from include.common.batches import true_as_of
from include.common.db import Cursor, Database
from include.common.pdf.report import write_report
from include.common.spreadsheet_export import Column, Sheet
from include.branch_sync.spec import DAG_ID
from include.common.text import as_float, percentage, to_utc

SUMMARY_COLUMNS = (
    Column("Batch ID"), Column("Status"), Column("Started (UTC)", "datetime"), Column("Finished (UTC)", "datetime"),
    Column("Duration", "duration"), Column("Total tables", "int"), Column("Completed", "int"),
    Column("Failed", "int"), Column("Skipped", "int"), Column("In progress", "int"), Column("Pending", "int"),
    Column("Progress %", "percent"), Column("Records processed", "int"), Column("Records skipped", "int"),
    Column("Records deleted", "int"), Column("Retries", "int"), Column("DAG", "text"), Column("Run", "text"),
    Column("Error"),
)
DETAIL_COLUMNS = (
    Column("Connection"), Column("Table"), Column("Model"), Column("Status"), Column("Records processed", "int"),
    Column("Records skipped", "int"), Column("Records deleted", "int"), Column("Started (UTC)", "datetime"),
    Column("Completed (UTC)", "datetime"), Column("Duration", "duration"), Column("Retries", "int"),
    Column("Task"), Column("Error"),
)


def read_batch(db: Database, batch_id: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The batch row and its progress rows (ordered as they ran: started, never-started last),
    in one transaction. :class:`LookupError` naming the id when there is no such batch."""

    def work(cur: Cursor) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
        batch = cur.fetch(f"SELECT * FROM {db.quote(BATCHES)} WHERE batch_id = %s", (batch_id,))
        if not batch:
            return None, []
        rows = cur.fetch(
            f"SELECT * FROM {db.quote(PROGRESS)} WHERE batch_id = %s "
            f"ORDER BY CASE WHEN started_at IS NULL THEN 1 ELSE 0 END, started_at, connection_name, table_name",
            (batch_id,))
        return batch[0], rows

    batch, rows = db.run(work, what="read sync batch report")
    if batch is None:
        raise LookupError(f"sync batch {batch_id!r} not found in {BATCHES}")
    return batch, rows


def _duration(batch: Mapping[str, Any]) -> float | None:
    duration = as_float(batch.get("duration_seconds"))
    if duration is None:
        started, finished = to_utc(batch.get("started_at")), to_utc(batch.get("completed_at"))
        if started and finished:
            duration = (finished - started).total_seconds()
    return duration


def summary_row(batch: Mapping[str, Any], progress: Sequence[Mapping[str, Any]]) -> list[Any]:
    counts = derive_counts(batch, progress)

    def total(key: str) -> int | None:  # unknown when a row lacks it (a row older than the column)
        if any(r.get(key) is None for r in progress):
            return None
        return sum(int(r[key]) for r in progress)

    return [
        batch.get("batch_id"), batch.get("status"), batch.get("started_at"), batch.get("completed_at"),
        _duration(batch), counts["total_tables"], counts["completed_tables"], counts["failed_tables"],
        counts["skipped_tables"], counts["in_progress_tables"], counts["pending_tables"],
        percentage(counts["completed_tables"], counts["total_tables"]), total("records_processed"),
        total("records_skipped"), total("records_deleted"), total("retry_count"), batch.get("dag_id"),
        batch.get("run_id"), batch.get("error_message"),
    ]


def detail_row(row: Mapping[str, Any]) -> list[Any]:
    return [
        row.get("connection_name"), row.get("table_name"), row.get("model_name"), row.get("status"),
        row.get("records_processed"), row.get("records_skipped"), row.get("records_deleted"), row.get("started_at"),
        row.get("completed_at"), row.get("duration_seconds"), row.get("retry_count"),
        None if not row.get("task_id") else (f"{row['task_id']}[{row['map_index']}]"
                                             if row.get("map_index") is not None else row["task_id"]),
        row.get("error_message"),
    ]


def sheets_for(batch: Mapping[str, Any], progress: Sequence[Mapping[str, Any]]) -> tuple[Sheet, Sheet]:
    """The two sheets from rows already read (pure)."""
    return (Sheet("Summary", SUMMARY_COLUMNS, [summary_row(batch, progress)]),
            Sheet("Tables", DETAIL_COLUMNS, [detail_row(r) for r in progress]))


def report_sheets(db: Database, batch_id: str) -> tuple[Sheet, Sheet]:
    """``(summary, detail)`` sheets of a sync batch; :class:`LookupError` for an unknown id."""
    return sheets_for(*read_batch(db, batch_id))


def pdf_for(batch: Mapping[str, Any], items: Sequence[Mapping[str, Any]]) -> bytes:
    """The report as a PDF (pure): the two sheets, paged, true as of the newest of its rows."""
    summary, detail = sheets_for(batch, items)
    return write_report(summary, detail, title=f"Sync batch {batch['batch_id']}",
                        as_of=true_as_of(batch, items), creator=DAG_ID)


def report_pdf(db: Database, batch_id: str) -> bytes:
    """The PDF report of a sync batch; :class:`LookupError` for an unknown id."""
    return pdf_for(*read_batch(db, batch_id))
