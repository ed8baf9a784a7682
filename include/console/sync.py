"""The sync pages' reads: the job's own queries (``branch_sync.queries``, ``branch_sync.stats``,
``branch_sync.stuck``) with the page's request values, plus the one lookup only the console
makes (the batch of a DAG run, for its tab). Each runs a fixed number of statements, whatever
the number of rows; counts shown are derived from the progress rows (exact)."""

from __future__ import annotations

from typing import Any

from include.branch_sync import queries, report, stats, stuck
from include.common.notify.store import notices_of
from include.branch_sync.tracking import BATCHES, get_batch, resume_attempts
from include.common.clock import utcnow
from include.common.db import Database
from include.console.params import HistoryQuery, NotFound, SyncDetailQuery, SyncListQuery


def list_batches(db: Database, q: SyncListQuery) -> dict[str, Any]:
    """Newest first, one page, and how many there are (two statements)."""
    return {"total": queries.count_batches(db, q.status), "page": q.page.page, "per_page": q.page.per_page,
            "status": q.status, "batches": queries.list_batches(db, q.page.per_page, q.page.offset, q.status)}


def find_batch(db: Database, batch_id: str) -> dict[str, Any]:
    batch = get_batch(db, batch_id)
    if batch is None:
        raise NotFound(f"sync batch {batch_id!r} not found")
    return batch


def batch_for_run(db: Database, dag_id: str, run_id: str) -> str | None:
    row = db.fetchone(f"SELECT batch_id FROM {db.quote(BATCHES)} WHERE dag_id = %s AND run_id = %s "
                      f"ORDER BY started_at DESC", [dag_id, run_id])
    return row["batch_id"] if row else None


def batch_detail(db: Database, batch_id: str, q: SyncDetailQuery, api: Any = None) -> dict[str, Any]:
    """The batch, its exact counts and record sums, the filter choices and one page of pairs (five
    statements), what the operators were told of it (``notifications``, one statement), its
    automatic resume attempts (``auto_resume``, one statement: ``sync-status``'s words); for a
    running batch also ``stuck`` (one more statement, and Airflow's pools and
    task states through ``api`` only when a pair has waited too long). The diagnosis never fails
    the page: trouble reading it is one line saying it is unavailable."""
    out = queries.batch_detail(db, batch_id, status="failed" if q.failed_only else q.status,
                               connection=q.connection, table=q.table, sort=q.sort_column, descending=q.descending,
                               limit=q.page.per_page, offset=q.page.offset)
    out["filter"] = {"failed": q.failed_only, "status": q.status, "connection": q.connection, "table": q.table,
                     "sort": q.sort, "page": q.page.page, "per_page": q.page.per_page}
    out["notifications"] = notices_of(db, batch_id)
    out["stuck"] = stuck_of(db, out, api) if api is not None else None
    out["stuck_lines"] = stuck_text(out["stuck"])
    out["auto_resume"] = report.auto_resume(out, resume_attempts(db, [batch_id])[batch_id])
    out["auto_resume_lines"] = [line.strip() for line in report.auto_resume_lines(out["auto_resume"])]
    return out


def stuck_text(report: dict[str, Any] | None) -> list[str]:
    """The report in the words ``sync-status`` prints (nothing when no pair waits too long); a
    diagnosis that could not be made is one line saying so."""
    lines = [line.strip() for line in stuck.stuck_lines(report)]
    if not lines and report and report.get("unavailable"):
        lines = [f"Stuck diagnosis unavailable: {report['unavailable']}"]
    return lines


def stuck_of(db: Database, batch: dict[str, Any], api: Any) -> dict[str, Any] | None:
    try:
        return stuck.batch_report(db, batch, api, utcnow())
    except Exception as exc:  # the page shows the batch whatever goes wrong with the diagnosis
        return {"stuck_after_seconds": None, "waiting_pairs": None, "waiting_since": None, "diagnosed": False,
                "unavailable": f"the diagnosis could not be made ({type(exc).__name__})", "findings": []}


def history(db: Database, q: HistoryQuery) -> dict[str, Any]:
    """The job's statistics over the last ``q.batches`` batches, with the series of ``q.table``
    (or of the slowest table) for the chart: five statements."""
    return stats.sync_stats(db, last=q.batches, table=q.table, slowest_series=True)
