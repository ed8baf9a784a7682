"""branch_sync's engine against raw pipes between the same servers, measured in the same run.

    .venv/bin/python benchmarks/bench_sync.py [--rows 1000000] [--changed 1000] [--targets postgresql,mariadb]

Makes a source table of ``--rows`` rows x 10 columns in a fresh PostgreSQL database (indexed on its
cursor and key, as the sync wants), then for each target prints, measured one after the other:

* PostgreSQL: the raw pipe ``psql -c "COPY (...) TO STDOUT (FORMAT binary)" | psql -c "COPY ... FROM
  STDIN (FORMAT binary)"`` into a table of the shape the engine creates (the branch column, the same
  primary key); the engine's full load (``sync_pair``, as the DAG's tasks run it) into a fresh
  database;
* MariaDB: the raw pipe ``psql -c "COPY (...) TO STDOUT (FORMAT csv)" | mariadb -e "LOAD DATA LOCAL
  INFILE '/dev/stdin' ..."`` into a table of that shape (the same conversions in the SELECT); the
  engine's full load;
* that the engine's table holds the same values as the pipe's (checksums), then the incremental
  run of each after ``--changed`` rows were updated, the ratios against their goals, and the
  process's peak memory.

Needs PostgreSQL on 127.0.0.1:5432 (user postgres, trust auth), ``psql``, and for MariaDB a server on
127.0.0.1:3306 (root, no password) and the ``mariadb`` (or ``mysql``) client. Drops its databases. It
uses only what the engine had before its bulk paths, so ``bench_against.py --same-script`` can run
it against an earlier commit.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from bench_env import admin  # noqa: E402  (sets sys.path and AIRFLOW_HOME first)

import psycopg  # noqa: E402

COLUMNS = ("id BIGINT PRIMARY KEY, updated TIMESTAMP WITH TIME ZONE NOT NULL, branch_id INTEGER, code VARCHAR(20), "
           "name TEXT, qty INTEGER, price NUMERIC(14,2), ratio DOUBLE PRECISION, doc_date DATE, is_active BOOLEAN")
NAMES = "id, updated, branch_id, code, name, qty, price, ratio, doc_date, is_active"
BRANCH = "bench_src"
# The tables the engine creates for a table read from every branch (branch column first, its key).
PG_TARGET = ("sync_branch VARCHAR(64) NOT NULL, id BIGINT NOT NULL, updated TIMESTAMP WITH TIME ZONE, "
             "branch_id INTEGER, code VARCHAR(20), name TEXT, qty INTEGER, price NUMERIC(14,2), "
             "ratio DOUBLE PRECISION, doc_date DATE, is_active BOOLEAN, PRIMARY KEY (sync_branch, id)")
MY_TARGET = ("sync_branch VARCHAR(64) NOT NULL, id BIGINT NOT NULL, updated DATETIME(6), branch_id INT, "
             "code VARCHAR(20), name LONGTEXT, qty INT, price DECIMAL(14,2), ratio DOUBLE, doc_date DATE, "
             "is_active TINYINT(1), PRIMARY KEY (sync_branch, id)) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin")
MARIADB = {"host": "127.0.0.1", "port": 3306, "user": "root", "passwd": ""}


def psql(db: str, sql: str) -> list[str]:
    return ["psql", "-q", "-X", "-h", "127.0.0.1", "-U", "postgres", "-d", db, "-c", sql]


def pipe(out: list[str], into: list[str]) -> float:
    started = time.perf_counter()
    reader = subprocess.Popen(out, stdout=subprocess.PIPE)
    subprocess.run(into, stdin=reader.stdout, check=True)
    if reader.wait() != 0:
        raise SystemExit(f"{out[0]} failed")
    return time.perf_counter() - started


def mariadb_admin(sql: str, db: str | None = None) -> list[tuple[Any, ...]]:
    import MySQLdb

    conn = MySQLdb.connect(**MARIADB, **({"db": db} if db else {}))
    try:
        cur = conn.cursor()
        cur.execute(sql)
        rows = list(cur.fetchall())
        conn.commit()
        return rows
    finally:
        conn.close()


def pg_checksum(db: str, table: str) -> tuple[Any, ...]:
    """Rows and an order-free sum of row hashes (the same columns in the same order on both sides)."""
    with psycopg.connect(f"host=127.0.0.1 user=postgres dbname={db}") as conn:
        return conn.execute(f"SELECT count(*), sum(('x' || substr(md5(t::text), 1, 15))::bit(60)::bigint) "
                            f"FROM {table} t").fetchone()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--changed", type=int, default=1_000)
    parser.add_argument("--targets", default="postgresql,mariadb", help="postgresql, mariadb or both (default)")
    args = parser.parse_args()
    targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    client = shutil.which("mariadb") or shutil.which("mysql")
    if "mariadb" in targets and not client:
        raise SystemExit("the mariadb (or mysql) client is needed for the MariaDB pipe")

    tag = uuid.uuid4().hex[:8]
    source, raw_pg, central_pg = f"bench_src_{tag}", f"bench_raw_{tag}", f"bench_central_{tag}"
    raw_my, central_my = f"bench_raw_{tag}", f"bench_central_{tag}"
    for db in (source, raw_pg, central_pg):
        admin(f'CREATE DATABASE "{db}"')
    if "mariadb" in targets:
        for db in (raw_my, central_my):
            mariadb_admin(f"CREATE DATABASE `{db}` CHARACTER SET utf8mb4")
    lines: list[str] = []
    try:
        with psycopg.connect(f"host=127.0.0.1 user=postgres dbname={source}", autocommit=True) as conn:
            conn.execute(f"CREATE TABLE bench_rows ({COLUMNS})")
            started = time.perf_counter()
            conn.execute(
                "INSERT INTO bench_rows SELECT g, timestamptz '2026-01-01' + (g %% 500000) * interval '30 second', "
                "g %% 17, 'C' || lpad((g %% 100000)::text, 8, '0'), 'Produk nomor ' || g || ' ✓', g %% 1000, "
                "(g %% 100000) / 100.0, g / 7.0, date '2025-01-01' + (g %% 700), g %% 3 <> 0 "
                "FROM generate_series(1, %s) g", (args.rows,))
            # The index the sync wants at a branch: its keyset (cursor, primary key).
            conn.execute("CREATE INDEX bench_rows_updated ON bench_rows (updated, id)")
            conn.execute("ANALYZE bench_rows")
            print(f"source: {args.rows:,} rows x 10 columns generated in {time.perf_counter() - started:.1f}s")

        os.environ["AIRFLOW_CONN_BENCH_SRC"] = f"postgresql://postgres@127.0.0.1:5432/{source}"
        os.environ["AIRFLOW_CONN_BENCH_PG"] = f"postgresql://postgres@127.0.0.1:5432/{central_pg}"
        os.environ["AIRFLOW_CONN_BENCH_MY"] = f"mysql://root@127.0.0.1:3306/{central_my}"
        from include.branch_sync import tracking
        from include.branch_sync.config import parse_config
        from include.branch_sync.engine import sync_pair
        from include.common.db import Database

        configs = {}
        for target, conn_id in (("postgresql", "bench_pg"), ("mariadb", "bench_my")):
            if target in targets:
                configs[target] = parse_config({"target": conn_id, "branches": [BRANCH], "tables": [
                    {"table": "bench_rows", "model": "BenchRows", "primary_key": ["id"], "cursor": "updated"}]},
                    Path("benchmark"))
                with Database(conn_id) as db:
                    tracking.ensure_schema(db)

        full: dict[str, float] = {}
        raw: dict[str, float] = {}
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        if "postgresql" in targets:
            with psycopg.connect(f"host=127.0.0.1 user=postgres dbname={raw_pg}", autocommit=True) as conn:
                conn.execute(f"CREATE TABLE bench_rows ({PG_TARGET})")
            raw["postgresql"] = pipe(
                psql(source, f"COPY (SELECT '{BRANCH}'::varchar(64), {NAMES} FROM bench_rows) TO STDOUT (FORMAT binary)"),
                psql(raw_pg, "COPY bench_rows FROM STDIN (FORMAT binary)"))
            started = time.perf_counter()
            result = sync_pair(configs["postgresql"], configs["postgresql"].table("bench_rows"), BRANCH)
            full["postgresql"] = time.perf_counter() - started
            assert result.processed == args.rows, result
            same = pg_checksum(raw_pg, "bench_rows") == pg_checksum(central_pg, "bench_rows")
            lines += [
                f"PostgreSQL raw binary pipe (psql | psql): {raw['postgresql']:8.2f} s  "
                f"({args.rows / raw['postgresql']:,.0f} rows/s)",
                f"PostgreSQL engine full load:              {full['postgresql']:8.2f} s  "
                f"({args.rows / full['postgresql']:,.0f} rows/s), same values as the pipe: {'yes' if same else 'NO'}",
            ]
        if "mariadb" in targets:
            mariadb_admin(f"CREATE TABLE bench_rows ({MY_TARGET}", raw_my)
            load = (f"LOAD DATA LOCAL INFILE '/dev/stdin' INTO TABLE bench_rows CHARACTER SET utf8mb4 "
                    f"FIELDS TERMINATED BY ',' OPTIONALLY ENCLOSED BY '\"' ESCAPED BY '' LINES TERMINATED BY '\\n' "
                    f"(sync_branch, {NAMES})")
            raw["mariadb"] = pipe(
                psql(source, f"COPY (SELECT '{BRANCH}', id, updated AT TIME ZONE 'UTC', branch_id, code, name, qty, "
                             f"price, ratio, doc_date, is_active::int FROM bench_rows) "
                             f"TO STDOUT (FORMAT csv, NULL 'NULL', FORCE_QUOTE *)"),
                [client, "--local-infile=1", "-h", "127.0.0.1", "-u", "root", raw_my, "-e", load])
            started = time.perf_counter()
            result = sync_pair(configs["mariadb"], configs["mariadb"].table("bench_rows"), BRANCH)
            full["mariadb"] = time.perf_counter() - started
            assert result.processed == args.rows, result
            checksums = [mariadb_admin("CHECKSUM TABLE bench_rows", db)[0][1] for db in (raw_my, central_my)]
            lines += [
                f"MariaDB raw pipe (COPY csv | LOAD DATA):  {raw['mariadb']:8.2f} s  "
                f"({args.rows / raw['mariadb']:,.0f} rows/s)",
                f"MariaDB engine full load:                 {full['mariadb']:8.2f} s  "
                f"({args.rows / full['mariadb']:,.0f} rows/s), same values as the pipe: "
                f"{'yes' if checksums[0] == checksums[1] else 'NO'}",
            ]
        rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

        with psycopg.connect(f"host=127.0.0.1 user=postgres dbname={source}", autocommit=True) as conn:
            conn.execute("UPDATE bench_rows SET qty = qty + 1, updated = now() WHERE id %% %s = 0",
                         (max(1, args.rows // args.changed),))
            # The next night's run does not pay for the full load's writes still in the server's
            # buffers: flush them before the incremental runs are timed.
            conn.execute("CHECKPOINT")
            time.sleep(1)
        incremental: dict[str, float] = {}
        for target in targets:
            started = time.perf_counter()
            result = sync_pair(configs[target], configs[target].table("bench_rows"), BRANCH)
            incremental[target] = time.perf_counter() - started
            lines.append(f"{'PostgreSQL' if target == 'postgresql' else 'MariaDB'} engine incremental "
                         f"({result.rows_read:,} read, {result.processed:,} written): {incremental[target]:8.3f} s")

        lines.append(f"peak RSS {max(rss_before, rss_after) / 1024:.0f} MiB "
                     f"(+{(rss_after - rss_before) / 1024:.0f} MiB during the full loads; goal < 300 MiB at 10M rows)")
        if "postgresql" in targets:
            lines.append(f"ratio PostgreSQL full load / binary pipe: {full['postgresql'] / raw['postgresql']:8.2f}x   "
                         f"(goal <= 1.3x)")
        if "mariadb" in targets:
            lines.append(f"ratio MariaDB full load / its pipe:       {full['mariadb'] / raw['mariadb']:8.2f}x   "
                         f"(goal <= 2x)")
        for target in targets:
            lines.append(f"ratio {'PostgreSQL' if target == 'postgresql' else 'MariaDB'} incremental / full load: "
                         f"{100 * incremental[target] / full[target]:8.2f} %  (goal <= 2 %)")
        print("\n".join(lines))
    finally:
        for db in (source, raw_pg, central_pg):
            admin(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{db}'")
            admin(f'DROP DATABASE IF EXISTS "{db}"')
        if "mariadb" in targets:
            for db in (raw_my, central_my):
                mariadb_admin(f"DROP DATABASE IF EXISTS `{db}`")
    return 0


if __name__ == "__main__":
    sys.exit(main())
