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

Each target is loaded twice, into two central databases: by the pair alone (``sync_pair`` opens its
own connections) and as a work unit runs it (the unit's source and target connections already open,
a small table synced on them first), and both get the same incremental run: a pair's fixed cost is
mostly its two new connections, which a unit pays once for all its tables.

Needs PostgreSQL on 127.0.0.1:5432 (user postgres, trust auth), ``psql``, and for MariaDB a server on
127.0.0.1:3306 (root, no password) and the ``mariadb`` (or ``mysql``) client. Drops its databases. It
uses only what the engine had before its bulk paths, so ``bench_against.py --same-script`` can run
it against an earlier commit.
"""

from __future__ import annotations

import argparse
import inspect
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
    source, raw, central, unit = (f"bench_{name}_{tag}" for name in ("src", "raw", "central", "unit"))
    for db in (source, raw, central, unit):
        admin(f'CREATE DATABASE "{db}"')
    if "mariadb" in targets:
        for db in (raw, central, unit):
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
            # the table a work unit syncs before bench_rows on the same connections
            conn.execute(f"CREATE TABLE bench_lead ({COLUMNS})")
            conn.execute("INSERT INTO bench_lead SELECT * FROM bench_rows WHERE id <= 1000")
            conn.execute("CREATE INDEX bench_lead_updated ON bench_lead (updated, id)")
            print(f"source: {args.rows:,} rows x 10 columns generated in {time.perf_counter() - started:.1f}s")

        os.environ["AIRFLOW_CONN_BENCH_SRC"] = f"postgresql://postgres@127.0.0.1:5432/{source}"
        for prefix, url in (("PG", "postgresql://postgres@127.0.0.1:5432"), ("MY", "mysql://root@127.0.0.1:3306")):
            os.environ[f"AIRFLOW_CONN_BENCH_{prefix}"] = f"{url}/{central}"
            os.environ[f"AIRFLOW_CONN_BENCH_{prefix}_UNIT"] = f"{url}/{unit}"
        from include.branch_sync import tracking
        from include.branch_sync.config import parse_config
        from include.branch_sync.engine import sync_pair
        from include.common.db import Database

        tables = [{"table": name, "model": model, "primary_key": ["id"], "cursor": "updated"}
                  for name, model in (("bench_rows", "BenchRows"), ("bench_lead", "BenchLead"))]

        def config_for(conn_id: str) -> Any:
            config = parse_config({"target": conn_id, "branches": [BRANCH], "tables": tables}, Path("benchmark"))
            with Database(conn_id) as db:
                tracking.ensure_schema(db)
            return config

        def alone(config: Any) -> tuple[float, Any]:
            """bench_rows synced by the pair alone: it opens and closes its connections."""
            started = time.perf_counter()
            result = sync_pair(config, config.table("bench_rows"), BRANCH)
            return time.perf_counter() - started, result

        def in_unit(config: Any) -> tuple[float | None, Any]:
            """bench_rows synced as a work unit syncs it: after bench_lead, on the unit's open
            connections (None where this tree's sync_pair cannot reuse them: before work units)."""
            if "source" not in inspect.signature(sync_pair).parameters:
                return None, None
            infile = {"local_infile": True} if "local_infile" in inspect.signature(Database).parameters else {}
            with Database(BRANCH) as branch, Database(config.target, **infile) as target:
                sync_pair(config, config.table("bench_lead"), BRANCH, source=branch, target=target)
                started = time.perf_counter()
                result = sync_pair(config, config.table("bench_rows"), BRANCH, source=branch, target=target)
                return time.perf_counter() - started, result

        def change_rows() -> None:
            # The same rows every round: a round's rows then move past every earlier checkpoint,
            # so no look-back window re-reads an earlier round's rows.
            with psycopg.connect(f"host=127.0.0.1 user=postgres dbname={source}", autocommit=True) as conn:
                conn.execute("UPDATE bench_rows SET qty = qty + 1, updated = now() WHERE id %% %s = 0",
                             (max(1, args.rows // args.changed),))
                # The next night's run does not pay for the full load's writes still in the
                # server's buffers: flush them before an incremental run is timed.
                conn.execute("CHECKPOINT")
                time.sleep(1)

        conn_ids = {"postgresql": "bench_pg", "mariadb": "bench_my"}
        configs = {target: (config_for(conn_ids[target]), config_for(f"{conn_ids[target]}_unit")) for target in targets}
        full: dict[str, float] = {}
        pipes: dict[str, float] = {}
        incremental: dict[str, dict[str, float | None]] = {}
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        for target in targets:
            name = "PostgreSQL" if target == "postgresql" else "MariaDB"
            config, unit_config = configs[target]
            if target == "postgresql":
                with psycopg.connect(f"host=127.0.0.1 user=postgres dbname={raw}", autocommit=True) as conn:
                    conn.execute(f"CREATE TABLE bench_rows ({PG_TARGET})")
                pipes[target] = pipe(
                    psql(source, f"COPY (SELECT '{BRANCH}'::varchar(64), {NAMES} FROM bench_rows) "
                                 f"TO STDOUT (FORMAT binary)"),
                    psql(raw, "COPY bench_rows FROM STDIN (FORMAT binary)"))
                pipe_name = "raw binary pipe (psql | psql)"
            else:
                mariadb_admin(f"CREATE TABLE bench_rows ({MY_TARGET}", raw)
                load = (f"LOAD DATA LOCAL INFILE '/dev/stdin' INTO TABLE bench_rows CHARACTER SET utf8mb4 "
                        f"FIELDS TERMINATED BY ',' OPTIONALLY ENCLOSED BY '\"' ESCAPED BY '' "
                        f"LINES TERMINATED BY '\\n' (sync_branch, {NAMES})")
                pipes[target] = pipe(
                    psql(source, f"COPY (SELECT '{BRANCH}', id, updated AT TIME ZONE 'UTC', branch_id, code, name, "
                                 f"qty, price, ratio, doc_date, is_active::int FROM bench_rows) "
                                 f"TO STDOUT (FORMAT csv, NULL 'NULL', FORCE_QUOTE *)"),
                    [client, "--local-infile=1", "-h", "127.0.0.1", "-u", "root", raw, "-e", load])
                pipe_name = "raw pipe (COPY csv | LOAD DATA)"
            # Each way of running is loaded and then synced again after the same changes, one after
            # the other: each incremental follows its own full load, with its table as warm.
            full[target], result = alone(config)
            assert result.processed == args.rows, result
            if target == "postgresql":
                same = pg_checksum(raw, "bench_rows") == pg_checksum(central, "bench_rows")
            else:
                same = len({mariadb_admin("CHECKSUM TABLE bench_rows", db)[0][1] for db in (raw, central)}) == 1
            change_rows()
            incremental[target] = {}
            incremental[target]["alone"], result = alone(config)
            lines += [
                f"{name} {pipe_name}: {pipes[target]:8.2f} s  ({args.rows / pipes[target]:,.0f} rows/s)",
                f"{name} engine full load: {full[target]:8.2f} s  ({args.rows / full[target]:,.0f} rows/s), "
                f"same values as the pipe: {'yes' if same else 'NO'}",
                f"{name} engine incremental, the pair alone ({result.rows_read:,} read, {result.processed:,} "
                f"written): {incremental[target]['alone']:8.3f} s",
            ]
            unit_full, result = in_unit(unit_config)
            if unit_full is not None:
                assert result.processed == args.rows, result
                change_rows()
                incremental[target]["unit"], result = in_unit(unit_config)
                incremental[target]["unit_full"] = unit_full
                lines.append(f"{name} engine in a work unit: full load {unit_full:.2f} s, incremental "
                             f"({result.rows_read:,} read, {result.processed:,} written): "
                             f"{incremental[target]['unit']:8.3f} s")
        rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

        lines.append(f"peak RSS {max(rss_before, rss_after) / 1024:.0f} MiB "
                     f"(+{(rss_after - rss_before) / 1024:.0f} MiB during the loads; goal < 300 MiB at 10M rows)")
        for target in targets:
            name = "PostgreSQL" if target == "postgresql" else "MariaDB"
            goal = "1.3x" if target == "postgresql" else "2x"
            lines.append(f"ratio {name} full load / its pipe: {full[target] / pipes[target]:8.2f}x   (goal <= {goal})")
        for target in targets:
            name = "PostgreSQL" if target == "postgresql" else "MariaDB"
            runs = incremental[target]
            unit = (f", in a work unit {100 * runs['unit'] / runs['unit_full']:.2f} %" if runs.get("unit") else "")
            lines.append(f"ratio {name} incremental / full load: the pair alone "
                         f"{100 * runs['alone'] / full[target]:.2f} %{unit}  (goal <= 2 %)")
        print("\n".join(lines))
    finally:
        for db in (source, raw, central, unit):
            admin(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{db}'")
            admin(f'DROP DATABASE IF EXISTS "{db}"')
        if "mariadb" in targets:
            for db in (raw, central, unit):
                mariadb_admin(f"DROP DATABASE IF EXISTS `{db}`")
    return 0


if __name__ == "__main__":
    sys.exit(main())
