"""Certificate batches and their participants in ``app_db``: the list, a batch with one page of
participant rows, and the PDF of one participant, served only from a local output base and only
from inside it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from include.certificates.batches import BATCHES, ITEMS
from include.certificates.uploads import is_object_storage, output_base
from include.common.text import as_float, as_int, iso_utc
from include.console.params import CertDetailQuery, CertListQuery, NotFound
from include.console.reader import Reader

BATCH_COLUMNS = ("batch_id, dag_id, run_id, data_source, source_file, event_name, event_date, total_participants, "
                 "processed_count, success_count, failed_count, progress_percentage, status, error_message, "
                 "started_at, completed_at, updated_at")
_COLUMN_IN_ERROR = re.compile(r"column '([^']+)'")


def batch_to_json(row: dict[str, Any]) -> dict[str, Any]:
    total = as_int(row.get("total_participants"))
    success, failed = as_int(row.get("success_count")), as_int(row.get("failed_count"))
    out = {k: row.get(k) for k in ("batch_id", "dag_id", "run_id", "data_source", "source_file", "event_name",
                                   "event_date", "status", "error_message")}
    out.update({
        "total_participants": total, "generated": success, "failed": failed,
        "pending": max(total - success - failed, 0), "processed": as_int(row.get("processed_count")),
        "progress_percentage": as_float(row.get("progress_percentage")) or 0.0,
        "started_at": iso_utc(row.get("started_at")), "completed_at": iso_utc(row.get("completed_at")),
        "updated_at": iso_utc(row.get("updated_at")),
    })
    return out


def participant_to_json(row: dict[str, Any], pdf_reachable: bool) -> dict[str, Any]:
    error = row.get("error_message")
    column = _COLUMN_IN_ERROR.search(error or "")
    return {
        "row_number": as_int(row.get("row_number")), "participant_name": row.get("participant_name"),
        "email": row.get("email"), "certificate_number": row.get("certificate_number"),
        "status": row.get("status"), "error_message": error, "error_column": column.group(1) if column else None,
        "attempts": as_int(row.get("attempts")), "chunk_index": as_int(row.get("chunk_index")),
        "generated_at": iso_utc(row.get("generated_at")),
        "has_pdf": bool(pdf_reachable and row.get("status") == "generated" and row.get("file_path")),
    }


def list_batches(r: Reader, q: CertListQuery) -> dict[str, Any]:
    table = r.quote(BATCHES)
    where, params = ("WHERE status = %s", [q.status]) if q.status else ("", [])
    total = int(r.scalar(f"SELECT COUNT(*) AS n FROM {table} {where}", params) or 0)
    rows = r.fetch(f"SELECT {BATCH_COLUMNS} FROM {table} {where} ORDER BY started_at DESC, batch_id DESC "
                   f"LIMIT %s OFFSET %s", [*params, q.page.per_page, q.page.offset])
    return {"total": total, "page": q.page.page, "per_page": q.page.per_page, "status": q.status,
            "batches": [batch_to_json(row) for row in rows]}


def find_batch(r: Reader, batch_id: str) -> dict[str, Any]:
    row = r.one(f"SELECT {BATCH_COLUMNS} FROM {r.quote(BATCHES)} WHERE batch_id = %s", [batch_id])
    if row is None:
        raise NotFound(f"certificate batch {batch_id!r} not found")
    return row


def batch_for_run(r: Reader, dag_id: str, run_id: str) -> str | None:
    row = r.one(f"SELECT batch_id FROM {r.quote(BATCHES)} WHERE dag_id = %s AND run_id = %s", [dag_id, run_id])
    return row["batch_id"] if row else None


def batch_detail(r: Reader, batch_id: str, q: CertDetailQuery) -> dict[str, Any]:
    items = r.quote(ITEMS)
    batch = find_batch(r, batch_id)
    counts = {row["status"]: int(row["n"]) for row in r.fetch(
        f"SELECT status, COUNT(*) AS n FROM {items} WHERE batch_id = %s GROUP BY status", [batch_id])}
    where, params = "batch_id = %s", [batch_id]
    if q.status:
        where += " AND status = %s"
        params.append(q.status)
    matching = int(r.scalar(f"SELECT COUNT(*) AS n FROM {items} WHERE {where}", params) or 0)
    column = r.quote(q.sort_column)  # from the fixed map of params.PARTICIPANT_SORTS
    rows = r.fetch(f"SELECT {r.quote('row_number')}, participant_name, email, certificate_number, status, "
                   f"error_message, attempts, chunk_index, generated_at, file_path FROM {items} WHERE {where} "
                   f"ORDER BY {column}{' DESC' if q.descending else ''}, {r.quote('row_number')} LIMIT %s OFFSET %s",
                   [*params, q.page.per_page, q.page.offset])
    reachable = not is_object_storage(output_base())
    out = batch_to_json(batch)
    total = sum(counts.values())
    out.update({
        "rows_by_status": counts, "rows_total": total,
        "generated": counts.get("generated", 0), "failed": counts.get("failed", 0),
        "pending": counts.get("pending", 0), "pdf_reachable": reachable, "matching": matching,
        "filter": {"status": q.status, "sort": q.sort, "page": q.page.page, "per_page": q.page.per_page},
        "participants": [participant_to_json(row, reachable) for row in rows],
    })
    return out


def retryable_chunks(r: Reader, batch_id: str) -> tuple[list[int], int]:
    """The chunks holding failed participants that a new try may fix, and the number of failed
    rows that no retry fixes (bad source rows, chunk -1)."""
    rows = r.fetch(f"SELECT chunk_index, COUNT(*) AS n FROM {r.quote(ITEMS)} WHERE batch_id = %s AND status = 'failed' "
                   f"GROUP BY chunk_index", [batch_id])
    chunks = sorted(int(row["chunk_index"]) for row in rows if int(row["chunk_index"]) >= 0)
    bad = sum(int(row["n"]) for row in rows if int(row["chunk_index"]) < 0)
    return chunks, bad


def pdf_path(r: Reader, batch_id: str, row_number: int) -> Path:
    """The participant's PDF, only when the output base is a local folder and the file lies inside it."""
    base = output_base()
    if is_object_storage(base):
        raise NotFound(f"the certificates of {batch_id!r} are in object storage ({base.split('://')[0]}://), "
                       "not served here")
    row = r.one(f"SELECT status, file_path FROM {r.quote(ITEMS)} WHERE batch_id = %s AND {r.quote('row_number')} = %s",
                [batch_id, row_number])
    if row is None:
        raise NotFound(f"row {row_number} of certificate batch {batch_id!r} not found")
    if row["status"] != "generated" or not row["file_path"]:
        raise NotFound(f"row {row_number} of certificate batch {batch_id!r} has no PDF (status {row['status']})")
    root = Path(base.removeprefix("file://")).resolve()
    path = Path(str(row["file_path"]).removeprefix("file://")).resolve()
    if not path.is_relative_to(root) or path.suffix.lower() != ".pdf" or not path.is_file():
        raise NotFound(f"the PDF of row {row_number} of {batch_id!r} is not inside the output base")
    return path
