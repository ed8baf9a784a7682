"""Sync config validation and the resolution of trigger-time selections."""

from __future__ import annotations

from pathlib import Path

import pytest

from include.branch_sync.config import ConfigError, parse_config, plan_pairs

BASE = {
    "target": "central_db",
    "branches": ["pgsql_lmp", "pgsql_sby"],
    "tables": [
        {"table": "m_product", "model": "MProduct", "primary_key": ["m_product_id"], "cursor": "updated",
         "single_source": "pgsql_lmp"},
        {"table": "erp.c_invoice", "model": "CInvoice", "primary_key": ["c_invoice_id"], "cursor": "updated"},
        {"table": "m_pricelist", "primary_key": "m_pricelist_id"},
    ],
}


def cfg(**changes):
    return parse_config({**BASE, **changes}, Path("sync.yaml"))


def test_parses_the_design_shape():
    config = cfg()
    invoice = config.table("CInvoice")
    assert invoice.table == "erp.c_invoice" and invoice.target_table == "c_invoice"
    assert invoice.target_key == ("c_invoice_id", "sync_branch") and invoice.per_branch
    assert config.table("m_product").target_key == ("m_product_id",)
    assert config.table("m_pricelist").model == "m_pricelist" and config.table("m_pricelist").cursor is None
    assert not invoice.delete_missing
    flagged = cfg(tables=[{"table": "t", "primary_key": ["id"], "cursor": "u", "delete_missing": True}])
    assert flagged.table("t").delete_missing


@pytest.mark.parametrize("changes, message", [
    ({"target": "central db"}, "'target'"),
    ({"branches": []}, "'branches'"),
    ({"branches": ["a", "a"]}, "twice"),
    ({"branches": ["central_db"]}, "also listed as a branch"),
    ({"tables": [{"table": "x; DROP TABLE y", "primary_key": ["id"]}]}, r"tables\[0\].table"),
    ({"tables": [{"table": "x", "primary_key": []}]}, r"tables\[0\].primary_key"),
    ({"tables": [{"table": "x", "primary_key": ["id"], "cursor": "up dated"}]}, r"tables\[0\].cursor"),
    ({"tables": [{"table": "x", "primary_key": ["id"], "colour": "red"}]}, "unknown keys: colour"),
    ({"tables": [{"table": "x", "primary_key": ["sync_branch"]}]}, "reserved"),
    ({"tables": [{"table": "x", "primary_key": ["id"]}, {"table": "y", "model": "x", "primary_key": ["id"]}]},
     "already used"),
    ({"chunk_rows": 0}, "chunk_rows"),
    ({"retries": -1}, "retries"),
    ({"tables": [{"table": "x", "primary_key": ["id"], "cursor": "u", "delete_missing": "yes"}]},
     r"tables\[0\].delete_missing must be true or false, got 'yes'"),
    ({"tables": [{"table": "x", "primary_key": ["id"], "delete_missing": True}]},
     r"tables\[0\].delete_missing applies to a table with a cursor"),
    ({"tables": [{"table": "x", "primary_key": ["id"], "pack": "no"}]},
     r"tables\[0\].pack must be true or false, got 'no'"),
    ({"packing": 1}, r"'packing' must be true or false, got 1"),
    ({"unit_target_seconds": 0}, r"'unit_target_seconds' must be a number of seconds > 0, got 0"),
    ({"unit_max_tables": 0}, r"'unit_max_tables' must be an integer >= 1, got 0"),
    ({"tables": [{"table": "x", "primary_key": ["id"], "cursor": "u", "delete_mising": True}]},
     "unknown keys: delete_mising"),
])
def test_invalid_configs_name_the_problem(changes, message):
    with pytest.raises(ConfigError, match=message):
        cfg(**changes)


def test_plan_orders_steps_and_filters():
    config = cfg()
    plan = plan_pairs(config)
    assert plan.step1 == {"pgsql_lmp": ["m_product"]}
    assert plan.step2 == {"pgsql_lmp": ["erp.c_invoice", "m_pricelist"], "pgsql_sby": ["erp.c_invoice", "m_pricelist"]}
    assert plan.pairs[0] == ("pgsql_lmp", "m_product")
    only = plan_pairs(config, connections=["pgsql_sby"], tables=["CInvoice"], skip_step1=True)
    assert only.pairs == [("pgsql_sby", "erp.c_invoice")]
    assert plan_pairs(config, skip_step1=True).step1 == {}


@pytest.mark.parametrize("kwargs, message", [
    ({"connections": ["pgsql_xyz"]}, "unknown connection.*pgsql_xyz"),
    ({"tables": ["CNope"]}, "unknown table or model 'CNope'"),
    ({"connections": ["pgsql_sby"], "tables": ["MProduct"]}, "leaves nothing to sync"),
])
def test_plan_refuses_unknown_names(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        plan_pairs(cfg(), **kwargs)


def test_stuck_after_seconds_is_validated():
    assert cfg().stuck_after_seconds == 600
    assert cfg(stuck_after_seconds=120).stuck_after_seconds == 120
    for bad in (0, -5, "600", True, 1.5):
        with pytest.raises(ConfigError, match="stuck_after_seconds"):
            cfg(stuck_after_seconds=bad)
