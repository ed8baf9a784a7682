"""What the ``sync_verify`` DAG file needs at parse time: its id and task naming. Nothing here
opens a connection; the schedule and the connections come from the sync config."""

from __future__ import annotations

from include.branch_sync.config import load_config

DAG_ID = "sync_verify"
GROUP = "verify"


def task_id_for(connection: str) -> str:
    """The mapped verify task of one connection (``verify.pgsql_lmp``), in its pool ``sync_<conn>``."""
    return f"{GROUP}.{connection}"


__all__ = ["DAG_ID", "GROUP", "load_config", "task_id_for"]
