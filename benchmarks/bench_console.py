"""The console's list and detail reads with 1,000 batches and one batch of 2,040 pairs (17 branches
x 120 tables) in PostgreSQL, as the endpoints run them (the same functions, in process), with the
SQL statement count per page: it must not grow with the rows.

    .venv/bin/python benchmarks/bench_console.py [--batches 1000] [--branches 17] [--tables 120]

Needs PostgreSQL on 127.0.0.1:5432 (user postgres, trust auth). Drops its database.
"""

from __future__ import annotations

import argparse
import json
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


def admin(sql: str) -> None:
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        conn.execute(sql)


def timed(label: str, work, repeat: int = 7) -> None:
    times, statements, size = [], 0, 0
    for _ in range(repeat):
        t = time.perf_counter()
        data, statements = work()
        times.append(time.perf_counter() - t)
        size = len(json.dumps(data, default=str))
    print(f"  {label:<44} median {statistics.median(times) * 1000:7.1f} ms  max {max(times) * 1000:7.1f} ms  "
          f"{statements} SQL statements  {size / 1024:7.1f} KiB JSON")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batches", type=int, default=1000)
    parser.add_argument("--branches", type=int, default=17)
    parser.add_argument("--tables", type=int, default=120)
    args = parser.parse_args()
    name = f"bench_console_{uuid.uuid4().hex[:8]}"
    admin(f'CREATE DATABASE "{name}"')
    os.environ["AIRFLOW_CONN_BENCH_CENTRAL"] = f"postgresql://postgres@127.0.0.1:5432/{name}"
    try:
        from include.branch_sync import tracking
        from include.common.db import Database
        from include.console import pages, params, sync
        from include.console.reader import read

        t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
        with Database("bench_central") as db:
            tracking.ensure_schema(db)
            pairs_per_small = 12
            batches, progress = [], []
            for n in range(args.batches):
                bid = f"sync_{(t0 + timedelta(hours=n)):%Y%m%d_%H%M%S}_{n:08d}"
                big = n == args.batches - 1
                conns = range(args.branches if big else 2)
                tables = range(args.tables if big else pairs_per_small // 2)
                status = "running" if big else ("failed" if n % 9 == 0 else "completed")
                batches.append((bid, "branch_sync", f"manual__{n}", status, t0 + timedelta(hours=n), 600.0 + n % 50))
                for c in conns:
                    for t in tables:
                        st = ("failed" if (c + t) % 97 == 0 else "completed") if not big else (
                            "completed" if (c * args.tables + t) % 3 else "in_progress")
                        progress.append((bid, f"pgsql_b{c:02d}", f"t_{t:03d}", f"T{t:03d}", st, 1000 * t + c,
                                         float(t % 60), (c + t) % 3, "boom" if st == "failed" else None,
                                         f"step2.pgsql_b{c:02d}", t, t0 + timedelta(hours=n)))
            with db.transaction() as cur:
                cur.executemany("INSERT INTO sync_batches (batch_id, dag_id, run_id, status, started_at, "
                                "duration_seconds) VALUES (%s, %s, %s, %s, %s, %s)", batches)
                cur.executemany("INSERT INTO sync_progress (batch_id, connection_name, table_name, model_name, status, "
                                "records_processed, duration_seconds, retry_count, error_message, task_id, map_index, "
                                "updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)", progress)
            db.execute("ANALYZE")
            big_id = batches[-1][0]
            print(f"{args.batches:,} batches, {len(progress):,} progress rows; the newest batch has "
                  f"{args.branches * args.tables:,} pairs (PostgreSQL {name})")

            def list_page(query):
                return lambda: read(db, lambda r: sync.list_batches(r, params.sync_list(query)))

            def detail(query):
                return lambda: read(db, lambda r: sync.batch_detail(r, big_id, params.sync_detail(query)))

            timed("list, page 1 of 50", list_page({}))
            timed("list, page 2, status=failed", list_page({"status": "failed", "page": "2"}))
            timed("detail, 2,040 pairs on one page", detail({"per_page": "5000"}))
            timed("detail, first 500 pairs sorted by duration", detail({"sort": "-duration"}))
            timed("detail, failed only / one connection", detail({"status": "in_progress", "connection": "pgsql_b03"}))
            timed("history, last 20 batches", lambda: read(db, lambda r: sync.history(r, params.history({}))))
            timed("history, last 500 batches", lambda: read(db, lambda r: sync.history(r, params.history(
                {"batches": "500"}))))
            full, _ = read(db, lambda r: sync.batch_detail(r, big_id, params.sync_detail({"per_page": "5000"})))
            t = time.perf_counter()
            html = pages.sync_detail(full, {}, can_act=True)
            print(f"  {'render the detail page (2,040 rows)':<44} {(time.perf_counter() - t) * 1000:7.1f} ms  "
                  f"{len(html) / 1024:.0f} KiB HTML")
    finally:
        admin(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'")
        admin(f'DROP DATABASE IF EXISTS "{name}"')


if __name__ == "__main__":
    main()
