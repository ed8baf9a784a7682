"""Command line of the bundle: ``python -m include.cli <command> ...`` from the repo root.

Commands (more are registered the same way, see :data:`COMMANDS`):

``sync-status [batch_id] [--latest | --all] [--failed] [--json] [--limit N] [--conn CONN_ID]``
    The status of sync batches in the tracking tables ``sync_batches`` / ``sync_progress`` of the
    central database (the ``target`` connection of the sync config unless ``--conn`` is given).
    Without a batch id or flag it shows the latest batch. Exit codes: 0 ok (also when there are
    no batches yet), 1 unknown batch or a database/config error, 2 bad usage.

``recalculate-progress --batch-id X | --all [--kind all|sync|certificates] [--json]``
    Repair sync batches from their item rows and Airflow's task states (REST API, connection
    ``airflow_api``), and certificate batches (``cert_...`` ids, in ``app_db``) from their rows;
    batches whose run ended or vanished become ``interrupted`` (sync) or ``failed`` with the reason.

``pools [--apply]``
    The per-branch pools of branch_sync (``sync_<conn_id>``), printed or created.

Airflow is imported only when a command needs a connection, so ``--help`` stays fast.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from collections.abc import Callable, Sequence
from datetime import timezone, tzinfo
from typing import Any, TextIO

from include import status_report as report

PROG = "python -m include.cli"


class CliError(Exception):
    """A failure to report on stderr with exit code ``code`` (no traceback)."""

    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.code = code


# -- shared helpers --------------------------------------------------------------------------------
def use_color(choice: str, stream: TextIO) -> bool:
    """``always``/``never``, or ``auto``: a terminal and no ``NO_COLOR`` (https://no-color.org)."""
    if choice == "always":
        return True
    if choice == "never":
        return False
    if os.environ.get("NO_COLOR"):
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def parse_tz(value: str) -> tzinfo:
    """``UTC`` (default), ``local`` (this machine's zone) or an IANA name such as ``Asia/Jakarta``."""
    if value.upper() == "UTC":
        return timezone.utc
    if value.lower() == "local":
        from datetime import datetime

        return datetime.now().astimezone().tzinfo or timezone.utc
    try:
        from zoneinfo import ZoneInfo

        return ZoneInfo(value)
    except Exception:
        raise argparse.ArgumentTypeError(f"unknown time zone {value!r} (use UTC, local or e.g. Asia/Jakarta)") from None


def positive_int(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {value!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {n}")
    return n


def resolve_conn_id(conn_id: str | None) -> str:
    """``--conn``, else the ``target`` of the sync config (``SYNC_CONFIG`` or config/sync.yaml)."""
    if conn_id:
        return conn_id
    from include.config import ConfigError, load_config

    try:
        return load_config().target
    except ConfigError as exc:
        raise CliError(f"cannot tell which database holds the tracking tables: {exc}; pass --conn CONN_ID") from None


def logs_to_stderr(*streams: Any) -> None:
    """Point log handlers that write to stdout (Airflow's default) at stderr: stdout carries
    results only, so ``--json`` stays parseable even when a retry logs a warning."""
    stdout_like = {id(s) for s in (*streams, sys.__stdout__) if s is not None}
    loggers = [logging.getLogger(), *(logging.getLogger(n) for n in ("airflow", "include"))]
    for logger in loggers:
        for handler in logger.handlers:
            if isinstance(handler, logging.StreamHandler) and id(getattr(handler, "stream", None)) in stdout_like:
                handler.setStream(sys.stderr)


def open_database(conn_id: str, out: TextIO | None = None) -> Any:
    """A :class:`include.db.Database` for ``conn_id`` (imports Airflow, hence late)."""
    try:
        from include.db import Database

        db = Database(conn_id, retries=2)
        logs_to_stderr(out)
        return db
    except CliError:
        raise
    except Exception as exc:
        raise CliError(f"connection {conn_id!r}: {_describe(exc)}") from None


def _describe(exc: BaseException) -> str:
    from include.db import scrub

    text = " ".join(str(exc).split()) or type(exc).__name__
    return scrub(f"{type(exc).__name__}: {text}")


_MISSING_TABLE_TEXT = ("no such table", "does not exist", "doesn't exist", "undefinedtable", "1146")


def _query_error(exc: BaseException, conn_id: str) -> CliError:
    text = f"{type(exc).__name__} {exc}".lower()
    if any(s in text for s in _MISSING_TABLE_TEXT):
        return CliError(
            f"the tracking tables {PROGRESS_TABLES} are missing in connection {conn_id!r} "
            f"(wrong --conn, or branch_sync never ran against it): {_describe(exc)}"
        )
    return CliError(f"query on connection {conn_id!r} failed: {_describe(exc)}")


PROGRESS_TABLES = "sync_batches/sync_progress"


# -- sync-status: queries --------------------------------------------------------------------------
def _tables(db: Any) -> tuple[str, str]:
    from include.tracking import BATCHES, PROGRESS

    return db.quote(BATCHES), db.quote(PROGRESS)


def fetch_batch(db: Any, batch_id: str) -> dict[str, Any] | None:
    batches, _ = _tables(db)
    rows = db.fetchall(f"SELECT * FROM {batches} WHERE batch_id = %s", (batch_id,))
    return rows[0] if rows else None


def fetch_latest_batches(db: Any, limit: int) -> list[dict[str, Any]]:
    """Newest first: ``started_at`` descending (rows without one last), then ``batch_id``."""
    batches, _ = _tables(db)
    return db.fetchall(
        f"SELECT * FROM {batches} "
        f"ORDER BY CASE WHEN started_at IS NULL THEN 1 ELSE 0 END, started_at DESC, batch_id DESC "
        f"LIMIT {int(limit)}"
    )


def fetch_progress(db: Any, batch_id: str) -> list[dict[str, Any]]:
    """The batch's rows in the order they ran: ``started_at`` (never-started rows last), then
    connection and table."""
    _, progress = _tables(db)
    return db.fetchall(
        f"SELECT * FROM {progress} WHERE batch_id = %s "
        f"ORDER BY CASE WHEN started_at IS NULL THEN 1 ELSE 0 END, started_at, connection_name, table_name",
        (batch_id,),
    )


def fetch_status_counts(db: Any, batch_ids: Sequence[str]) -> dict[str, dict[str, int]]:
    """``{batch_id: {status: rows}}`` from ``sync_progress`` (exact, unlike the batch counters)."""
    if not batch_ids:
        return {}
    _, progress = _tables(db)
    marks = ", ".join(["%s"] * len(batch_ids))
    rows = db.fetchall(
        f"SELECT batch_id, status, COUNT(*) AS n FROM {progress} WHERE batch_id IN ({marks}) "
        f"GROUP BY batch_id, status",
        tuple(batch_ids),
    )
    out: dict[str, dict[str, int]] = {}
    for row in rows:
        out.setdefault(str(row["batch_id"]), {})[str(row["status"])] = int(row["n"])
    return out


# -- sync-status: the command ----------------------------------------------------------------------
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
    p.set_defaults(func=cmd_sync_status, parser=p)


def cmd_sync_status(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    parser: argparse.ArgumentParser = args.parser
    if args.batch_id and (args.latest or args.all):
        parser.error("give either a batch id, --latest or --all")
    if args.failed and args.all:
        parser.error("--failed applies to one batch; it cannot be combined with --all")
    if args.limit is not None and not args.all:
        parser.error("--limit applies to --all")
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
        batches = fetch_latest_batches(db, args.limit or 20)
        counts = fetch_status_counts(db, [str(b["batch_id"]) for b in batches])
    except CliError:
        raise
    except Exception as exc:
        raise _query_error(exc, conn_id) from None
    batches = [report.with_counts(b, counts.get(str(b["batch_id"]))) for b in batches]
    if args.json:
        out.write(report.dumps(report.batches_to_json(batches)) + "\n")
    else:
        out.write(report.render_batch_list(batches, color=color, tz=args.tz, program=PROG))
    return 0


def _show_one(db: Any, conn_id: str, args: argparse.Namespace, out: TextIO, err: TextIO, color: bool) -> int:
    try:
        if args.batch_id:
            batch = fetch_batch(db, args.batch_id)
            if batch is None:
                raise CliError(f"batch {args.batch_id!r} not found in sync_batches of connection {conn_id!r} "
                               f"(list them with: {PROG} sync-status --all)")
        else:
            latest = fetch_latest_batches(db, 1)
            batch = latest[0] if latest else None
            if batch is None:
                if args.json:
                    out.write("null\n")
                else:
                    out.write(f"No sync batches found in connection {conn_id!r}.\n")
                return 0
        progress = fetch_progress(db, str(batch["batch_id"]))
    except CliError:
        raise
    except Exception as exc:
        raise _query_error(exc, conn_id) from None
    if args.json:
        out.write(report.dumps(report.batch_to_json(batch, progress, failed_only=args.failed)) + "\n")
    else:
        out.write(report.render_batch_detail(batch, progress, failed_only=args.failed, color=color,
                                             error_width=args.error_width, tz=args.tz))
    return 0


# -- recalculate-progress ----------------------------------------------------------------------------
def add_recalculate_progress(sub: Any) -> None:
    p = sub.add_parser(
        "recalculate-progress",
        help="repair sync and certificate batches from their item rows and Airflow's own task states",
        description="Recompute batch counts from their item rows and the states Airflow reports through its "
                    "REST API (connection --api-conn: HTTP host/port of the api-server with login and "
                    "password). Sync batches (sync_batches/sync_progress in the sync target) are repaired "
                    "from their task states; certificate batches (certificate_batches/certificates in "
                    "app_db) are re-derived from their rows. A batch whose DAG run ended or vanished while it "
                    "still says running becomes 'interrupted' (sync) or 'failed' with the reason "
                    "(certificates), its unfinished items failed with the reason.",
    )
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--batch-id", action="append", metavar="BATCH_ID",
                       help="a batch to repair (repeatable; cert_... ids are certificate batches)")
    which.add_argument("--all", action="store_true", help="every batch that is not finished")
    p.add_argument("--kind", choices=("all", "sync", "certificates"), default="all",
                   help="with --all: which batches (default all; certificates are skipped with a note when "
                        "the app connection is not defined)")
    p.add_argument("--json", action="store_true", help="print the per-batch results as JSON")
    p.add_argument("--conn", metavar="CONN_ID", default=None,
                   help="database with the sync tracking tables (default: 'target' of the sync config)")
    p.add_argument("--app-conn", metavar="CONN_ID", default="app_db",
                   help="database with the certificate tracking tables (default: app_db)")
    p.add_argument("--api-conn", metavar="CONN_ID", default="airflow_api",
                   help="Airflow connection of the Airflow REST API (default: airflow_api)")
    p.set_defaults(func=cmd_recalculate_progress)


def _connection_defined(conn_id: str) -> bool:
    try:
        from airflow.sdk import BaseHook

        BaseHook.get_connection(conn_id)
        return True
    except Exception:
        return False


def cmd_recalculate_progress(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    import json

    from include import certificates
    from include.progress_reconcile import RestApiStates, reconcile_sync_batches

    ids = args.batch_id or []
    cert_prefix = f"{certificates.BATCH_PREFIX}_"
    cert_ids = [i for i in ids if i.startswith(cert_prefix)]
    sync_ids = [i for i in ids if not i.startswith(cert_prefix)]
    do_sync = bool(sync_ids) or (args.all and args.kind in ("all", "sync"))
    do_certs = bool(cert_ids) or (args.all and args.kind in ("all", "certificates"))
    if do_certs and args.all and args.kind == "all" and not _connection_defined(args.app_conn):
        err.write(f"note: certificate batches skipped: connection {args.app_conn!r} is not defined\n")
        do_certs = False
    sync_db = open_database(resolve_conn_id(args.conn), out) if do_sync else None
    cert_db = open_database(args.app_conn, out) if do_certs else None
    try:
        states = RestApiStates(args.api_conn)
    except Exception as exc:
        raise CliError(f"cannot reach the Airflow REST API through connection {args.api_conn!r}: {_describe(exc)}") \
            from None
    results: list[dict[str, Any]] = []
    try:
        if sync_db is not None:
            with sync_db:
                results += [{"kind": "sync", **r} for r in reconcile_sync_batches(sync_db, states, sync_ids or None)]
        if cert_db is not None:
            with cert_db:
                certificates.ensure_schema(cert_db)
                results += [{"kind": "certificates", **r} for r in
                            certificates.reconcile_batches(cert_db, states.run_state, batch_ids=cert_ids or None)]
    except LookupError as exc:
        raise CliError(str(exc)) from None
    if args.json:
        out.write(json.dumps(results, default=str, sort_keys=True, indent=2) + "\n")
        return 0
    if not results:
        out.write("No unfinished batches to recalculate.\n")
    for r in results:
        run = r["run_state"] or "gone"
        if r["kind"] == "sync":
            out.write(f"{r['batch_id']}: run {run} -> {r['status']}, {r.get('completed', 0)}/{r['total']} "
                      f"completed, {r.get('failed', 0)} failed, {r['repaired']} rows repaired\n")
        else:
            note = " (already finished, unchanged)" if r.get("unchanged") else ""
            out.write(f"{r['batch_id']}: run {run} -> {r['status']}{note}, {r.get('processed')}/{r.get('total')} "
                      f"processed, {r.get('success')} generated, {r.get('failed')} failed\n")
    return 0


# -- pools --------------------------------------------------------------------------------------------
def add_pools(sub: Any) -> None:
    p = sub.add_parser("pools", help="show or create the per-branch pools of branch_sync",
                       description="One pool sync_<conn_id> per source connection of the sync config, with "
                                   "pool_slots slots. Without --apply: print them as JSON.")
    p.add_argument("--apply", action="store_true", help="create or update them with 'airflow pools import'")
    p.set_defaults(func=cmd_pools)


def cmd_pools(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    import json

    from include.config import ConfigError, load_config
    from include.pools import apply_pools, pool_specs

    try:
        config = load_config()
    except ConfigError as exc:
        raise CliError(str(exc)) from None
    if not args.apply:
        out.write(json.dumps(pool_specs(config), indent=2, sort_keys=True) + "\n")
        return 0
    try:
        apply_pools(config)
    except RuntimeError as exc:
        raise CliError(str(exc)) from None
    out.write(f"{len(pool_specs(config))} pools set: {', '.join(pool_specs(config))}\n")
    return 0


# -- the parser ------------------------------------------------------------------------------------
# Each entry adds one subcommand to the subparsers and sets ``func(args, out, err) -> int`` as its
# default. Add commands such as ``recalculate-progress`` or ``export-report`` here.
COMMANDS: list[Callable[[Any], None]] = [add_sync_status, add_recalculate_progress, add_pools]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Operate the Airflow sync bundle from a shell: status of sync batches and more.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add in COMMANDS:
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None, *, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Run the CLI; returns the exit code (argparse usage errors exit with 2 via SystemExit)."""
    out = out or sys.stdout
    err = err or sys.stderr
    args = build_parser().parse_args(argv)
    try:
        # Results go to `out`; anything libraries print (loggers created during the command
        # default to sys.stdout) goes to stderr.
        with contextlib.redirect_stdout(err):
            return int(args.func(args, out, err) or 0)
    except CliError as exc:
        err.write(f"error: {exc}\n")
        return exc.code
    except KeyboardInterrupt:
        err.write("interrupted\n")
        return 130
    except BrokenPipeError:  # e.g. piped into `head`: not an error; silence the flush at exit
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, out.fileno())
        except (OSError, ValueError, AttributeError):
            pass
        return 0


if __name__ == "__main__":
    sys.exit(main())
