"""What a MariaDB central database cannot hold as PostgreSQL does: keys that its default collation
folds together, intervals, NaN and infinities. Each ends as exact data or an error naming the
table, the column and the value, never as merged or altered rows, through LOAD DATA and through the
multi-row INSERTs a connection that refuses local files falls back to."""

from __future__ import annotations

import pytest

from include.branch_sync.engine import sync_pair
from include.common.db import PermanentError
from tests.integration.sync_helpers import fetch, make_config, run_sql

KEYS = ["abc", "ABC", "abc ", "äbc", "Abc  "]


def _config(table, **extra):
    return make_config("central", ["src_a"], [{"table": table, "primary_key": ["code"], "single_source": "src_a",
                                                **extra}], chunk_rows=2)


@pytest.mark.parametrize("cursor", [None, "updated"])
def test_keys_distinct_in_postgresql_stay_distinct(mariadb_central, cursor):
    run_sql("src_a", "CREATE TABLE codes (code VARCHAR(10) PRIMARY KEY, label TEXT, updated TIMESTAMPTZ NOT NULL "
            "DEFAULT now())", *["INSERT INTO codes (code, label) VALUES (%s, %s)"] * len(KEYS),
            params=[(), *[(k, f"label of {k!r}") for k in KEYS]])
    config = _config("codes", **({"cursor": cursor} if cursor else {}))
    assert sync_pair(config, config.table("codes"), "src_a").processed == len(KEYS)
    rows = {r["code"]: r["label"] for r in fetch("central", "SELECT code, label FROM codes")}
    assert rows == {k: f"label of {k!r}" for k in KEYS}
    # a change to one of them changes that one only
    run_sql("src_a", "UPDATE codes SET label = 'changed', updated = now() WHERE code = 'ABC'")
    assert sync_pair(config, config.table("codes"), "src_a").processed == 1
    assert {r["code"] for r in fetch("central", "SELECT code FROM codes WHERE label = 'changed'")} == {"ABC"}


def test_an_existing_target_whose_key_collation_folds_case_is_refused_by_name(mariadb_central):
    run_sql("src_a", "CREATE TABLE codes (code VARCHAR(10) PRIMARY KEY, label TEXT)",
            "INSERT INTO codes VALUES ('abc', 'a'), ('ABC', 'b')")
    run_sql("central", "CREATE TABLE codes (code VARCHAR(10) NOT NULL PRIMARY KEY, label LONGTEXT) "
            "CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci")
    config = _config("codes")
    with pytest.raises(PermanentError, match=r"'codes': key column\(s\) 'code' \(collation utf8mb4_general_ci\)"):
        sync_pair(config, config.table("codes"), "src_a")
    assert fetch("central", "SELECT COUNT(*) AS n FROM codes") == [{"n": 0}]


def test_intervals_are_stored_as_their_postgresql_text(mariadb_central):
    values = ["1 mon -1 days", "1 year 2 mons 3 days 04:05:06.7", "-00:00:01", None]
    run_sql("src_a", "CREATE TABLE spans (code VARCHAR(10) PRIMARY KEY, span INTERVAL)",
            *["INSERT INTO spans VALUES (%s, %s)"] * len(values), params=[(), *[(str(i), v) for i, v in enumerate(values)]])
    config = _config("spans")
    sync_pair(config, config.table("spans"), "src_a")
    expected = {r["code"]: r["span"] for r in fetch("src_a", "SELECT code, span::text AS span FROM spans")}
    assert {r["code"]: r["span"] for r in fetch("central", "SELECT code, span FROM spans")} == expected
    assert expected["0"] == "1 mon -1 days"


# (type, value, as LOAD DATA names it (PostgreSQL's text), as the INSERT path names it (Python's))
@pytest.mark.parametrize("column_type, value, loaded, inserted", [
    ("DOUBLE PRECISION", "NaN", "NaN", "nan"), ("DOUBLE PRECISION", "Infinity", "Infinity", "inf"),
    ("DOUBLE PRECISION", "-Infinity", "-Infinity", "-inf"), ("NUMERIC(12,2)", "NaN", "NaN", "NaN"),
    ("TIMESTAMPTZ", "infinity", "infinity", "infinity"), ("DATE", "-infinity", "-infinity", "-infinity"),
])
def test_nan_and_infinity_fail_naming_table_column_and_value(mariadb_central, column_type, value, loaded, inserted):
    run_sql("src_a", f"CREATE TABLE odd (code VARCHAR(10) PRIMARY KEY, measure {column_type})",
            "INSERT INTO odd VALUES ('ok', NULL), ('bad', %s)", params=[(), (value,)])
    config = _config("odd")
    shown = loaded if mariadb_central == "load_data" else inserted
    with pytest.raises(PermanentError, match=rf"table 'odd' column 'measure': value '{shown}' cannot be stored"):
        sync_pair(config, config.table("odd"), "src_a")
    assert fetch("central", "SELECT COUNT(*) AS n FROM odd") == [{"n": 0}]  # nothing of the pair landed
