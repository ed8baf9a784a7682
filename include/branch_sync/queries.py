"""Sync batches for the web console, the CLI's scripts and the benchmark: a page of batches with
counts derived from their progress rows in one statement (however many batches and pairs), their
number, and one batch with its rows (all of them in the order they ran, or a filtered, sorted page).
Plain dicts out, in the stable JSON shape of :mod:`include.branch_sync.report`."""

from __future__ import annotations

from typing import Any

from include.branch_sync import report
from include.branch_sync.tracking import BATCH_STATUSES, BATCHES, PAIR_STATUSES, PROGRESS
from include.common.db import Cursor, Database
from include.common.text import as_int, iso_utc

MAX_PAGE = 500
_ORDER = "CASE WHEN {p}started_at IS NULL THEN 1 ELSE 0 END, {p}started_at DESC, {p}batch_id DESC"
RAN_ORDER = "CASE WHEN started_at IS NULL THEN 1 ELSE 0 END, started_at, connection_name, table_name"
PAIR_COLUMNS = ("connection_name, table_name, model_name, status, records_processed, records_skipped, "
                "records_deleted, error_message, started_at, completed_at, duration_seconds, retry_count, task_id, "
                "map_index, updated_at, sync_mode, expected_seconds")
# The columns a detail page may be sorted on (callers map their own words onto these).
SORTABLE = ("connection_name", "table_name", "model_name", "status", "records_processed", "records_skipped",
            "records_deleted", "duration_seconds", "retry_count", "started_at")


def _check_status(status: str | None) -> None:
    if status is not None and status not in BATCH_STATUSES:
        raise ValueError(f"unknown status {status!r}; known: {', '.join(BATCH_STATUSES)}")


def batch_rows(db: Database, limit: int = 50, offset: int = 0, status: str | None = None) -> list[dict[str, Any]]:
    """A page of ``sync_batches`` rows, newest first (optionally of one status), each with its
    counts derived from its progress rows (:func:`report.with_counts`): one statement (the page is
    a derived table joined to the grouped rows of its own batches, so no id list travels and the
    cost follows the page, not the table)."""
    if not 1 <= int(limit) <= MAX_PAGE or int(offset) < 0:
        raise ValueError(f"limit must be 1..{MAX_PAGE} and offset >= 0, got {limit!r}, {offset!r}")
    _check_status(status)
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
        out.append(report.with_counts({k: v for k, v in r.items() if not k.startswith("n_")}, counts))
    return out


def list_batches(db: Database, limit: int = 50, offset: int = 0, status: str | None = None) -> list[dict[str, Any]]:
    """:func:`batch_rows` in the stable JSON shape."""
    return [report.batch_to_json(b) for b in batch_rows(db, limit, offset, status)]


def progress_rows(db: Database, batch_id: str) -> list[dict[str, Any]]:
    """Every ``sync_progress`` row of the batch in the order they ran (never-started rows last)."""
    return db.fetchall(f"SELECT * FROM {db.quote(PROGRESS)} WHERE batch_id = %s ORDER BY {RAN_ORDER}", (batch_id,))


def count_batches(db: Database, status: str | None = None) -> int:
    """How many batches there are (of one status): one statement."""
    _check_status(status)
    where, params = ("WHERE status = %s", [status]) if status else ("", [])
    return int(db.fetchone(f"SELECT COUNT(*) AS n FROM {db.quote(BATCHES)} {where}", params)["n"] or 0)


def _known_sum(by_status: list[dict[str, Any]], name: str) -> int | None:
    """The batch's sum of a count, or None (unknown) when some row lacks it (a row of the replaced
    system's, or of an earlier release, that never had the column)."""
    if any(int(s[f"{name}_known"] or 0) < int(s["n"]) for s in by_status):
        return None
    return sum(as_int(s[name]) for s in by_status)


def batch_detail(db: Database, batch_id: str, failed_only: bool = False, *, status: str | None = None,
                 connection: str | None = None, table: str | None = None, sort: str | None = None,
                 descending: bool = False, limit: int | None = None, offset: int = 0) -> dict[str, Any]:
    """One batch: counts and record sums over every row, ``as_of`` (its newest row), the
    connections and tables it has (``connections``, ``tables_available``), how many rows match the
    filter (``matching``: ``failed_only`` or ``status``, ``connection``, ``table``) and those rows
    (``tables``): in the order they ran, or sorted on ``sort`` (one of :data:`SORTABLE`), a page of
    ``limit`` from ``offset`` when given. Five statements in one transaction whatever the rows;
    :class:`LookupError` naming the id when it does not exist."""
    if sort is not None and sort not in SORTABLE:
        raise ValueError(f"cannot sort on {sort!r}; sortable: {', '.join(SORTABLE)}")
    status = "failed" if failed_only else status
    if status is not None and status not in PAIR_STATUSES:
        raise ValueError(f"unknown pair status {status!r}; known: {', '.join(PAIR_STATUSES)}")
    batches, progress = db.quote(BATCHES), db.quote(PROGRESS)
    where, params = ["batch_id = %s"], [batch_id]
    for column, value in (("status", status), ("connection_name", connection), ("table_name", table)):
        if value is not None:
            where.append(f"{column} = %s")
            params.append(value)
    clause = " AND ".join(where)
    order = RAN_ORDER if sort is None else f"{sort}{' DESC' if descending else ''}, connection_name, table_name"
    page, page_params = ("", []) if limit is None else (" LIMIT %s OFFSET %s", [int(limit), int(offset)])

    def work(cur: Cursor) -> dict[str, Any] | None:
        found = cur.fetch(f"SELECT * FROM {batches} WHERE batch_id = %s", [batch_id])
        if not found:
            return None
        by_status = cur.fetch(
            f"SELECT status, COUNT(*) AS n, SUM(records_processed) AS processed, SUM(records_skipped) AS skipped, "
            f"SUM(records_deleted) AS deleted, COUNT(records_processed) AS processed_known, "
            f"COUNT(records_skipped) AS skipped_known, COUNT(records_deleted) AS deleted_known, "
            f"MAX(updated_at) AS updated FROM {progress} WHERE batch_id = %s GROUP BY status", [batch_id])
        choices = cur.fetch(
            f"SELECT DISTINCT 'c' AS kind, connection_name AS value FROM {progress} WHERE batch_id = %s "
            f"UNION SELECT DISTINCT 't' AS kind, table_name AS value FROM {progress} WHERE batch_id = %s",
            [batch_id, batch_id])
        matching = cur.scalar(f"SELECT COUNT(*) AS n FROM {progress} WHERE {clause}", params)
        rows = cur.fetch(f"SELECT {PAIR_COLUMNS} FROM {progress} WHERE {clause} ORDER BY {order}{page}",
                         [*params, *page_params])
        return {"batch": found[0], "by_status": by_status, "choices": choices, "matching": matching, "rows": rows}

    raw = db.run(work, what="read sync batch")
    if raw is None:
        raise LookupError(f"sync batch {batch_id!r} not found in {BATCHES}")
    by_status, batch = raw["by_status"], raw["batch"]
    out = report.batch_to_json(report.with_counts(batch, {s["status"]: int(s["n"]) for s in by_status}))
    as_of = max((s["updated"] for s in by_status if s["updated"] is not None), default=None, key=str)
    out.update({
        **{f"records_{name}": _known_sum(by_status, name) for name in ("processed", "skipped", "deleted")},
        "as_of": iso_utc(as_of or batch.get("updated_at")),
        "connections": sorted(c["value"] for c in raw["choices"] if c["kind"] == "c"),
        "tables_available": sorted(c["value"] for c in raw["choices"] if c["kind"] == "t"),
        "matching": int(raw["matching"] or 0),
        "tables": [report.progress_to_json(r, batch) for r in raw["rows"]],
    })
    return out
