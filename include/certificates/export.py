"""The report of one certificate batch as spreadsheet sheets (written by
:mod:`include.common.spreadsheet_export`, or as a PDF by :mod:`include.common.pdf.report`): a
summary sheet (one row: the batch, counts derived from its participant rows) and a detail sheet (one
row per participant, in source-row order). Two statements whatever the batch's size, read in one
transaction so both sheets agree."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from include.certificates.batches import BATCHES, ITEMS
from include.common.batches import true_as_of
from include.common.db import Cursor, Database
from include.common.pdf.report import write_report
from include.common.spreadsheet_export import Column, Sheet
from include.certificates.spec import DAG_ID
from include.common.text import percentage, to_utc

SUMMARY_COLUMNS = (
    Column("Batch ID"), Column("Status"), Column("Data source"), Column("Source file"), Column("Event"),
    Column("Event date"), Column("Started (UTC)", "datetime"), Column("Completed (UTC)", "datetime"),
    Column("Duration", "duration"), Column("Participants", "int"), Column("Processed", "int"),
    Column("Generated", "int"), Column("Failed", "int"), Column("Pending", "int"), Column("Progress %", "percent"),
    Column("DAG"), Column("Run"), Column("Error"),
)
DETAIL_COLUMNS = (
    Column("Row", "int"), Column("Participant"), Column("Email"), Column("Phone"), Column("Organization"),
    Column("Position"), Column("Certificate number"), Column("Status"), Column("Error"), Column("Attempts", "int"),
    Column("Generated (UTC)", "datetime"), Column("File"),
)


def read_batch(db: Database, batch_id: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The batch row and its participant rows (by row number), in one transaction;
    :class:`LookupError` naming the id when there is no such batch."""

    def work(cur: Cursor) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
        batch = cur.fetch(f"SELECT * FROM {db.quote(BATCHES)} WHERE batch_id = %s", (batch_id,))
        if not batch:
            return None, []
        rows = cur.fetch(f"SELECT * FROM {db.quote(ITEMS)} WHERE batch_id = %s ORDER BY {db.quote('row_number')}",
                         (batch_id,))
        return batch[0], rows

    batch, rows = db.run(work, what="read certificate batch report")
    if batch is None:
        raise LookupError(f"certificate batch {batch_id!r} not found in {BATCHES}")
    return batch, rows


def item_counts(items: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """``total``, ``generated``, ``failed``, ``pending`` from the participant rows."""
    counts = {"total": len(items), "generated": 0, "failed": 0, "pending": 0}
    for row in items:
        status = str(row.get("status") or "")
        if status in counts:
            counts[status] += 1
    return counts


def summary_row(batch: Mapping[str, Any], items: Sequence[Mapping[str, Any]]) -> list[Any]:
    counts = item_counts(items)
    processed = counts["generated"] + counts["failed"]
    started, finished = to_utc(batch.get("started_at")), to_utc(batch.get("completed_at"))
    return [
        batch.get("batch_id"), batch.get("status"), batch.get("data_source"), batch.get("source_file"),
        batch.get("event_name"), batch.get("event_date"), batch.get("started_at"), batch.get("completed_at"),
        (finished - started).total_seconds() if started and finished else None, counts["total"], processed,
        counts["generated"], counts["failed"], counts["pending"], percentage(processed, counts["total"]),
        batch.get("dag_id"), batch.get("run_id"), batch.get("error_message"),
    ]


def detail_row(row: Mapping[str, Any]) -> list[Any]:
    return [
        row.get("row_number"), row.get("participant_name"), row.get("email"), row.get("phone"),
        row.get("organization"), row.get("position"), row.get("certificate_number"), row.get("status"),
        row.get("error_message"), row.get("attempts"), row.get("generated_at"), row.get("file_path"),
    ]


def sheets_for(batch: Mapping[str, Any], items: Sequence[Mapping[str, Any]]) -> tuple[Sheet, Sheet]:
    """The two sheets from rows already read (pure)."""
    return (Sheet("Summary", SUMMARY_COLUMNS, [summary_row(batch, items)]),
            Sheet("Participants", DETAIL_COLUMNS, [detail_row(r) for r in items]))


def report_sheets(db: Database, batch_id: str) -> tuple[Sheet, Sheet]:
    """``(summary, detail)`` sheets of a certificate batch; :class:`LookupError` for an unknown id."""
    return sheets_for(*read_batch(db, batch_id))


def pdf_for(batch: Mapping[str, Any], items: Sequence[Mapping[str, Any]]) -> bytes:
    """The report as a PDF (pure): the two sheets, paged, true as of the newest of its rows; the
    PDF's server path is left out (the xlsx keeps it)."""
    summary, detail = sheets_for(batch, items)
    return write_report(summary, detail, title=f"Certificate batch {batch['batch_id']}",
                        as_of=true_as_of(batch, items), creator=DAG_ID, omit=("File",))


def report_pdf(db: Database, batch_id: str) -> bytes:
    """The PDF report of a certificate batch; :class:`LookupError` for an unknown id."""
    return pdf_for(*read_batch(db, batch_id))
