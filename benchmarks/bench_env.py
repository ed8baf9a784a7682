"""What every benchmark script sets up before it imports the bundle: the repository on
``sys.path`` (``BENCH_TREE`` names another checkout whose code to measure, as
``bench_against.py --same-script`` does), a throwaway ``AIRFLOW_HOME`` (unless one is set), and
PostgreSQL administration on 127.0.0.1:5432 (user postgres, trust auth) for the databases a
benchmark creates and drops.

Imported as ``from bench_env import ...`` (a script's own folder is on ``sys.path``)."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import psycopg

REPO = Path(os.environ.get("BENCH_TREE") or Path(__file__).resolve().parent.parent)
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="bench-airflow-"))

ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"


def admin(sql: str) -> None:
    """One statement on the server's ``postgres`` database, in autocommit (CREATE/DROP DATABASE)."""
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        conn.execute(sql)
