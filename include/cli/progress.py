"""``recalculate-progress``: repair sync batches from Airflow's task states (REST API) and
certificate batches from their rows."""

from __future__ import annotations

import argparse
from typing import Any, TextIO

from include.cli.common import CliError, connection_defined, describe_error, open_database, resolve_conn_id
from include.common.conn_ids import AIRFLOW_API, APP_DB


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
    p.add_argument("--app-conn", metavar="CONN_ID", default=APP_DB,
                   help="database with the certificate tracking tables (default: app_db)")
    p.add_argument("--api-conn", metavar="CONN_ID", default=AIRFLOW_API,
                   help="Airflow connection of the Airflow REST API (default: airflow_api)")
    p.set_defaults(func=cmd_recalculate_progress)


def cmd_recalculate_progress(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    import json

    from include.branch_sync.reconcile import reconcile_sync_batches
    from include.certificates import batches as certificates
    from include.common.task_states import RestApiStates

    ids = args.batch_id or []
    cert_prefix = f"{certificates.BATCH_PREFIX}_"
    cert_ids = [i for i in ids if i.startswith(cert_prefix)]
    sync_ids = [i for i in ids if not i.startswith(cert_prefix)]
    do_sync = bool(sync_ids) or (args.all and args.kind in ("all", "sync"))
    do_certs = bool(cert_ids) or (args.all and args.kind in ("all", "certificates"))
    if do_certs and args.all and args.kind == "all" and not connection_defined(args.app_conn):
        err.write(f"note: certificate batches skipped: connection {args.app_conn!r} is not defined\n")
        do_certs = False
    sync_db = open_database(resolve_conn_id(args.conn), out) if do_sync else None
    cert_db = open_database(args.app_conn, out) if do_certs else None
    try:
        states = RestApiStates(args.api_conn)
    except Exception as exc:
        raise CliError(f"cannot reach the Airflow REST API through connection {args.api_conn!r}: {describe_error(exc)}") \
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
