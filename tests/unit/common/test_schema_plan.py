"""What the migration plans for a live table (``include.common.schema_plan.plan_table``): pure, over
the columns and indexes each dialect's catalog reports."""

from __future__ import annotations

from dataclasses import replace

import pytest

from include.common.db.columns import Column
from include.common.db.dialects.base import Index
from include.common.db.dialects.mysql import MySqlDialect
from include.common.db.dialects.postgresql import PostgresDialect
from include.common.db.dialects.sqlite import SqliteDialect
from include.common.schema import TableDef
from include.common.schema_plan import index_name, plan_table

PG, MY, LITE = PostgresDialect(), MySqlDialect(), SqliteDialect()
BATCHES = TableDef("batches", (
    ("batch_id", "id", True), ("status", "status", True), ("total", "int", True), ("records", "bigint", True),
    ("seconds", "float", False), ("note", "text", False), ("started_at", "ts", False), ("done", "bool", True),
), key=("batch_id",), defaults={"total": "0", "done": True}, indexes=(("ix_batches_started", ("started_at",)),),
    values={"status": ("running", "completed", "interrupted")})


def col(name: str, source: str, kind: str, *, length: int | None = None, nullable: bool = True,
        default: bool = False) -> Column:
    return Column(name, source, kind, length=length, nullable=nullable, has_default=default)


def laravel_batches(**changes: Column) -> list[Column]:
    """The table as a Laravel migration makes it on MySQL: an ``id`` key, varchar(255), an enum."""
    columns = {
        "id": col("id", "bigint(20) unsigned", "int8", nullable=False, default=True),
        "batch_id": col("batch_id", "varchar(255)", "text", length=255, nullable=False),
        "status": col("status", "enum('running','completed','failed','interrupted')", "text", nullable=False,
                      default=True),
        "total": col("total", "int(11)", "int4", nullable=False, default=True),
        "records": col("records", "int(11)", "int4", nullable=False, default=True),
        "started_at": col("started_at", "timestamp", "timestamptz"),
        "created_at": col("created_at", "timestamp", "timestamptz"),
    }
    columns.update(changes)
    return [c for c in columns.values() if c is not None]


LARAVEL_INDEXES = [Index("PRIMARY", ("id",), True), Index("batches_batch_id_unique", ("batch_id",), True)]
ENUM = {"status": frozenset({"running", "completed", "failed", "interrupted"})}


def test_a_missing_table_is_created_with_its_indexes():
    plan = plan_table(BATCHES, PG, None)
    assert [(s.action, s.name) for s in plan.steps] == [("create table", ""), ("add index", "ix_batches_started")]
    assert not plan.exists and not plan.problems


def test_laravels_table_is_extended_not_changed():
    plan = plan_table(BATCHES, MY, laravel_batches(), LARAVEL_INDEXES, ENUM)
    assert not plan.problems
    assert [(s.action, s.name, s.ddl_type, s.default) for s in plan.steps] == [
        ("add column", "seconds", "DOUBLE", None), ("add column", "note", "LONGTEXT", None),
        ("add column", "done", "TINYINT(1)", "1"), ("add index", "ix_batches_started", "", None)]
    assert "columns of its own, kept: id, created_at" in plan.notes
    assert "existing rows: NULL, shown as unknown" in str(plan.steps[0])


def test_the_unique_key_the_upserts_need_is_added_where_only_an_id_key_exists():
    plan = plan_table(BATCHES, MY, laravel_batches(), [Index("PRIMARY", ("id",), True)], ENUM)
    step = next(s for s in plan.steps if s.action == "add unique index")
    assert (step.name, step.columns) == ("ux_batches_key", ("batch_id",))
    # a non-unique index on the key does not do; a unique one in another column order does
    assert any(s.action == "add unique index" for s in plan_table(
        BATCHES, MY, laravel_batches(), [Index("PRIMARY", ("id",), True), Index("k", ("batch_id",), False)], ENUM).steps)


def test_a_named_index_is_not_duplicated_by_one_on_the_same_leading_columns():
    indexes = [*LARAVEL_INDEXES, Index("batches_started_at_status_index", ("started_at", "status"), False)]
    assert "add index" not in {s.action for s in plan_table(BATCHES, MY, laravel_batches(), indexes, ENUM).steps}


@pytest.mark.parametrize("changes, column, found, needed", [
    ({"status": col("status", "tinyint(4)", "int2", nullable=False)}, "status", "tinyint(4)",
     "a text type holding running, completed, interrupted"),
    ({"batch_id": None}, "batch_id", "no such column", "the key column batch_id"),
    ({"records": col("records", "smallint(6)", "int2")}, "records", "smallint(6)", "at least 32 bits"),
    ({"started_at": col("started_at", "varchar(30)", "text", length=30)}, "started_at", "varchar(30)", "timestamp"),
    ({"status": col("status", "varchar(8)", "text", length=8)}, "status", "varchar(8)", "at least 11 characters"),
    ({"batch_id": col("batch_id", "varchar(20)", "text", length=20, nullable=False)}, "batch_id", "varchar(20)",
     "at least 32 characters"),
    ({"user_id": col("user_id", "bigint(20)", "int8", nullable=False)}, "user_id", "NOT NULL without a default",
     "NULL allowed, or a default"),
])
def test_what_the_bundle_cannot_use_is_named(changes, column, found, needed):
    plan = plan_table(BATCHES, MY, laravel_batches(**changes), LARAVEL_INDEXES, ENUM)
    assert [(p.table, p.column) for p in plan.problems] == [("batches", column)]
    problem = plan.problems[0]
    assert found in problem.found and needed in problem.needed
    assert str(problem).startswith(f"table 'batches' column '{column}': found ")


def test_an_enum_or_check_lacking_a_status_the_bundle_writes_is_named():
    plan = plan_table(BATCHES, PG, laravel_batches(), LARAVEL_INDEXES,
                      {"status": frozenset({"running", "completed", "failed"})})
    assert [p.column for p in plan.problems] == ["status"]
    assert "missing: interrupted" in plan.problems[0].needed


def test_wider_and_narrower_types_that_hold_the_values_are_kept_and_noted():
    plan = plan_table(BATCHES, PG, laravel_batches(
        batch_id=col("batch_id", "character varying(40)", "text", length=40, nullable=False),
        seconds=col("seconds", "integer", "int4"), note=col("note", "character varying(500)", "text", length=500),
        total=col("total", "bigint", "int8", nullable=False, default=True)), LARAVEL_INDEXES, ENUM)
    assert not plan.problems
    assert "batch_id: character varying(40), narrower than the VARCHAR(64) the bundle creates, kept" in plan.notes
    assert any(n.startswith("note: character varying(500)") for n in plan.notes)


def test_a_default_the_bundle_relies_on_is_given_where_sqlite_cannot_it_is_named():
    no_default = laravel_batches(total=col("total", "int(11)", "int4", nullable=False))
    steps = plan_table(BATCHES, MY, no_default, LARAVEL_INDEXES, ENUM).steps
    assert ("set default", "total", "0") in [(s.action, s.name, s.default) for s in steps]
    lite = plan_table(BATCHES, LITE, [replace(c, kind="int8" if c.kind.startswith("int") else c.kind)
                                      for c in no_default], LARAVEL_INDEXES, {})
    assert [(p.column, p.found) for p in lite.problems] == [("total", "no default")]


def test_the_web_apps_table_keeps_its_own_columns_and_types():
    app = replace(BATCHES, app_owned=True)
    plan = plan_table(app, MY, laravel_batches(
        user_id=col("user_id", "bigint(20)", "int8", nullable=False),
        note=col("note", "int(11)", "int4"),
        total=col("total", "int(11)", "int4", nullable=False)), LARAVEL_INDEXES, ENUM)
    assert not plan.problems
    assert "set default" not in {s.action for s in plan.steps}  # its defaults are its own
    assert "note: int(11) kept (the bundle reads it as a text type)" in plan.notes
    # what the bundle writes (the columns whose values it names) must still fit
    bad = plan_table(app, MY, laravel_batches(status=col("status", "int(11)", "int4", nullable=False)),
                     LARAVEL_INDEXES, ENUM)
    assert [p.column for p in bad.problems] == ["status"]


def test_sqlite_keeps_tracking_timestamps_as_text():
    lite = [col("batch_id", "TEXT", "text", nullable=False), col("status", "TEXT", "text", nullable=False),
            col("total", "INTEGER", "int8", nullable=False, default=True),
            col("records", "INTEGER", "int8", nullable=False, default=True), col("seconds", "REAL", "float"),
            col("note", "TEXT", "text"), col("started_at", "TEXT", "text"),
            col("done", "INTEGER", "int8", nullable=False, default=True)]
    plan = plan_table(BATCHES, LITE, lite, [Index("PRIMARY", ("batch_id",), True), Index("ix_batches_started",
                                                                                         ("started_at",), False)])
    assert (plan.steps, plan.problems) == ([], [])
    assert [p.column for p in plan_table(BATCHES, PG, [replace(c, source_type="text") if c.name == "started_at"
                                                       else c for c in lite], [], {}).problems] == ["started_at"]


def test_the_version_hash_follows_the_definition():
    later = replace(BATCHES, columns=(*BATCHES.columns, ("verified", "int", False)))
    assert later.digest != BATCHES.digest
    assert replace(BATCHES).digest == BATCHES.digest
    assert replace(BATCHES, values={"status": ("running",)}).digest != BATCHES.digest


def test_index_names_fit_every_dialect():
    assert index_name("ux", "sync_progress", "key") == "ux_sync_progress_key"
    long = index_name("ux", "t" * 70, "key")
    assert len(long) <= 60 and long != index_name("ux", "t" * 71, "key")
