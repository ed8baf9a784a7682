"""``verify-status``: verifications of central against the branches, from ``sync_verifications``
of the central database: the latest verification of every table (default), one run's pairs, or
the recent runs."""

from __future__ import annotations

import argparse
import json
from datetime import timezone
from typing import Any, TextIO

from include.cli.common import PROG, CliError, describe_error, open_database, parse_tz, positive_int, resolve_conn_id, use_color
from include.common.text import colorize, format_count, format_duration, format_ts, render_table, status_color, truncate
from include.sync_verify import queries
from include.sync_verify.tracking import VERIFICATIONS


def add_verify_status(sub: Any) -> None:
    p = sub.add_parser(
        "verify-status",
        help="show verifications of central against the branches (drift per table)",
        description="Show the verifications of sync_verify from the tracking table sync_verifications: by "
                    "default the latest verification of every table, drift highlighted.",
        epilog=f"examples:\n  {PROG} verify-status\n  {PROG} verify-status --runs\n"
               f"  {PROG} verify-status verify_20260101_010000_aB3dEf9h --json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("verification_id", nargs="?", help="one run's pairs (verify_YYYYmmdd_HHMMSS_xxxxxxxx)")
    p.add_argument("--runs", action="store_true", help="list the recent verification runs (see --limit)")
    p.add_argument("--limit", type=positive_int, default=None, metavar="N", help="how many runs --runs lists (default 20)")
    p.add_argument("--json", action="store_true", help="print stable, machine-readable JSON instead of tables")
    p.add_argument("--conn", metavar="CONN_ID", default=None,
                   help="Airflow connection of the database with sync_verifications (default: 'target' of the sync config)")
    p.add_argument("--color", choices=("auto", "always", "never"), default="auto", help="colour the status")
    p.add_argument("--tz", type=parse_tz, default=timezone.utc, metavar="ZONE",
                   help="time zone of displayed times (UTC, local, or a name); JSON is always UTC")
    p.set_defaults(func=cmd_verify_status, parser=p)


def cmd_verify_status(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    parser: argparse.ArgumentParser = args.parser
    if args.verification_id and args.runs:
        parser.error("give either a verification id or --runs")
    if args.limit is not None and not args.runs:
        parser.error("--limit applies to --runs")
    if args.limit is not None and args.limit > queries.MAX_RUNS:
        parser.error(f"--limit is at most {queries.MAX_RUNS} (got {args.limit})")
    if args.verification_id:
        from include.common.batches import batch_id_prefix

        try:
            if batch_id_prefix(args.verification_id) != "verify":
                raise ValueError(f"{args.verification_id!r} is not a verification id (verify_...)")
        except ValueError as exc:
            parser.error(str(exc))
    color = not args.json and use_color(args.color, out)
    conn_id = resolve_conn_id(args.conn)
    db = open_database(conn_id, out)
    try:
        if args.runs:
            data: Any = queries.runs(db, args.limit or 20)
        elif args.verification_id:
            data = queries.run_rows(db, args.verification_id)
        else:
            data = queries.latest_per_pair(db)
    except LookupError as exc:
        raise CliError(f"{exc} (connection {conn_id!r}; list them with: {PROG} verify-status --runs)") from None
    except Exception as exc:
        text = f"{type(exc).__name__} {exc}".lower()
        if any(s in text for s in ("does not exist", "doesn't exist", "no such table", "1146")):
            raise CliError(f"the tracking table {VERIFICATIONS} is missing in connection {conn_id!r} (sync_verify "
                           f"never ran against it, or wrong --conn): {describe_error(exc)}") from None
        raise CliError(f"query on connection {conn_id!r} failed: {describe_error(exc)}") from None
    finally:
        db.close()
    if args.json:
        out.write(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")
    elif args.runs:
        out.write(render_runs(data, color, args.tz))
    else:
        title = f"Verification {args.verification_id}" if args.verification_id else "Latest verification of every table"
        out.write(render_pairs(data, title, color, args.tz))
    return 0


def render_pairs(pairs: list[dict[str, Any]], title: str, color: bool, tz: Any = timezone.utc) -> str:
    if not pairs:
        return f"No verifications found (trigger the DAG sync_verify).\n"
    headers = ["Table", "Connection", "Status", "Branch", "Central", "Missing", "Extra", "Changed", "Not yet synced",
               "Repaired", "Verification", "Finished", "Duration"]
    rows, colors = [], []
    for p in pairs:
        rows.append([p["table"], p["connection"], p["status"], format_count(p["branch_rows"]),
                     format_count(p["central_rows"]), format_count(p["missing_rows"]), format_count(p["extra_rows"]),
                     format_count(p["changed_rows"]), format_count(p["not_yet_synced"]),
                     format_count(p["repaired_rows"]), p["verification_id"], format_ts(p["completed_at"], tz),
                     format_duration(p["duration_seconds"])])
        drift = "31" if p["drift_rows"] else None
        colors.append([None, None, status_color(p["status"]), None, None, drift, drift, drift, None, None, None, None,
                       None])
    lines = [title, render_table(headers, rows, colors, color=color)]
    for p in pairs:
        if p["error"]:
            lines.append(colorize(f"{p['connection']}.{p['table']} failed: ", "31", color) + truncate(p["error"], 200))
        if p["note"]:
            lines.append(f"{p['connection']}.{p['table']}: {p['note']}")
        for s in p["sample_keys"][:5] if p["drift_rows"] else []:
            cols = f" ({', '.join(s['columns'])})" if s.get("columns") else ""
            lines.append(f"  {p['connection']}.{p['table']} {s['kind']}: {json.dumps(s['key'], ensure_ascii=False)}{cols}")
    drifted = sum(1 for p in pairs if p["drift_rows"] and p["status"] == "drift")
    lines.append(f"{len(pairs)} tables, {drifted} with drift not repaired.")
    return "\n".join(lines) + "\n"


def render_runs(runs: list[dict[str, Any]], color: bool, tz: Any = timezone.utc) -> str:
    if not runs:
        return "No verifications found (trigger the DAG sync_verify).\n"
    headers = ["Verification", "Status", "Repair", "Pairs", "Clean", "Drift", "Repaired", "Failed", "Missing", "Extra",
               "Changed", "Started"]
    rows = [[r["verification_id"], r["status"], "yes" if r["repair"] else "no", str(r["pairs"]), str(r["clean"]),
             str(r["drift"]), str(r["repaired"]), str(r["failed"]), format_count(r["missing_rows"]),
             format_count(r["extra_rows"]), format_count(r["changed_rows"]), format_ts(r["started_at"], tz)]
            for r in runs]
    colors = [[None, status_color(r["status"])] + [None] * 10 for r in runs]
    return render_table(headers, rows, colors, color=color) + "\n"
