"""branch_sync at the seed's scale through a real scheduler, next to `airflow dags test`, in one run.

    .venv/bin/python benchmarks/bench_scale.py [--branches 17] [--tables 120] [--rows 20]
        [--big 50000,100000,150000,200000] [--wide 4] [--modes dags-test,local,local-off,celery,celery-off]
        [--off-branches 3] [--dags-test-branches 2] [--parallelism 4] [--pool-slots 2]

Generates ``--branches`` branch PostgreSQL databases with ``--tables`` tables each (17 x 120 =
2,040 pairs by default), a realistic mix: most tiny (``--rows`` rows), a few big (``--big``: their
row counts) and a few wide (``--wide`` tables of 60 columns, 2,000 rows), then syncs them into a
fresh central database per mode:

* ``dags-test``: ``airflow dags test branch_sync`` (every task in one process, one after another);
* ``local``: a running api-server + scheduler + dag-processor with LocalExecutor, work units on;
* ``celery``: the same with CeleryExecutor and two ``airflow celery worker`` processes (Redis);
* ``local-off`` / ``celery-off``: the same deployment with packing off (``packing: false``: one
  task instance per pair, as before work units), on the first ``--off-branches`` branches (their
  time per pair holds for all: the scheduler's cost per pair only grows with the run);
* ``local-nightly`` / ``celery-nightly``: the next night after ``local`` / ``celery``: the big
  tables of every branch get ``--changed`` changed rows each, and the same DAG runs again into the
  same central database (every pair incremental, most with nothing to read).

The deployments are the e2e harness's (tests/e2e/airflow_server.py: PostgreSQL metadata database,
Redis broker; the Celery settings of config/airflow-celery.env). For each mode it prints the wall
time of the DAG run, the time per pair, the mean time a sync task instance spends running, the
overhead per pair over ``dags test``, and the scheduler's share: the CPU seconds of the scheduler
process (without the tasks it forks) against the run's wall time and against the CPU of the whole
deployment. Needs PostgreSQL on 127.0.0.1:5432 (trust auth) and, for ``celery``, Redis on
127.0.0.1:6379. Drops its databases.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import uuid
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests" / "e2e"))

import psutil  # noqa: E402
import psycopg  # noqa: E402
import yaml  # noqa: E402

from airflow_server import AirflowServer, airflow_binary  # noqa: E402

ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
DAG_ID = "branch_sync"


def admin(sql: str) -> None:
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        conn.execute(sql)


def uri(db: str) -> str:
    return f"postgresql://postgres@127.0.0.1:5432/{db}"


WIDE_COLUMNS = 60
WIDE_ROWS = 2_000


def table_sizes(tables: int, rows: int, big: list[int], wide: int) -> dict[str, int]:
    """``{table: rows}``: the first tables big, the next ``wide`` wide, the rest tiny."""
    sizes = {}
    for t in range(1, tables + 1):
        name = f"t{t:03d}"
        sizes[name] = big[t - 1] if t <= len(big) else WIDE_ROWS if t <= len(big) + wide else rows
    return sizes


def make_sources(tag: str, branches: int, sizes: dict[str, int], wide: set[str]) -> list[str]:
    """One template database with the tables, copied per branch (CREATE DATABASE ... TEMPLATE);
    analyzed, as a live ERP database is (the planner reads its row estimates)."""
    template = f"bscale_tpl_{tag}"
    admin(f'CREATE DATABASE "{template}"')
    with psycopg.connect(f"host=127.0.0.1 user=postgres dbname={template}", autocommit=True) as conn:
        for name, rows in sizes.items():
            extra = "".join(f", c{i:02d} TEXT" for i in range(WIDE_COLUMNS - 5)) if name in wide else ""
            values = "".join(f", 'v{i} ' || g" for i in range(WIDE_COLUMNS - 5)) if name in wide else ""
            conn.execute(f"CREATE TABLE {name} (id BIGINT PRIMARY KEY, updated TIMESTAMP WITH TIME ZONE NOT NULL, "
                         f"name TEXT, qty INTEGER, price NUMERIC(12,2){extra})")
            conn.execute(f"INSERT INTO {name} SELECT g, TIMESTAMPTZ '2026-01-01' + g * INTERVAL '1 second', "
                         f"'item ' || g, g % 50, g * 1.25{values} FROM generate_series(1, {rows}) g")
        conn.execute("ANALYZE")
    names = [f"bscale_b{b:02d}_{tag}" for b in range(1, branches + 1)]
    for name in names:
        admin(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    admin(f'DROP DATABASE "{template}"')
    return names


def write_config(path: Path, branches: list[str], tables: list[str], pool_slots: int, packing: bool) -> None:
    path.write_text(yaml.safe_dump({
        "target": "central_db",
        "branches": branches,
        "pool_slots": pool_slots,
        "retries": 1,
        "retry_delay_seconds": 5,
        "schedule": None,
        "packing": packing,
        "tables": [{"table": name, "model": name.upper(), "primary_key": ["id"], "cursor": "updated"}
                   for name in tables],
    }))


def cpu_seconds(proc: psutil.Process) -> float:
    t = proc.cpu_times()
    return t.user + t.system


def tree_cpu(server: AirflowServer) -> tuple[float, float]:
    """(scheduler process alone, every process of the deployment with their reaped children)."""
    scheduler = total = 0.0
    for name, popen in server.processes.items():
        try:
            root = psutil.Process(popen.pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.Error:
            continue
        for p in procs:
            try:
                t = p.cpu_times()
            except psutil.Error:
                continue
            total += t.user + t.system + t.children_user + t.children_system
        if name == "scheduler":
            scheduler = cpu_seconds(root)
    return scheduler, total


def ts(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def run_through_scheduler(server: AirflowServer, pairs: int, conf: dict) -> dict:
    server.wait_for_dag(DAG_ID, timeout=300)
    server.unpause(DAG_ID)
    sched0, total0 = tree_cpu(server)
    started = time.monotonic()
    run_id = server.trigger(DAG_ID, conf)
    state = server.wait_for_run(DAG_ID, run_id, timeout=6 * 3600, poll=5)
    wall_poll = time.monotonic() - started
    sched1, total1 = tree_cpu(server)
    run = server.get_run(DAG_ID, run_id)
    tis = server.task_instances(DAG_ID, run_id)
    sync_tis = [ti for ti in tis if ti["map_index"] >= 0]
    durations = [ti["duration"] or 0.0 for ti in sync_tis]
    wall = (ts(run["end_date"]) - ts(run["start_date"])).total_seconds()
    if state != "success":
        print(server.failure_report(DAG_ID, run_id, max_logs=3)[-8000:], file=sys.stderr)
    return {"state": state, "wall": wall, "wall_poll": wall_poll, "tis": len(tis), "sync_tis": len(sync_tis),
            "ok": sum(ti["state"] == "success" for ti in sync_tis), "task_mean": sum(durations) / max(1, len(durations)),
            "scheduler_cpu": sched1 - sched0, "total_cpu": total1 - total0, "pairs": pairs, "run_id": run_id}


def run_dags_test(server: AirflowServer, central: str, meta: str, pairs: int, connections: list[str] | None) -> dict:
    """`airflow dags test` on a metadata database of its own: a scheduler running on the same one
    would pick its run up too (and deadlock with it on the dag_run row). ``connections``: only
    these branches (the ``connections`` param), the same DAG otherwise."""
    env = {**server.env, "AIRFLOW_CONN_CENTRAL_DB": uri(central),
           "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"postgresql+psycopg://postgres@127.0.0.1:5432/{meta}"}
    env.pop("AIRFLOW_CONN_AIRFLOW_API")  # its pools are not in that database; dags test ignores pools
    migrate = subprocess.run([airflow_binary(), "db", "migrate"], env=env, cwd=str(server.home), capture_output=True,
                             text=True)
    if migrate.returncode != 0:
        raise RuntimeError(migrate.stdout[-3000:] + migrate.stderr[-3000:])
    started = time.monotonic()
    before = psutil.Process().cpu_times()
    conf = ["-c", json.dumps({"connections": connections})] if connections else []
    result = subprocess.run([airflow_binary(), "dags", "test", DAG_ID, *conf], env=env, cwd=str(server.home),
                            capture_output=True, text=True)
    wall = time.monotonic() - started
    after = psutil.Process().cpu_times()
    if result.returncode != 0:
        print(result.stdout[-3000:], result.stderr[-3000:], file=sys.stderr)
    state = "success" if result.returncode == 0 else "failed"
    cpu = (after.children_user + after.children_system) - (before.children_user + before.children_system)
    return {"state": state, "wall": wall, "pairs": pairs, "total_cpu": cpu}


def check_central(central: str, branches: int, sizes: dict[str, int]) -> int:
    """Every pair completed with exactly its rows, and central holds them; prints what differs."""
    with psycopg.connect(f"host=127.0.0.1 user=postgres dbname={central}") as conn:
        done = conn.execute("SELECT COUNT(*), COALESCE(SUM(records_processed), 0) FROM sync_progress "
                            "WHERE status = 'completed'").fetchone()
        landed = sum(conn.execute(f"SELECT COUNT(*) FROM {name}").fetchone()[0] for name in sizes)
    expected = (branches * len(sizes), branches * sum(sizes.values()))
    if tuple(done) != expected or landed != expected[1]:
        print(f"  !! central {central}: completed pairs / rows {tuple(done)}, rows landed {landed}, expected {expected}")
    return done[0]


def change_rows(sources: list[str], tables: list[str], changed: int) -> int:
    """``changed`` rows of each of ``tables`` updated (a new cursor value) at every branch; the rows
    changed in all."""
    total = 0
    for db in sources:
        with psycopg.connect(f"host=127.0.0.1 user=postgres dbname={db}", autocommit=True) as conn:
            for name in tables:
                total += conn.execute(f"UPDATE {name} SET qty = qty + 1, updated = now() "
                                      f"WHERE id IN (SELECT id FROM {name} ORDER BY id LIMIT %s)", (changed,)).rowcount
    return total


def latest_batch(central: str) -> tuple[int, int, float]:
    """The latest batch's completed pairs, rows written, and its pairs' own time (the sum of their
    sync_progress durations: what the engine took, against the tasks' time around it)."""
    with psycopg.connect(f"host=127.0.0.1 user=postgres dbname={central}") as conn:
        done, written, seconds = conn.execute(
            "SELECT COUNT(*) FILTER (WHERE status = 'completed'), COALESCE(SUM(records_processed), 0), "
            "COALESCE(SUM(duration_seconds), 0) FROM sync_progress "
            "WHERE batch_id = (SELECT batch_id FROM sync_batches ORDER BY started_at DESC LIMIT 1)").fetchone()
    return int(done), int(written), float(seconds)


def check_nightly(central: str, pairs: int, changed: int) -> int:
    """The latest batch completed every pair and wrote exactly the changed rows; prints what differs."""
    done, written, _ = latest_batch(central)
    if (done, written) != (pairs, changed):
        print(f"  !! central {central}: the night's completed pairs / rows written {(done, written)}, "
              f"expected {(pairs, changed)}")
    return done


def reset_database(name: str) -> None:
    admin(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'")
    admin(f'DROP DATABASE IF EXISTS "{name}"')
    admin(f'CREATE DATABASE "{name}"')


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--branches", type=int, default=17)
    parser.add_argument("--tables", type=int, default=120)
    parser.add_argument("--rows", type=int, default=20, help="rows of a tiny table")
    parser.add_argument("--big", default="50000,100000,150000,200000", help="row counts of the big tables")
    parser.add_argument("--wide", type=int, default=4, help=f"tables of {WIDE_COLUMNS} columns, {WIDE_ROWS} rows")
    parser.add_argument("--modes", default="dags-test,local,local-nightly,local-off,celery,celery-nightly,celery-off")
    parser.add_argument("--changed", type=int, default=100, help="nightly: changed rows per big table and branch")
    parser.add_argument("--off-branches", type=int, default=3, metavar="N",
                        help="packing off runs the first N branches (default 3)")
    parser.add_argument("--parallelism", type=int, default=4, help="[core] parallelism (LocalExecutor processes)")
    parser.add_argument("--max-active-tasks", type=int, default=4, help="[core] max_active_tasks_per_dag")
    parser.add_argument("--max-tis-per-query", type=int, default=16, help="[scheduler] max_tis_per_query")
    parser.add_argument("--idle-sleep", type=float, default=1.0, help="[scheduler] scheduler_idle_sleep_time")
    parser.add_argument("--pool-slots", type=int, default=2, help="slots of each branch pool")
    parser.add_argument("--dags-test-branches", type=int, default=2, metavar="N",
                        help="run `dags test` on the first N branches only (the same DAG; it runs units one after "
                             "another, so its time per pair holds for all of them)")
    parser.add_argument("--worker-concurrency", type=int, default=2, help="Celery: task slots per worker (2 workers)")
    args = parser.parse_args()
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    pairs = args.branches * args.tables
    big = [int(n) for n in args.big.split(",") if n.strip()]
    sizes = table_sizes(args.tables, args.rows, big, args.wide)
    wide = {f"t{t:03d}" for t in range(len(big) + 1, len(big) + args.wide + 1)}

    tag = uuid.uuid4().hex[:8]
    t = time.monotonic()
    sources = make_sources(tag, args.branches, sizes, wide)
    conns = [f"pgsql_b{b:02d}" for b in range(1, args.branches + 1)]
    config = Path(f"/tmp/bench_scale_{tag}.yaml")
    write_config(config, conns, list(sizes), args.pool_slots, packing=True)
    print(f"{args.branches} branches x {args.tables} tables = {pairs} pairs, {sum(sizes.values()) * args.branches:,} "
          f"rows: {len(big)} big ({args.big}), {args.wide} wide, {args.tables - len(big) - args.wide} tiny "
          f"({args.rows} rows) (sources made in {time.monotonic() - t:.1f}s); settings: parallelism={args.parallelism} "
          f"max_active_tasks_per_dag={args.max_active_tasks} max_tis_per_query={args.max_tis_per_query} "
          f"scheduler_idle_sleep_time={args.idle_sleep} pool_slots={args.pool_slots} celery 2 workers x "
          f"{args.worker_concurrency}; {os.cpu_count()} CPUs", flush=True)
    tuning = {
        "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": str(args.max_active_tasks),
        "AIRFLOW__SCHEDULER__MAX_TIS_PER_QUERY": str(args.max_tis_per_query),
        "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": str(args.idle_sleep),
        "AIRFLOW__CORE__MAX_MAP_LENGTH": str(max(1024, args.tables)),
        "AIRFLOW__API__MAXIMUM_PAGE_LIMIT": "5000",
    }
    results: dict[str, dict] = {}
    centrals: list[str] = []
    try:
        for executor_mode in ("local", "celery"):
            wanted = [m for m in modes if m.split("-")[0] == executor_mode or (m == "dags-test" and executor_mode == "local")]
            if not wanted:
                continue
            central = f"bscale_central_{executor_mode}_{tag}"
            admin(f'CREATE DATABASE "{central}"')
            centrals.append(central)
            env = {"SYNC_CONFIG": str(config), "AIRFLOW_CONN_CENTRAL_DB": uri(central),
                   **{f"AIRFLOW_CONN_{c.upper()}": uri(db) for c, db in zip(conns, sources)}, **tuning,
                   "AIRFLOW__CORE__PARALLELISM": str(args.parallelism)}
            if executor_mode == "celery":
                env["AIRFLOW__CELERY__WORKER_CONCURRENCY"] = str(args.worker_concurrency)
            executor = "CeleryExecutor" if executor_mode == "celery" else "LocalExecutor"
            with AirflowServer(extra_env=env, executor=executor, parallelism=args.parallelism,
                               name=f"bench-{executor_mode}") as server:
                print(f"[{executor_mode}] deployment up in {server.startup_seconds:.0f}s", flush=True)
                for conn in conns:  # as `python -m include.cli pools --apply` makes them
                    server.api("POST", "pools", json={"name": f"sync_{conn}", "slots": args.pool_slots})
                if "dags-test" in wanted:
                    dt_central, dt_meta = f"bscale_central_dagstest_{tag}", f"bscale_meta_dagstest_{tag}"
                    for db in (dt_central, dt_meta):
                        admin(f'CREATE DATABASE "{db}"')
                        centrals.append(db)
                    n = min(args.dags_test_branches, args.branches)
                    print(f"[dags-test] running {n} branch(es) ...", flush=True)
                    results["dags-test"] = run_dags_test(server, dt_central, dt_meta, n * args.tables,
                                                         conns[:n] if n < args.branches else None)
                    results["dags-test"]["done"] = check_central(dt_central, n, sizes)
                    print(f"[dags-test] {results['dags-test']}", flush=True)
                for mode in (executor_mode, f"{executor_mode}-off"):
                    if mode not in wanted:
                        continue
                    off = mode.endswith("-off")
                    n = min(args.off_branches, args.branches) if off else args.branches
                    reset_database(central)
                    write_config(config, conns, list(sizes), args.pool_slots, packing=not off)
                    print(f"[{mode}] running {n * args.tables} pairs ...", flush=True)
                    results[mode] = run_through_scheduler(server, n * args.tables,
                                                          {"connections": conns[:n]} if n < args.branches else {})
                    results[mode]["done"] = check_central(central, n, sizes)
                    results[mode]["pair_seconds"] = latest_batch(central)[2]
                    print(f"[{mode}] {results[mode]}", flush=True)
                    nightly = f"{executor_mode}-nightly"
                    if not off and nightly in wanted:
                        changed = change_rows(sources[:n], [f"t{t:03d}" for t in range(1, len(big) + 1)],
                                              args.changed)
                        print(f"[{nightly}] {changed} rows changed; running {n * args.tables} pairs again ...",
                              flush=True)
                        results[nightly] = run_through_scheduler(
                            server, n * args.tables, {"connections": conns[:n]} if n < args.branches else {})
                        results[nightly]["done"] = check_nightly(central, n * args.tables, changed)
                        results[nightly]["pair_seconds"] = latest_batch(central)[2]
                        print(f"[{nightly}] {results[nightly]}", flush=True)
    finally:
        for db in [*sources, *centrals]:
            admin(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{db}'")
            admin(f'DROP DATABASE IF EXISTS "{db}"')
        config.unlink(missing_ok=True)

    base = results.get("dags-test")
    all_pairs = f"{pairs:,} pairs"
    print(f"\n{'mode':<11} {'state':<8} {'pairs ok':>9} {'sync TIs':>9} {'wall s':>8} {'s/pair':>7} {'task s':>7} "
          f"{'x dags test':>12} {'sched CPU s':>12} {'sched/wall':>11} {'sched/all CPU':>14} {all_pairs:>12}")
    for mode, r in results.items():
        per_pair = r["wall"] / r["pairs"]
        ratio = "" if base is None or mode == "dags-test" else f"{per_pair / (base['wall'] / base['pairs']):.2f}"
        sched = r.get("scheduler_cpu")
        cells = ("", "", "") if sched is None else (
            f"{sched:.1f}", f"{sched / r['wall']:.0%}", f"{sched / max(r['total_cpu'], 1e-9):.0%}")
        task = f"{r['task_mean']:.2f}" if "task_mean" in r else ""
        whole = f"{per_pair * pairs / 60:.1f} min" + ("" if r["pairs"] == pairs else " *")
        print(f"{mode:<11} {r['state']:<8} {r['done']:>9} {r.get('sync_tis', ''):>9} {r['wall']:>8.1f} {per_pair:>7.3f} "
              f"{task:>7} {ratio:>12} {cells[0]:>12} {cells[1]:>11} {cells[2]:>14} {whole:>12}")
    if any(r["pairs"] != pairs for r in results.values()):
        print(f"* measured on fewer branches, scaled to {pairs} pairs by the time per pair")
    print(json.dumps(results, indent=1, default=str))
    return 0 if all(r["state"] == "success" for r in results.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
