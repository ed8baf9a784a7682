"""What the schema check costs every task process, against the release before it, in the same run.

    .venv/bin/python benchmarks/bench_schema.py [--repeat 50] [--history-days 3000]

For PostgreSQL and MariaDB (127.0.0.1, fresh databases, dropped at the end), with the sync
tracking tables up to date, prints the median time and statements of:
1. the earlier release's first use in a process: ``CREATE TABLE IF NOT EXISTS`` for each table and
   its indexes, in one transaction (the baseline);
2. this release's first use in a process (``ensure_schema`` with the per-process memo cleared):
   the version record read in one statement;
3. a later use in the same process (the memo);
and, once, the adoption of Laravel tables holding ``--history-days`` days of history (six
progress rows a day): the catalog read, the columns added, the unique key built over those rows.
Figures on a loaded machine are noisy; the ratios against the baseline of the same run are what
to compare.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid

from bench_env import admin  # noqa: E402  (sets sys.path and AIRFLOW_HOME first)

import MySQLdb  # noqa: E402


def _timed(work, repeat: int) -> tuple[float, int]:
    times, statements = [], 0
    for _ in range(repeat):
        started = time.perf_counter()
        statements = work()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000, statements


def bench(conn_id: str, repeat: int, history_days: int) -> None:
    from include.branch_sync import tracking
    from include.common import schema
    from include.common.db import Database
    from tests.integration import laravel_tables

    with Database(conn_id) as db:
        tracking.ensure_schema(db)
        dialect = db.dialect

        def earlier_release() -> int:
            db.statements = 0

            def create(cur) -> None:
                for table in tracking.SCHEMA:
                    cur.execute(table.create_sql(dialect))
                    for index, columns in table.indexes:
                        dialect.create_index(cur, table.name, index, columns)

            db.run(create)
            return db.statements

        def first_use() -> int:
            schema._UP_TO_DATE.clear()
            db.statements = 0
            tracking.ensure_schema(db)
            return db.statements

        def later_use() -> int:
            db.statements = 0
            tracking.ensure_schema(db)
            return db.statements

        base_ms, base_n = _timed(earlier_release, repeat)
        first_ms, first_n = _timed(first_use, repeat)
        later_ms, later_n = _timed(later_use, repeat)
    print(f"{dialect.name}: earlier release (CREATE TABLE IF NOT EXISTS) {base_ms:7.2f} ms, {base_n} statements")
    print(f"{dialect.name}: first use in a process (version record)   {first_ms:7.2f} ms, {first_n} statement(s)"
          f"  ratio {first_ms / base_ms:.2f}")
    print(f"{dialect.name}: later use in the same process              {later_ms:7.3f} ms, {later_n} statements")

    adopt = f"{conn_id}_adopt"
    laravel_tables.create_sync_tables(adopt)
    laravel_tables.fill_sync_history(adopt, days=history_days)
    with Database(adopt) as db:
        started = time.perf_counter()
        plans = schema.migrate(db, tracking.SCHEMA)
        took = time.perf_counter() - started
    steps = sum(len(p.steps) for p in plans)
    print(f"{dialect.name}: adopting Laravel tables with {history_days} batches / {history_days * 6} progress rows: "
          f"{took:.2f} s for {steps} steps")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("--history-days", type=int, default=3000)
    args = parser.parse_args()
    tag = uuid.uuid4().hex[:8]
    pg, pg_adopt, my, my_adopt = (f"bench_schema_{tag}", f"bench_schema_{tag}_a", f"bench_schema_{tag}_m",
                                  f"bench_schema_{tag}_ma")
    for name in (pg, pg_adopt):
        admin(f'CREATE DATABASE "{name}"')
    mysql = MySQLdb.connect(host="127.0.0.1", user="root")
    for name in (my, my_adopt):
        mysql.cursor().execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    os.environ.update({
        "AIRFLOW_CONN_BENCH_PG": f"postgresql://postgres@127.0.0.1:5432/{pg}",
        "AIRFLOW_CONN_BENCH_PG_ADOPT": f"postgresql://postgres@127.0.0.1:5432/{pg_adopt}",
        "AIRFLOW_CONN_BENCH_MY": f"mysql://root@127.0.0.1:3306/{my}",
        "AIRFLOW_CONN_BENCH_MY_ADOPT": f"mysql://root@127.0.0.1:3306/{my_adopt}",
    })
    try:
        bench("bench_pg", args.repeat, args.history_days)
        bench("bench_my", args.repeat, args.history_days)
    finally:
        for name in (pg, pg_adopt):
            admin(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'")
            admin(f'DROP DATABASE IF EXISTS "{name}"')
        for name in (my, my_adopt):
            mysql.cursor().execute(f"DROP DATABASE IF EXISTS `{name}`")
        mysql.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
