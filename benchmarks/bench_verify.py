"""sync_verify's pair verification against the plain scans it must stay close to, in the same run.

    .venv/bin/python benchmarks/bench_verify.py [--rows 1000000] [--drift 100] [--rounds 3]

Makes a branch table of ``--rows`` rows x 10 columns in a fresh PostgreSQL database, loads it
into a fresh central database with the sync (``sync_pair``: the pair's full load), VACUUM ANALYZEs
both tables (a table in service has its hint bits set; otherwise the first scan of the fresh
table pays for writing them, whichever measurement that is), then, ``--rounds`` times:
1. the baseline: one ``count(*)`` plus one full-table checksum scan (the sum of the 60-bit slices
   of every row's MD5, over the same canonical row text, with the same session settings) on each
   side, both sides run side by side,
2. ``verify_pair`` with no drift,
3. ``verify_pair(repair=True)`` after ``--drift`` scattered rows were changed, deleted or added in
   central (found and repaired); after the last round, a verification that must be clean.
Prints each round's figures with the ratios to that round's baseline, then the min and median of
each figure and ratio over the rounds (the machine is shared: the spread between rounds is its
noise), the full load, and the peak RSS. Needs PostgreSQL on 127.0.0.1:5432 (user postgres, trust
auth). Drops its databases.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench_env import admin  # noqa: E402  (sets sys.path and AIRFLOW_HOME first)

import psycopg  # noqa: E402


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--drift", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    tag = uuid.uuid4().hex[:8]
    source, central = f"bench_vsrc_{tag}", f"bench_vcentral_{tag}"
    for db in (source, central):
        admin(f'CREATE DATABASE "{db}"')
    try:
        with psycopg.connect(f"host=127.0.0.1 user=postgres dbname={source}", autocommit=True) as conn:
            conn.execute("CREATE TABLE bench_rows (id BIGINT PRIMARY KEY, updated TIMESTAMP WITH TIME ZONE NOT NULL, "
                         "branch_id INTEGER, code VARCHAR(20), name TEXT, qty INTEGER, price NUMERIC(14,2), "
                         "ratio DOUBLE PRECISION, doc_date DATE, is_active BOOLEAN)")
            conn.execute(
                "INSERT INTO bench_rows SELECT g, timestamptz '2026-01-01' + (g %% 500000) * interval '30 second', "
                "g %% 17, 'C' || lpad((g %% 100000)::text, 8, '0'), 'Produk nomor ' || g || ' ✓', g %% 1000, "
                "(g %% 100000) / 100.0, g / 7.0, date '2025-01-01' + (g %% 700), g %% 3 <> 0 "
                "FROM generate_series(1, %s) g", (args.rows,))
        os.environ["AIRFLOW_CONN_BENCH_SRC"] = f"postgresql://postgres@127.0.0.1:5432/{source}"
        os.environ["AIRFLOW_CONN_BENCH_CENTRAL"] = f"postgresql://postgres@127.0.0.1:5432/{central}"
        from include.branch_sync import tracking
        from include.branch_sync.config import parse_config
        from include.branch_sync.engine import sync_pair
        from include.common.db import Database
        from include.sync_verify.engine import verify_pair
        from include.sync_verify.fields import build_sides

        config = parse_config({"target": "bench_central", "branches": ["bench_src"], "tables": [
            {"table": "bench_rows", "primary_key": ["id"], "cursor": "updated"}]}, Path("benchmark"))
        spec = config.table("bench_rows")
        with Database("bench_central") as db:
            tracking.ensure_schema(db)
        started = time.perf_counter()
        sync_pair(config, spec, "bench_src")
        load_seconds = time.perf_counter() - started
        for db in (source, central):
            with psycopg.connect(f"host=127.0.0.1 user=postgres dbname={db}", autocommit=True) as conn:
                conn.execute("VACUUM ANALYZE bench_rows")

        with Database("bench_src") as src_db, Database("bench_central") as dst_db:
            columns = src_db.run(lambda cur: src_db.dialect.describe(cur, "bench_rows"))
            target_columns = dst_db.run(lambda cur: dst_db.dialect.describe(cur, "bench_rows"))
            src, dst, portable = build_sides(src_db, dst_db, "bench_rows", "bench_rows", columns, target_columns,
                                             spec.primary_key, "bench_src")
            assert portable

        def scan(side):
            """count(*), then the sum of every row's checksum slice, in one transaction of its own."""
            d = side.db.dialect
            with Database(side.db.conn_id) as own:
                def work(cur):
                    for statement in d.canonical_settings:
                        cur.execute(statement)
                    rows = cur.scalar(f"SELECT COUNT(*) AS n FROM bench_rows{side.filter()}", side.params)
                    checksum = cur.scalar(f"SELECT SUM({d.hex_int('SUBSTR(' + side.row_hash + ', 1, 15)')}) AS s "
                                          f"FROM bench_rows{side.filter()}", side.params)
                    return rows, checksum
                return own.run(work)

        step = max(1, args.rows // args.drift)
        ids = list(range(step // 2 + 1, args.rows + 1, step))[:args.drift]
        changed, deleted, added = ids[0::3], ids[1::3], ids[2::3]
        rss_before = rss_mib()
        rounds = []
        for round_ in range(1, args.rounds + 1):
            # 1. the baseline: count(*) + one checksum scan per side, both sides at once
            started = time.perf_counter()
            with ThreadPoolExecutor(max_workers=2) as pool:
                a, b = pool.map(scan, (src, dst))
            scan_seconds = time.perf_counter() - started
            assert a == b, (a, b)

            # 2. no drift
            started = time.perf_counter()
            clean = verify_pair(config, spec, "bench_src")
            clean_seconds = time.perf_counter() - started
            assert clean.status == "clean", clean

            # 3. scattered drift in central: a third changed, a third deleted, a third added
            with psycopg.connect(f"host=127.0.0.1 user=postgres dbname={central}", autocommit=True) as conn:
                conn.execute("UPDATE bench_rows SET qty = qty + 1 WHERE id = ANY(%s)", (changed,))
                conn.execute("DELETE FROM bench_rows WHERE id = ANY(%s)", (deleted,))
                conn.execute("INSERT INTO bench_rows (sync_branch, id, updated) SELECT 'bench_src', i + %s, "
                             "'2020-01-01' FROM unnest(%s::bigint[]) i", (args.rows, added))
            started = time.perf_counter()
            repaired = verify_pair(config, spec, "bench_src", repair=True)
            repair_seconds = time.perf_counter() - started
            assert (repaired.changed, repaired.missing, repaired.extra) == (len(changed), len(deleted), len(added)), \
                repaired
            assert repaired.repaired == len(ids), repaired
            rounds.append((scan_seconds, clean_seconds, repair_seconds))
            print(f"round {round_}: baseline {scan_seconds:6.2f} s, no drift {clean_seconds:6.2f} s = "
                  f"{clean_seconds / scan_seconds:.2f}x, {len(ids)} drifted rows {repair_seconds:6.2f} s = "
                  f"{repair_seconds / scan_seconds:.2f}x", flush=True)
        again = verify_pair(config, spec, "bench_src")
        assert again.status == "clean", again
        rss_after = rss_mib()

        def spread(values):
            return f"min {min(values):6.2f}, median {statistics.median(values):6.2f}"

        scans, cleans, repairs = zip(*rounds)
        print(f"pair: {args.rows:,} rows x 10 columns, PostgreSQL branch -> PostgreSQL central, {args.rounds} rounds")
        print(f"full load of the pair (sync_pair):            {load_seconds:6.2f} s")
        print(f"baseline count(*) + checksum scan, 2 sides:   {spread(scans)} s  (side by side)")
        print(f"verify, no drift:                             {spread(cleans)} s")
        print(f"verify + repair, {len(ids)} drifted rows:           {spread(repairs)} s; found {repaired.changed} "
              f"changed, {repaired.missing} missing, {repaired.extra} extra, repaired {repaired.repaired} each round")
        print(f"no drift / baseline, same round:              {spread([c / s for s, c, _ in rounds])} x  "
              f"(goal <= 1.5x)")
        print(f"drift found + repaired / baseline, same round: {spread([r / s for s, _, r in rounds])} x  "
              f"(goal <= 2x)")
        print(f"no drift / full load:                         {spread([c / load_seconds for c in cleans])} x")
        print(f"peak RSS: {rss_before:.0f} MiB before verifying, {rss_after:.0f} MiB after (+{rss_after - rss_before:.0f} MiB)")
    finally:
        for db in (source, central):
            admin(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{db}'")
            admin(f'DROP DATABASE IF EXISTS "{db}"')
    return 0


if __name__ == "__main__":
    sys.exit(main())
