"""The per-branch pools are created in Airflow's metadata database, idempotently."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from include.branch_sync.pools import apply_pools, pool_specs
from tests.integration.sync_helpers import make_config

TABLES = [{"table": "c_invoice", "primary_key": ["c_invoice_id"], "cursor": "updated"},
          {"table": "m_product", "primary_key": ["m_product_id"], "single_source": "pgsql_hq"}]


def _pools() -> dict[str, dict]:
    out = subprocess.run([sys.executable, "-m", "airflow", "pools", "list", "-o", "json"], capture_output=True,
                         text=True, env=os.environ.copy(), check=True)
    return {p["pool"]: p for p in json.loads(out.stdout)}


def test_one_pool_per_source_connection_with_configured_slots(airflow_db):
    config = make_config("central_db", ["pgsql_lmp", "pgsql_sby"], TABLES, pool_slots=3)
    assert set(pool_specs(config)) == {"sync_pgsql_lmp", "sync_pgsql_sby", "sync_pgsql_hq"}
    apply_pools(config)
    apply_pools(config)  # again: no error, no duplicate
    pools = _pools()
    for name in ("sync_pgsql_lmp", "sync_pgsql_sby", "sync_pgsql_hq"):
        assert int(pools[name]["slots"]) == 3
    apply_pools(make_config("central_db", ["pgsql_lmp", "pgsql_sby"], TABLES, pool_slots=5))
    assert int(_pools()["sync_pgsql_lmp"]["slots"]) == 5
