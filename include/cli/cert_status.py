"""``cert-status``: certificate batches and their participant rows, from ``certificate_batches`` /
``certificates`` of the app database."""

from __future__ import annotations

import argparse
from datetime import timezone
from typing import Any, TextIO

from include.cli.common import PROG, CliError, open_database, parse_tz, positive_int, use_color

CERT_TABLES = "certificate_batches/certificates"


def add_cert_status(sub: Any) -> None:
    p = sub.add_parser(
        "cert-status", help="show certificate batches (latest, one, or all) and their participants",
        description="Show certificate batches from certificate_batches and certificates of the app database. "
                    "Without a batch id or flag: the latest batch. Counts are derived from the participant rows.",
        epilog=f"examples:\n  {PROG} cert-status\n  {PROG} cert-status cert_20251108_143052_aB3dEf9h --failed\n"
               f"  {PROG} cert-status --all --json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("batch_id", nargs="?", help="the batch to show (cert_YYYYmmdd_HHMMSS_xxxxxxxx)")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--latest", action="store_true", help="the most recently started batch (default)")
    which.add_argument("--all", action="store_true", help="list the latest batches (see --limit)")
    p.add_argument("--failed", action="store_true", help="only the failed participants of the batch")
    p.add_argument("--json", action="store_true", help="print stable, machine-readable JSON")
    p.add_argument("--limit", type=positive_int, default=None, metavar="N", help="batches --all lists (default 20)")
    p.add_argument("--app-conn", metavar="CONN_ID", default="app_db",
                   help="database with the certificate tracking tables (default: app_db)")
    p.add_argument("--color", choices=("auto", "always", "never"), default="auto", help="colour the status")
    p.add_argument("--tz", type=parse_tz, default=timezone.utc, metavar="ZONE",
                   help="time zone of displayed times (default UTC); JSON is always UTC")
    p.set_defaults(func=cmd_cert_status, parser=p)


def cmd_cert_status(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from include.branch_sync.report import dumps
    from include.certificates import status
    from include.common.batches import batch_id_prefix

    parser: argparse.ArgumentParser = args.parser
    if args.batch_id and (args.latest or args.all):
        parser.error("give either a batch id, --latest or --all")
    if args.failed and args.all:
        parser.error("--failed applies to one batch; it cannot be combined with --all")
    if args.limit is not None and (not args.all or args.limit > status.MAX_PAGE):
        parser.error(f"--limit applies to --all and is at most {status.MAX_PAGE}")
    if args.batch_id:
        try:
            prefix = batch_id_prefix(args.batch_id)
        except ValueError as exc:
            parser.error(str(exc))
        if prefix != "cert":
            parser.error(f"{args.batch_id!r} is not a certificate batch id (cert_...); sync batches: "
                         f"{PROG} sync-status")
    color = not args.json and use_color(args.color, out)
    db = open_database(args.app_conn, out)
    try:
        if args.all:
            batches = status.list_batches(db, args.limit or 20)
            out.write(dumps(batches) + "\n" if args.json else render_list(batches, color=color, tz=args.tz))
            return 0
        batch_id = args.batch_id or status.latest_batch_id(db)
        if batch_id is None:
            out.write("null\n" if args.json else f"No certificate batches found in connection {args.app_conn!r}.\n")
            return 0
        try:
            detail = status.batch_detail(db, batch_id, failed_only=args.failed)
        except LookupError as exc:
            raise CliError(f"{exc} (connection {args.app_conn!r}; list them with: {PROG} cert-status --all)") \
                from None
    except CliError:
        raise
    except Exception as exc:
        raise _query_error(exc, args.app_conn) from None
    finally:
        db.close()
    out.write(dumps(detail) + "\n" if args.json else render_detail(detail, failed_only=args.failed, color=color,
                                                                     tz=args.tz))
    return 0


def _query_error(exc: BaseException, conn_id: str) -> CliError:
    from include.cli.common import describe_error

    text = f"{type(exc).__name__} {exc}".lower()
    if any(s in text for s in ("no such table", "does not exist", "doesn't exist", "1146")):
        return CliError(f"the tracking tables {CERT_TABLES} are missing in connection {conn_id!r}: "
                        f"{describe_error(exc)}")
    return CliError(f"query on connection {conn_id!r} failed: {describe_error(exc)}")


_COLORS = {"generated": "32", "completed": "32", "completed_with_errors": "33", "processing": "33",
           "failed": "31", "pending": "90"}


def render_list(batches: list[dict[str, Any]], *, color: bool = False, tz: Any = timezone.utc) -> str:
    from include.common.text import colorize, format_duration, format_ts, render_table, tz_label

    lines = ["=" * 68, colorize("Certificate Batches", "1", color), "=" * 68, ""]
    if not batches:
        return "\n".join(lines + ["No certificate batches found."]) + "\n"
    cells = [[b["batch_id"], b["status"] or "", b["source_file"] or b["data_source"] or "",
              format_ts(b["started_at"], tz), format_duration(b["duration_seconds"]),
              f"{b['processed_count']}/{b['total_participants']} ({b['progress_percentage']:.0f}%)",
              str(b["failed_count"])] for b in batches]
    colors = [[None, _COLORS.get(c[1]), None, None, None, None, "31" if c[6] != "0" else None] for c in cells]
    lines.append(render_table(("Batch ID", "Status", "Source", f"Started ({tz_label(tz)})", "Duration", "Progress",
                               "Failed"), cells, colors, color=color))
    lines += ["", f"Use: {PROG} cert-status {{batch_id}} to see its participants"]
    return "\n".join(lines) + "\n"


def render_detail(batch: dict[str, Any], *, failed_only: bool = False, color: bool = False,
                  tz: Any = timezone.utc) -> str:
    from include.common.text import EMPTY, colorize, format_duration, format_ts, render_table, truncate, tz_label

    zone = tz_label(tz)
    lines = ["=" * 68, colorize(f"Certificate Batch Details: {batch['batch_id']}", "1", color), "=" * 68, "",
             "Batch Summary:", f"  Status: {colorize(batch['status'] or '', _COLORS.get(batch['status'] or ''), color)}",
             f"  Source: {batch['data_source']} {batch['source_file'] or ''}".rstrip(),
             f"  Event: {batch['event_name'] or EMPTY} ({batch['event_date'] or EMPTY})",
             f"  Started: {format_ts(batch['started_at'], tz)} {zone}"]
    if batch["completed_at"]:
        lines += [f"  Finished: {format_ts(batch['completed_at'], tz)} {zone}",
                  f"  Duration: {format_duration(batch['duration_seconds'])}"]
    lines += [f"  Progress: {batch['processed_count']}/{batch['total_participants']} participants "
              f"({batch['progress_percentage']:.1f}%)",
              f"  Generated: {batch['generated_count']}, failed: {batch['failed_count']}, "
              f"pending: {batch['pending_count']}"]
    if batch["error_message"]:
        lines.append(f"  Error: {truncate(batch['error_message'], 100)}")
    lines += ["", "Failed Participants:" if failed_only else "Participants:"]
    rows = batch["participants"]
    if not rows:
        lines.append("  No failed participants." if failed_only else "  No participants recorded.")
    else:
        cells = [[str(r["row_number"]), truncate(r["participant_name"] or EMPTY, 30), r["status"] or "",
                  r["certificate_number"] or EMPTY, truncate(r["error_message"] or EMPTY, 50)] for r in rows]
        colors = [[None, None, _COLORS.get(c[2]), None, "31" if c[4] != EMPTY else None] for c in cells]
        lines.append(render_table(("Row", "Participant", "Status", "Certificate", "Error"), cells, colors,
                                  color=color))
    return "\n".join(lines) + "\n"
