"""Sync batches for the web console and the benchmark: a page of batches with counts derived from
their progress rows in one statement (however many batches and pairs), and one batch with its
rows. Plain dicts out, in the stable JSON shape of :mod:`include.branch_sync.report`."""

from __future__ import annotations

from typing import Any

from include.branch_sync import report
from include.branch_sync.export import read_batch
from include.branch_sync.tracking import BATCH_STATUSES, BATCHES, PROGRESS
from include.common.db import Database

MAX_PAGE = 500
_ORDER = "CASE WHEN {p}started_at IS NULL THEN 1 ELSE 0 END, {p}started_at DESC, {p}batch_id DESC"


def list_batches(db: Database, limit: int = 50, offset: int = 0, status: str | None = None) -> list[dict[str, Any]]:
    """A page of batches, newest first (optionally of one status), each with its counts derived
    from its progress rows: one statement (the page is a derived table joined to the grouped
    rows of its own batches, so no id list travels and the cost follows the page, not the table)."""
    if not 1 <= int(limit) <= MAX_PAGE or int(offset) < 0:
        raise ValueError(f"limit must be 1..{MAX_PAGE} and offset >= 0, got {limit!r}, {offset!r}")
    if status is not None and status not in BATCH_STATUSES:
        raise ValueError(f"unknown status {status!r}; known: {', '.join(BATCH_STATUSES)}")
    batches, progress = db.quote(BATCHES), db.quote(PROGRESS)
    where, params = ("WHERE status = %s", [status]) if status else ("", [])
    page = f"SELECT * FROM {batches} {where} ORDER BY {_ORDER.format(p='')} LIMIT %s OFFSET %s"
    ids = f"SELECT batch_id FROM {batches} {where} ORDER BY {_ORDER.format(p='')} LIMIT %s OFFSET %s"
    sums = ", ".join(f"SUM(CASE WHEN pr.status = '{s}' THEN 1 ELSE 0 END) AS n_{s}"
                     for s in ("completed", "failed", "skipped", "in_progress", "pending"))
    rows = db.fetchall(
        f"SELECT b.*, c.n_total, c.n_completed, c.n_failed, c.n_skipped, c.n_in_progress, c.n_pending "
        f"FROM ({page}) b LEFT JOIN (SELECT pr.batch_id, COUNT(*) AS n_total, {sums} FROM {progress} pr "
        f"JOIN ({ids}) ids ON ids.batch_id = pr.batch_id GROUP BY pr.batch_id) c ON c.batch_id = b.batch_id "
        f"ORDER BY {_ORDER.format(p='b.')}",
        [*params, int(limit), int(offset), *params, int(limit), int(offset)])
    out = []
    for r in rows:
        counts = None if r["n_total"] is None else {
            s: int(r[f"n_{s}"] or 0) for s in ("completed", "failed", "skipped", "in_progress", "pending")}
        batch = {k: v for k, v in r.items() if not k.startswith("n_")}
        out.append(report.batch_to_json(report.with_counts(batch, counts)))
    return out


def batch_detail(db: Database, batch_id: str, failed_only: bool = False) -> dict[str, Any]:
    """One batch with its progress rows (``tables``), counts derived from the rows; two
    statements in one transaction; :class:`LookupError` naming the id when it does not exist."""
    batch, rows = read_batch(db, batch_id)
    return report.batch_to_json(batch, rows, failed_only=failed_only)
