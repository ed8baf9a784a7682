"""What a pair's fixed cost rests on: a read marks its last chunk (which completes the run in its
own transaction), an upsert leaves the staging table empty for the next one in the same
transaction, and a PostgreSQL table the sync creates leaves room on its pages for the updates of
later runs."""

from __future__ import annotations

import json
import time

import pytest

from include.branch_sync.engine import sync_pair
from include.branch_sync.reader import Chunk, SourceReader
from include.branch_sync.wire import Wire
from include.branch_sync.writers import writer_for
from include.common.db import Database
from tests.integration.sync_helpers import fetch, make_config, run_sql


def _finals(conn_id: str, form: str, rows: int, chunk_rows: int) -> list[tuple[int, bool]]:
    """(rows, final) of every chunk of an ordered read of ``rows`` rows."""
    run_sql(conn_id, "CREATE TABLE items (id INTEGER PRIMARY KEY, note TEXT, updated TIMESTAMP NOT NULL)")
    with Database(conn_id) as db:
        run_sql(conn_id, *[f"INSERT INTO items VALUES ({i}, 'n{i}', '2026-01-01 00:00:00')" for i in range(1, rows + 1)])
        columns = db.run(lambda cur: db.dialect.describe(cur, "items"))
        reader = SourceReader(db, "items", columns, None, Wire(form), chunk_rows)
        reader.begin("updated")
        seen = []
        try:
            for chunk in reader.read(None, [], ["updated", "id"]):
                if chunk.form != "rows":
                    b"".join(chunk.blocks())  # a COPY chunk's rows arrive as the writer takes them
                seen.append((len(chunk), chunk.final))
        finally:
            reader.end()
    return seen


@pytest.mark.parametrize("rows", [25, 20, 3])
def test_the_last_chunk_of_a_copy_read_says_it_is_the_last(rows, pg_database, connections):
    connections({"src_a": pg_database("src_a")})
    chunks = _finals("src_a", "text", rows, chunk_rows=10)
    sizes = [10] * (rows // 10) + ([rows % 10] if rows % 10 else [])
    assert chunks == [(n, i == len(sizes) - 1) for i, n in enumerate(sizes)]


@pytest.mark.parametrize("rows", [25, 20])
def test_a_short_chunk_of_a_tuple_read_says_it_is_the_last(rows, tmp_path, connections):
    """Tuples are not held back to look ahead: a read that ends on a chunk boundary leaves its
    last chunk unmarked (the run then completes in a transaction of its own)."""
    connections({"lite_a": json.dumps({"conn_type": "sqlite", "host": str(tmp_path / "a.db")})})
    chunks = _finals("lite_a", "rows", rows, chunk_rows=10)
    sizes = [10] * (rows // 10) + ([rows % 10] if rows % 10 else [])
    assert chunks == [(n, n < 10) for n in sizes]


@pytest.mark.parametrize("rows", [30, 25, 0])
def test_a_run_completes_its_checkpoint_whether_or_not_its_last_chunk_knew_it(rows, pg_central):
    """30 rows in chunks of 10 end on a chunk boundary, 25 do not, 0 read nothing: each run leaves
    the pair complete at its last row, with every row counted once."""
    run_sql("src_a", "CREATE TABLE items (id INTEGER PRIMARY KEY, note TEXT, updated TIMESTAMPTZ NOT NULL)",
            "INSERT INTO items SELECT g, 'n' || g, '2026-01-01'::timestamptz + g * interval '1 s' "
            "FROM generate_series(1, 5) g")
    config = make_config("central", ["src_a"], [{"table": "items", "primary_key": ["id"], "cursor": "updated",
                                                  "delete_missing": True}], chunk_rows=10)
    sync_pair(config, config.table("items"), "src_a")
    run_sql("src_a", "DELETE FROM items WHERE id = 2",
            f"INSERT INTO items SELECT g, 'n' || g, '2026-02-01'::timestamptz + g * interval '1 s' "
            f"FROM generate_series(100, {99 + rows}) g")
    result = sync_pair(config, config.table("items"), "src_a")
    assert (result.rows_read, result.processed, result.deleted) == (rows, rows, 1)
    state = fetch("central", "SELECT run_complete, cursor_key FROM sync_state WHERE table_name = 'items'")[0]
    last = 99 + rows if rows else 5
    assert state["run_complete"] == 1 and json.loads(state["cursor_key"])[1][1] == last
    assert [r["id"] for r in fetch("central", "SELECT id FROM items ORDER BY id")] == \
        [r["id"] for r in fetch("src_a", "SELECT id FROM items ORDER BY id")]


@pytest.mark.parametrize("target", ["postgresql", "mariadb"])
def test_two_upserts_in_one_transaction_count_and_write_each_chunk_once(target, pg_database, mariadb_database,
                                                                         connections):
    """As sync_verify's repair does: the second upsert must not merge the first one's rows again."""
    connections({"central": pg_database("central") if target == "postgresql" else mariadb_database("central")})
    options = " CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin" if target == "mariadb" else ""
    run_sql("central", f"CREATE TABLE codes (code VARCHAR(10) NOT NULL PRIMARY KEY, label VARCHAR(20)){options}",
            "INSERT INTO codes VALUES ('a', 'old')")
    form = "text" if target == "postgresql" else "csv"

    def chunk(*rows: tuple[str, str]) -> Chunk:
        line = "{}\t{}\n" if form == "text" else '"{}","{}"\n'
        return Chunk("".join(line.format(*r) for r in rows).encode(), form, None, len(rows))

    with Database("central", local_infile=True) as db:
        columns = db.run(lambda cur: db.dialect.describe(cur, "codes"))
        writer = writer_for(db, "codes", columns, ("code",), None, columns)
        with db.transaction() as cur:
            writer.prepare(cur)
            first = writer.upsert(cur, chunk(("a", "new"), ("b", "one")))
            second = writer.upsert(cur, chunk(("b", "two"), ("c", "two")))  # b again: merged once
            third = writer.upsert(cur, chunk(("c", "two"), ("d", "three")))
    assert [(c.processed, c.skipped) for c in (first, second, third)] == [(2, 0), (2, 0), (1, 1)]
    assert fetch("central", "SELECT code, label FROM codes ORDER BY code") == [
        {"code": "a", "label": "new"}, {"code": "b", "label": "two"}, {"code": "c", "label": "two"},
        {"code": "d", "label": "three"}]


def test_a_postgresql_table_the_sync_creates_takes_later_updates_on_their_own_pages(pg_central):
    """fillfactor 90: an incremental run's updates stay on their page (HOT) and leave the primary
    key's index as it was."""
    run_sql("src_a", "CREATE TABLE items (id INTEGER PRIMARY KEY, note TEXT, updated TIMESTAMPTZ NOT NULL)",
            "INSERT INTO items SELECT g, repeat('n', 80), '2026-01-01'::timestamptz + g * interval '1 s' "
            "FROM generate_series(1, 5000) g")
    config = make_config("central", ["src_a"], [{"table": "items", "primary_key": ["id"], "cursor": "updated"}])
    sync_pair(config, config.table("items"), "src_a")
    assert fetch("central", "SELECT reloptions FROM pg_class WHERE relname = 'items'")[0]["reloptions"] == \
        ["fillfactor=90"]
    run_sql("src_a", "UPDATE items SET note = repeat('m', 80), updated = now() WHERE id %% 50 = 0")
    assert sync_pair(config, config.table("items"), "src_a").processed == 100
    # The sync's session reports its counters as it exits, a moment after its connection closed:
    # wait (bounded) until its updates are counted, then compare.
    with Database("central") as db:
        for _ in range(100):
            rows = db.fetchall("SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables WHERE relname = 'items'")
            if rows[0]["n_tup_upd"] >= 100:
                break
            time.sleep(0.1)
    assert rows[0]["n_tup_upd"] == 100 and rows[0]["n_tup_hot_upd"] == 100


def test_a_full_refresh_of_a_table_the_branch_emptied_empties_it_at_the_target(pg_central):
    """No rows read, so none staged: the merge still finds its (empty) staging table."""
    run_sql("src_a", "CREATE TABLE units (code VARCHAR(8) PRIMARY KEY, label TEXT)",
            "INSERT INTO units VALUES ('kg', 'kilogram'), ('m', 'metre'), ('l', 'litre')")
    config = make_config("central", ["src_a"], [{"table": "units", "primary_key": ["code"]}])
    assert sync_pair(config, config.table("units"), "src_a").processed == 3
    run_sql("src_a", "DELETE FROM units")
    result = sync_pair(config, config.table("units"), "src_a")
    assert (result.mode, result.rows_read, result.deleted) == ("full_refresh", 0, 3)
    assert fetch("central", "SELECT COUNT(*) AS n FROM units") == [{"n": 0}]
