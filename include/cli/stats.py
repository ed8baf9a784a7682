"""``sync-stats``: the seed's history queries over the last N sync batches."""

from __future__ import annotations

import argparse
from typing import Any, TextIO

from include.cli.common import PROG, CliError, open_database, positive_int, query_error, resolve_conn_id, use_color


def add_sync_stats(sub: Any) -> None:
    p = sub.add_parser(
        "sync-stats", help="slowest tables, most failing tables, success rate per table, durations over time",
        description="History of the last N sync batches: slowest tables by average duration, most failing "
                    "tables with average retries, success rate per table, batch durations over time; --json "
                    "adds each table's duration per batch (chart data).",
        epilog=f"examples:\n  {PROG} sync-stats\n  {PROG} sync-stats --last 100 --json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--last", type=positive_int, default=30, metavar="N", help="the last N batches (default 30)")
    p.add_argument("--top", type=positive_int, default=10, metavar="N", help="rows of the ranked tables (default 10)")
    p.add_argument("--table", default=None, metavar="TABLE", help="only this table's duration series")
    p.add_argument("--json", action="store_true", help="print stable, machine-readable JSON")
    p.add_argument("--conn", metavar="CONN_ID", default=None,
                   help="database with the tracking tables (default: 'target' of the sync config)")
    p.add_argument("--color", choices=("auto", "always", "never"), default="auto", help="colour the headings")
    p.set_defaults(func=cmd_sync_stats, parser=p)


def cmd_sync_stats(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from include.branch_sync.report import dumps
    from include.branch_sync.stats import MAX_LAST, sync_stats

    if args.last > MAX_LAST or args.top > 1000:
        args.parser.error(f"--last is at most {MAX_LAST}, --top at most 1000")
    conn_id = resolve_conn_id(args.conn)
    db = open_database(conn_id, out)
    try:
        stats = sync_stats(db, args.last, args.top, args.table)
    except CliError:
        raise
    except Exception as exc:
        raise query_error(exc, conn_id) from None
    finally:
        db.close()
    if args.json:
        out.write(dumps(stats) + "\n")
    else:
        out.write(render_stats(stats, color=not args.json and use_color(args.color, out)))
    return 0


def render_stats(stats: dict[str, Any], *, color: bool = False) -> str:
    from include.common.text import BOLD, EMPTY, colorize, format_count, format_duration, format_ts, render_table

    def pct(value: Any) -> str:
        return EMPTY if value is None else f"{value:.1f}%"

    def num(value: Any, places: int = 2) -> str:
        return EMPTY if value is None else f"{value:,.{places}f}"

    lines = [colorize(f"Sync statistics: last {stats['last']} batches ({stats['batches']} found)", BOLD, color), ""]
    sections = [
        ("Slowest tables (average duration of completed pairs)",
         ("Table", "Model", "Runs", "Avg duration", "Max duration", "Avg records"),
         [[r["table_name"], r["model_name"] or EMPTY, format_count(r["runs"]), format_duration(r["avg_duration_seconds"]),
           format_duration(r["max_duration_seconds"]), num(r["avg_records"], 1)] for r in stats["slowest_tables"]],
         "No completed tables."),
        ("Most failing tables", ("Table", "Model", "Failures", "Avg retries"),
         [[r["table_name"], r["model_name"] or EMPTY, format_count(r["fail_count"]), num(r["avg_retries"])]
          for r in stats["most_failing_tables"]], "No failed tables."),
        ("Success rate per table (completed / finished pairs)",
         ("Table", "Pairs", "Completed", "Failed", "Success", "Avg retries"),
         [[r["table_name"], format_count(r["pairs"]), format_count(r["completed"]), format_count(r["failed"]),
           pct(r["success_rate"]), num(r["avg_retries"])] for r in stats["success_rate"]], "No pairs."),
        ("Batch durations (oldest first)", ("Batch ID", "Status", "Started (UTC)", "Duration", "Tables", "Failed"),
         [[r["batch_id"], r["status"], format_ts(r["started_at"]), format_duration(r["duration_seconds"]),
           format_count(r["total_tables"]), format_count(r["failed_tables"])] for r in stats["batch_durations"]],
         "No batches."),
    ]
    for title, headers, rows, empty in sections:
        lines.append(colorize(title + ":", BOLD, color))
        lines.append(render_table(headers, rows, color=color) if rows else f"  {empty}")
        lines.append("")
    lines.append("Per-table durations per batch (chart data): add --json (key table_durations).")
    return "\n".join(lines) + "\n"
