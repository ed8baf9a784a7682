"""What ``delete_missing`` costs on a large table, against baselines measured in the same run.

    .venv/bin/python benchmarks/bench_deletes.py [--rows 1000000] [--changed 1000] [--deleted 1000]

Makes a source table of ``--rows`` rows x 10 columns in a fresh PostgreSQL database, loads it into
a fresh central database with the engine, then updates ``--changed`` rows and deletes
``--deleted`` rows at the source, and prints:
1. a plain read of every key at the source (``COPY (SELECT id ...) TO STDOUT``, the floor),
2. an incremental run without deletion detection (the changed rows only),
3. the same incremental run with ``delete_missing: true`` (same changes, on a second central copy),
4. a later run with changes and no deletes, both ways (the row counts agree: no key comparison),
and the ratios. Needs PostgreSQL on 127.0.0.1:5432 (user postgres, trust auth). Drops its databases.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from pathlib import Path

from bench_env import admin  # noqa: E402  (sets sys.path and AIRFLOW_HOME first)

import psycopg  # noqa: E402



def connect(db: str) -> psycopg.Connection:
    return psycopg.connect(f"host=127.0.0.1 user=postgres dbname={db}", autocommit=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--changed", type=int, default=1_000)
    parser.add_argument("--deleted", type=int, default=1_000)
    args = parser.parse_args()

    tag = uuid.uuid4().hex[:8]
    source, plain, detecting = f"bench_src_{tag}", f"bench_plain_{tag}", f"bench_del_{tag}"
    for db in (source, plain, detecting):
        admin(f'CREATE DATABASE "{db}"')
    try:
        with connect(source) as conn:
            conn.execute("CREATE TABLE bench_rows (id BIGINT PRIMARY KEY, updated TIMESTAMPTZ NOT NULL, "
                         "branch_id INTEGER, code VARCHAR(20), name TEXT, qty INTEGER, price NUMERIC(14,2), "
                         "ratio DOUBLE PRECISION, doc_date DATE, is_active BOOLEAN)")
            conn.execute(
                "INSERT INTO bench_rows SELECT g, timestamptz '2026-01-01' + (g %% 500000) * interval '30 second', "
                "g %% 17, 'C' || lpad((g %% 100000)::text, 8, '0'), 'Produk nomor ' || g, g %% 1000, "
                "(g %% 100000) / 100.0, g / 7.0, date '2025-01-01' + (g %% 700), g %% 3 <> 0 "
                "FROM generate_series(1, %s) g", (args.rows,))
            conn.execute("CREATE INDEX bench_rows_updated ON bench_rows (updated, id)")
            conn.execute("ANALYZE bench_rows")

        os.environ["AIRFLOW_CONN_BENCH_SRC"] = f"postgresql://postgres@127.0.0.1:5432/{source}"
        os.environ["AIRFLOW_CONN_BENCH_PLAIN"] = f"postgresql://postgres@127.0.0.1:5432/{plain}"
        os.environ["AIRFLOW_CONN_BENCH_DEL"] = f"postgresql://postgres@127.0.0.1:5432/{detecting}"
        from include.branch_sync import tracking
        from include.branch_sync.config import parse_config
        from include.branch_sync.engine import sync_pair
        from include.common.db import Database

        def config(target: str, delete_missing: bool):
            return parse_config({"target": target, "branches": ["bench_src"], "tables": [
                {"table": "bench_rows", "primary_key": ["id"], "cursor": "updated",
                 "delete_missing": delete_missing}]}, Path("benchmark"))

        configs = {name: config(name, name == "bench_del") for name in ("bench_plain", "bench_del")}
        for name, cfg in configs.items():
            with Database(name) as db:
                tracking.ensure_schema(db)
            started = time.perf_counter()
            sync_pair(cfg, cfg.table("bench_rows"), "bench_src")
            print(f"full load into {name}: {time.perf_counter() - started:.1f}s")

        with connect(source) as conn:
            step = max(1, args.rows // args.changed)
            conn.execute("UPDATE bench_rows SET qty = qty + 1, updated = now() WHERE id %% %s = 0", (step,))
            conn.execute("DELETE FROM bench_rows WHERE id %% %s = 1 AND id <= %s",
                         (step, step * args.deleted))

        # 1. the floor: reading every key once
        with connect(source) as conn:
            started = time.perf_counter()
            with conn.cursor().copy("COPY (SELECT id FROM bench_rows) TO STDOUT") as copy:
                keys = sum(1 for _ in copy)
            key_read = time.perf_counter() - started

        # 2. and 3. the same incremental run, without and with deletion detection
        timings = {}
        results = {}
        for name, cfg in configs.items():
            started = time.perf_counter()
            results[name] = sync_pair(cfg, cfg.table("bench_rows"), "bench_src")
            timings[name] = time.perf_counter() - started
        plain_run, del_run = results["bench_plain"], results["bench_del"]
        assert del_run.deleted == args.deleted and plain_run.deleted == 0, (plain_run, del_run)

        # 4. a later run with changes but no deletes: two row counts show there is nothing to compare
        with connect(source) as conn:
            conn.execute("UPDATE bench_rows SET qty = qty + 1, updated = now() WHERE id %% %s = 2", (step,))
        quiet = {}
        for name, cfg in configs.items():
            started = time.perf_counter()
            assert sync_pair(cfg, cfg.table("bench_rows"), "bench_src").deleted == 0
            quiet[name] = time.perf_counter() - started

        print(f"plain key read ({keys:,} keys, COPY TO STDOUT):   {key_read:8.3f} s")
        print(f"incremental run, no detection ({plain_run.processed:,} written): {timings['bench_plain']:8.3f} s")
        print(f"incremental run + delete_missing ({del_run.processed:,} written, {del_run.deleted:,} deleted): "
              f"{timings['bench_del']:8.3f} s")
        print(f"deletion check alone (difference):               {timings['bench_del'] - timings['bench_plain']:8.3f} s")
        print(f"ratio with / without detection:                  {timings['bench_del'] / timings['bench_plain']:8.2f}x")
        print(f"ratio deletion check / plain key read:           "
              f"{(timings['bench_del'] - timings['bench_plain']) / key_read:8.2f}x")
        print(f"next run, changes but no deletes: {quiet['bench_plain']:.3f} s without, {quiet['bench_del']:.3f} s "
              f"with delete_missing (ratio {quiet['bench_del'] / quiet['bench_plain']:.2f}x: row counts agree)")
    finally:
        for db in (source, plain, detecting):
            admin(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{db}'")
            admin(f'DROP DATABASE IF EXISTS "{db}"')
    return 0


if __name__ == "__main__":
    sys.exit(main())
