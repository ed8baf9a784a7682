"""The sync engine against real databases: PostgreSQL sources, PostgreSQL or MariaDB central."""

from __future__ import annotations

import pytest

from include.branch_sync import tracking
from include.demo import data as demo_data
from include.common.db import Database, PermanentError
from include.branch_sync.engine import sync_pair
from tests.integration.sync_helpers import fetch, make_config, run_sql, table_rows

TABLES = [
    {"table": "m_product", "model": "MProduct", "primary_key": ["m_product_id"], "cursor": "updated",
     "single_source": "src_a"},
    {"table": "c_invoice", "model": "CInvoice", "primary_key": ["c_invoice_id"], "cursor": "updated"},
    {"table": "c_invoiceline", "model": "CInvoiceLine", "primary_key": ["c_invoice_id", "line"], "cursor": "updated"},
    {"table": "m_pricelist", "model": "MPricelist", "primary_key": ["m_pricelist_id"]},
]
SIZES = {"m_product": 700, "c_invoice": 900, "c_invoiceline": 1200, "m_pricelist": 30}


@pytest.fixture(params=["postgresql", "mariadb"])
def env(request, pg_database, mariadb_database, connections):
    """Two PostgreSQL branches with generated data, and a central database of either dialect."""
    central = pg_database("central") if request.param == "postgresql" else mariadb_database("central")
    connections({"src_a": pg_database("src_a"), "src_b": pg_database("src_b"), "central": central})
    for number, conn in enumerate(["src_a", "src_b"], start=1):
        with Database(conn) as db:
            demo_data.populate(db, number, SIZES)
    with Database("central") as db:
        tracking.ensure_schema(db)
    return make_config("central", ["src_a", "src_b"], TABLES, chunk_rows=100)


def _sync_all(config, batch_id=None):
    results = {}
    for conn in ("src_a", "src_b"):
        for spec in config.tables:
            if spec.single_source in (None, conn):
                results[(conn, spec.table)] = sync_pair(config, spec, conn, batch_id)
    return results


def _pk(table):
    return demo_data.TABLES[table][1]


def test_full_load_equals_sources_then_incremental_and_idempotent(env):
    first = _sync_all(env)
    for (conn, table), result in first.items():
        assert result.processed == SIZES[table] and result.skipped == 0
        branch = conn if table != "m_product" else None
        assert table_rows("central", table, _pk(table), branch) == table_rows(conn, table, _pk(table))

    # a second run changes nothing and writes nothing
    second = _sync_all(env)
    assert all(r.processed == 0 and r.deleted == 0 for r in second.values())
    assert table_rows("central", "c_invoice", _pk("c_invoice"), "src_b") == table_rows("src_b", "c_invoice", ["c_invoice_id"])

    # incremental: only changed rows are read (plus the look-back window), and they land
    run_sql("src_b", "UPDATE c_invoice SET grandtotal = grandtotal + 1, updated = now() WHERE c_invoice_id <= 25",
            "INSERT INTO c_invoice (c_invoice_id, documentno, c_bpartner_id, dateinvoiced, grandtotal, updated) "
            "VALUES (100001, 'NEW/1', 5, '2026-11-01', 12.50, now())")
    third = sync_pair(env, env.table("c_invoice"), "src_b")
    assert third.mode == "incremental"
    assert third.rows_read == 26 and third.processed == 26
    assert table_rows("central", "c_invoice", _pk("c_invoice"), "src_b") == table_rows("src_b", "c_invoice", ["c_invoice_id"])
    # the other branch's rows are untouched
    assert table_rows("central", "c_invoice", _pk("c_invoice"), "src_a") == table_rows("src_a", "c_invoice", ["c_invoice_id"])


def test_rows_sharing_one_cursor_value_across_chunk_boundaries(env):
    # 250 rows with one timestamp: chunks of 100 cut through them
    run_sql("src_a", "UPDATE c_invoice SET updated = '2026-03-03 03:03:03+00' WHERE c_invoice_id BETWEEN 100 AND 349")
    sync_pair(env, env.table("c_invoice"), "src_a")
    assert fetch("central", "SELECT COUNT(*) AS n FROM c_invoice WHERE sync_branch = 'src_a'")[0]["n"] == SIZES["c_invoice"]
    # more rows with that same cursor value after the checkpoint: the keyset includes the key
    run_sql("src_a", "INSERT INTO c_invoice (c_invoice_id, documentno, c_bpartner_id, grandtotal, updated) "
            "SELECT g, 'SAME/' || g, 1, 1.00, '2026-11-30 00:00:00+00' FROM generate_series(5001, 5150) g")
    first = sync_pair(env, env.table("c_invoice"), "src_a")
    run_sql("src_a", "INSERT INTO c_invoice (c_invoice_id, documentno, c_bpartner_id, grandtotal, updated) "
            "SELECT g, 'SAME/' || g, 1, 1.00, '2026-11-30 00:00:00+00' FROM generate_series(5151, 5230) g")
    second = sync_pair(env, env.table("c_invoice"), "src_a")
    assert (first.processed, second.processed) == (150, 80)
    assert table_rows("central", "c_invoice", ["c_invoice_id"], "src_a") == table_rows("src_a", "c_invoice", ["c_invoice_id"])


def test_composite_keys_nulls_unicode_quotes_numerics_json(env):
    run_sql("src_a",
            "UPDATE c_invoice SET description = NULL, grandtotal = 0 WHERE c_invoice_id = 1",
            "UPDATE c_invoice SET description = E'quote '' \" back\\\\slash tab\\t nl\\n 日本語 🚀' WHERE c_invoice_id = 2",
            "UPDATE c_invoice SET grandtotal = 123456789012.34 WHERE c_invoice_id = 3",
            "UPDATE m_product SET attributes = '{\"nested\": {\"a\": [1, 2, null]}, \"s\": \"é\"}' WHERE m_product_id = 4")
    results = _sync_all(env)
    assert results[("src_a", "c_invoiceline")].processed == SIZES["c_invoiceline"]
    for table, branch in (("c_invoice", "src_a"), ("c_invoiceline", "src_a"), ("m_product", None)):
        assert table_rows("central", table, _pk(table), branch) == table_rows("src_a", table, _pk(table))
    row = fetch("central", "SELECT description FROM c_invoice WHERE c_invoice_id = 2 AND sync_branch = 'src_a'")[0]
    assert "日本語 🚀" in row["description"] and "\t" in row["description"] and "\\" in row["description"]


def test_new_source_column_is_added_and_filled(env):
    _sync_all(env)
    run_sql("src_a", "ALTER TABLE c_invoice ADD COLUMN salesrep VARCHAR(60) DEFAULT 'Andi'")
    result = sync_pair(env, env.table("c_invoice"), "src_a")
    assert result.processed == SIZES["c_invoice"]  # every row gained a value
    assert table_rows("central", "c_invoice", ["c_invoice_id"], "src_a") == table_rows("src_a", "c_invoice", ["c_invoice_id"])
    # the other branch lacks the column: its rows keep NULL there, and it still syncs
    assert sync_pair(env, env.table("c_invoice"), "src_b").processed == 0


def test_full_refresh_table_deletes_and_updates_in_one_transaction(env):
    sync_pair(env, env.table("m_pricelist"), "src_a")
    run_sql("src_a", "DELETE FROM m_pricelist WHERE m_pricelist_id <= 3",
            "UPDATE m_pricelist SET name = 'Harga baru' WHERE m_pricelist_id = 10")
    result = sync_pair(env, env.table("m_pricelist"), "src_a")
    assert (result.mode, result.processed, result.deleted, result.skipped) == ("full_refresh", 1, 3, SIZES["m_pricelist"] - 4)
    assert table_rows("central", "m_pricelist", ["m_pricelist_id"], "src_a") == table_rows("src_a", "m_pricelist", ["m_pricelist_id"])


def test_failed_full_refresh_leaves_previous_data_intact(env):
    sync_pair(env, env.table("m_pricelist"), "src_a")
    before = table_rows("central", "m_pricelist", ["m_pricelist_id"], "src_a")
    # a row the target cannot take, late in the read: the whole refresh must roll back
    run_sql("src_a", "DELETE FROM m_pricelist WHERE m_pricelist_id <= 5",
            "ALTER TABLE m_pricelist ALTER COLUMN currency TYPE VARCHAR(400)",
            "UPDATE m_pricelist SET currency = repeat('x', 300) WHERE m_pricelist_id = 29")
    run_sql("central", "ALTER TABLE m_pricelist " + (
        "ALTER COLUMN currency TYPE VARCHAR(10)" if _dialect() == "postgresql" else "MODIFY currency VARCHAR(10)"))
    with pytest.raises(Exception):
        sync_pair(env, env.table("m_pricelist"), "src_a")
    assert table_rows("central", "m_pricelist", ["m_pricelist_id"], "src_a") == before


def test_interrupted_incremental_sync_resumes_from_last_committed_chunk(env):
    # row 650 (in the 7th chunk of 100) cannot land at the target: the run fails there
    run_sql("central", "CREATE TABLE c_invoice (sync_branch VARCHAR(64) NOT NULL, c_invoice_id BIGINT NOT NULL, "
            "documentno VARCHAR(20), c_bpartner_id BIGINT, dateinvoiced DATE, grandtotal NUMERIC(14,2), "
            "description TEXT, updated TIMESTAMP" + (" WITH TIME ZONE" if _dialect() == "postgresql" else "(6)")
            + ", PRIMARY KEY (sync_branch, c_invoice_id))")
    ordered = fetch("src_a", "SELECT c_invoice_id FROM c_invoice ORDER BY updated, c_invoice_id")
    bad_id = ordered[649]["c_invoice_id"]
    run_sql("src_a", "UPDATE c_invoice SET documentno = 'X-VERY-LONG-DOCUMENT-NUMBER-000' WHERE c_invoice_id = %s",
            params=[(bad_id,)])
    with pytest.raises(Exception):
        sync_pair(env, env.table("c_invoice"), "src_a", "batch_x")
    landed = fetch("central", "SELECT COUNT(*) AS n FROM c_invoice")[0]["n"]
    assert landed == 600  # six whole chunks committed, with their checkpoint
    state = fetch("central", "SELECT cursor_key, run_complete FROM sync_state WHERE connection_name = 'src_a'")[0]
    assert state["cursor_key"] and not state["run_complete"]
    # fix the source row; the re-run continues after the checkpoint instead of starting over
    run_sql("src_a", "UPDATE c_invoice SET documentno = 'OK' WHERE c_invoice_id = %s", params=[(bad_id,)])
    resumed = sync_pair(env, env.table("c_invoice"), "src_a", "batch_x")
    assert resumed.rows_read == SIZES["c_invoice"] - 600
    assert table_rows("central", "c_invoice", ["c_invoice_id"], "src_a") == table_rows("src_a", "c_invoice", ["c_invoice_id"])


def test_missing_table_or_column_is_a_permanent_error(env):
    run_sql("src_b", "DROP TABLE c_invoiceline")
    with pytest.raises(PermanentError, match="c_invoiceline.*does not exist on connection 'src_b'"):
        sync_pair(env, env.table("c_invoiceline"), "src_b")
    run_sql("src_b", "ALTER TABLE c_invoice DROP COLUMN updated")
    with pytest.raises(PermanentError, match="no column.*updated"):
        sync_pair(env, env.table("c_invoice"), "src_b")


def _dialect() -> str:
    with Database("central") as db:
        return db.dialect.name


def _table_exists(conn_id, table):
    with Database(conn_id) as db:
        return db.run(lambda cur: db.dialect.describe(cur, table)) is not None


def test_a_key_duplicated_at_the_source_fails_the_pair_naming_table_key_and_value(env):
    # no key constraint at the source; the duplicate of id 5 sits in a later chunk (chunks of 100)
    run_sql("src_a", "CREATE TABLE loose (id INTEGER NOT NULL, name TEXT, updated TIMESTAMPTZ NOT NULL)",
            "INSERT INTO loose SELECT g, 'n' || g, '2026-01-01'::timestamptz + g * interval '1 second' "
            "FROM generate_series(1, 250) g",
            "INSERT INTO loose VALUES (5, 'again', '2026-06-01')")
    config = make_config("central", ["src_a"], [
        {"table": "loose", "primary_key": ["id"], "cursor": "updated", "single_source": "src_a"},
        {"table": "loose_full", "primary_key": ["id"], "single_source": "src_a"}], chunk_rows=100)
    with pytest.raises(PermanentError, match=r"'loose' on 'src_a' holds key \(id\) = \(5\) in 2 rows"):
        sync_pair(config, config.table("loose"), "src_a")
    assert not _table_exists("central", "loose") or not fetch("central", "SELECT 1 AS x FROM loose")

    # a duplicate that appears after a clean first load is refused too, before anything is written
    run_sql("src_a", "DELETE FROM loose WHERE name = 'again'")
    assert sync_pair(config, config.table("loose"), "src_a").processed == 250
    run_sql("src_a", "INSERT INTO loose VALUES (7, 'twin', now())")
    with pytest.raises(PermanentError, match=r"\(id\) = \(7\) in 2 rows"):
        sync_pair(config, config.table("loose"), "src_a")
    assert fetch("central", "SELECT name FROM loose WHERE id = 7") == [{"name": "n7"}]

    # full refresh: the same refusal
    run_sql("src_a", "CREATE TABLE loose_full AS SELECT id, name FROM loose")
    with pytest.raises(PermanentError, match=r"'loose_full' on 'src_a' holds key \(id\) = \(7\) in 2 rows"):
        sync_pair(config, config.table("loose_full"), "src_a")


def test_a_unique_index_at_the_source_skips_the_duplicate_scan(env):
    with Database("src_a") as db:
        keys = db.run(lambda cur: db.dialect.unique_keys(cur, "c_invoiceline"))
    assert ("c_invoice_id", "line") in keys


def test_rows_with_a_null_cursor_arrive_when_inserted_or_changed_later(env):
    run_sql("src_a", "CREATE TABLE nullable_cursor (id INTEGER PRIMARY KEY, name TEXT, updated TIMESTAMPTZ)",
            "INSERT INTO nullable_cursor SELECT g, 'n' || g, CASE WHEN mod(g, 3) = 0 THEN NULL "
            "ELSE '2026-01-01'::timestamptz + g * interval '1 minute' END FROM generate_series(1, 240) g")
    config = make_config("central", ["src_a"], [
        {"table": "nullable_cursor", "primary_key": ["id"], "cursor": "updated", "single_source": "src_a"}],
        chunk_rows=100)
    spec = config.table("nullable_cursor")
    assert sync_pair(config, spec, "src_a").processed == 240
    run_sql("src_a", "INSERT INTO nullable_cursor VALUES (1000, 'new, no cursor', NULL)",
            "UPDATE nullable_cursor SET name = 'changed, no cursor' WHERE id = 3")
    result = sync_pair(config, spec, "src_a")
    assert result.processed == 2  # the 80 other NULL-cursor rows are re-read and count as skipped
    assert table_rows("central", "nullable_cursor", ["id"]) == table_rows("src_a", "nullable_cursor", ["id"])

    # a table whose cursor is NULL everywhere so far: the checkpoint sits among the NULLs
    run_sql("src_a", "CREATE TABLE all_null (id INTEGER PRIMARY KEY, name TEXT, updated TIMESTAMPTZ)",
            "INSERT INTO all_null SELECT g, 'n' || g, NULL FROM generate_series(1, 150) g")
    config = make_config("central", ["src_a"], [
        {"table": "all_null", "primary_key": ["id"], "cursor": "updated", "single_source": "src_a"}], chunk_rows=100)
    sync_pair(config, config.table("all_null"), "src_a")
    run_sql("src_a", "UPDATE all_null SET name = 'changed' WHERE id IN (1, 150)",
            "INSERT INTO all_null VALUES (151, 'new', NULL), (152, 'stamped', now())")
    assert sync_pair(config, config.table("all_null"), "src_a").processed == 4
    assert table_rows("central", "all_null", ["id"]) == table_rows("src_a", "all_null", ["id"])


def test_delete_missing_removes_rows_the_branch_deleted_and_counts_them(env):
    config = make_config("central", ["src_a", "src_b"], [
        {"table": "c_invoice", "model": "CInvoice", "primary_key": ["c_invoice_id"], "cursor": "updated",
         "delete_missing": True}], chunk_rows=100)
    spec = config.table("c_invoice")
    batch = "sync_20260101_000000_deletes1"
    pairs = [tracking.Pair(c, "c_invoice", "CInvoice", f"step2.{c}") for c in ("src_a", "src_b")]
    with Database("central") as db:
        tracking.start_batch(db, batch, "branch_sync", "manual__deletes", {}, pairs)
    for conn in ("src_a", "src_b"):
        sync_pair(config, spec, conn, batch)
    run_sql("src_a", "DELETE FROM c_invoice WHERE c_invoice_id IN (3, 450, 899)",
            "UPDATE c_invoice SET grandtotal = 1, updated = now() WHERE c_invoice_id = 10")
    result = sync_pair(config, spec, "src_a", batch)
    assert (result.mode, result.processed, result.deleted) == ("incremental", 1, 3)
    assert table_rows("central", "c_invoice", ["c_invoice_id"], "src_a") == table_rows("src_a", "c_invoice", ["c_invoice_id"])
    assert table_rows("central", "c_invoice", ["c_invoice_id"], "src_b") == table_rows("src_b", "c_invoice", ["c_invoice_id"])
    row = fetch("central", "SELECT records_deleted FROM sync_progress WHERE batch_id = %s AND connection_name = 'src_a'",
                (batch,))[0]
    assert row["records_deleted"] == 3
    # nothing deleted since: nothing more to delete
    assert sync_pair(config, spec, "src_a", batch).deleted == 0
