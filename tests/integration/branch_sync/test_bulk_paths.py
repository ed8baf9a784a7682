"""The bulk paths on real databases: binary COPY into PostgreSQL and LOAD DATA into MariaDB carry
every type the sync handles unchanged (and refuse what they refused), a load the server warns about
fails its chunk naming the column and value with nothing of it kept, a killed initial load resumes
exactly, the keyset read is served by an index, and a refused ``local_infile`` falls back to INSERTs
and says so."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from include.branch_sync import reader as reader_module
from include.branch_sync import tracking
from include.branch_sync.config import BRANCH_COLUMN
from include.branch_sync.engine import sync_pair
from include.branch_sync.reader import Chunk, SourceReader
from include.branch_sync.wire import Wire
from include.branch_sync.writers.mysql import MySqlWriter
from include.common.db import Database, PermanentError
from tests.integration.sync_helpers import fetch, make_config, normalize, run_sql

REPO = Path(__file__).resolve().parents[3]

# Every kind of column the sync types (and the red-team values of each): numeric scale, time
# zones, intervals, arrays, json/jsonb, bytea, unicode, quotes, backslashes, control characters,
# trailing spaces, the word NULL, an enum and a domain.
KINDS_DDL = [
    "CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy')",
    "CREATE DOMAIN positive_money AS NUMERIC(12,2) CHECK (VALUE > 0)",
    "CREATE TABLE kinds (id INTEGER PRIMARY KEY, updated TIMESTAMPTZ NOT NULL, i2 SMALLINT, i8 BIGINT, "
    "n NUMERIC(14,4), n_free NUMERIC, price positive_money, r REAL, d DOUBLE PRECISION, b BOOLEAN, t TEXT, "
    "vc VARCHAR(40), ch CHAR(6), dte DATE, tm TIME, tmz TIMETZ, ts TIMESTAMP, tstz TIMESTAMPTZ, "
    "tstz3 TIMESTAMP(3) WITH TIME ZONE, iv INTERVAL, js JSON, jb JSONB, by BYTEA, u UUID, ai INTEGER[], "
    "at TEXT[], e mood)",
]
KINDS_ROWS = [
    "INSERT INTO kinds (id, updated) VALUES (1, '2026-01-01 00:00:00+00')",  # NULL in every other column
    "INSERT INTO kinds VALUES (2, '2026-01-01 00:00:00+00', -32768, 9223372036854775807, 12.3400, "
    "123456789012345678901234567890.000000000000000001, 0.01, 0.1, 1e-300, true, "
    "E'quote '' \" back\\\\slash tab\\t nl\\n cr\\r 日本語 🚀', 'trailing  ', 'ab', '2026-02-28', '23:59:59.999999', "
    "'10:00:00+07', '2026-03-01 10:00:00.123456', '2026-03-01 10:00:00.123456+07', '2026-03-01 10:00:00.123+07', "
    "'1 mon -1 days', '{\"nested\": {\"a\": [1, 2, null]}, \"s\": \"é\"}', '{\"b\": 1, \"a\": \"x\"}', "
    "'\\x00ff0a5c22', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{1,NULL,3}', '{\"a b\",\"c,d\",\"e\\\"f\",\"g\\\\h\"}', 'happy')",
    "INSERT INTO kinds VALUES (3, '2026-01-02 00:00:00+00', 0, -1, -0.0001, 0, 99.99, -3.5, -0.0, false, "
    "'NULL', '', ' ', '1999-12-31', '00:00:00', '00:00:00-03:30', '1999-12-31 23:59:59', "
    "'1999-12-31 23:59:59-03:30', '2000-01-01 00:00:00+00', '-00:00:01', '[]', '{}', '\\x', "
    "'00000000-0000-0000-0000-000000000000', '{}', '{NULL}', 'sad')",
    "INSERT INTO kinds SELECT g, '2026-01-03 00:00:00+00'::timestamptz + (g / 3) * interval '1 hour', g, g * 1000, "
    "g / 7.0, g, g + 0.5, g / 3.0, g / 9.0, mod(g, 2) = 0, 'row ' || g, 'v' || g, 'c' || mod(g, 10), "
    "date '2026-01-01' + g, time '08:00' + g * interval '1 minute', timetz '08:00+01', "
    "timestamp '2026-01-01' + g * interval '1 second', timestamptz '2026-01-01 00:00+05' + g * interval '1 second', "
    "now(), g * interval '1 day', '{\"g\": 1}', '[1, \"two\"]', decode(lpad(to_hex(g), 4, '0'), 'hex'), "
    "gen_random_uuid(), ARRAY[g, g + 1], ARRAY['x' || g], 'ok' FROM generate_series(4, 40) g",
]
COLUMNS = ["id", "updated", "i2", "i8", "n", "n_free", "price", "r", "d", "b", "t", "vc", "ch", "dte", "tm", "tmz",
           "ts", "tstz", "tstz3", "iv", "js", "jb", "by", "u", "ai", "at", "e"]


def _kinds_config(chunk_rows: int = 7, single_source: str | None = None):
    table = {"table": "kinds", "primary_key": ["id"], "cursor": "updated"}
    if single_source:
        table["single_source"] = single_source
    return make_config("central", ["src_a"], [table], chunk_rows=chunk_rows)


def _wire_of(caplog: Any) -> list[str]:
    """The forms the synced pairs travelled in, from the engine's log."""
    return [r.getMessage().split(", ")[1].split(")")[0] for r in caplog.records if r.getMessage().startswith("synced ")]


def _texts(conn_id: str, table: str, where: str = "") -> list[tuple]:
    """Every column as PostgreSQL prints it, in key order."""
    return [tuple(r.values()) for r in fetch(conn_id, f"SELECT {', '.join(f'{c}::text AS {c}' for c in COLUMNS)} "
                                                      f"FROM {table} {where} ORDER BY id")]


# -- PostgreSQL: binary COPY ---------------------------------------------------------------------------
def test_every_type_round_trips_through_binary_copy(pg_central, caplog):
    caplog.set_level(logging.INFO)
    run_sql("src_a", *KINDS_DDL, *KINDS_ROWS)
    config = _kinds_config()
    first = sync_pair(config, config.table("kinds"), "src_a")
    assert (first.mode, first.processed) == ("initial", 40)
    assert _texts("central", "kinds") == _texts("src_a", "kinds")

    # changed rows (every type again) arrive by the binary upsert; unchanged ones are skipped
    run_sql("src_a", "UPDATE kinds SET updated = now(), n = n + 1, jb = '{\"changed\": true}', by = '\\xdeadbeef', "
            "ai = ARRAY[7], e = 'sad' WHERE id IN (2, 3, 17)")
    second = sync_pair(config, config.table("kinds"), "src_a")
    assert (second.mode, second.processed) == ("incremental", 3)
    assert _texts("central", "kinds") == _texts("src_a", "kinds")
    assert _wire_of(caplog) == ["binary", "binary"]


@pytest.mark.parametrize("target", ["postgresql", "mariadb"])
def test_chunks_stream_in_blocks_and_each_ends_at_its_checkpoint(target, pg_database, mariadb_database, connections,
                                                                 monkeypatch):
    """Blocks of one row each: every chunk spans blocks, and the last one ends with an empty block."""
    monkeypatch.setattr(reader_module, "BLOCK_BYTES", 1)
    central = pg_database("central") if target == "postgresql" else mariadb_database("central")
    connections({"src_a": pg_database("src_a"), "central": central})
    with Database("central") as db:
        tracking.ensure_schema(db)
    run_sql("src_a", "CREATE TABLE entries (id INTEGER PRIMARY KEY, note TEXT, updated TIMESTAMPTZ NOT NULL)",
            "INSERT INTO entries SELECT g, E'line\\n' || g, '2026-01-01'::timestamptz + g * interval '1 s' "
            "FROM generate_series(1, 25) g")
    config = make_config("central", ["src_a"], [{"table": "entries", "primary_key": ["id"], "cursor": "updated"}],
                         chunk_rows=10)
    result = sync_pair(config, config.table("entries"), "src_a")
    assert (result.rows_read, result.processed) == (25, 25)
    rows = "SELECT id, note FROM entries ORDER BY id"
    assert fetch("central", rows) == fetch("src_a", rows)
    key = json.loads(fetch("central", "SELECT cursor_key FROM sync_state WHERE table_name = 'entries'")[0]["cursor_key"])
    assert key[1][1] in (25, "25")  # the last row's key (typed from binary, text from CSV)
    run_sql("src_a", "UPDATE entries SET note = 'changed', updated = updated + interval '1 day' WHERE id IN (3, 14)")
    assert sync_pair(config, config.table("entries"), "src_a").processed == 2


def test_a_column_whose_type_differs_at_the_target_travels_as_text_and_says_which(pg_central, caplog):
    caplog.set_level(logging.INFO)
    run_sql("src_a", "CREATE TABLE wide (id INTEGER PRIMARY KEY, qty INTEGER, ratio DOUBLE PRECISION, "
            "updated TIMESTAMPTZ NOT NULL)",
            "INSERT INTO wide SELECT g, g, g / 3.0, now() FROM generate_series(1, 25) g")
    # the target's own types: a wider integer (a cast at the branch keeps binary), then a numeric
    run_sql("central", f"CREATE TABLE wide ({BRANCH_COLUMN} VARCHAR(64) NOT NULL, id BIGINT NOT NULL, qty BIGINT, "
            f"ratio DOUBLE PRECISION, updated TIMESTAMPTZ NOT NULL, PRIMARY KEY ({BRANCH_COLUMN}, id))")
    config = make_config("central", ["src_a"], [{"table": "wide", "primary_key": ["id"], "cursor": "updated"}],
                         chunk_rows=10)
    sync_pair(config, config.table("wide"), "src_a")
    run_sql("central", "ALTER TABLE wide ALTER COLUMN ratio TYPE NUMERIC(30,20)")
    run_sql("src_a", "UPDATE wide SET updated = now() + interval '1 minute', ratio = ratio + 1")
    assert sync_pair(config, config.table("wide"), "src_a").processed == 25
    assert _wire_of(caplog) == ["binary", "text"]
    assert any("column 'ratio' is double precision at the branch and numeric(30,20) at the target" in r.getMessage()
               for r in caplog.records)
    expected = fetch("src_a", "SELECT id, qty, ratio::text::numeric(30,20) AS ratio FROM wide ORDER BY id")
    assert fetch("central", "SELECT id, qty, ratio FROM wide ORDER BY id") == expected


def test_an_initial_load_builds_the_primary_key_after_its_rows_and_shares_the_table(pg_central):
    """Two branches load one new table at once; the key is built once, after the rows."""
    for conn in ("src_a", "src_b"):
        run_sql(conn, "CREATE TABLE shared (id INTEGER PRIMARY KEY, name TEXT, updated TIMESTAMPTZ NOT NULL)",
                f"INSERT INTO shared SELECT g, '{conn} ' || g, now() FROM generate_series(1, 3000) g")
    config = make_config("central", ["src_a", "src_b"], [{"table": "shared", "primary_key": ["id"],
                                                          "cursor": "updated"}], chunk_rows=200)
    results, errors = {}, []

    def load(conn: str) -> None:
        try:
            results[conn] = sync_pair(config, config.table("shared"), conn)
        except Exception as exc:  # noqa: BLE001 - handed to the test thread
            errors.append(exc)

    threads = [threading.Thread(target=load, args=(conn,)) for conn in ("src_a", "src_b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and {r.processed for r in results.values()} == {3000}
    key = fetch("central", "SELECT array_agg(a.attname::text ORDER BY k.ord) AS cols FROM pg_index i "
                           "CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY k(attnum, ord) "
                           "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum "
                           "WHERE i.indrelid = 'shared'::regclass AND i.indisprimary")
    assert key == [{"cols": [BRANCH_COLUMN, "id"]}]
    for conn in ("src_a", "src_b"):
        assert fetch("central", f"SELECT count(*) AS n, count(DISTINCT id) AS ids FROM shared "
                                f"WHERE {BRANCH_COLUMN} = %s", (conn,)) == [{"n": 3000, "ids": 3000}]


_KILLABLE = """
import os, sys, time
sys.path.insert(0, {repo!r})
from include.branch_sync.engine import sync_pair
from include.branch_sync.writers.postgresql import PostgresWriter
from tests.integration.branch_sync.test_bulk_paths import _slow_config
insert = PostgresWriter.insert
def slow_insert(self, cur, chunk):  # a slow target: the test kills the load between two chunks
    time.sleep(0.05)
    return insert(self, cur, chunk)
PostgresWriter.insert = slow_insert
config = _slow_config()
sync_pair(config, config.table("big"), "src_a", "batch_kill")
"""


def _slow_config():
    return make_config("central", ["src_a"], [{"table": "big", "primary_key": ["id"], "cursor": "updated"}],
                       chunk_rows=100)


def test_a_killed_binary_initial_load_resumes_exactly_after_its_last_chunk(pg_central, caplog):
    caplog.set_level(logging.INFO)
    run_sql("src_a", "CREATE TABLE big (id INTEGER PRIMARY KEY, name TEXT, amount NUMERIC(12,2), "
            "updated TIMESTAMPTZ NOT NULL)",
            # 6 rows share each cursor value: chunks of 100 cut through them
            "INSERT INTO big SELECT g, 'name ' || g, g * 1.25, '2026-01-01'::timestamptz + (g / 6) * interval '1 s' "
            "FROM generate_series(1, 6000) g")
    loader = subprocess.Popen([sys.executable, "-c", _KILLABLE.format(repo=str(REPO))], cwd=REPO, env=os.environ.copy())
    try:
        deadline = time.monotonic() + 120
        landed = 0
        while landed < 1000 and time.monotonic() < deadline and loader.poll() is None:
            time.sleep(0.05)
            state = fetch("central", "SELECT 1 AS x FROM information_schema.tables WHERE table_name = 'big'")
            landed = fetch("central", "SELECT count(*) AS n FROM big")[0]["n"] if state else 0
        os.kill(loader.pid, signal.SIGKILL)
    finally:
        loader.wait()
    landed = fetch("central", "SELECT count(*) AS n FROM big")[0]["n"]
    assert 0 < landed < 6000, "the load was not killed half-way"
    state = fetch("central", "SELECT cursor_key, run_complete FROM sync_state WHERE table_name = 'big'")[0]
    assert not state["run_complete"]
    checkpoint_id = int(json.loads(state["cursor_key"])[1][1])
    # exactly the rows up to the checkpoint landed (whole chunks, in keyset order), and no key yet
    upto = fetch("src_a", "SELECT count(*) AS n FROM big WHERE (updated, id) <= "
                          "(SELECT updated, id FROM big WHERE id = %s)", (checkpoint_id,))[0]["n"]
    assert landed == upto and landed % 100 == 0
    assert fetch("central", "SELECT count(*) AS n FROM pg_index WHERE indrelid = 'big'::regclass") == [{"n": 0}]

    config = _slow_config()
    resumed = sync_pair(config, config.table("big"), "src_a", "batch_kill")
    assert (resumed.mode, resumed.rows_read, resumed.processed) == ("incremental", 6000 - landed, 6000 - landed)
    assert fetch("central", "SELECT id, name, amount, updated FROM big ORDER BY id") == fetch(
        "src_a", "SELECT id, name, amount, updated FROM big ORDER BY id")
    assert fetch("central", "SELECT count(*) AS n FROM pg_index WHERE indrelid = 'big'::regclass AND indisprimary") \
        == [{"n": 1}]
    assert any("building the primary key" in r.getMessage() and "before upserting" in r.getMessage()
               for r in caplog.records)


# -- the read and the source's index -----------------------------------------------------------------------
def _explain_sorts(conn_id: str, sql: str) -> bool:
    with Database(conn_id) as db:
        return bool(db.run(lambda cur: db.dialect.read_sorts(cur, sql, [])))


def test_the_keyset_read_of_a_nullable_cursor_is_served_by_an_index_on_cursor_and_key(pg_central, caplog):
    caplog.set_level(logging.INFO)
    run_sql("src_a", "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT, updated TIMESTAMPTZ)",
            "INSERT INTO notes SELECT g, repeat('x', 50), CASE WHEN mod(g, 10) = 0 THEN NULL ELSE "
            "'2026-01-01'::timestamptz + g * interval '1 s' END FROM generate_series(1, 20000) g",
            "CREATE INDEX notes_updated_id ON notes (updated, id)", "ANALYZE notes")
    # the form the read used to take sorts every row: the test can tell the two apart
    assert _explain_sorts("src_a", "SELECT * FROM notes ORDER BY updated NULLS FIRST, id")
    with Database("src_a") as db:
        columns = db.run(lambda cur: db.dialect.describe(cur, "notes"))
        reader = SourceReader(db, "notes", columns, None, Wire("binary"), 1000)
        reader.begin("updated")
        try:
            after = [["pg", "2026-01-01 01:00:00+00"], ["pg", "3600"]]
            for where, params, order in [*reader.keyset(["updated", "id"], None),
                                         *reader.keyset(["updated", "id"], after)]:
                sql = "SELECT * FROM notes" + (f" WHERE {where}" if where else "") + " ORDER BY " + ", ".join(order)
                assert not db.dialect.read_sorts(reader._cursor(), sql, params), sql
        finally:
            reader.end()

    config = make_config("central", ["src_a"], [{"table": "notes", "primary_key": ["id"], "cursor": "updated"}],
                         chunk_rows=5000)
    batch = "sync_20260101_000000_sorted01"
    with Database("central") as db:
        tracking.start_batch(db, batch, "branch_sync", "manual__sorted", {},
                             [tracking.Pair("src_a", "notes", "Notes", "step2.src_a")])
    assert sync_pair(config, config.table("notes"), "src_a", batch).processed == 20000
    assert fetch("central", "SELECT read_sorted FROM sync_state WHERE table_name = 'notes'") == [{"read_sorted": 0}]
    assert not [r for r in caplog.records if "sorted every row" in r.getMessage()]
    assert _sync_status(batch)[0]["sorted_reads"] == []

    # without the index the read sorts: the log says so and names the index it wants, sync-status too
    run_sql("src_a", "DROP INDEX notes_updated_id", "UPDATE notes SET updated = now() WHERE mod(id, 100) = 1")
    sync_pair(config, config.table("notes"), "src_a", batch)
    assert fetch("central", "SELECT read_sorted FROM sync_state WHERE table_name = 'notes'") == [{"read_sorted": 1}]
    assert [r for r in caplog.records if "sorted every row" in r.getMessage() and "(updated, id)" in r.getMessage()]
    doc, text = _sync_status(batch)
    assert doc["sorted_reads"] == ["src_a.notes"]
    assert "Reads that sorted every row at the branch (index its cursor and key there): src_a.notes" in text


def _sync_status(batch: str) -> tuple[dict[str, Any], str]:
    """``sync-status`` of a batch as JSON and as text."""
    import io

    from include.cli import main as cli

    out, text = io.StringIO(), io.StringIO()
    assert cli(["sync-status", batch, "--json", "--conn", "central", "--api-conn", "no_such_api"], out=out,
               err=io.StringIO()) == 0
    assert cli(["sync-status", batch, "--conn", "central", "--api-conn", "no_such_api", "--color", "never"],
               out=text, err=io.StringIO()) == 0
    return json.loads(out.getvalue()), text.getvalue()


# -- MariaDB: LOAD DATA LOCAL INFILE -------------------------------------------------------------------------
def _comparable(value: Any) -> Any:
    """One form for a value read from PostgreSQL (psycopg) or MariaDB (MySQLdb)."""
    if isinstance(value, dt.timedelta):  # MariaDB TIME
        seconds = value.total_seconds()
        return dt.time(int(seconds // 3600), int(seconds % 3600 // 60), int(seconds % 60), value.microseconds)
    if isinstance(value, dt.time):
        return value.replace(tzinfo=None)  # the local time of a time with time zone
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, float) and value == 0:
        return 0.0  # -0.0 and 0.0
    return normalize(value)


def _mariadb_rows() -> list[dict[str, Any]]:
    rows = fetch("central", f"SELECT {', '.join(f'`{c}`' for c in COLUMNS)} FROM kinds ORDER BY id")
    return [{k: _comparable(v) for k, v in r.items()} for r in rows]


def _source_rows() -> list[dict[str, Any]]:
    rows = fetch("src_a", f"SELECT {', '.join(c if c != 'iv' else 'iv::text AS iv' for c in COLUMNS)} "
                          f"FROM kinds ORDER BY id")
    return [{k: _comparable(v) for k, v in r.items()} for r in rows]


def _differences() -> list[tuple[Any, str, Any, Any]]:
    """(id, column, at the target, at the branch) of every value that differs."""
    target, source = _mariadb_rows(), _source_rows()
    assert [r["id"] for r in target] == [r["id"] for r in source]
    return [(want["id"], c, got[c], want[c]) for got, want in zip(target, source) for c in COLUMNS if got[c] != want[c]]


def test_every_type_round_trips_through_load_data_and_the_insert_fallback(mariadb_central, caplog):
    caplog.set_level(logging.INFO)
    run_sql("src_a", *KINDS_DDL, *KINDS_ROWS)
    config = _kinds_config()
    assert sync_pair(config, config.table("kinds"), "src_a").processed == 40
    assert _differences() == []
    run_sql("src_a", "UPDATE kinds SET updated = now(), t = E'changed \\\\ \"', by = '\\x00', tstz = now() "
            "WHERE id IN (2, 3, 30)")
    assert sync_pair(config, config.table("kinds"), "src_a").processed == 3
    assert _differences() == []
    expected = "csv" if mariadb_central == "load_data" else "rows"
    assert _wire_of(caplog) == [expected, expected]


def test_a_json_string_keeps_its_quotes_through_load_data(mariadb_central):
    run_sql("src_a", "CREATE TABLE docs (id INTEGER PRIMARY KEY, doc JSONB)",
            """INSERT INTO docs VALUES (1, '"a string"'), (2, '5'), (3, 'null'), (4, NULL)""")
    config = make_config("central", ["src_a"], [{"table": "docs", "primary_key": ["id"]}])
    sync_pair(config, config.table("docs"), "src_a")
    stored = [r["doc"] for r in fetch("central", "SELECT doc FROM docs ORDER BY id")]
    if mariadb_central == "load_data":
        assert stored == ['"a string"', "5", "null", None]  # JSON text, as PostgreSQL prints it
    else:
        assert stored[1:] == ["5", None, None]  # the INSERT path stores a JSON scalar's Python value


def test_a_refused_local_infile_falls_back_to_inserts_and_says_so(mariadb_central, caplog):
    caplog.set_level(logging.INFO)
    run_sql("src_a", "CREATE TABLE small (id INTEGER PRIMARY KEY, name TEXT)",
            "INSERT INTO small SELECT g, 'n' || g FROM generate_series(1, 5) g")
    config = make_config("central", ["src_a"], [{"table": "small", "primary_key": ["id"]}])
    assert sync_pair(config, config.table("small"), "src_a").processed == 5
    refusals = [r.getMessage() for r in caplog.records if "LOAD DATA LOCAL INFILE is refused" in r.getMessage()]
    if mariadb_central == "load_data":
        assert refusals == []
    else:
        assert len(refusals) == 1 and "4166" in refusals[0] and refusals[0].startswith("small from src_a")
    rows = "SELECT id, name FROM small ORDER BY id"
    assert fetch("central", rows) == fetch("src_a", rows)


def test_a_value_the_load_warns_about_fails_its_chunk_naming_column_and_value(pg_database, mariadb_database,
                                                                              connections):
    connections({"src_a": pg_database("src_a"), "central": mariadb_database("central")})
    with Database("central") as db:
        tracking.ensure_schema(db)
    run_sql("src_a", "CREATE TABLE stock (id INTEGER PRIMARY KEY, qty INTEGER, updated TIMESTAMPTZ NOT NULL)",
            "INSERT INTO stock SELECT g, g, '2026-01-01'::timestamptz + g * interval '1 s' FROM generate_series(1, 10) g",
            "UPDATE stock SET qty = 100000 WHERE id = 6")  # the third chunk of two rows
    run_sql("central", f"CREATE TABLE stock ({BRANCH_COLUMN} VARCHAR(64) NOT NULL, id INT NOT NULL, qty SMALLINT, "
            f"updated DATETIME(6) NOT NULL, PRIMARY KEY ({BRANCH_COLUMN}, id)) "
            f"CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin")
    config = make_config("central", ["src_a"], [{"table": "stock", "primary_key": ["id"], "cursor": "updated"}],
                         chunk_rows=2)
    with pytest.raises(PermanentError, match=r"table 'stock' column 'qty': value '100000' cannot be stored in "
                                             r"MySQL/MariaDB \(Out of range value for column 'qty' at row 2\)"):
        sync_pair(config, config.table("stock"), "src_a")
    # the two whole chunks before it, and their checkpoint; nothing of the failed one
    assert [r["id"] for r in fetch("central", "SELECT id FROM stock ORDER BY id")] == [1, 2, 3, 4]
    state = fetch("central", "SELECT cursor_key FROM sync_state WHERE table_name = 'stock'")[0]
    assert json.loads(state["cursor_key"])[1] == ["pg", "4"]


def test_a_duplicate_key_inside_one_chunk_fails_the_load_with_nothing_kept(pg_database, mariadb_database, connections):
    connections({"central": mariadb_database("central")})
    run_sql("central", "CREATE TABLE codes (code VARCHAR(10) NOT NULL PRIMARY KEY, label LONGTEXT) "
            "CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin", "INSERT INTO codes VALUES ('old', 'kept')")
    with Database("central", local_infile=True) as db:
        columns = db.run(lambda cur: db.dialect.describe(cur, "codes"))
        writer = MySqlWriter(db, "codes", columns, ("code",), None, columns)
        twice = Chunk(b'"a","first"\n"b","x"\n"a","second"\n', "csv", None, 3)
        for write in (writer.insert, writer.upsert):
            with pytest.raises(PermanentError, match=r"table 'codes': two rows of one chunk have the same key .*"
                                                     r"Duplicate entry 'a'"):
                with db.transaction() as cur:
                    writer.prepare(cur)
                    write(cur, twice)
    assert fetch("central", "SELECT code, label FROM codes") == [{"code": "old", "label": "kept"}]


def test_a_row_count_short_of_the_chunk_fails_it(pg_database, mariadb_database, connections):
    """A chunk whose load stores fewer rows than it holds (here: its count says one more) fails."""
    connections({"central": mariadb_database("central")})
    run_sql("central", "CREATE TABLE codes (code VARCHAR(10) NOT NULL PRIMARY KEY) "
            "CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin")
    with Database("central", local_infile=True) as db:
        columns = db.run(lambda cur: db.dialect.describe(cur, "codes"))
        writer = MySqlWriter(db, "codes", columns, ("code",), None, columns)
        with pytest.raises(PermanentError, match=r"LOAD DATA stored 2 of 3 rows"):
            with db.transaction() as cur:
                writer.insert(cur, Chunk(b'"a"\n"b"\n', "csv", None, 3))
    assert fetch("central", "SELECT COUNT(*) AS n FROM codes") == [{"n": 0}]


def test_decimal_and_time_values_keep_their_exact_text(mariadb_central):
    """Values a float would round: a numeric at full precision and microseconds."""
    run_sql("src_a", "CREATE TABLE exact (id INTEGER PRIMARY KEY, n NUMERIC(30,10), at TIMESTAMP(6))",
            "INSERT INTO exact VALUES (1, 12345678901234567890.0123456789, '2026-01-01 00:00:00.000001')")
    config = make_config("central", ["src_a"], [{"table": "exact", "primary_key": ["id"]}])
    sync_pair(config, config.table("exact"), "src_a")
    assert fetch("central", "SELECT n, at FROM exact") == [
        {"n": Decimal("12345678901234567890.0123456789"), "at": dt.datetime(2026, 1, 1, 0, 0, 0, 1)}]
