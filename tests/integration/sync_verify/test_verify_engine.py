"""One pair through ``verify_pair`` on real databases: the bisection path (buckets split until
few rows are left) and a table that mostly differs (streamed whole) find the same exact drift,
and a repair of a central that lost the whole pair writes every row back."""

from __future__ import annotations

import pytest

from include.branch_sync import tracking as sync_tracking
from include.branch_sync.engine import sync_pair
from include.common.db import Database
from include.sync_verify import diff
from include.sync_verify.engine import verify_pair
from tests.integration.sync_helpers import make_config, run_sql

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
    monkeypatch.setattr(diff, "FETCH_ROWS", 2)  # force splits: 256 buckets -> 65,536 -> fetch
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
