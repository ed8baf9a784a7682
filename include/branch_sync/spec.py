"""What the ``branch_sync`` DAG file needs at parse time: its id, asset alias, task-id naming, the
connections of each step and the table assets. Nothing here opens a connection."""

from __future__ import annotations

from typing import Any

from include.branch_sync.config import SyncConfig, TableSpec, load_config

DAG_ID = "branch_sync"
ASSET_ALIAS = "branch_sync_tables"


def task_id_for(step: str, connection: str) -> str:
    """Task id of the mapped sync task of one connection in one step (``step1.pgsql_lmp``)."""
    return f"{step}.{connection}"


def xcom_key(step: str, connection: str) -> str:
    return f"{step}__{connection}"


def step_connections(config: SyncConfig) -> dict[str, list[str]]:
    """The connections that get a sync task in each step, fixed by the config at parse time."""
    step1 = list(dict.fromkeys(s.single_source for s in config.tables if s.single_source))
    has_step2 = any(s.per_branch for s in config.tables)
    return {"step1": step1, "step2": list(config.branches) if has_step2 else []}


def default_args(config: SyncConfig) -> dict[str, Any]:
    """The retries of every task over the branches (``branch_sync``, ``sync_verify``): the config's
    ``retries`` with exponential back-off from ``retry_delay_seconds``."""
    import datetime as dt

    return {
        "retries": config.retries,
        "retry_delay": dt.timedelta(seconds=config.retry_delay_seconds),
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": dt.timedelta(minutes=10),
    }


def selection_params(config: SyncConfig, verb: str) -> dict[str, Any]:
    """The ``connections`` and ``tables`` params of a DAG over the sync's pairs, their names
    refused by the JSON schema before a run is created."""
    from airflow.sdk import Param

    names = sorted({name for s in config.tables for name in (s.table, s.model)})
    return {
        "connections": Param([], type="array", items={"type": "string", "enum": list(config.connections)},
                             title="Connections", description=f"Branch connections to {verb}; empty means all.",
                             examples=list(config.connections)),
        "tables": Param([], type="array", items={"type": "string", "enum": names},
                        title="Tables", description=f"Table or model names to {verb}; empty means all.",
                        examples=names),
    }


def table_asset(config: SyncConfig, spec: TableSpec) -> Any:
    """The Asset a synced target table is: downstream DAGs can schedule on it.

    The ``x-`` scheme is Airflow's mark of a scheme no provider normalizes: any other makes the first
    Asset of a process discover every provider's URI handlers (importing boto3 among others), about
    0.8 s in each task process that parses this DAG."""
    from airflow.sdk import Asset

    return Asset(name=f"{config.target}.{spec.target_table}", uri=f"x-sync://{config.target}/{spec.target_table}")


__all__ = ["ASSET_ALIAS", "DAG_ID", "default_args", "load_config", "selection_params", "step_connections",
           "table_asset", "task_id_for", "xcom_key"]
