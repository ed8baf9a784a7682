"""The console's queries on PostgreSQL at production size, with the SQL statements each runs.

    .venv/bin/python benchmarks/bench_console_queries.py [--batches 1000] [--pairs 120] [--big 2040]

Fills a fresh PostgreSQL database with ``--batches`` finished sync batches of ``--pairs`` pairs each
plus one running batch of ``--big`` pairs (17 branches x 120 tables), then times (median of 5):
the batch list (a page of 50 with counts derived from the progress rows; first and a deep page),
the detail of the big batch, the history statistics (last 30 and last 1,000 batches), and the
export of the big batch as xlsx and CSV. Every statement sent is counted (``Cursor.execute``,
``fetch`` and ``executemany`` wrapped), for a small and a big input side by side, to show that the
count does not grow with rows. Needs PostgreSQL on 127.0.0.1:5432 (user postgres, trust auth).
Drops its database.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="bench-airflow-"))

import psycopg  # noqa: E402

ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
STATEMENTS = [0]


def admin(sql: str) -> None:
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        conn.execute(sql)


def count_statements() -> None:
    from include.common.db import database

    for name in ("execute", "executemany", "fetch"):
        original = getattr(database.Cursor, name)

        def wrapped(self, *args, _original=original, **kwargs):
            STATEMENTS[0] += 1
            return _original(self, *args, **kwargs)

        setattr(database.Cursor, name, wrapped)


def measure(work, repeat: int = 5) -> tuple[float, int]:
    """Median seconds over ``repeat`` runs, and the statements one run sends."""
    times, counts = [], []
    for _ in range(repeat):
        STATEMENTS[0] = 0
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
        counts.append(STATEMENTS[0])
    assert len(set(counts)) == 1, counts
    return statistics.median(times), counts[0]


def fill(dsn: str, batches: int, pairs: int, big: int, big_id: str, small_id: str) -> None:
    """The rows, written with COPY (the tracking API would take minutes for this many)."""
    start = datetime(2024, 1, 1, tzinfo=timezone.utc)
    statuses = ["completed"] * 17 + ["failed", "skipped", "completed"]
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        with cur.copy("COPY sync_batches (batch_id, dag_id, run_id, status, total_tables, completed_tables, "
                      "failed_tables, started_at, completed_at, duration_seconds, updated_at) FROM STDIN") as copy:
            for b in range(batches):
                began = start + timedelta(days=b)
                bid = small_id if b == batches - 1 else f"sync_{began:%Y%m%d_%H%M%S}_{b:08d}"
                n = 5 if bid == small_id else pairs
                copy.write_row((bid, "branch_sync", f"scheduled__{b}", "completed", n, n, 0, began,
                                began + timedelta(hours=1), 3600.0, began))
            began = start + timedelta(days=batches + 1)
            copy.write_row((big_id, "branch_sync", "manual__big", "running", big, 0, 0, began, None, None, began))
        with cur.copy("COPY sync_progress (batch_id, connection_name, table_name, model_name, status, "
                      "records_processed, records_skipped, records_deleted, error_message, started_at, completed_at, "
                      "duration_seconds, retry_count, task_id, map_index, updated_at) FROM STDIN") as copy:
            for b in range(batches):
                began = start + timedelta(days=b)
                bid = small_id if b == batches - 1 else f"sync_{began:%Y%m%d_%H%M%S}_{b:08d}"
                for p in range(5 if bid == small_id else pairs):
                    status = statuses[p % len(statuses)]
                    conn_name, table = f"pgsql_b{p % 17:02d}", f"table_{p // 17:03d}"
                    copy.write_row((bid, conn_name, table, table.title(), status, 1000 + p, p, 0,
                                    "=cmd|' /C calc'!A0 refused" if status == "failed" else None, began,
                                    began + timedelta(seconds=30 + p), 30.0 + p, p % 3, f"step2.{conn_name}",
                                    p // 17, began))
            began = start + timedelta(days=batches + 1)
            for p in range(big):
                status = ("completed", "in_progress", "pending", "failed")[p % 4]
                conn_name, table = f"pgsql_b{p % 17:02d}", f"table_{p // 17:03d}"
                copy.write_row((big_id, conn_name, table, table.title(), status, 5000 + p, 0, 0,
                                "timeout" if status == "failed" else None, None if status == "pending" else began,
                                began + timedelta(minutes=5) if status in ("completed", "failed") else None,
                                300.0 if status in ("completed", "failed") else None, 0, f"step2.{conn_name}",
                                p // 17, began))
        conn.commit()
        cur.execute("ANALYZE")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", type=int, default=1000)
    parser.add_argument("--pairs", type=int, default=120, help="pairs per finished batch")
    parser.add_argument("--big", type=int, default=2040, help="pairs of the running batch")
    args = parser.parse_args()

    name = f"bench_console_{uuid.uuid4().hex[:8]}"
    admin(f'CREATE DATABASE "{name}"')
    os.environ["AIRFLOW_CONN_BENCH_CENTRAL"] = f"postgresql://postgres@127.0.0.1:5432/{name}"
    try:
        from include.branch_sync import queries, stats, tracking
        from include.branch_sync.export import report_sheets
        from include.common.db import Database
        from include.common.spreadsheet_export import write_csv, write_xlsx

        big_id, small_id = "sync_20991231_000000_BIGBATCH", "sync_20991230_000000_SMALLONE"
        with Database("bench_central") as db:
            tracking.ensure_schema(db)
        started = time.perf_counter()
        fill(f"host=127.0.0.1 user=postgres dbname={name}", args.batches, args.pairs, args.big, big_id, small_id)
        rows = (args.batches - 1) * args.pairs + 5 + args.big
        print(f"filled {args.batches + 1:,} batches, {rows:,} progress rows in {time.perf_counter() - started:.1f} s")
        count_statements()

        def export(batch_id: str, fmt: str) -> int:
            summary, detail = report_sheets(db, batch_id)
            buf = io.BytesIO()
            write_xlsx((summary, detail), buf) if fmt == "xlsx" else write_csv(detail, buf)
            return len(buf.getvalue())

        with Database("bench_central") as db:
            cases = [
                ("list: page of 50 with derived counts", lambda: queries.list_batches(db, 50),
                 "page of 5", lambda: queries.list_batches(db, 5)),
                ("list: page 19 (offset 900)", lambda: queries.list_batches(db, 50, 900),
                 "running only", lambda: queries.list_batches(db, 50, status="running")),
                (f"detail: batch of {args.big:,} pairs", lambda: queries.batch_detail(db, big_id),
                 "batch of 5 pairs", lambda: queries.batch_detail(db, small_id)),
                ("stats: last 30 batches", lambda: stats.sync_stats(db, 30),
                 f"last {args.batches:,} batches", lambda: stats.sync_stats(db, args.batches)),
                (f"export xlsx: {args.big:,} pairs", lambda: export(big_id, "xlsx"),
                 "5 pairs", lambda: export(small_id, "xlsx")),
                (f"export csv: {args.big:,} pairs", lambda: export(big_id, "csv"),
                 "5 pairs", lambda: export(small_id, "csv")),
            ]
            print(f"\n{'query':<40} {'median':>9} {'stmts':>6}   {'small/other input':<22} {'median':>9} {'stmts':>6}")
            for label, work, other_label, other in cases:
                seconds, statements = measure(work)
                other_seconds, other_statements = measure(other)
                print(f"{label:<40} {seconds * 1000:>7.1f}ms {statements:>6}   {other_label:<22} "
                      f"{other_seconds * 1000:>7.1f}ms {other_statements:>6}")
            assert len(queries.batch_detail(db, big_id)["tables"]) == args.big
            assert len(queries.list_batches(db, 50)) == 50
        print("\nstatement counts are per call; they are the same for the small and the big input.")
    finally:
        admin(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'")
        admin(f'DROP DATABASE IF EXISTS "{name}"')
    return 0


if __name__ == "__main__":
    sys.exit(main())
