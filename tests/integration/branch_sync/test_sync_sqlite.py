"""The embedded demo's path: SQLite branches into a SQLite central database, through the same
engine (reader in a prefetch thread, SQLite writer)."""

from __future__ import annotations

import json

from include.branch_sync import tracking
from include.demo import data as demo_data
from include.common.db import Database
from include.branch_sync.engine import sync_pair
from tests.integration.sync_helpers import make_config, run_sql, table_rows

SIZES = {"m_product": 300, "c_invoice": 450, "c_invoiceline": 500, "m_pricelist": 12}
TABLES = [
    {"table": "m_product", "primary_key": ["m_product_id"], "cursor": "updated", "single_source": "lite_a"},
    {"table": "c_invoice", "primary_key": ["c_invoice_id"], "cursor": "updated"},
    {"table": "c_invoiceline", "primary_key": ["c_invoice_id", "line"], "cursor": "updated"},
    {"table": "m_pricelist", "primary_key": ["m_pricelist_id"]},
]


def as_text(rows):
    """SQLite's NUMERIC affinity turns the source's decimals into REAL; the target keeps exact
    decimals as text, so the two are compared in their text form."""
    return [{k: str(v) for k, v in row.items()} for row in rows]


def test_sqlite_branches_into_sqlite_central(tmp_path, connections):
    connections({name: json.dumps({"conn_type": "sqlite", "host": str(tmp_path / f"{name}.db")})
                 for name in ("lite_a", "lite_b", "lite_central")})
    for number, conn in enumerate(["lite_a", "lite_b"], start=1):
        with Database(conn) as db:
            demo_data.populate(db, number, SIZES)
    with Database("lite_central") as db:
        tracking.ensure_schema(db)
    config = make_config("lite_central", ["lite_a", "lite_b"], TABLES, chunk_rows=100)
    for conn in ("lite_a", "lite_b"):
        for spec in config.tables:
            if spec.single_source in (None, conn):
                assert sync_pair(config, spec, conn).processed == SIZES[spec.table]
                branch = None if spec.single_source else conn
                key = demo_data.TABLES[spec.table][1]
                assert as_text(table_rows("lite_central", spec.table, key, branch)) == as_text(
                    table_rows(conn, spec.table, key))
    run_sql("lite_b", "UPDATE c_invoice SET grandtotal = '1.00', updated = '2026-12-01 00:00:00+00:00' "
                      "WHERE c_invoice_id <= 7")
    again = sync_pair(config, config.table("c_invoice"), "lite_b")
    assert (again.rows_read, again.processed) == (7, 7)
    assert as_text(table_rows("lite_central", "c_invoice", ["c_invoice_id"], "lite_b")) == as_text(
        table_rows("lite_b", "c_invoice", ["c_invoice_id"]))
