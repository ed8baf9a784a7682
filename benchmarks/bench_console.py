"""The console's reads at production size on PostgreSQL, as its endpoints run them (the same
functions, in process: the console's page functions, which call the jobs' queries
``branch_sync.queries`` / ``branch_sync.stats`` and the export ``report_sheets`` +
``common.spreadsheet_export``), with the SQL statements each sends (``Database.statements``).

    .venv/bin/python benchmarks/bench_console.py [--batches 1000] [--pairs 120] [--big 2040]

Fills a fresh database with ``--batches`` finished sync batches of ``--pairs`` pairs each (the last
of them 5 pairs) plus one running batch of ``--big`` pairs (17 branches x 120 tables), then times
(median of 5) each page next to a small input, to show that the statement count does not grow with
rows. Needs PostgreSQL on 127.0.0.1:5432 (user postgres, trust auth). Drops its database.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone

from bench_env import admin  # noqa: E402  (sets sys.path and AIRFLOW_HOME first)

import psycopg  # noqa: E402



class StubApi:
    """Airflow's pools and task states as the stuck diagnosis reads them (no pool exists)."""

    def pools(self) -> list:
        return []

    def task_states(self, dag_id: str, run_id: str) -> dict:
        return {}


def measure(db, work, repeat: int = 5) -> tuple[float, int]:
    """Median seconds over ``repeat`` runs, and the statements one run sends."""
    times, counts = [], []
    for _ in range(repeat):
        before = db.statements
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
        counts.append(db.statements - before)
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
        from include.branch_sync import tracking
        from include.common.db import Database
        from include.console import pages, params, sync
        from include.console.downloads import export_batch

        big_id, small_id = "sync_20991231_000000_BIGBATCH", "sync_20991230_000000_SMALLONE"
        with Database("bench_central") as db:
            tracking.ensure_schema(db)
        started = time.perf_counter()
        fill(f"host=127.0.0.1 user=postgres dbname={name}", args.batches, args.pairs, args.big, big_id, small_id)
        rows = (args.batches - 1) * args.pairs + 5 + args.big
        print(f"filled {args.batches + 1:,} batches, {rows:,} progress rows in {time.perf_counter() - started:.1f} s")

        with Database("bench_central") as db:
            def listing(query):
                return lambda: sync.list_batches(db, params.sync_list(query))

            def detail(batch_id, query, api=None):
                return lambda: sync.batch_detail(db, batch_id, params.sync_detail(query), api)

            def history(n):
                return lambda: sync.history(db, params.history({"batches": str(n)}))

            every = {"per_page": "5000"}
            cases = [
                ("list: page of 50 with derived counts", listing({}), "page of 5", listing({"per_page": "5"})),
                ("list: page 19 (offset 900)", listing({"page": "19"}),
                 "running only", listing({"status": "running"})),
                (f"detail: {args.big:,} pairs on one page", detail(big_id, every),
                 "batch of 5 pairs", detail(small_id, every)),
                ("detail: first 500 + stuck diagnosis", detail(big_id, {}, StubApi()),
                 "5 pairs (not running)", detail(small_id, {}, StubApi())),
                ("detail: first 500 by duration", detail(big_id, {"sort": "-duration"}),
                 "5 pairs by duration", detail(small_id, {"sort": "-duration"})),
                ("detail: in progress of one branch", detail(big_id, {"status": "in_progress",
                                                                       "connection": "pgsql_b03"}),
                 "5 pairs, failed only", detail(small_id, {"failed": "true"})),
                ("history: last 30 batches", history(30), "last 500 batches", history(500)),
                (f"export xlsx: {args.big:,} pairs", lambda: export_batch(db, "sync", big_id, "xlsx"),
                 "5 pairs", lambda: export_batch(db, "sync", small_id, "xlsx")),
                (f"export csv: {args.big:,} pairs", lambda: export_batch(db, "sync", big_id, "csv"),
                 "5 pairs", lambda: export_batch(db, "sync", small_id, "csv")),
            ]
            print(f"\n{'page / function':<40} {'median':>9} {'stmts':>6}   {'small/other input':<22} {'median':>9} "
                  f"{'stmts':>6}")
            for label, work, other_label, other in cases:
                seconds, statements = measure(db, work)
                other_seconds, other_statements = measure(db, other)
                print(f"{label:<40} {seconds * 1000:>7.1f}ms {statements:>6}   {other_label:<22} "
                      f"{other_seconds * 1000:>7.1f}ms {other_statements:>6}")
            full = sync.batch_detail(db, big_id, params.sync_detail(every))
            assert len(full["tables"]) == args.big and full["total_tables"] == args.big
            assert len(sync.list_batches(db, params.sync_list({}))["batches"]) == 50
            started = time.perf_counter()
            html = pages.sync_detail(full, {}, can_act=True)
            print(f"{'render the detail page (' + format(args.big, ',') + ' rows)':<40} "
                  f"{(time.perf_counter() - started) * 1000:>7.1f}ms {0:>6}   ({len(html) / 1024:.0f} KiB HTML)")
        print("\nstatement counts are per call; they are the same for the small and the big input.")
    finally:
        admin(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'")
        admin(f'DROP DATABASE IF EXISTS "{name}"')
    return 0


if __name__ == "__main__":
    sys.exit(main())
