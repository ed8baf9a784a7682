"""certificate_dispatch end to end with ``dag.test()``, against the renderer alone in the same run.

    .venv/bin/python benchmarks/bench_dispatch.py [--participants 1000] [--chunk-size 100] [--app mariadb|postgresql]

Writes a CSV upload of ``--participants`` rows, then prints:
1. the renderer alone: ``render_certificate`` for the same participants, one PDF file each (the floor),
2. the whole DAG run (prepare, mapped generate, finalize) through ``dag.test()`` with app_db on a
   fresh MariaDB (127.0.0.1:3306, root) or PostgreSQL (127.0.0.1:5432, postgres) database,
and the ratio. ``dag.test()`` runs the tasks one after another in this process, as one worker
would; a deployment with several workers runs the mapped chunks side by side. Drops its database.
"""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
HOME = tempfile.mkdtemp(prefix="bench-airflow-")
os.environ.update({"AIRFLOW_HOME": HOME, "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                   "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"), "PYTHONPATH": str(REPO)})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--participants", type=int, default=1000)
    parser.add_argument("--chunk-size", type=int, default=100)
    parser.add_argument("--app", choices=["mariadb", "postgresql"], default="mariadb")
    args = parser.parse_args()
    n = args.participants
    names = [f"Peserta Nomor {i} Ñoño" for i in range(n)]

    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True)
    work = Path(tempfile.mkdtemp(prefix="bench-dispatch-"))
    (work / "uploads").mkdir()
    (work / "uploads" / "peserta.csv").write_text(
        "name,email\n" + "".join(f"{name},p{i}@example.com\n" for i, name in enumerate(names)), encoding="utf-8")
    os.environ["CERTIFICATE_UPLOAD_BASE"] = str(work / "uploads")
    os.environ["CERTIFICATE_OUTPUT_BASE"] = str(work / "output")

    database = f"bench_app_{uuid.uuid4().hex[:8]}"
    if args.app == "mariadb":
        import MySQLdb

        def admin(sql: str) -> None:
            conn = MySQLdb.connect(host="127.0.0.1", port=3306, user="root", passwd="")
            try:
                conn.cursor().execute(sql)
            finally:
                conn.close()
        admin(f"CREATE DATABASE `{database}` CHARACTER SET utf8mb4")
        os.environ["AIRFLOW_CONN_APP_DB"] = f"mysql://root@127.0.0.1:3306/{database}"
        drop = f"DROP DATABASE IF EXISTS `{database}`"
    else:
        import psycopg

        def admin(sql: str) -> None:
            with psycopg.connect("host=127.0.0.1 user=postgres dbname=postgres", autocommit=True) as conn:
                conn.execute(sql)
        admin(f'CREATE DATABASE "{database}"')
        os.environ["AIRFLOW_CONN_APP_DB"] = f"postgresql://postgres@127.0.0.1:5432/{database}"
        drop = f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'
    try:
        from include.certificates.pdf.layout import render_certificate

        render_certificate(io.BytesIO(), name="warm", event_name="E", event_date=date(2026, 1, 1),
                           certificate_number="C-0", verification_url="http://v/0")  # font loaded once
        (work / "floor").mkdir()
        started = time.perf_counter()
        for i, name in enumerate(names):
            with open(work / "floor" / f"{i}.pdf", "wb") as out:
                render_certificate(out, name=name, event_name="Pelatihan K3", event_date=date(2026, 11, 20),
                                   certificate_number=f"C-{i}", verification_url=f"http://v/{i}")
        floor = time.perf_counter() - started

        from airflow.dag_processing.dagbag import DagBag

        dag = DagBag(dag_folder=str(REPO / "dags" / "certificate_dispatch.py")).dags["certificate_dispatch"]
        started = time.perf_counter()
        run = dag.test(run_conf={"file": "peserta.csv", "event_name": "Pelatihan K3", "event_date": "2026-11-20",
                                 "chunk_size": args.chunk_size})
        whole = time.perf_counter() - started
        assert run.state == "success", run.state
        made = len(list((work / "output").rglob("*.pdf")))
        assert made == n, made

        print(f"renderer alone ({n:,} PDFs):                       {floor:7.2f} s  ({n / floor:6.0f} PDFs/s)")
        print(f"dag.test() end to end ({n:,}, chunks of {args.chunk_size}, app_db {args.app}): "
              f"{whole:7.2f} s  ({n / whole:6.0f} PDFs/s)")
        print(f"ratio end to end / renderer alone:                  {whole / floor:7.2f}x")
    finally:
        admin(drop)
    return 0


if __name__ == "__main__":
    sys.exit(main())
