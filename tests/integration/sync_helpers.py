"""Helpers for the sync tests: configs, source tables, and comparing source and target rows."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from include.branch_sync.config import SyncConfig, parse_config
from include.common.db import Database


def make_config(target: str, branches: list[str], tables: list[dict[str, Any]], **extra: Any) -> SyncConfig:
    return parse_config({"target": target, "branches": branches, "tables": tables, **extra}, Path("test-config"))


def write_config(path: Path, target: str, branches: list[str], tables: list[dict[str, Any]], **extra: Any) -> Path:
    import yaml

    path.write_text(yaml.safe_dump({"target": target, "branches": branches, "tables": tables, **extra}))
    return path


def run_sql(conn_id: str, *statements: str, params: list[tuple] | None = None) -> None:
    with Database(conn_id) as db:
        def work(cur: Any) -> None:
            for i, sql in enumerate(statements):
                cur.execute(sql, params[i] if params else ())
        db.run(work)


def fetch(conn_id: str, sql: str, params: tuple = ()) -> list[dict[str, Any]]:
    with Database(conn_id) as db:
        return db.fetchall(sql, params)


def normalize(value: Any) -> Any:
    """One comparable form across dialects (MariaDB keeps naive UTC, booleans as 0/1, JSON as text)."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.timezone.utc)
        return value.astimezone(dt.timezone.utc)
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return json.dumps(json.loads(value), sort_keys=True)
        except ValueError:
            return value
    if isinstance(value, Decimal):
        return value.normalize()
    if isinstance(value, (bytes, memoryview)):
        return bytes(value)
    return value


def table_rows(conn_id: str, table: str, order_by: list[str], branch: str | None = None,
               drop: tuple[str, ...] = ("sync_branch",)) -> list[dict[str, Any]]:
    with Database(conn_id) as db:
        where = f" WHERE {db.quote('sync_branch')} = %s" if branch else ""
        rows = db.fetchall(f"SELECT * FROM {db.quote(table)}{where} ORDER BY "
                           + ", ".join(db.quote(c) for c in order_by), (branch,) if branch else ())
    return [{k: normalize(v) for k, v in r.items() if k not in drop} for r in rows]


def one_table_per_unit(pairs: list[Any]) -> list[Any]:
    """Assignments of pairs to task instances as ``plan`` makes them with packing off: each pair
    its own work unit, numbered within its task."""
    from include.branch_sync.tracking import Assignment

    counters: dict[str, int] = {}
    out = []
    for pair in pairs:
        out.append(Assignment(pair, counters.get(pair.task_id, 0)))
        counters[pair.task_id] = counters.get(pair.task_id, 0) + 1
    return out
