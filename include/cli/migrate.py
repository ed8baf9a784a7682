"""``migrate``: bring the bundle's tables up to their definitions by hand (the jobs do it on their
first use anyway), or with ``--dry-run`` show what would change and what stops it. One section per
configured database: the sync target (tracking and notification tables) and ``app_db``
(certificate, WhatsApp and notification tables)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any, TextIO

from include.cli.common import CliError, connection_defined, describe_error, open_database, resolve_conn_id
from include.common.conn_ids import APP_DB


def add_migrate(sub: Any) -> None:
    p = sub.add_parser(
        "migrate", help="create or migrate the bundle's tables in every configured database",
        description="Compare the bundle's table definitions with the live tables and add what they lack: "
                    "tables, columns (nullable: rows already there keep NULL, shown as unknown), unique keys, "
                    "indexes, defaults. Nothing is dropped, renamed or narrowed; a column the bundle cannot use "
                    "is reported by table and column and nothing changes. Databases: the sync target (--conn) "
                    "and the app database (--app-conn, skipped with a note when the connection is not defined). "
                    "Exit codes: 0 done (or nothing to do), 1 a table cannot be used or a database failed.",
    )
    p.add_argument("--dry-run", action="store_true", help="only show what would change (takes no lock, writes nothing)")
    p.add_argument("--json", action="store_true", help="print the plans as JSON")
    p.add_argument("--conn", metavar="CONN_ID", default=None,
                   help="database with the sync tracking tables (default: 'target' of the sync config)")
    p.add_argument("--app-conn", metavar="CONN_ID", default=APP_DB,
                   help="database with the certificate and WhatsApp tables (default: app_db)")
    p.set_defaults(func=cmd_migrate)


def databases(central: str, app: str | None) -> dict[str, list[Any]]:
    """``{conn id: table definitions}``: every table of the bundle, in the database that holds it."""
    from include.branch_sync import tracking
    from include.certificates import batches
    from include.common.notify import store
    from include.health.whatsapp import accounts
    from include.sync_verify import tracking as verification

    out: dict[str, list[Any]] = {central: [*tracking.SCHEMA, *verification.SCHEMA, *store.SCHEMA]}
    if app is not None:
        out.setdefault(app, [])
        out[app] += [t for t in (*batches.SCHEMA, *store.SCHEMA, *accounts.SCHEMA) if t not in out[app]]
    return out


def cmd_migrate(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    import json

    from include.common.db import PermanentError
    from include.common.schema import migrate

    app = args.app_conn if connection_defined(args.app_conn) else None
    if app is None:
        err.write(f"note: connection {args.app_conn!r} is not defined: its certificate and WhatsApp tables are "
                  f"skipped\n")
    results, failed = [], False
    for conn_id, tables in databases(resolve_conn_id(args.conn), app).items():
        db = open_database(conn_id, out)
        result: dict[str, Any] = {"conn_id": conn_id, "dialect": db.dialect.name, "tables": [], "error": None}
        try:
            with db:
                plans = migrate(db, tables, dry_run=True)
                if not args.dry_run and not any(p.problems for p in plans):
                    plans = migrate(db, tables, what="migrate (command line)")
        except PermanentError as exc:
            result["error"], failed = describe_error(exc), True
            plans = []
        except Exception as exc:
            raise CliError(f"connection {conn_id!r}: {describe_error(exc)}") from None
        result["tables"] = [p.as_json() for p in plans]
        failed = failed or any(p.problems for p in plans)
        results.append(result)
    if args.json:
        out.write(json.dumps({"dry_run": args.dry_run, "ok": not failed, "databases": results},
                             indent=2, sort_keys=True) + "\n")
    else:
        out.write(render(results, args.dry_run))
    return 1 if failed else 0


def render(results: Sequence[dict[str, Any]], dry_run: bool) -> str:
    """One section per database: each table's changes (done, or that would be done), the
    differences kept as they are, and the problems that stop the migration."""
    lines = []
    for r in results:
        tables = r["tables"]
        problems = [p for t in tables for p in t["problems"]]
        changes = sum(len(t["steps"]) for t in tables)
        if r["error"]:
            state = f"FAILED: {r['error']}"
        elif problems:
            state = f"{len(problems)} problem(s), nothing changed"
        elif not changes:
            state = "up to date"
        else:
            state = f"{changes} change(s) {'would be made' if dry_run else 'made'}"
        lines.append(f"{r['conn_id']} ({r['dialect']}): {state}")
        for t in tables:
            head = "up to date" if not t["steps"] and not t["problems"] else "existing table" if t["exists"] else "missing"
            lines.append(f"  {t['table']}: {head}")
            lines += [f"    {'would ' if dry_run else ''}{s['text']}" for s in t["steps"]]
            lines += [f"    PROBLEM: {p['text']}" for p in t["problems"]]
            lines += [f"    note: {n}" for n in t["notes"]]
    return "\n".join(lines) + "\n"
