"""Certificate batches for people and scripts (``cert-status`` and the web console): a page of
batches with counts derived from their participant rows in one statement, and one batch with its
participant rows. Plain dicts out: ints, floats, ISO-8601 UTC text."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from include.certificates.batches import BATCH_STATUSES as STATUSES, BATCHES, ITEM_STATUSES as ROW_STATUSES, ITEMS
from include.certificates.export import item_counts
from include.common.db import Cursor, Database
from include.common.text import as_float, iso_utc, percentage, to_utc

MAX_PAGE = 500
_ORDER = "CASE WHEN started_at IS NULL THEN 1 ELSE 0 END, started_at DESC, batch_id DESC"
# The columns a participant list may be sorted on.
SORTABLE = ("row_number", "participant_name", "status", "attempts")
_COLUMN_IN_ERROR = re.compile(r"column '([^']+)'")


def _check_status(status: str | None) -> None:
    if status is not None and status not in STATUSES:
        raise ValueError(f"unknown status {status!r}; known: {', '.join(STATUSES)}")


def list_batches(db: Database, limit: int = 20, offset: int = 0, status: str | None = None) -> list[dict[str, Any]]:
    """A page of batches, newest first, each with ``total``/``generated``/``failed``/``pending``
    derived from its rows; one statement whatever the page or batch sizes."""
    if not 1 <= int(limit) <= MAX_PAGE or int(offset) < 0:
        raise ValueError(f"limit must be 1..{MAX_PAGE} and offset >= 0, got {limit!r}, {offset!r}")
    _check_status(status)
    batches, items = db.quote(BATCHES), db.quote(ITEMS)
    where, params = ("WHERE status = %s", [status]) if status else ("", [])
    page = f"(SELECT * FROM {batches} {where} ORDER BY {_ORDER} LIMIT %s OFFSET %s)"
    rows = db.fetchall(
        f"SELECT b.*, COALESCE(c.n_total, 0) AS n_total, COALESCE(c.n_generated, 0) AS n_generated, "
        f"COALESCE(c.n_failed, 0) AS n_failed, COALESCE(c.n_pending, 0) AS n_pending FROM {page} b LEFT JOIN ("
        f"SELECT i.batch_id, COUNT(*) AS n_total, SUM(CASE WHEN i.status = 'generated' THEN 1 ELSE 0 END) AS n_generated, "
        f"SUM(CASE WHEN i.status = 'failed' THEN 1 ELSE 0 END) AS n_failed, "
        f"SUM(CASE WHEN i.status = 'pending' THEN 1 ELSE 0 END) AS n_pending "
        f"FROM {items} i JOIN (SELECT batch_id FROM {batches} {where} ORDER BY {_ORDER} LIMIT %s OFFSET %s) p "
        f"ON p.batch_id = i.batch_id GROUP BY i.batch_id) c ON c.batch_id = b.batch_id ORDER BY "
        + _ORDER.replace("started_at", "b.started_at").replace("batch_id", "b.batch_id"),
        [*params, int(limit), int(offset), *params, int(limit), int(offset)])
    return [batch_to_json(r, counts={"total": int(r["n_total"]), "generated": int(r["n_generated"] or 0),
                                     "failed": int(r["n_failed"] or 0), "pending": int(r["n_pending"] or 0)})
            for r in rows]


def count_batches(db: Database, status: str | None = None) -> int:
    """How many batches there are (of one status): one statement."""
    _check_status(status)
    where, params = ("WHERE status = %s", [status]) if status else ("", [])
    return int(db.fetchone(f"SELECT COUNT(*) AS n FROM {db.quote(BATCHES)} {where}", params)["n"] or 0)


def participant_to_json(row: Mapping[str, Any]) -> dict[str, Any]:
    """One participant row; ``error_column`` is the source column a bad row's error names."""
    column = _COLUMN_IN_ERROR.search(row.get("error_message") or "")
    return {
        "row_number": int(row["row_number"]), "participant_name": row.get("participant_name"),
        "email": row.get("email"), "phone": row.get("phone"), "organization": row.get("organization"),
        "position": row.get("position"), "certificate_number": row.get("certificate_number"),
        "status": row.get("status"), "error_message": row.get("error_message"),
        "error_column": column.group(1) if column else None, "attempts": int(row.get("attempts") or 0), "generated_at": iso_utc(row.get("generated_at")),
        "file_path": row.get("file_path"), "chunk_index": None if row.get("chunk_index") is None
        else int(row["chunk_index"]),
    }


def batch_to_json(batch: Mapping[str, Any], items: Sequence[Mapping[str, Any]] | None = None, *,
                  counts: Mapping[str, int] | None = None, failed_only: bool = False) -> dict[str, Any]:
    """One batch as a stable dict. Counts from ``items`` (or ``counts``) when given, else the
    batch row's counters; with ``items`` a ``participants`` list (only failed with ``failed_only``)."""
    if items is not None:
        counts = item_counts(items)
    if counts is None:
        total, success, failed = (int(batch.get(k) or 0) for k in ("total_participants", "success_count",
                                                                     "failed_count"))
        counts = {"total": total, "generated": success, "failed": failed, "pending": max(total - success - failed, 0)}
    processed = counts["generated"] + counts["failed"]
    started, finished = to_utc(batch.get("started_at")), to_utc(batch.get("completed_at"))
    out: dict[str, Any] = {
        "batch_id": batch.get("batch_id"), "dag_id": batch.get("dag_id"), "run_id": batch.get("run_id"),
        "status": batch.get("status"), "data_source": batch.get("data_source"),
        "source_file": batch.get("source_file"), "event_name": batch.get("event_name"),
        "event_date": None if batch.get("event_date") is None else str(batch.get("event_date")),
        "error_message": batch.get("error_message"), "started_at": iso_utc(started),
        "completed_at": iso_utc(finished), "updated_at": iso_utc(batch.get("updated_at")),
        "duration_seconds": (finished - started).total_seconds() if started and finished else None,
        "total_participants": counts["total"], "generated_count": counts["generated"],
        "failed_count": counts["failed"], "pending_count": counts["pending"], "processed_count": processed,
        "progress_percentage": percentage(processed, counts["total"]),
        "stored_progress_percentage": as_float(batch.get("progress_percentage")),
    }
    if items is not None:
        out["participants"] = [participant_to_json(r) for r in items
                               if not failed_only or str(r.get("status") or "") == "failed"]
    return {k: out[k] for k in sorted(out)}


def batch_detail(db: Database, batch_id: str, failed_only: bool = False, *, status: str | None = None,
                 sort: str | None = None, descending: bool = False, limit: int | None = None,
                 offset: int = 0) -> dict[str, Any]:
    """One batch, counts derived from all its participant rows, how many rows match the filter
    (``matching``: ``failed_only`` or ``status``) and those rows (``participants``): by row
    number, or sorted on ``sort`` (one of :data:`SORTABLE`), a page of ``limit`` from ``offset``
    when given. Four statements in one transaction whatever the rows; :class:`LookupError`
    naming the id when it does not exist."""
    if sort is not None and sort not in SORTABLE:
        raise ValueError(f"cannot sort on {sort!r}; sortable: {', '.join(SORTABLE)}")
    status = "failed" if failed_only else status
    if status is not None and status not in ROW_STATUSES:
        raise ValueError(f"unknown participant status {status!r}; known: {', '.join(ROW_STATUSES)}")
    batches, items, number = db.quote(BATCHES), db.quote(ITEMS), db.quote("row_number")
    where, params = "batch_id = %s", [batch_id]
    if status is not None:
        where += " AND status = %s"
        params.append(status)
    order = number if sort is None else f"{db.quote(sort)}{' DESC' if descending else ''}, {number}"
    page, page_params = ("", []) if limit is None else (" LIMIT %s OFFSET %s", [int(limit), int(offset)])

    def work(cur: Cursor) -> dict[str, Any] | None:
        found = cur.fetch(f"SELECT * FROM {batches} WHERE batch_id = %s", [batch_id])
        if not found:
            return None
        by_status = cur.fetch(f"SELECT status, COUNT(*) AS n FROM {items} WHERE batch_id = %s GROUP BY status",
                              [batch_id])
        matching = cur.scalar(f"SELECT COUNT(*) AS n FROM {items} WHERE {where}", params)
        rows = cur.fetch(f"SELECT * FROM {items} WHERE {where} ORDER BY {order}{page}", [*params, *page_params])
        return {"batch": found[0], "by_status": by_status, "matching": matching, "rows": rows}

    raw = db.run(work, what="read certificate batch")
    if raw is None:
        raise LookupError(f"certificate batch {batch_id!r} not found in {BATCHES}")
    by_status = {str(r["status"]): int(r["n"]) for r in raw["by_status"]}
    counts = {"total": sum(by_status.values()), **{s: by_status.get(s, 0) for s in ROW_STATUSES}}
    out = batch_to_json(raw["batch"], counts=counts)
    out["matching"] = int(raw["matching"] or 0)
    out["participants"] = [participant_to_json(r) for r in raw["rows"]]
    return {k: out[k] for k in sorted(out)}


def latest_batch_id(db: Database) -> str | None:
    rows = db.fetchall(f"SELECT batch_id FROM {db.quote(BATCHES)} ORDER BY {_ORDER} LIMIT 1")
    return str(rows[0]["batch_id"]) if rows else None
