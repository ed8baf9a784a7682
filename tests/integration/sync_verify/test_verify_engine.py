"""One pair through ``verify_pair`` on real databases: the bisection path (buckets split until
few rows are left) and a table that mostly differs (streamed whole) find the same exact drift,
and a repair of a central that lost the whole pair writes every row back. Both bucketings: a
composite text key (key hashes) and an integer key (remainders, negative and 64-bit ids)."""

from __future__ import annotations

import pytest

from include.branch_sync import tracking as sync_tracking
from include.branch_sync.engine import sync_pair
from include.common.db import Database
from include.sync_verify import diff
from include.sync_verify.engine import verify_pair
from tests.integration.sync_helpers import fetch, make_config, run_sql

ROWS = 3000


@pytest.fixture(params=["pg", "mariadb"])
def pair(request, pg_database, mariadb_database, connections):
    connections({"src_a": pg_database("src_a"),
                 "central": mariadb_database("central") if request.param == "mariadb" else pg_database("central")})
    run_sql("src_a", "CREATE TABLE doc_lines (doc VARCHAR(12), line INTEGER, qty NUMERIC(10,3), updated TIMESTAMP NOT NULL, "
            "PRIMARY KEY (doc, line))",
            f"INSERT INTO doc_lines SELECT 'D' || (g / 10), g %% 10, g * 0.5, TIMESTAMP '2025-01-01' "
            f"FROM generate_series(1, {ROWS}) g")
    config = make_config("central", ["src_a"], [{"table": "doc_lines", "primary_key": ["doc", "line"], "cursor": "updated"}])
    with Database("central") as db:
        sync_tracking.ensure_schema(db)
    sync_pair(config, config.table("doc_lines"), "src_a")
    return config


def _verify(config, repair=False):
    return verify_pair(config, config.table("doc_lines"), "src_a", repair=repair)


def test_bisection_down_to_small_buckets_finds_exactly_the_drift(pair, monkeypatch):
    run_sql("central", "UPDATE doc_lines SET qty = qty + 1 WHERE (doc, line) IN (('D7', 3), ('D150', 0), ('D299', 9))",
            "DELETE FROM doc_lines WHERE doc = 'D42' AND line = 5")
    whole = _verify(pair)
    monkeypatch.setattr(diff, "FETCH_ROWS", 2)  # force splits: 16 buckets -> 4,096 -> ... -> fetch
    split = _verify(pair)
    for result in (whole, split):
        assert (result.missing, result.extra, result.changed, result.method) == (1, 0, 3, "checksum")
        assert {tuple(s["key"].values()) for s in result.sample} == {("D7", 3), ("D150", 0), ("D299", 9), ("D42", 5)}


def test_a_central_that_lost_the_pair_is_streamed_and_repaired_whole(pair, monkeypatch):
    run_sql("central", "DELETE FROM doc_lines")
    steps = []
    real_next_step = diff.next_step
    monkeypatch.setattr(diff, "FETCH_ROWS", 100)  # more rows differ than are fetched bucket by bucket
    monkeypatch.setattr(diff, "next_step", lambda *a: steps.append(real_next_step(*a)) or steps[-1])
    found = _verify(pair)
    assert [s.action for s in steps] == ["stream"]
    assert (found.missing, found.extra, found.changed, found.central_rows) == (ROWS, 0, 0, 0)
    repaired = _verify(pair, repair=True)
    assert repaired.repaired == ROWS and repaired.status == "repaired"
    assert _verify(pair).status == "clean"


LEDGER_ROWS = 3000


@pytest.fixture(params=["pg", "mariadb"])
def ledger(request, pg_database, mariadb_database, connections):
    """An integer key bucketed by MOD: negative, small and 64-bit ids; timestamps whose fractions
    are whole, short (trailing zeros trimmed) and six digits long; NULL booleans."""
    connections({"src_a": pg_database("src_a"),
                 "central": mariadb_database("central") if request.param == "mariadb" else pg_database("central")})
    run_sql("src_a", "CREATE TABLE ledger (id BIGINT PRIMARY KEY, amount NUMERIC(12,2), paid BOOLEAN, at TIMESTAMP, "
            "at_tz TIMESTAMPTZ, day DATE, updated TIMESTAMP NOT NULL)",
            "INSERT INTO ledger SELECT CASE WHEN g %% 3 = 0 THEN -g WHEN g %% 7 = 0 THEN 9000000000000000000 + g "
            "ELSE g * 17 END, g * 0.25, CASE WHEN g %% 5 = 0 THEN NULL ELSE g %% 2 = 0 END, "
            "TIMESTAMP '2025-01-01' + g * interval '1.25 second', "
            "TIMESTAMPTZ '2025-01-01 00:00:00+07' + g * interval '1.000001 second', DATE '2025-01-01' + g, "
            f"TIMESTAMP '2025-01-01' FROM generate_series(1, {LEDGER_ROWS}) g")
    config = make_config("central", ["src_a"], [{"table": "ledger", "primary_key": ["id"], "cursor": "updated"}])
    with Database("central") as db:
        sync_tracking.ensure_schema(db)
    sync_pair(config, config.table("ledger"), "src_a")
    run_sql("src_a", "ANALYZE ledger")  # the first level is then sized by the planner's estimate, no count(*)
    return config


def test_an_integer_key_verifies_clean_then_bisects_to_the_exact_drift(ledger, monkeypatch):
    def verify(repair=False):
        return verify_pair(ledger, ledger.table("ledger"), "src_a", repair=repair)

    clean = verify()
    assert (clean.status, clean.method, clean.branch_rows, clean.central_rows) == ("clean", "checksum", LEDGER_ROWS,
                                                                                   LEDGER_ROWS)
    run_sql("central", "UPDATE ledger SET amount = amount + 1 WHERE id = -3",
            "UPDATE ledger SET at = '2025-01-01 00:00:01.250001' WHERE id = 17",  # 01.25 at the branch
            "DELETE FROM ledger WHERE id = 9000000000000000007",
            "INSERT INTO ledger (sync_branch, id, updated) VALUES ('src_a', -1, '2024-01-01')")
    run_sql("src_a", "UPDATE ledger SET paid = TRUE WHERE id = -15")  # NULL at the branch before, cursor untouched
    expected = {("changed", -3), ("changed", 17), ("missing", 9000000000000000007), ("extra", -1), ("changed", -15)}
    whole = verify()
    steps = []
    real_next_step = diff.next_step
    monkeypatch.setattr(diff, "FETCH_ROWS", 2)  # force splits down to the finest level
    monkeypatch.setattr(diff, "next_step", lambda *a: steps.append(real_next_step(*a)) or steps[-1])
    split = verify()
    assert [s.action for s in steps][:2] == ["split", "split"] and steps[-1].action == "fetch"
    for result in (whole, split):
        assert (result.missing, result.extra, result.changed, result.method) == (1, 1, 3, "checksum")
        assert {(s["kind"], s["key"]["id"]) for s in result.sample} == expected
    repaired = verify(repair=True)
    assert repaired.repaired == 5 and repaired.status == "repaired"
    assert verify().status == "clean"


def test_a_central_configured_apart_renders_the_same_text(pg_database, connections):
    """Floats and intervals of a PostgreSQL pair are compared as PostgreSQL's own text, which
    follows extra_float_digits and IntervalStyle: the verification pins both on each side."""
    connections({"src_a": pg_database("src_a"), "central": pg_database("central")})
    run_sql("src_a", "CREATE TABLE readings (id INTEGER PRIMARY KEY, val DOUBLE PRECISION, span INTERVAL, "
            "updated TIMESTAMP NOT NULL)",
            "INSERT INTO readings SELECT g, g / 3.0, g * interval '1 day 1.5 second', TIMESTAMP '2025-01-01' "
            "FROM generate_series(1, 50) g")
    config = make_config("central", ["src_a"], [{"table": "readings", "primary_key": ["id"], "cursor": "updated"}])
    with Database("central") as db:
        sync_tracking.ensure_schema(db)
    sync_pair(config, config.table("readings"), "src_a")
    name = fetch("central", "SELECT current_database() AS name")[0]["name"]
    run_sql("central", f"ALTER DATABASE \"{name}\" SET extra_float_digits = 0",
            f"ALTER DATABASE \"{name}\" SET IntervalStyle = 'sql_standard'")
    result = verify_pair(config, config.table("readings"), "src_a")
    assert (result.status, result.method, result.central_rows) == ("clean", "checksum", 50)
