"""What the ``sync_verify`` DAG file needs at parse time: its id and task naming. Nothing here
opens a connection; the schedule, the connections, the retries and the selection params come
from the sync config, as ``branch_sync``'s do."""

from __future__ import annotations

from include.branch_sync.config import load_config
from include.branch_sync.spec import default_args, selection_params

DAG_ID = "sync_verify"
GROUP = "verify"


def task_id_for(connection: str) -> str:
    """The mapped verify task of one connection (``verify.pgsql_lmp``), in its pool ``sync_<conn>``."""
    return f"{GROUP}.{connection}"


__all__ = ["DAG_ID", "GROUP", "default_args", "load_config", "selection_params", "task_id_for"]
