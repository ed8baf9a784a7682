"""The per-branch pools of ``branch_sync``: one pool ``sync_<conn_id>`` per source connection, so a
branch database sees at most ``pool_slots`` connections from Airflow at once.

Pools live in Airflow's metadata database; this module only describes them and hands them to
Airflow's own CLI (``airflow pools import``), so it works wherever that CLI does.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from include.branch_sync.config import SyncConfig


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
