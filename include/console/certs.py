"""The certificate pages' reads: the job's own queries (``certificates.status``) with the page's
request values, plus what only the console needs: the chunks a Retry clears, the batch of a DAG
run, and the PDF of one participant, served only from a local output base and only from inside it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from include.certificates import status
from include.certificates.batches import BATCHES, ITEMS, get_batch
from include.certificates.uploads import is_object_storage, output_base
from include.common.db import Database
from include.common.notify.store import notices_of
from include.console.params import CertDetailQuery, CertListQuery, NotFound


def list_batches(db: Database, q: CertListQuery) -> dict[str, Any]:
    """Newest first, one page, and how many there are (two statements)."""
    return {"total": status.count_batches(db, q.status), "page": q.page.page, "per_page": q.page.per_page,
            "status": q.status, "batches": status.list_batches(db, q.page.per_page, q.page.offset, q.status)}


def find_batch(db: Database, batch_id: str) -> dict[str, Any]:
    row = get_batch(db, batch_id)
    if row is None:
        raise NotFound(f"certificate batch {batch_id!r} not found")
    return row


def batch_for_run(db: Database, dag_id: str, run_id: str) -> str | None:
    row = db.fetchone(f"SELECT batch_id FROM {db.quote(BATCHES)} WHERE dag_id = %s AND run_id = %s", [dag_id, run_id])
    return row["batch_id"] if row else None


def batch_detail(db: Database, batch_id: str, q: CertDetailQuery) -> dict[str, Any]:
    """The batch with one page of participants (four statements) and what the operators were told of
    it (``notifications``, one statement); each participant's ``has_pdf`` instead of its server path."""
    out = status.batch_detail(db, batch_id, status=q.status, sort=q.sort_column, descending=q.descending,
                              limit=q.page.per_page, offset=q.page.offset)
    reachable = not is_object_storage(output_base())
    for p in out["participants"]:
        path = p.pop("file_path", None)
        p["has_pdf"] = bool(reachable and p["status"] == "generated" and path)
    out.update({"pdf_reachable": reachable, "notifications": notices_of(db, batch_id),
                "filter": {"status": q.status, "sort": q.sort, "page": q.page.page, "per_page": q.page.per_page}})
    return out


def retryable_chunks(db: Database, batch_id: str) -> tuple[list[int], int]:
    """The chunks holding failed participants that a new try may fix, and the number of failed
    rows that no retry fixes (bad source rows, chunk -1)."""
    rows = db.fetchall(f"SELECT chunk_index, COUNT(*) AS n FROM {db.quote(ITEMS)} WHERE batch_id = %s "
                       f"AND status = 'failed' GROUP BY chunk_index", [batch_id])
    chunks = sorted(int(row["chunk_index"]) for row in rows if int(row["chunk_index"]) >= 0)
    bad = sum(int(row["n"]) for row in rows if int(row["chunk_index"]) < 0)
    return chunks, bad


def pdf_path(db: Database, batch_id: str, row_number: int) -> Path:
    """The participant's PDF, only when the output base is a local folder and the file lies inside it."""
    base = output_base()
    if is_object_storage(base):
        raise NotFound(f"the certificates of {batch_id!r} are in object storage ({base.split('://')[0]}://), "
                       "not served here")
    row = db.fetchone(f"SELECT status, file_path FROM {db.quote(ITEMS)} WHERE batch_id = %s "
                      f"AND {db.quote('row_number')} = %s", [batch_id, row_number])
    if row is None:
        raise NotFound(f"row {row_number} of certificate batch {batch_id!r} not found")
    if row["status"] != "generated" or not row["file_path"]:
        raise NotFound(f"row {row_number} of certificate batch {batch_id!r} has no PDF (status {row['status']})")
    root = Path(base.removeprefix("file://")).resolve()
    path = Path(str(row["file_path"]).removeprefix("file://")).resolve()
    if not path.is_relative_to(root) or path.suffix.lower() != ".pdf" or not path.is_file():
        raise NotFound(f"the PDF of row {row_number} of {batch_id!r} is not inside the output base")
    return path
