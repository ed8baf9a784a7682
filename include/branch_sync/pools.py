"""The per-branch pools of ``branch_sync``: one pool ``sync_<conn_id>`` per source connection, so a
branch database sees at most ``pool_slots`` connections from Airflow at once.

Pools live in Airflow's metadata database; this module only describes them and hands them to
Airflow's own CLI (``airflow pools import``), so it works wherever that CLI does.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import tempfile
from pathlib import Path

from include.branch_sync.config import SyncConfig
from include.common.conn_ids import AIRFLOW_API
from include.common.task_states import RestApiStates

log = logging.getLogger(__name__)


def pool_specs(config: SyncConfig) -> dict[str, dict[str, object]]:
    """``{pool name: {"slots", "description", "include_deferred"}}`` as ``airflow pools import`` reads it."""
    return {
        config.pool_name(conn): {
            "slots": config.pool_slots,
            "description": f"branch_sync: connections to {conn} (pool_slots in {config.path.name})",
            "include_deferred": False,
        }
        for conn in config.connections
    }


def apply_pools(config: SyncConfig) -> None:
    """Create or update the pools through ``airflow pools import`` (idempotent)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "pools.json"
        path.write_text(json.dumps(pool_specs(config), indent=2))
        result = subprocess.run([sys.executable, "-m", "airflow", "pools", "import", str(path)],
                                capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"airflow pools import failed: {(result.stderr or result.stdout).strip()[-2000:]}")


POOLS_COMMAND = "python -m include.cli pools --apply"


def check_pools(config: SyncConfig, connections: list[str], api_conn_id: str = AIRFLOW_API) -> list[str]:
    """Fail at once when a pool the run's sync tasks use does not exist: Airflow never schedules a
    task whose pool is missing (the scheduler only logs a warning) and the run would wait forever.

    Tasks cannot read the metadata database, so the pools are read through the public REST API
    with the credentials of the Airflow connection ``api_conn_id`` (as ``recalculate-progress``
    does). Without that connection nothing can be checked here: a warning says so, and
    ``health_reconcile`` alerts if the tables then wait to start longer than
    ``stuck_after_seconds``. Returns the pools checked."""
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowFailException

    names = list(dict.fromkeys(config.pool_name(c) for c in connections))
    try:
        BaseHook.get_connection(api_conn_id)
    except Exception:
        log.warning("pools %s not checked: no Airflow connection %r to the REST API; if one is missing the "
                    "sync tasks will wait (health_reconcile alerts after stuck_after_seconds). Create them with: %s",
                    ", ".join(names), api_conn_id, POOLS_COMMAND)
        return []
    try:
        api = RestApiStates(api_conn_id)
        present = {pool["name"] for pool in api.pools()}
        missing = [name for name in names if name not in present]
    except Exception as exc:  # the API unreachable or slow: the run goes on, the check says it could not look
        log.warning("pools %s not checked: the REST API did not answer (%s); if one is missing the sync tasks "
                    "will wait forever. Create them with: %s", ", ".join(names), type(exc).__name__, POOLS_COMMAND)
        return []
    if missing:
        raise AirflowFailException(
            f"pool(s) {', '.join(missing)} do not exist, so Airflow would never schedule their sync tasks; "
            f"create them with `{POOLS_COMMAND}` (pool_slots from the sync config), then clear this task")
    log.info("pools present: %s", ", ".join(names))
    return names
