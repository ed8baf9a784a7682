"""Rendering of the sync tracking tables for people (box-drawing tables) and for scripts (JSON).

Pure functions over plain dicts, as :meth:`include.common.db.Database.fetchall` returns rows of
``sync_batches`` and ``sync_progress``: no database access, no Airflow import. The text layout
follows the ``app:sync-status`` command this bundle replaces (seed 002)::

    ====================================================================
    Sync Batch Details: sync_20251108_143052_aB3dEf9h
    ====================================================================

    Batch Summary:
      Status: running
      Started: 2025-11-08 14:30:52 UTC
      Progress: 45/120 tables (37.5%)
      Failed: 2 tables

    Table Progress:
    ┌────────────┬───────────┬──────────┬────────────┬─────────┬──────────┬───────┐
    │ Connection │ Table     │ Model    │ Status     │ Records │ Duration │ Error │
    ...

Counts shown for a batch are derived from its progress rows whenever those are at hand (the
``sync_batches`` counters are only refreshed at the start and the end of a run); see
:func:`derive_counts`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import timezone, tzinfo
from typing import Any

from include.common.text import (
    BOLD, EMPTY, NA, STATUS_COLORS, as_float, as_int, colorize, format_count, format_duration, format_ts, iso_utc,
    known_int, percentage, render_table, status_color, to_utc, truncate, tz_label,
)
from include.common.task_states import ui_task_path

RULE = "=" * 68
RUNNING = "Running.."
DEFAULT_ERROR_WIDTH = 40


# Count keys of a batch, in display and JSON order.
COUNT_KEYS = ("total_tables", "completed_tables", "failed_tables", "skipped_tables", "in_progress_tables",
              "pending_tables")


def _title(text: str, color: bool) -> list[str]:
    return [RULE, colorize(text, BOLD, color), RULE, ""]


# -- counts ----------------------------------------------------------------------------------------
def counts_from_status(status_counts: Mapping[str, int]) -> dict[str, int]:
    """Batch counts from ``{status: number of progress rows}``."""
    c = {k: int(v) for k, v in status_counts.items()}
    return {
        "total_tables": sum(c.values()),
        "completed_tables": c.get("completed", 0),
        "failed_tables": c.get("failed", 0),
        "skipped_tables": c.get("skipped", 0),
        "in_progress_tables": c.get("in_progress", 0),
        "pending_tables": c.get("pending", 0),
    }


def derive_counts(batch: Mapping[str, Any], progress: Sequence[Mapping[str, Any]] | None = None
                  ) -> dict[str, int | None]:
    """The batch's counts: from its progress rows when there are any (exact), else from the
    counters of its ``sync_batches`` row (which may lag behind a running batch); a counter the
    row lacks (NULL: a batch of the replaced system never counted skipped tables) is None."""
    if progress:
        by_status: dict[str, int] = {}
        for row in progress:
            status = str(row.get("status") or "")
            by_status[status] = by_status.get(status, 0) + 1
        return counts_from_status(by_status)
    total = as_int(batch.get("total_tables"))
    completed = as_int(batch.get("completed_tables"))
    failed = as_int(batch.get("failed_tables"))
    skipped = known_int(batch.get("skipped_tables")) if "skipped_tables" in batch else 0
    counts: dict[str, int | None] = {
        "total_tables": total,
        "completed_tables": completed,
        "failed_tables": failed,
        "skipped_tables": skipped,
        "in_progress_tables": as_int(batch.get("in_progress_tables")),
        "pending_tables": as_int(batch.get("pending_tables")),
    }
    if "pending_tables" not in batch and "in_progress_tables" not in batch:
        # Unknown split of the rest: call it pending.
        counts["pending_tables"] = max(0, total - completed - failed - (skipped or 0))
    return counts


def with_counts(batch: Mapping[str, Any], status_counts: Mapping[str, int] | None) -> dict[str, Any]:
    """A copy of ``batch`` whose counters are replaced by ones derived from progress rows
    (``{status: n}``, e.g. from a ``GROUP BY batch_id, status`` query); unchanged when ``None``."""
    out = dict(batch)
    if status_counts:
        out.update(counts_from_status(status_counts))
    return out


def _tables(n: int) -> str:
    return f"{n} table" if n == 1 else f"{n} tables"


def _batch_duration(batch: Mapping[str, Any]) -> float | None:
    duration = as_float(batch.get("duration_seconds"))
    if duration is not None:
        return duration
    started, finished = to_utc(batch.get("started_at")), to_utc(batch.get("completed_at"))
    if started and finished:
        return (finished - started).total_seconds()
    return None


def _batch_duration_text(batch: Mapping[str, Any]) -> str:
    if str(batch.get("status") or "") == "running":
        return RUNNING
    return format_duration(_batch_duration(batch))


# -- the batch detail report -----------------------------------------------------------------------
PROGRESS_HEADERS = ("Connection", "Table", "Model", "Status", "Records", "Duration", "Error")


def progress_cells(row: Mapping[str, Any], error_width: int = DEFAULT_ERROR_WIDTH) -> list[str]:
    """One ``sync_progress`` row as table cells (records ``N/A`` unless completed, duration
    ``Running..`` while in progress, error cut to ``error_width`` columns)."""
    status = str(row.get("status") or "")
    records = format_count(row.get("records_processed")) if status == "completed" else NA
    if status == "in_progress":
        duration = RUNNING
    else:
        duration = format_duration(row.get("duration_seconds"))
    error = row.get("error_message")
    error_text = truncate(str(error), error_width) if error else EMPTY
    return [
        str(row.get("connection_name") or ""),
        str(row.get("table_name") or ""),
        str(row.get("model_name") or EMPTY),
        status,
        records,
        duration,
        error_text or EMPTY,
    ]


def render_batch_detail(batch: Mapping[str, Any], progress: Sequence[Mapping[str, Any]], *,
                        failed_only: bool = False, color: bool = False,
                        error_width: int = DEFAULT_ERROR_WIDTH, tz: tzinfo | None = timezone.utc,
                        notes: Sequence[str] = ()) -> str:
    """The report of one batch: a summary, then one line per (connection, table) in the order
    given (only ``failed`` ones with ``failed_only``). Counts come from ``progress`` (all rows,
    whatever the filter). ``notes`` are summary lines added last (e.g. why the batch is stuck)."""
    counts = derive_counts(batch, progress)
    status = str(batch.get("status") or "")
    zone = tz_label(tz)
    total, completed = counts["total_tables"], counts["completed_tables"]

    lines = _title(f"Sync Batch Details: {batch.get('batch_id')}", color)
    lines.append("Batch Summary:")
    lines.append(f"  Status: {colorize(status, status_color(status), color)}")
    lines.append(f"  Started: {format_ts(batch.get('started_at'), tz)} {zone}")
    if batch.get("completed_at"):
        lines.append(f"  Finished: {format_ts(batch.get('completed_at'), tz)} {zone}")
    if status != "running" and _batch_duration(batch) is not None:
        lines.append(f"  Duration: {format_duration(_batch_duration(batch))}")
    lines.append(f"  Progress: {completed}/{total} tables ({percentage(completed, total):.1f}%)")
    lines.append(f"  Failed: {_tables(counts['failed_tables'])}")
    if counts["skipped_tables"] is None:
        lines.append("  Skipped: unknown (not recorded for this batch)")
    elif counts["skipped_tables"]:
        lines.append(f"  Skipped: {_tables(counts['skipped_tables'])}")
    if counts["in_progress_tables"] or counts["pending_tables"]:
        lines.append(f"  Remaining: {counts['in_progress_tables']} in progress, {counts['pending_tables']} pending")
    if batch.get("dag_id") or batch.get("run_id"):
        lines.append(f"  DAG run: {batch.get('dag_id') or EMPTY} / {batch.get('run_id') or EMPTY}")
    if batch.get("error_message"):
        lines.append(f"  Error: {truncate(str(batch['error_message']), max(error_width, 100))}")
    lines.extend(notes)
    lines.append("")

    rows = [r for r in progress if not failed_only or str(r.get("status") or "") == "failed"]
    lines.append("Failed Tables:" if failed_only else "Table Progress:")
    if not rows:
        lines.append("  No failed tables." if failed_only else "  No table progress recorded.")
    else:
        cells = [progress_cells(r, error_width) for r in rows]
        colors = [[None, None, None, status_color(c[3]), None, None, STATUS_COLORS["failed"] if c[6] != EMPTY else None]
                  for c in cells]
        lines.append(render_table(PROGRESS_HEADERS, cells, colors, color=color))
    return "\n".join(lines) + "\n"


# -- the listing of batches ------------------------------------------------------------------------
def batch_list_headers(tz: tzinfo | None = timezone.utc) -> tuple[str, ...]:
    return ("Batch ID", "Status", f"Started ({tz_label(tz)})", "Duration", "Progress", "Failed")


def batch_list_cells(batch: Mapping[str, Any], tz: tzinfo | None = timezone.utc) -> list[str]:
    """One batch as listing cells; progress ``45/120 (38%)`` (whole percent, half up)."""
    counts = derive_counts(batch)
    total, completed = counts["total_tables"], counts["completed_tables"]
    return [
        str(batch.get("batch_id") or ""),
        str(batch.get("status") or ""),
        format_ts(batch.get("started_at"), tz),
        _batch_duration_text(batch),
        f"{completed}/{total} ({percentage(completed, total, 0):.0f}%)",
        str(counts["failed_tables"]),
    ]


def render_batch_list(batches: Sequence[Mapping[str, Any]], *, color: bool = False,
                      tz: tzinfo | None = timezone.utc, program: str = "python -m include.cli") -> str:
    """The listing of batches (newest first, as given), with hints how to see one and resume it."""
    lines = _title("All Sync Batches", color)
    if not batches:
        lines.append("No sync batches found.")
        return "\n".join(lines) + "\n"
    cells = [batch_list_cells(b, tz) for b in batches]
    colors = [[None, status_color(c[1]), None, None, None,
               STATUS_COLORS["failed"] if c[5] not in ("0", "") else None] for c in cells]
    lines.append(render_table(batch_list_headers(tz), cells, colors, color=color))
    lines.append("")
    lines.append(f"Use: {program} sync-status {{batch_id}} to see details")
    lines.append("Resume: trigger DAG branch_sync with param resume={batch_id}, "
                 "or clear the failed tasks of its DAG run")
    return "\n".join(lines) + "\n"


# -- JSON ------------------------------------------------------------------------------------------
def _options(value: Any) -> Any:
    if value is None or value == "":
        return None
    if isinstance(value, (dict, list)):
        return value
    try:
        return json.loads(value)
    except (TypeError, ValueError):
        return str(value)


def _sorted(d: Mapping[str, Any]) -> dict[str, Any]:
    return {k: d[k] for k in sorted(d)}


def progress_to_json(row: Mapping[str, Any], batch: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """One ``sync_progress`` row: ints, floats, ISO-8601 UTC timestamps, the full error text; with
    the ``batch``, ``log``: the UI path of the task instance of the table's work unit in the
    batch's current run (None for a table that run does not sync)."""
    map_index = row.get("map_index")
    log = None
    if batch is not None and batch.get("run_id") and row.get("task_id") and map_index is not None:
        log = ui_task_path(batch.get("dag_id") or "branch_sync", batch["run_id"], row["task_id"], map_index)
    return _sorted({
        "log": log,
        "sync_mode": row.get("sync_mode"),
        "expected_seconds": as_float(row.get("expected_seconds")),
        "connection_name": row.get("connection_name"),
        "table_name": row.get("table_name"),
        "model_name": row.get("model_name"),
        "status": row.get("status"),
        "records_processed": known_int(row.get("records_processed")),
        "records_skipped": known_int(row.get("records_skipped")),
        "records_deleted": known_int(row.get("records_deleted")),
        "error_message": row.get("error_message"),
        "started_at": iso_utc(row.get("started_at")),
        "completed_at": iso_utc(row.get("completed_at")),
        "duration_seconds": as_float(row.get("duration_seconds")),
        "retry_count": known_int(row.get("retry_count")),
        "task_id": row.get("task_id"),
        "map_index": None if map_index is None else int(map_index),
        "updated_at": iso_utc(row.get("updated_at")),
    })


def failed_log_lines(batch: Mapping[str, Any], progress: Sequence[Mapping[str, Any]]) -> list[str]:
    """``Logs of the failed tables:`` each failed table's work unit (``task_id[map_index]``) and
    the path of its task instance in Airflow's UI, where the table's log section is."""
    lines = []
    for row in progress:
        if row.get("status") != "failed":
            continue
        path = progress_to_json(row, batch)["log"]
        if path:
            lines.append(f"  {row['connection_name']}.{row['table_name']}: {row['task_id']}[{row['map_index']}] "
                         f"{path}")
    return ["", "Logs of the failed tables (in Airflow's UI):", *lines] if lines else []


def batch_to_json(batch: Mapping[str, Any], progress: Sequence[Mapping[str, Any]] | None = None, *,
                  failed_only: bool = False) -> dict[str, Any]:
    """One batch as a stable dict (sorted keys). With ``progress`` the counts are derived from
    the rows and a ``tables`` list is included (only failed rows with ``failed_only``; the counts
    always cover every row)."""
    counts = derive_counts(batch, progress)
    out: dict[str, Any] = {
        "batch_id": batch.get("batch_id"),
        "dag_id": batch.get("dag_id"),
        "run_id": batch.get("run_id"),
        "status": batch.get("status"),
        "command_options": _options(batch.get("command_options")),
        "error_message": batch.get("error_message"),
        "started_at": iso_utc(batch.get("started_at")),
        "completed_at": iso_utc(batch.get("completed_at")),
        "updated_at": iso_utc(batch.get("updated_at")),
        "duration_seconds": _batch_duration(batch),
        "progress_percentage": percentage(counts["completed_tables"], counts["total_tables"]),
        **counts,
    }
    if progress is not None:
        out["tables"] = [progress_to_json(r, batch) for r in progress
                         if not failed_only or str(r.get("status") or "") == "failed"]
    return _sorted(out)


def auto_resume(batch: Mapping[str, Any], attempts: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    """The batch's automatic resume attempts (rows of ``sync_resume_attempts``, oldest first), as
    JSON: each attempt, how many were used of the cap in force at the last one, and whether the
    batch ran out of them (still ``interrupted`` with every attempt used). None: never resumed so."""
    if not attempts:
        return None
    cap = as_int(attempts[-1].get("max_attempts")) or len(attempts)
    return {"batch_id": batch.get("batch_id"), "used": len(attempts), "max_attempts": cap,
            "exhausted": batch.get("status") == "interrupted" and len(attempts) >= cap,
            "attempts": [_sorted({"attempt": as_int(a.get("attempt")), "triggered_by": a.get("triggered_by"),
                                  "api_user": a.get("api_user"), "attempted_at": iso_utc(a.get("attempted_at")),
                                  "dag_id": a.get("dag_id"), "run_id": a.get("run_id"), "outcome": a.get("outcome"),
                                  "error_message": a.get("error_message")}) for a in attempts]}


def auto_resume_lines(summary: Mapping[str, Any] | None, tz: tzinfo | None = timezone.utc) -> list[str]:
    """The summary's lines in the batch report: one per attempt, and what to do when none is left."""
    if not summary:
        return []
    cap = summary["max_attempts"]
    lines = [f"  Auto-resume: attempt {a['attempt']} of {cap} at {format_ts(a['attempted_at'], tz)} {tz_label(tz)} by "
             f"{a['triggered_by']}: {a['outcome']} run {a['run_id']}" + (f" ({a['error_message']})"
                                                                            if a.get("error_message") else "")
             for a in summary["attempts"]]
    if summary["exhausted"]:
        lines.append(f"  Auto-resume: out of attempts ({summary['used']} of {cap} used); resume it by hand: "
                     f"trigger {summary['attempts'][-1]['dag_id']} with resume={summary['batch_id']}, or Resume in "
                     "the console")
    return lines


def batches_to_json(batches: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """A listing of batches (without their tables)."""
    return [batch_to_json(b) for b in batches]


def dumps(value: Any) -> str:
    """The one JSON encoding the CLI prints: sorted keys, two-space indent, UTF-8 kept as is."""
    return json.dumps(value, sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False)
