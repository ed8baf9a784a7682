"""``sync-status``: the seed's status tables of sync batches, from ``sync_batches`` /
``sync_progress`` of the central database."""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from datetime import timezone
from typing import Any, TextIO

from include.branch_sync import report
from include.branch_sync.checkpoint import sorted_reads
from include.branch_sync.queries import MAX_PAGE, batch_rows, progress_rows
from include.branch_sync.stuck import stuck_lines
from include.branch_sync.tracking import get_batch, resume_attempts
from include.common.notify.store import notices_of
from include.cli.common import (
    PROG, CliError, query_error, open_database, parse_tz, positive_int, resolve_conn_id, use_color,
)


def add_sync_status(sub: Any) -> None:
    p = sub.add_parser(
        "sync-status",
        help="show the status of sync batches (latest, one, or all)",
        description="Show the status of sync batches from the tracking tables sync_batches and "
                    "sync_progress. Without a batch id or flag: the latest batch.",
        epilog=f"examples:\n  {PROG} sync-status\n  {PROG} sync-status sync_20251108_143052_aB3dEf9h --failed\n"
               f"  {PROG} sync-status --all --limit 50\n  {PROG} sync-status --latest --json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("batch_id", nargs="?", help="the batch to show (sync_YYYYmmdd_HHMMSS_xxxxxxxx)")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--latest", action="store_true", help="show the most recently started batch (default)")
    which.add_argument("--all", action="store_true", help="list the latest batches (see --limit)")
    p.add_argument("--failed", action="store_true", help="show only the failed tables of the batch")
    p.add_argument("--json", action="store_true", help="print stable, machine-readable JSON instead of tables")
    p.add_argument("--limit", type=positive_int, default=None, metavar="N",
                   help="how many batches --all lists (default 20)")
    p.add_argument("--conn", metavar="CONN_ID", default=None,
                   help="Airflow connection id of the database with the tracking tables "
                        "(default: 'target' of the sync config)")
    p.add_argument("--color", choices=("auto", "always", "never"), default="auto",
                   help="colour the status (auto: when stdout is a terminal and NO_COLOR is unset)")
    p.add_argument("--tz", type=parse_tz, default=timezone.utc, metavar="ZONE",
                   help="time zone of displayed times: UTC (default), local, or a name like Asia/Jakarta; "
                        "JSON is always UTC")
    p.add_argument("--error-width", type=positive_int, default=report.DEFAULT_ERROR_WIDTH, metavar="N",
                   help=f"cut error messages in the table to N columns (default {report.DEFAULT_ERROR_WIDTH}; "
                        "--json has them in full)")
    p.add_argument("--api-conn", metavar="CONN_ID", default="airflow_api",
                   help="Airflow connection of the REST API, asked why a running batch's tables wait to start "
                        "(default: airflow_api); when unreachable the status says so and carries on")
    p.set_defaults(func=cmd_sync_status, parser=p)


def cmd_sync_status(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    parser: argparse.ArgumentParser = args.parser
    if args.batch_id and (args.latest or args.all):
        parser.error("give either a batch id, --latest or --all")
    if args.failed and args.all:
        parser.error("--failed applies to one batch; it cannot be combined with --all")
    if args.limit is not None and not args.all:
        parser.error("--limit applies to --all")
    if args.limit is not None and args.limit > MAX_PAGE:
        parser.error(f"--limit is at most {MAX_PAGE} (got {args.limit})")
    color = not args.json and use_color(args.color, out)

    conn_id = resolve_conn_id(args.conn)
    db = open_database(conn_id, out)
    try:
        if args.all:
            return _show_all(db, conn_id, args, out, color)
        return _show_one(db, conn_id, args, out, err, color)
    finally:
        db.close()


def _show_all(db: Any, conn_id: str, args: argparse.Namespace, out: TextIO, color: bool) -> int:
    try:
        batches = batch_rows(db, args.limit or 20)
    except CliError:
        raise
    except Exception as exc:
        raise query_error(exc, conn_id) from None
    if args.json:
        out.write(report.dumps(report.batches_to_json(batches)) + "\n")
    else:
        out.write(report.render_batch_list(batches, color=color, tz=args.tz, program=PROG))
    return 0


def _show_one(db: Any, conn_id: str, args: argparse.Namespace, out: TextIO, err: TextIO, color: bool) -> int:
    try:
        if args.batch_id:
            batch = get_batch(db, args.batch_id)
            if batch is None:
                raise CliError(f"batch {args.batch_id!r} not found in sync_batches of connection {conn_id!r} "
                               f"(list them with: {PROG} sync-status --all)")
        else:
            latest = batch_rows(db, 1)
            batch = latest[0] if latest else None
            if batch is None:
                if args.json:
                    out.write("null\n")
                else:
                    out.write(f"No sync batches found in connection {conn_id!r}.\n")
                return 0
        progress = progress_rows(db, str(batch["batch_id"]))
        notices = notices_of(db, str(batch["batch_id"]))
        resumed = report.auto_resume(batch, resume_attempts(db, [str(batch["batch_id"])])[str(batch["batch_id"])])
        sorting = sorted_reads(db)
        sorted_pairs = [f"{r['connection_name']}.{r['table_name']}" for r in progress
                        if (r["connection_name"], r["table_name"]) in sorting]
    except CliError:
        raise
    except Exception as exc:
        raise query_error(exc, conn_id) from None
    stuck = stuck_report(batch, progress, args.api_conn)
    if args.json:
        doc = report.batch_to_json(batch, progress, failed_only=args.failed)
        doc["stuck"] = stuck
        doc["notifications"] = notices
        doc["auto_resume"] = resumed
        doc["sorted_reads"] = sorted_pairs
        out.write(report.dumps(doc) + "\n")
    else:
        out.write(report.render_batch_detail(batch, progress, failed_only=args.failed, color=color,
                                             error_width=args.error_width, tz=args.tz,
                                             notes=[*stuck_lines(stuck), *report.failed_log_lines(batch, progress),
                                                    *report.auto_resume_lines(resumed, args.tz),
                                                    *_sorted_note(sorted_pairs)]))
        out.write(render_notifications(notices))
    return 0


def _sorted_note(pairs: Sequence[str]) -> list[str]:
    if not pairs:
        return []
    return [f"  Reads that sorted every row at the branch (index its cursor and key there): {', '.join(pairs)}"]


def stuck_report(batch: dict[str, Any], progress: list[dict[str, Any]], api_conn: str) -> dict[str, Any] | None:
    """Why a running batch's tables wait (see :mod:`include.branch_sync.stuck`); the REST API is
    asked only when some table waited longer than ``stuck_after_seconds``, with a short timeout."""
    from include.branch_sync.stuck import batch_report
    from include.common.clock import utcnow
    from include.common.task_states import RestApiStates

    return batch_report(None, batch, lambda: RestApiStates(api_conn, timeout=5.0), utcnow(), progress)


# -- notifications of a batch (include/common/notify) -----------------------------------------------
def render_notifications(rows: Sequence[Mapping[str, Any]]) -> str:
    """``Notifications:`` one line per (outcome, channel): sent, or FAILED with the reason."""
    if not rows:
        return ""
    lines = ["", "Notifications:"]
    for row in rows:
        attempts = int(row["attempts"] or 0)
        if row["state"] == "sent":
            what = f"sent {row['sent_at'] or ''}".rstrip()
        elif row["state"] == "failed":
            what = f"FAILED after {attempts} attempt(s), retried by health_reconcile: {row['last_error'] or '?'}"
        else:
            what = row["state"]
        lines.append(f"  {row['status']} via {row['channel']}: {what}")
    return "\n".join(lines) + "\n"
