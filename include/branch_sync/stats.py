"""History of sync batches for people and charts: the seed's three queries (slowest tables by
average duration, most failing tables with average retries, success rate per table) plus a
table's duration over time and batch durations over time, all over the last N batches.

Plain dicts out (JSON-ready: floats, ints, ISO-8601 UTC text), so the CLI prints them and the web
console draws its charts from the same numbers. Five statements in one read transaction whatever
the number of rows: the last N batches are a derived table joined to the progress rows (no IN
list of ids), identifiers are quoted, N and table names are bound parameters.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from include.branch_sync.tracking import BATCHES, PROGRESS
from include.common.db import Cursor, Database
from include.common.text import iso_utc, to_utc

DEFAULT_LAST = 30
DEFAULT_TOP = 10
MAX_LAST = 10_000


def _f(value: Any, places: int = 3) -> float | None:
    return None if value is None else round(float(value), places)


def _recent(db: Database) -> str:
    """A derived table of the last N batch ids (N bound as the first parameter)."""
    return (f"(SELECT batch_id, started_at FROM {db.quote(BATCHES)} "
            f"ORDER BY CASE WHEN started_at IS NULL THEN 1 ELSE 0 END, started_at DESC, batch_id DESC LIMIT %s) recent")


def sync_stats(db: Database, last: int = DEFAULT_LAST, top: int = DEFAULT_TOP,
               table: str | None = None, *, slowest_series: bool = False) -> dict[str, Any]:
    """History over the last ``last`` batches (by start time):

    * ``slowest_tables``: completed pairs per table, by average duration (``top`` rows);
    * ``most_failing_tables``: failed pairs per table with their average retries (``top`` rows);
    * ``success_rate``: per table, completed / (completed + failed) in percent, worst first;
    * ``table_durations``: per table, one point per batch (average, longest and summed duration
      of its completed pairs), oldest first; only ``table`` when given, or with ``slowest_series``
      only the slowest table's (the console's chart; ``table`` then names it);
    * ``batch_durations``: one point per batch, oldest first (running batches have no duration).
    """
    if not 1 <= int(last) <= MAX_LAST:
        raise ValueError(f"last must be between 1 and {MAX_LAST}, got {last!r}")
    if not 1 <= int(top) <= 1000:
        raise ValueError(f"top must be between 1 and 1000, got {top!r}")
    last, top = int(last), int(top)
    progress, batches = db.quote(PROGRESS), db.quote(BATCHES)
    recent = _recent(db)
    joined = f"{progress} p JOIN {recent} ON recent.batch_id = p.batch_id"

    def work(cur: Cursor) -> dict[str, Any]:
        slowest = cur.fetch(
            f"SELECT p.table_name, MAX(p.model_name) AS model_name, COUNT(*) AS runs, "
            f"AVG(p.duration_seconds) AS avg_duration, MAX(p.duration_seconds) AS max_duration, "
            f"AVG(p.records_processed) AS avg_records FROM {joined} WHERE p.status = %s "
            f"GROUP BY p.table_name ORDER BY avg_duration DESC, p.table_name LIMIT %s", (last, "completed", top))
        failing = cur.fetch(
            f"SELECT p.table_name, MAX(p.model_name) AS model_name, COUNT(*) AS fail_count, "
            f"AVG(p.retry_count) AS avg_retries FROM {joined} WHERE p.status = %s "
            f"GROUP BY p.table_name ORDER BY fail_count DESC, p.table_name LIMIT %s", (last, "failed", top))
        rates = cur.fetch(
            f"SELECT p.table_name, MAX(p.model_name) AS model_name, "
            f"SUM(CASE WHEN p.status = 'completed' THEN 1 ELSE 0 END) AS completed, "
            f"SUM(CASE WHEN p.status = 'failed' THEN 1 ELSE 0 END) AS failed, COUNT(*) AS pairs, "
            f"AVG(p.retry_count) AS avg_retries FROM {joined} GROUP BY p.table_name ORDER BY p.table_name", (last,))
        chosen = table
        if chosen is None and slowest_series:
            chosen = next((r["table_name"] for r in slowest if r["avg_duration"] is not None), None)
        where, params = ("WHERE p.status = %s", [last, "completed"])
        if chosen is not None or slowest_series:
            where += " AND p.table_name = %s"  # with no slowest table (no completed pair) it matches nothing
            params.append(chosen)
        series = cur.fetch(
            f"SELECT p.table_name, p.batch_id, MIN(recent.started_at) AS batch_started_at, COUNT(*) AS pairs, "
            f"AVG(p.duration_seconds) AS avg_duration, MAX(p.duration_seconds) AS max_duration, "
            f"SUM(p.duration_seconds) AS total_duration FROM {joined} {where} "
            f"GROUP BY p.table_name, p.batch_id ORDER BY p.table_name, batch_started_at, p.batch_id", params)
        runs = cur.fetch(
            f"SELECT b.batch_id, b.status, b.started_at, b.completed_at, b.duration_seconds, b.total_tables, "
            f"b.completed_tables, b.failed_tables FROM {batches} b JOIN {recent} ON recent.batch_id = b.batch_id "
            f"ORDER BY CASE WHEN b.started_at IS NULL THEN 0 ELSE 1 END, b.started_at, b.batch_id", (last,))
        return {"slowest": slowest, "failing": failing, "rates": rates, "series": series, "runs": runs,
                "table": chosen}

    raw = db.run(work, what="sync statistics")
    return shape_stats(raw, last=last, table=raw["table"])


def _rate(completed: int, failed: int) -> float | None:
    finished = completed + failed
    return None if not finished else round(100.0 * completed / finished, 1)


def shape_stats(raw: Mapping[str, list[Mapping[str, Any]]], *, last: int, table: str | None = None) -> dict[str, Any]:
    """The query rows as the stable dict :func:`sync_stats` returns (pure)."""
    rates = []
    for r in raw["rates"]:
        completed, failed = int(r["completed"] or 0), int(r["failed"] or 0)
        rates.append({"table_name": r["table_name"], "model_name": r["model_name"], "pairs": int(r["pairs"]),
                      "completed": completed, "failed": failed, "success_rate": _rate(completed, failed),
                      "avg_retries": _f(r["avg_retries"], 2)})
    rates.sort(key=lambda r: (r["success_rate"] is None, r["success_rate"] if r["success_rate"] is not None else 0,
                              r["table_name"]))
    durations: dict[str, list[dict[str, Any]]] = {}
    for r in raw["series"]:
        durations.setdefault(str(r["table_name"]), []).append({
            "batch_id": r["batch_id"], "batch_started_at": iso_utc(r["batch_started_at"]), "pairs": int(r["pairs"]),
            "avg_duration_seconds": _f(r["avg_duration"]), "max_duration_seconds": _f(r["max_duration"]),
            "total_duration_seconds": _f(r["total_duration"])})
    runs = []
    for r in raw["runs"]:
        duration = _f(r["duration_seconds"])
        started, finished = to_utc(r["started_at"]), to_utc(r["completed_at"])
        if duration is None and started and finished and r["status"] != "running":
            duration = _f((finished - started).total_seconds())
        runs.append({"batch_id": r["batch_id"], "status": r["status"], "started_at": iso_utc(r["started_at"]),
                     "completed_at": iso_utc(r["completed_at"]), "duration_seconds": duration,
                     "total_tables": int(r["total_tables"] or 0), "completed_tables": int(r["completed_tables"] or 0),
                     "failed_tables": int(r["failed_tables"] or 0)})
    return {
        "last": last,
        "batches": len(runs),
        "table": table,
        "slowest_tables": [{"table_name": r["table_name"], "model_name": r["model_name"], "runs": int(r["runs"]),
                            "avg_duration_seconds": _f(r["avg_duration"]), "max_duration_seconds": _f(r["max_duration"]),
                            "avg_records": _f(r["avg_records"], 1)} for r in raw["slowest"]],
        "most_failing_tables": [{"table_name": r["table_name"], "model_name": r["model_name"],
                                 "fail_count": int(r["fail_count"]), "avg_retries": _f(r["avg_retries"], 2)}
                                for r in raw["failing"]],
        "success_rate": rates,
        "table_durations": durations,
        "batch_durations": runs,
    }
