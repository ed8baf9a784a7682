"""The pure parts of the bulk paths: CSV records, binary COPY fields, which form a pair travels in,
and the MySQL upsert forms."""

from __future__ import annotations

import struct
from types import SimpleNamespace

import pytest

from include.branch_sync.wire import Wire, binary_fields, csv_records
from include.branch_sync.writers.mysql import MySqlWriter, on_duplicate_sql, row_alias_supported
from include.branch_sync.writers.postgresql import PostgresWriter
from include.common.db.columns import Column
from include.common.db.dialects.mysql import MySqlDialect
from include.common.db.dialects.postgresql import PostgresDialect
from include.common.db.dialects.sqlite import SqliteDialect


def test_csv_records_keep_quotes_newlines_commas_and_tell_null_from_the_word_null():
    text = '1,"a,b ""q"" \\\\ back\ttab\r\nnl",NULL,"NULL",""\n2,NULL\n'
    assert list(csv_records(text)) == [["1", 'a,b "q" \\\\ back\ttab\r\nnl', None, "NULL", ""], ["2", None]]


def _binary_row(*fields: bytes | None) -> bytes:
    out = struct.pack(">h", len(fields))
    for field in fields:
        out += struct.pack(">i", -1) if field is None else struct.pack(">i", len(field)) + field
    return out


def test_binary_fields_picks_fields_past_nulls_and_variable_lengths():
    row = _binary_row(b"\x00\x00\x00\x07", None, "日本".encode(), b"")
    assert binary_fields(row, [2, 0, 1, 3]) == ["日本".encode(), b"\x00\x00\x00\x07", None, b""]


@pytest.mark.parametrize("info, alias", [
    ("8.0.19", True), ("8.0.36-0ubuntu0.22.04.1", True), ("8.4.2", True), ("9.1.0", True),
    ("8.0.18", False), ("5.7.44-log", False), ("10.11.19-MariaDB-0+deb12u1", False), ("11.4.2-MariaDB", False),
])
def test_the_row_alias_form_only_where_the_server_has_it(info, alias):
    assert row_alias_supported(info) is alias


def test_on_duplicate_takes_the_new_row_from_the_alias_or_values():
    quote = MySqlDialect().quote
    assert on_duplicate_sql(quote, ["a", "b"], "_sync_new") == (
        " ON DUPLICATE KEY UPDATE `a` = _sync_new.`a`, `b` = _sync_new.`b`")
    assert on_duplicate_sql(quote, ["a"], None) == " ON DUPLICATE KEY UPDATE `a` = VALUES(`a`)"


def _column(name: str, source_type: str, oid: int | None, kind: str = "text") -> Column:
    return Column(name, source_type, kind, pg_type=source_type, type_oid=oid)


def _pg_writer(columns: list[Column], target: list[Column]) -> PostgresWriter:
    db = SimpleNamespace(dialect=PostgresDialect(), quote=PostgresDialect().quote)
    return PostgresWriter(db, "t", columns, ("id",), None, target)


def test_binary_where_types_match_strings_share_a_format_and_integers_widen():
    source = [_column("id", "integer", 23, "int4"), _column("code", "text", 25),
              _column("mood", "mood", 16_500), _column("at", "timestamp with time zone", 1184, "timestamptz")]
    target = [_column("id", "bigint", 20, "int8"), _column("code", "character varying(20)", 1043),
              _column("mood", "text", 25), _column("at", "timestamp with time zone", 1184, "timestamptz")]
    wire = _pg_writer(source, target).wire(PostgresDialect(), ["at", "id"])
    assert wire == Wire("binary", ('CAST("id" AS bigint)', '"code"', 'CAST("mood" AS text)', '"at"'),
                        (20, 25, 25, 1184))


@pytest.mark.parametrize("source, target, named", [
    (_column("d", "double precision", 701, "float"), _column("d", "numeric(20,6)", 1700, "decimal"), "'d'"),
    (_column("e", "mood", 16_500), _column("e", "mood", 16_600), "'e'"),  # a type of each database
    (_column("id", "point", 600), _column("id", "point", 600), "key column 'id'"),  # no exact key decoding
])
def test_copy_text_where_a_column_differs_or_a_key_cannot_be_decoded(source, target, named):
    wire = _pg_writer([source], [target]).wire(PostgresDialect(), ["id"])
    assert wire.form == "text" and named in wire.note


def test_text_or_rows_from_sources_without_binary_copy():
    columns = [_column("id", "integer", 23, "int4")]
    assert _pg_writer(columns, columns).wire(SqliteDialect(), ["id"]).form == "rows"


def test_load_data_needs_csv_from_the_branch_and_keys_that_travel_exactly():
    db = SimpleNamespace(dialect=MySqlDialect(), quote=MySqlDialect().quote)
    keyed_by_json = MySqlWriter(db, "t", [_column("doc", "jsonb", 3802, "json")], ("doc",), None, [])
    assert keyed_by_json.wire(PostgresDialect(), ["doc"]).form == "rows"  # decided before any connection
    from_sqlite = MySqlWriter(db, "t", [_column("id", "integer", None, "int4")], ("id",), None, [])
    assert from_sqlite.wire(SqliteDialect(), ["id"]).form == "rows"
