"""include.branch_sync.units: work units planned without a database (pure)."""

from __future__ import annotations

import random

import pytest

from include.branch_sync import units


def test_small_tables_share_units_up_to_the_target_and_the_maximum():
    costs = {f"t{i:02d}": 1.0 for i in range(25)}
    packed = units.pack("pgsql_a", costs, target_seconds=10, max_tables=4)
    assert sorted(t for u in packed for t in u.tables) == sorted(costs)  # every table once
    assert all(len(u.tables) <= 4 and u.cost <= 10 for u in packed)
    assert len(packed) == 7  # 25 tables at most 4 to a unit


def test_the_target_bounds_a_unit_before_the_maximum_does():
    packed = units.pack("pgsql_a", {f"t{i}": 3.0 for i in range(9)}, target_seconds=10, max_tables=40)
    assert [len(u.tables) for u in packed] == [3, 3, 3]
    assert all(u.cost == 9.0 for u in packed)


def test_a_table_expected_to_exceed_the_target_runs_alone():
    costs = {"big": 120.0, "medium": 8.0, "a": 1.0, "b": 1.0}
    packed = units.pack("pgsql_a", costs, target_seconds=10, max_tables=40)
    assert [u.tables for u in packed] == [("big",), ("a", "b", "medium")]  # cheapest first inside a unit
    assert [u.label for u in packed] == ["pgsql_a: big", "pgsql_a: medium +2"]  # named by the largest


def test_tables_with_packing_off_run_alone_and_packing_off_is_one_table_per_unit():
    costs = {"a": 1.0, "b": 1.0, "c": 1.0}
    assert [u.tables for u in units.pack("c1", costs, target_seconds=10, max_tables=40, alone=["b"])] == \
        [("a", "c"), ("b",)]
    assert sorted(u.tables for u in units.pack("c1", costs, target_seconds=10, max_tables=1)) == \
        [("a",), ("b",), ("c",)]


def test_packing_is_deterministic_whatever_the_order_of_the_input():
    rng = random.Random(7)
    costs = {f"t{i:03d}": round(rng.uniform(0.05, 20), 2) for i in range(120)}
    first = units.pack("pgsql_a", costs, target_seconds=30, max_tables=15)
    items = list(costs.items())
    for _ in range(5):
        rng.shuffle(items)
        assert units.pack("pgsql_a", dict(items), target_seconds=30, max_tables=15) == first
    assert all(len(u.tables) <= 15 and (u.cost <= 30 or len(u.tables) == 1) for u in first)
    # largest units first; inside a unit the cheapest table first
    assert [u.cost for u in first] == sorted((u.cost for u in first), reverse=True)
    for unit in first:
        assert [costs[t] for t in unit.tables] == sorted(costs[t] for t in unit.tables)


def test_ties_are_broken_by_name():
    packed = units.pack("c", {"b": 1.0, "a": 1.0, "c": 1.0}, target_seconds=2, max_tables=40)
    assert [u.tables for u in packed] == [("a", "b"), ("c",)]


def test_labels_name_the_connection_and_the_largest_table():
    costs = {"c_invoice": 9.0, **{f"t{i:02d}": 0.1 for i in range(11)}}
    (unit,) = units.pack("pgsql_lmp", costs, target_seconds=60, max_tables=40)
    assert unit.label == "pgsql_lmp: c_invoice +11"
    assert units.unit_label("pgsql_lmp", "c_invoice", 1) == "pgsql_lmp: c_invoice"
    assert unit.as_arg() == {"tables": [*(f"t{i:02d}" for i in range(11)), "c_invoice"],
                             "label": "pgsql_lmp: c_invoice +11", "expected_seconds": 10.1}


@pytest.mark.parametrize(("mode", "history", "estimate", "source"), [
    ("incremental", [3.0, 1.0, 2.0], None, "history"),
    ("full", [], 300_000, "row estimate"),
    ("full", [], None, "default"),
    ("incremental", [], 300_000, "default"),  # an incremental read is not the table's size
])
def test_expected_cost_prefers_history_then_the_row_estimate_then_the_default(mode, history, estimate, source):
    cost, came_from = units.expected_cost(mode, history, estimate)
    assert came_from == source
    if source == "history":
        assert cost == 2.0  # the median
    elif source == "row estimate":
        assert cost == pytest.approx(units.PAIR_SECONDS + estimate / units.ROWS_PER_SECOND)
    else:
        assert cost == units.DEFAULT_SECONDS


def test_mode_classes():
    assert units.mode_class("initial") == units.mode_class("full_refresh") == units.FULL
    assert units.mode_class("incremental") == units.INCREMENTAL
    assert units.mode_class(None) is None


def test_max_tables_below_one_is_refused():
    with pytest.raises(ValueError):
        units.pack("c", {"a": 1.0}, target_seconds=1, max_tables=0)
