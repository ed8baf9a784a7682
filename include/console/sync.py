"""The sync pages' reads over ``sync_batches`` and ``sync_progress`` (the sync config's ``target``).

Each function runs a fixed number of statements, whatever the number of rows: the list reads its
page and the page's progress counts in one ``GROUP BY``; the detail reads the batch, its counts,
the filter choices and one page of pairs; the history aggregates over the last N batches in SQL.
Counts shown are derived from the progress rows (exact), never the batch row's counters.
"""

from __future__ import annotations

from typing import Any

from include.branch_sync.report import batch_to_json, counts_from_status, progress_to_json
from include.branch_sync.tracking import BATCHES, PROGRESS
from include.common.text import as_float, as_int, iso_utc, percentage
from include.console.params import HistoryQuery, NotFound, SyncDetailQuery, SyncListQuery
from include.console.reader import Reader, placeholders

BATCH_COLUMNS = ("batch_id, dag_id, run_id, status, total_tables, completed_tables, failed_tables, skipped_tables, "
                 "command_options, error_message, started_at, completed_at, duration_seconds, updated_at")
PAIR_COLUMNS = ("connection_name, table_name, model_name, status, records_processed, records_skipped, "
                "records_deleted, error_message, started_at, completed_at, duration_seconds, retry_count, task_id, "
                "map_index, updated_at")


def list_batches(r: Reader, q: SyncListQuery) -> dict[str, Any]:
    """Newest first, one page; counts of each batch derived from its progress rows."""
    batches, progress = r.quote(BATCHES), r.quote(PROGRESS)
    where, params = ("WHERE status = %s", [q.status]) if q.status else ("", [])
    total = int(r.scalar(f"SELECT COUNT(*) AS n FROM {batches} {where}", params) or 0)
    rows = r.fetch(f"SELECT {BATCH_COLUMNS} FROM {batches} {where} ORDER BY started_at DESC, batch_id DESC "
                   f"LIMIT %s OFFSET %s", [*params, q.page.per_page, q.page.offset])
    ids = [row["batch_id"] for row in rows]
    counts: dict[str, dict[str, int]] = {i: {} for i in ids}
    if ids:
        for c in r.fetch(f"SELECT batch_id, status, COUNT(*) AS n FROM {progress} WHERE batch_id IN "
                         f"({placeholders(ids)}) GROUP BY batch_id, status", ids):
            counts[c["batch_id"]][c["status"]] = int(c["n"])
    out = []
    for row in rows:
        batch = dict(row)
        if counts[row["batch_id"]]:
            batch.update(counts_from_status(counts[row["batch_id"]]))
        out.append(batch_to_json(batch))
    return {"total": total, "page": q.page.page, "per_page": q.page.per_page, "status": q.status, "batches": out}


def find_batch(r: Reader, batch_id: str) -> dict[str, Any]:
    batch = r.one(f"SELECT {BATCH_COLUMNS} FROM {r.quote(BATCHES)} WHERE batch_id = %s", [batch_id])
    if batch is None:
        raise NotFound(f"sync batch {batch_id!r} not found")
    return batch


def batch_for_run(r: Reader, dag_id: str, run_id: str) -> str | None:
    row = r.one(f"SELECT batch_id FROM {r.quote(BATCHES)} WHERE dag_id = %s AND run_id = %s "
                f"ORDER BY started_at DESC", [dag_id, run_id])
    return row["batch_id"] if row else None


def batch_detail(r: Reader, batch_id: str, q: SyncDetailQuery) -> dict[str, Any]:
    """The batch, its exact counts and record sums, the filter choices, and one page of pairs."""
    progress = r.quote(PROGRESS)
    batch = find_batch(r, batch_id)
    status_rows = r.fetch(
        f"SELECT status, COUNT(*) AS n, SUM(records_processed) AS processed, SUM(records_skipped) AS skipped, "
        f"SUM(records_deleted) AS deleted, MAX(updated_at) AS updated FROM {progress} WHERE batch_id = %s "
        f"GROUP BY status", [batch_id])
    counts = counts_from_status({s["status"]: int(s["n"]) for s in status_rows})
    as_of = max((s["updated"] for s in status_rows if s["updated"] is not None), default=None, key=str)
    choices = r.fetch(f"SELECT DISTINCT 'c' AS kind, connection_name AS value FROM {progress} WHERE batch_id = %s "
                      f"UNION SELECT DISTINCT 't' AS kind, table_name AS value FROM {progress} WHERE batch_id = %s",
                      [batch_id, batch_id])
    where, params = ["batch_id = %s"], [batch_id]
    status = "failed" if q.failed_only else q.status
    for column, value in (("status", status), ("connection_name", q.connection), ("table_name", q.table)):
        if value is not None:
            where.append(f"{column} = %s")
            params.append(value)
    clause = " AND ".join(where)
    matching = int(r.scalar(f"SELECT COUNT(*) AS n FROM {progress} WHERE {clause}", params) or 0)
    direction = " DESC" if q.descending else ""
    rows = r.fetch(f"SELECT {PAIR_COLUMNS} FROM {progress} WHERE {clause} ORDER BY {q.sort_column}{direction}, "
                   f"connection_name, table_name LIMIT %s OFFSET %s", [*params, q.page.per_page, q.page.offset])
    out = batch_to_json({**batch, **counts})
    out.update({
        "records_processed": sum(as_int(s["processed"]) for s in status_rows),
        "records_skipped": sum(as_int(s["skipped"]) for s in status_rows),
        "records_deleted": sum(as_int(s["deleted"]) for s in status_rows),
        "as_of": iso_utc(as_of or batch.get("updated_at")),
        "connections": sorted(c["value"] for c in choices if c["kind"] == "c"),
        "tables_available": sorted(c["value"] for c in choices if c["kind"] == "t"),
        "filter": {"failed": q.failed_only, "status": q.status, "connection": q.connection, "table": q.table,
                   "sort": q.sort, "page": q.page.page, "per_page": q.page.per_page},
        "matching": matching,
        "tables": [progress_to_json(row) for row in rows],
    })
    return out


def history(r: Reader, q: HistoryQuery) -> dict[str, Any]:
    """Over the last ``q.batches`` batches: per table average duration, failures and average
    retries, success rate; the chosen (or slowest) table's duration per batch; batch durations."""
    batches, progress = r.quote(BATCHES), r.quote(PROGRESS)
    recent = r.fetch(f"SELECT batch_id, status, started_at, completed_at, duration_seconds FROM {batches} "
                     f"ORDER BY started_at DESC, batch_id DESC LIMIT %s", [q.batches])
    ids = [b["batch_id"] for b in recent]
    tables: list[dict[str, Any]] = []
    series: list[dict[str, Any]] = []
    table = q.table
    if ids:
        inside = f"batch_id IN ({placeholders(ids)})"
        for row in r.fetch(
                f"SELECT table_name, MAX(model_name) AS model_name, COUNT(*) AS pairs, "
                f"SUM(CASE WHEN status = 'completed' THEN 1 ELSE 0 END) AS completed, "
                f"SUM(CASE WHEN status = 'failed' THEN 1 ELSE 0 END) AS failed, "
                f"SUM(CASE WHEN status IN ('completed', 'failed') THEN 1 ELSE 0 END) AS finished, "
                f"AVG(CASE WHEN status = 'completed' THEN duration_seconds END) AS avg_duration, "
                f"MAX(CASE WHEN status = 'completed' THEN duration_seconds END) AS max_duration, "
                f"AVG(CASE WHEN status = 'completed' THEN records_processed END) AS avg_records, "
                f"AVG(retry_count) AS avg_retries, "
                f"AVG(CASE WHEN status = 'failed' THEN retry_count END) AS avg_retries_failed "
                f"FROM {progress} WHERE {inside} GROUP BY table_name", ids):
            finished = as_int(row["finished"])
            tables.append({
                "table_name": row["table_name"], "model_name": row["model_name"], "pairs": as_int(row["pairs"]),
                "completed": as_int(row["completed"]), "failed": as_int(row["failed"]),
                "success_rate": percentage(as_int(row["completed"]), finished) if finished else None,
                "avg_duration_seconds": as_float(row["avg_duration"]),
                "max_duration_seconds": as_float(row["max_duration"]),
                "avg_records": as_float(row["avg_records"]), "avg_retries": as_float(row["avg_retries"]),
                "avg_retries_failed": as_float(row["avg_retries_failed"]),
            })
        if table is None:
            timed = [t for t in tables if t["avg_duration_seconds"] is not None]
            table = max(timed, key=lambda t: t["avg_duration_seconds"])["table_name"] if timed else None
        if table is not None:
            per_batch = {row["batch_id"]: row for row in r.fetch(
                f"SELECT batch_id, MAX(duration_seconds) AS duration, SUM(records_processed) AS processed "
                f"FROM {progress} WHERE {inside} AND table_name = %s AND status = 'completed' GROUP BY batch_id",
                [*ids, table])}
            series = [{"batch_id": b["batch_id"], "started_at": iso_utc(b["started_at"]),
                       "duration_seconds": as_float(per_batch[b["batch_id"]]["duration"]),
                       "records_processed": as_int(per_batch[b["batch_id"]]["processed"])}
                      for b in reversed(recent) if b["batch_id"] in per_batch]
    slowest = sorted((t for t in tables if t["avg_duration_seconds"] is not None),
                     key=lambda t: (-t["avg_duration_seconds"], t["table_name"]))[:10]
    failing = sorted((t for t in tables if t["failed"]), key=lambda t: (-t["failed"], t["table_name"]))[:10]
    return {
        "batches": q.batches, "table": table,
        "slowest_tables": slowest, "most_failing_tables": failing,
        "success_rate": sorted(tables, key=lambda t: (t["success_rate"] if t["success_rate"] is not None else 101,
                                                      t["table_name"])),
        "table_durations": series,
        "batch_durations": [{"batch_id": b["batch_id"], "status": b["status"], "started_at": iso_utc(b["started_at"]),
                             "duration_seconds": as_float(b["duration_seconds"])} for b in reversed(recent)],
    }
