"""Command line of the bundle: ``python -m include.cli <command> ...`` from the repo root.

Commands (more are registered the same way, see :data:`COMMANDS`):

``sync-status [batch_id] [--latest | --all] [--failed] [--json] [--limit N] [--conn CONN_ID]``
    The status of sync batches in the tracking tables ``sync_batches`` / ``sync_progress`` of the
    central database (the ``target`` connection of the sync config unless ``--conn`` is given).
    Without a batch id or flag it shows the latest batch; a running batch whose tables waited too
    long to start says why (REST API ``--api-conn``). Exit codes: 0 ok (also when there are no
    batches yet), 1 unknown batch or a database/config error, 2 bad usage.

``recalculate-progress --batch-id X | --all [--kind all|sync|certificates] [--json]``
    Repair sync batches from their item rows and Airflow's task states (REST API, connection
    ``airflow_api``), and certificate batches (``cert_...`` ids, in ``app_db``) from their rows;
    batches whose run ended or vanished become ``interrupted`` (sync) or ``failed`` with the reason.

``export BATCH_ID [-o FILE] [--format xlsx|csv|pdf] [--sheet summary|detail]``
    A sync (``sync_...``) or certificate (``cert_...``) batch report as .xlsx (summary and detail
    sheets), CSV (one sheet) or PDF (both, paged, true as of its newest row). Unknown batch: exit 1
    naming it; malformed id: exit 2.

``sync-stats [--last N] [--top N] [--table T] [--json]``
    Slowest tables, most failing tables with average retries, success rate per table, and
    durations over time, over the last N sync batches.

``cert-status [batch_id] [--latest | --all] [--failed] [--json] [--app-conn CONN_ID]``
    Certificate batches and their participant rows (counts derived from the rows).

``cert-preview FILE [--rows N] [--problems N] [--json]``
    What ``certificate_dispatch`` will find in a participants file before anything runs (the
    console's upload form shows the same): format from the bytes, header row and columns,
    participants, the first rows, the rows that will fail and why. Exit 1 when the file is refused.

``whatsapp-status [--workspace N] [--json] [--app-conn CONN_ID]``
    Every WhatsApp account: database status, flap-guard counts, last audit entries, reconnect
    attempts and back-off.

``verify-status [verification_id] [--runs [--limit N]] [--json] [--conn CONN_ID]``
    Verifications of central against the branches (``sync_verifications``): by default the latest
    verification of every table (missing, extra, changed, not yet synced, repaired; drift in red),
    one run's pairs with a sample of differing keys, or the recent runs. Unknown id: exit 1.

``pools [--apply]``
    The per-branch pools of branch_sync (``sync_<conn_id>``), printed or created.

``migrate [--dry-run] [--json] [--conn CONN_ID] [--app-conn CONN_ID]``
    Create or migrate the bundle's tables in the sync target and ``app_db`` (the jobs do it on
    first use too); ``--dry-run`` prints what would change and what stops it. Exit 1 when a table
    cannot be used (named by table and column; nothing changed).

Airflow is imported only when a command needs a connection, so ``--help`` stays fast.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, TextIO

from include.cli.common import PROG, CliError, use_color
from include.cli.cert_preview import add_cert_preview
from include.cli.cert_status import add_cert_status
from include.cli.export import add_export
from include.cli.migrate import add_migrate
from include.cli.stats import add_sync_stats
from include.cli.pools import add_pools
from include.cli.progress import add_recalculate_progress
from include.cli.sync_status import add_sync_status
from include.cli.verify_status import add_verify_status
from include.cli.whatsapp_status import add_whatsapp_status

__all__ = ["COMMANDS", "build_parser", "main", "use_color"]


# -- the parser ------------------------------------------------------------------------------------
# Each entry adds one subcommand to the subparsers and sets ``func(args, out, err) -> int`` as its
# default. Add commands such as ``recalculate-progress`` or ``export-report`` here.
COMMANDS: list[Callable[[Any], None]] = [add_sync_status, add_recalculate_progress, add_pools, add_export,
                                           add_sync_stats, add_cert_status, add_cert_preview,
                                           add_whatsapp_status, add_verify_status, add_migrate]


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

