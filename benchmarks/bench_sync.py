"""branch_sync's engine against the raw PostgreSQL COPY pipe, measured in the same run.

    .venv/bin/python benchmarks/bench_sync.py [--rows 1000000] [--changed 1000]

Makes a source table of ``--rows`` rows x 10 columns in a fresh PostgreSQL database, then prints:
1. the raw pipe ``psql -c "COPY t TO STDOUT" | psql -c "COPY t FROM STDIN"`` (the baseline),
2. a full load of the same table by the engine (``sync_pair``, as the DAG's tasks run it),
3. an incremental run after ``--changed`` rows were updated,
and the ratios. Needs PostgreSQL on 127.0.0.1:5432 (user postgres, trust auth). Drops its databases.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
import uuid
from pathlib import Path

from bench_env import admin  # noqa: E402  (sets sys.path and AIRFLOW_HOME first)

import psycopg  # noqa: E402



def psql(db: str, sql: str) -> list[str]:
    return ["psql", "-q", "-X", "-h", "127.0.0.1", "-U", "postgres", "-d", db, "-c", sql]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--changed", type=int, default=1_000)
    args = parser.parse_args()

    tag = uuid.uuid4().hex[:8]
    source, raw_target, central = f"bench_src_{tag}", f"bench_raw_{tag}", f"bench_central_{tag}"
    for db in (source, raw_target, central):
        admin(f'CREATE DATABASE "{db}"')
    try:
        columns = ("id BIGINT PRIMARY KEY, updated TIMESTAMP WITH TIME ZONE NOT NULL, branch_id INTEGER, "
                   "code VARCHAR(20), name TEXT, qty INTEGER, price NUMERIC(14,2), ratio DOUBLE PRECISION, "
                   "doc_date DATE, is_active BOOLEAN")
        with psycopg.connect(f"host=127.0.0.1 user=postgres dbname={source}", autocommit=True) as conn:
            conn.execute(f"CREATE TABLE bench_rows ({columns})")
            started = time.perf_counter()
            conn.execute(
                "INSERT INTO bench_rows SELECT g, timestamptz '2026-01-01' + (g %% 500000) * interval '30 second', "
                "g %% 17, 'C' || lpad((g %% 100000)::text, 8, '0'), 'Produk nomor ' || g || ' ✓', g %% 1000, "
                "(g %% 100000) / 100.0, g / 7.0, date '2025-01-01' + (g %% 700), g %% 3 <> 0 "
                "FROM generate_series(1, %s) g", (args.rows,))
            # An incremental source indexes its cursor column (as ERP tables index "updated").
            conn.execute("CREATE INDEX bench_rows_updated ON bench_rows (updated, id)")
            conn.execute("ANALYZE bench_rows")
            print(f"source: {args.rows:,} rows x 10 columns generated in {time.perf_counter() - started:.1f}s")
        with psycopg.connect(f"host=127.0.0.1 user=postgres dbname={raw_target}", autocommit=True) as conn:
            conn.execute(f"CREATE TABLE bench_rows ({columns})")

        # 1. baseline: the raw COPY pipe between two psql processes
        started = time.perf_counter()
        out = subprocess.Popen(psql(source, "COPY bench_rows TO STDOUT"), stdout=subprocess.PIPE)
        into = subprocess.run(psql(raw_target, "COPY bench_rows FROM STDIN"), stdin=out.stdout, check=True)
        out.wait()
        raw_seconds = time.perf_counter() - started
        assert into.returncode == 0 and out.returncode == 0

        # 2. the engine, as branch_sync's task runs it
        os.environ["AIRFLOW_CONN_BENCH_SRC"] = f"postgresql://postgres@127.0.0.1:5432/{source}"
        os.environ["AIRFLOW_CONN_BENCH_CENTRAL"] = f"postgresql://postgres@127.0.0.1:5432/{central}"
        from include.branch_sync import tracking
        from include.branch_sync.config import parse_config
        from include.common.db import Database
        from include.branch_sync.engine import sync_pair

        config = parse_config({"target": "bench_central", "branches": ["bench_src"], "tables": [
            {"table": "bench_rows", "model": "BenchRows", "primary_key": ["id"], "cursor": "updated"}]},
            Path("benchmark"))
        with Database("bench_central") as db:
            tracking.ensure_schema(db)
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        started = time.perf_counter()
        full = sync_pair(config, config.table("bench_rows"), "bench_src")
        full_seconds = time.perf_counter() - started
        rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        assert full.processed == args.rows, full

        # 3. incremental after some rows changed
        with psycopg.connect(f"host=127.0.0.1 user=postgres dbname={source}", autocommit=True) as conn:
            conn.execute("UPDATE bench_rows SET qty = qty + 1, updated = now() WHERE id %% %s = 0",
                         (max(1, args.rows // args.changed),))
        started = time.perf_counter()
        incremental = sync_pair(config, config.table("bench_rows"), "bench_src")
        incremental_seconds = time.perf_counter() - started

        print(f"raw COPY pipe (psql | psql):      {raw_seconds:8.2f} s  ({args.rows / raw_seconds:,.0f} rows/s)")
        print(f"engine full load (sync_pair):     {full_seconds:8.2f} s  ({args.rows / full_seconds:,.0f} rows/s), "
              f"peak RSS {max(rss_before, rss_after) / 1024:.0f} MiB (+{(rss_after - rss_before) / 1024:.0f} MiB)")
        print(f"engine incremental ({incremental.rows_read:,} read, {incremental.processed:,} written): "
              f"{incremental_seconds:8.3f} s")
        print(f"ratio full load / raw pipe:       {full_seconds / raw_seconds:8.2f}x   (goal <= 2x)")
        print(f"ratio incremental / full load:    {100 * incremental_seconds / full_seconds:8.2f} %  (goal < 2 %)")
    finally:
        for db in (source, raw_target, central):
            admin(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{db}'")
            admin(f'DROP DATABASE IF EXISTS "{db}"')
    return 0


if __name__ == "__main__":
    sys.exit(main())
