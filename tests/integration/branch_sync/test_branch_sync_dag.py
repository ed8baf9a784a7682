"""Whole ``branch_sync`` runs with ``dag.test()`` against real PostgreSQL branches and a real
PostgreSQL or MariaDB central database, checked through the tracking tables of the contract."""

from __future__ import annotations

import pytest

from include.demo import data as demo_data
from include.common.db import Database
from tests.integration.sync_helpers import fetch, run_sql, table_rows, write_config

DAG_FILE = "dags/branch_sync.py"
SIZES = {"ad_org": 5, "m_product": 300, "c_invoice": 400, "c_invoiceline": 700, "m_pricelist": 20}
TABLES = [
    {"table": "ad_org", "model": "AdOrg", "primary_key": ["ad_org_id"], "cursor": "updated", "single_source": "pgsql_aa"},
    {"table": "m_product", "model": "MProduct", "primary_key": ["m_product_id"], "cursor": "updated",
     "single_source": "pgsql_aa"},
    {"table": "c_invoice", "model": "CInvoice", "primary_key": ["c_invoice_id"], "cursor": "updated"},
    {"table": "c_invoiceline", "model": "CInvoiceLine", "primary_key": ["c_invoice_id", "line"], "cursor": "updated"},
    {"table": "m_pricelist", "model": "MPricelist", "primary_key": ["m_pricelist_id"]},
]
PAIRS = [("pgsql_aa", "ad_org"), ("pgsql_aa", "m_product")] + [
    (b, t) for b in ("pgsql_aa", "pgsql_bb") for t in ("c_invoice", "c_invoiceline", "m_pricelist")]


@pytest.fixture
def branches(pg_database, mariadb_database, connections, tmp_path, monkeypatch, airflow_db, request):
    central = mariadb_database("central") if getattr(request, "param", "pg") == "mariadb" else pg_database("central")
    uris = {"pgsql_aa": pg_database("aa"), "pgsql_bb": pg_database("bb"), "central_db": central}
    connections(uris)
    for number, conn in enumerate(["pgsql_aa", "pgsql_bb"], start=1):
        sizes = {t: n for t, n in SIZES.items() if conn == "pgsql_aa" or t not in ("ad_org", "m_product")}
        with Database(conn) as db:
            demo_data.populate(db, number, sizes)
    config = write_config(tmp_path / "sync.yaml", "central_db", ["pgsql_aa", "pgsql_bb"], TABLES,
                          chunk_rows=150, retries=1, retry_delay_seconds=1)
    monkeypatch.setenv("SYNC_CONFIG", str(config))
    return uris


def load_dag():
    """The DAG as the dag-processor builds it, from the current SYNC_CONFIG."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=DAG_FILE)
    assert not bag.import_errors, bag.import_errors
    return bag.get_dag("branch_sync")


def run(conf=None):
    return load_dag().test(run_conf=conf or {})


def progress(batch_id):
    return {(r["connection_name"], r["table_name"]): r for r in fetch(
        "central_db", "SELECT * FROM sync_progress WHERE batch_id = %s", (batch_id,))}


def batch_of(dag_run):
    rows = fetch("central_db", "SELECT * FROM sync_batches WHERE run_id = %s", (dag_run.run_id,))
    assert len(rows) == 1
    return rows[0]


@pytest.mark.parametrize("branches", ["pg", "mariadb"], indirect=True)
def test_run_syncs_every_pair_with_exact_tracking(branches):
    dag_run = run()
    assert dag_run.state == "success"
    batch = batch_of(dag_run)
    assert batch["batch_id"].startswith("sync_") and len(batch["batch_id"]) == len("sync_20260101_000000_abcdefgh")
    assert (batch["status"], batch["total_tables"], batch["completed_tables"], batch["failed_tables"]) == (
        "completed", len(PAIRS), len(PAIRS), 0)
    assert batch["completed_at"] is not None and batch["duration_seconds"] >= 0
    rows = progress(batch["batch_id"])
    assert set(rows) == set(PAIRS)
    for (conn, table), row in rows.items():
        assert row["status"] == "completed", row
        assert row["records_processed"] == SIZES[table] and row["records_skipped"] == 0, row
        assert row["retry_count"] == 0 and row["started_at"] and row["completed_at"]
        branch = None if table in ("ad_org", "m_product") else conn
        key = demo_data.TABLES[table][1]
        assert table_rows("central_db", table, key, branch) == table_rows(conn, table, key)

    # the second run is a new batch that writes nothing new: the counts say so
    second = run()
    assert second.state == "success"
    again = progress(batch_of(second)["batch_id"])
    assert {k: r["records_processed"] for k, r in again.items() if k[1] != "m_pricelist"} == {
        k: 0 for k in PAIRS if k[1] != "m_pricelist"}
    assert all(r["records_skipped"] == SIZES["m_pricelist"] for k, r in again.items() if k[1] == "m_pricelist")


def test_missing_table_fails_only_its_pair_without_retry_then_resume_finishes_the_batch(branches):
    run_sql("pgsql_bb", "ALTER TABLE c_invoiceline RENAME TO c_invoiceline_old")
    first = run()
    assert first.state == "failed"  # the run's state tells the truth
    batch = batch_of(first)
    assert (batch["status"], batch["completed_tables"], batch["failed_tables"]) == ("failed", len(PAIRS) - 1, 1)
    rows = progress(batch["batch_id"])
    bad = rows[("pgsql_bb", "c_invoiceline")]
    assert bad["status"] == "failed" and "does not exist" in bad["error_message"]
    assert bad["retry_count"] == 0  # a permanent error is not retried
    assert all(r["status"] == "completed" for k, r in rows.items() if k != ("pgsql_bb", "c_invoiceline"))
    done_before = {k: r["completed_at"] for k, r in rows.items() if r["status"] == "completed"}

    # fix the source; a new run with resume=<batch> re-runs only the failed pair
    run_sql("pgsql_bb", "ALTER TABLE c_invoiceline_old RENAME TO c_invoiceline")
    resumed = run({"resume": batch["batch_id"]})
    assert resumed.state == "success"
    after = fetch("central_db", "SELECT * FROM sync_batches WHERE batch_id = %s", (batch["batch_id"],))[0]
    assert (after["status"], after["completed_tables"], after["failed_tables"], after["run_id"]) == (
        "completed", len(PAIRS), 0, resumed.run_id)
    rows = progress(batch["batch_id"])
    fixed = rows[("pgsql_bb", "c_invoiceline")]
    assert fixed["status"] == "completed" and fixed["retry_count"] == 1
    assert fixed["records_processed"] == SIZES["c_invoiceline"] and fixed["error_message"] is None
    assert {k: rows[k]["completed_at"] for k in done_before} == done_before  # completed pairs untouched


def test_unreachable_branch_fails_only_its_pairs_after_retries_and_hides_the_password(branches, connections):
    connections({"pgsql_bb": "postgresql://postgres:Sup3rSecretPw@127.0.0.1:1/nowhere"})
    # two tables keep it short: each try of a pair waits out the reconnect back-off first
    dag_run = run({"tables": ["m_product", "c_invoice"]})
    assert dag_run.state == "failed"
    rows = progress(batch_of(dag_run)["batch_id"])
    assert set(rows) == {("pgsql_aa", "m_product"), ("pgsql_aa", "c_invoice"), ("pgsql_bb", "c_invoice")}
    for (conn, table), row in rows.items():
        if conn == "pgsql_bb":
            assert row["status"] == "failed" and row["retry_count"] == 1, row  # transient: retried once
            assert "Sup3rSecretPw" not in (row["error_message"] or "")
            assert "refused" in row["error_message"].lower() or "connect" in row["error_message"].lower()
        else:
            assert row["status"] == "completed", row


def test_selection_params_and_unknown_names(branches):
    from airflow.sdk.exceptions import ParamValidationError

    with pytest.raises(ParamValidationError):
        run({"tables": ["no_such_table"]})
    with pytest.raises(ParamValidationError):
        run({"connections": ["pgsql_zz"]})
    assert not fetch("central_db", "SELECT 1 AS x FROM pg_tables WHERE tablename = 'sync_batches'")

    dag_run = run({"connections": ["pgsql_bb"], "tables": ["CInvoice", "m_pricelist"], "skip_step1": True})
    assert dag_run.state == "success"
    rows = progress(batch_of(dag_run)["batch_id"])
    assert set(rows) == {("pgsql_bb", "c_invoice"), ("pgsql_bb", "m_pricelist")}
    assert all(r["status"] == "completed" for r in rows.values())


def test_an_unknown_conf_key_is_refused_before_anything_is_written(branches, capfd):
    dag_run = run({"tabels": ["CInvoice"]})  # a typo would otherwise sync every table of every branch
    assert dag_run.state == "failed"
    out, err = capfd.readouterr()
    assert "unknown key(s) 'tabels'" in out + err and "allowed: connections, full_refresh" in out + err
    assert not fetch("central_db", "SELECT 1 AS x FROM pg_tables WHERE tablename IN ('sync_batches', 'c_invoice')")
