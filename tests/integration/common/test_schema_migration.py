"""The forward migration of the bundle's tables (:mod:`include.common.schema`) on real PostgreSQL
and MariaDB (SQLite where it applies): two processes at once, ``migrate --dry-run`` writing
nothing, the one-statement check of an up-to-date database, and what cannot be adopted refused
by name with nothing changed."""

from __future__ import annotations

import io
import json
import multiprocessing
import os

import pytest

from include.branch_sync import tracking
from include.certificates import batches as certificates
from include.cli import main
from include.common import schema
from include.common.db import Database
from include.common.db.errors import SchemaError
from tests.integration import laravel_tables as laravel
from tests.integration.sync_helpers import fetch, run_sql


@pytest.fixture(params=["postgresql", "mariadb"])
def central(request, pg_database, mariadb_database, connections, airflow_db):
    uri = mariadb_database("mig") if request.param == "mariadb" else pg_database("mig")
    connections({"central_db": uri, "app_db": uri})
    return uri


def cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def _migrate_in_a_process(uri: str, barrier, results) -> None:
    """A separate process, as two workers starting at once: wait for the other, then migrate."""
    os.environ["AIRFLOW_CONN_CENTRAL_DB"] = uri
    try:
        with Database("central_db") as db:
            barrier.wait(timeout=60)
            tracking.ensure_schema(db)
            certificates.ensure_schema(db)
        results.put("ok")
    except Exception as exc:  # reported to the test, which names it
        results.put(f"{type(exc).__name__}: {exc}")


def test_two_processes_migrating_the_laravel_tables_at_once_both_succeed(central):
    laravel.create_sync_tables("central_db")
    history = laravel.fill_sync_history("central_db", days=30)
    laravel.create_certificate_tables("central_db")
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(2), ctx.Queue()
    workers = [ctx.Process(target=_migrate_in_a_process, args=(central, barrier, results)) for _ in range(2)]
    for w in workers:
        w.start()
    outcomes = [results.get(timeout=300) for _ in workers]
    for w in workers:
        w.join(timeout=60)
    assert outcomes == ["ok", "ok"]
    # one migration happened, completely: nothing left to do, each column once, the rows kept
    with Database("central_db") as db:
        plans = schema.migrate(db, (*tracking.SCHEMA, *certificates.SCHEMA), dry_run=True)
        assert [(p.table.name, p.steps, p.problems) for p in plans] == [(p.table.name, [], []) for p in plans]
        assert schema.up_to_date(db, schema._with_versions((*tracking.SCHEMA, *certificates.SCHEMA)))
    assert [r["batch_id"] for r in fetch("central_db", "SELECT batch_id FROM sync_batches ORDER BY id")] == history


def test_dry_run_changes_nothing_then_migrate_does_it_all(central):
    laravel.create_sync_tables("central_db")
    laravel.fill_sync_history("central_db", days=10)
    laravel.create_certificate_tables("central_db")
    laravel.fill_certificate_history("central_db", days=12)
    before = laravel.catalog("central_db")

    code, out, err = cli("migrate", "--dry-run", "--conn", "central_db", "--app-conn", "app_db")
    assert code == 0, out + err
    assert laravel.catalog("central_db") == before  # the catalog is exactly as it was
    assert "would add column dag_id" in out and "would add unique index ux_sync_progress_key" in out
    assert "would create table" in out and "would add column chunk_index" in out

    code, out, err = cli("migrate", "--json", "--conn", "central_db", "--app-conn", "app_db")
    assert code == 0, out + err
    doc = json.loads(out)
    assert doc["ok"] and not doc["dry_run"] and [d["conn_id"] for d in doc["databases"]] == ["central_db", "app_db"]
    steps = {(t["table"], s["action"], s["name"]) for d in doc["databases"] for t in d["tables"] for s in t["steps"]}
    assert {("sync_batches", "add column", "dag_id"), ("sync_progress", "add unique index", "ux_sync_progress_key"),
            ("certificates", "add column", "chunk_index"), ("sync_state", "create table", None)} <= steps
    after = laravel.catalog("central_db")
    assert after != before
    # never dropped, renamed or narrowed: every column there before is there with its type
    assert [c for c in before["columns"]] == [c for c in after["columns"] if (c["t"], c["c"]) in
                                              {(b["t"], b["c"]) for b in before["columns"]}]

    code, out, err = cli("migrate", "--dry-run", "--conn", "central_db", "--app-conn", "app_db")
    assert code == 0 and out.splitlines()[0] == "central_db (%s): up to date" % Database("central_db").dialect.name


def test_an_up_to_date_database_is_checked_with_one_statement(central):
    with Database("central_db") as db:
        tracking.ensure_schema(db)
        schema._UP_TO_DATE.clear()  # as a new process would start
        db.statements = 0
        tracking.ensure_schema(db)
        assert db.statements == 1
        tracking.ensure_schema(db)  # the same process again: not even that
        assert db.statements == 1


def test_a_definition_with_a_new_column_is_applied_on_next_use(central):
    """What a later release does: one more tuple in a TableDef, nothing else."""
    from dataclasses import replace

    with Database("central_db") as db:
        tracking.ensure_schema(db)
        run_sql("central_db", "INSERT INTO sync_batches (batch_id, status) VALUES ('sync_20260101_000000_aaaaaaaa', "
                "'completed')")
        batches = tracking.TABLES[0]
        later = replace(batches, columns=(*batches.columns, ("verified_tables", "int", True)),
                        defaults={**batches.defaults, "verified_tables": "0"})
        schema.ensure_tables(db, (later,))
        run_sql("central_db", "INSERT INTO sync_batches (batch_id, status) VALUES ('sync_20260102_000000_bbbbbbbb', "
                "'running')")
    assert [(r["batch_id"], r["verified_tables"]) for r in fetch(
        "central_db", "SELECT batch_id, verified_tables FROM sync_batches ORDER BY batch_id")] == [
        ("sync_20260101_000000_aaaaaaaa", None), ("sync_20260102_000000_bbbbbbbb", 0)]
    (record,) = fetch("central_db", f"SELECT * FROM {schema.SCHEMA_TABLE} WHERE table_name = 'sync_batches'")
    assert record["definition_hash"] == later.digest != batches.digest
    assert ["verified_tables", "int", True] in json.loads(record["definition"])["columns"]


def test_rows_sharing_a_key_stop_the_unique_index_by_name(central):
    laravel.create_sync_tables("central_db")
    laravel.fill_sync_history("central_db", days=3)
    run_sql("central_db", "INSERT INTO sync_progress (batch_id, connection_name, table_name, model_name, status) "
            "SELECT batch_id, connection_name, table_name, model_name, status FROM sync_progress WHERE table_name = 'ad_org'")
    before = laravel.catalog("central_db")
    with Database("central_db") as db, pytest.raises(SchemaError) as raised:
        tracking.ensure_schema(db)
    text = str(raised.value)
    assert "table 'sync_progress' column 'batch_id, connection_name, table_name'" in text
    assert "table_name='ad_org' (2 rows)" in text and "ux_sync_progress_key" in text
    assert laravel.catalog("central_db") == before  # refused before anything changed
    code, out, _ = cli("migrate", "--dry-run", "--conn", "central_db", "--app-conn", "nowhere")
    assert code == 1 and "PROBLEM: table 'sync_progress'" in out


def test_an_enum_without_a_status_the_bundle_writes_and_a_foreign_not_null_column_are_refused(central):
    with Database("central_db") as db:
        enum = ("enum('running','completed','failed') NOT NULL" if db.dialect.name == "mysql"
                else "varchar(20) CHECK (status IN ('running', 'completed', 'failed')) NOT NULL")
    laravel.create_sync_tables("central_db", status=enum)
    run_sql("central_db", "ALTER TABLE sync_progress ADD COLUMN operator_id bigint NOT NULL")
    with Database("central_db") as db, pytest.raises(SchemaError) as raised:
        tracking.ensure_schema(db)
    problems = {(p.table, p.column): p for p in raised.value.problems}
    assert set(problems) == {("sync_batches", "status"), ("sync_progress", "operator_id")}
    assert "missing: interrupted" in problems["sync_batches", "status"].needed
    assert "NOT NULL without a default" in problems["sync_progress", "operator_id"].found


def test_the_web_apps_tables_keep_their_own_columns_and_types(central):
    """employees and whatsapp_accounts of the web app: columns of their own (even NOT NULL) and
    other types are theirs; only what the bundle reads and lacks is added."""
    with Database("central_db") as db:
        big = "bigint unsigned NOT NULL AUTO_INCREMENT PRIMARY KEY" if db.dialect.name == "mysql" else "bigserial PRIMARY KEY"
    run_sql("central_db",
            f"CREATE TABLE employees (id {big}, nik varchar(20) NOT NULL, name varchar(100) NOT NULL, "
            f"email varchar(100), phone bigint, is_active smallint NOT NULL)",
            f"CREATE TABLE whatsapp_accounts (id {big}, uuid char(36) NOT NULL, workspace_id bigint NOT NULL, "
            f"session_id varchar(100), status varchar(20) NOT NULL, is_active smallint NOT NULL, metadata text, "
            f"user_id bigint NOT NULL, updated_at timestamp NULL)",
            "INSERT INTO employees (nik, name, phone, is_active) VALUES ('N1', 'Ani', 62811, 1)")
    from include.health.whatsapp import accounts

    with Database("central_db") as db:
        certificates.ensure_schema(db)
        accounts.ensure_accounts_table(db)
        cols = {c.name: c for c in db.run(lambda cur: db.dialect.describe(cur, "employees"))}
        wa = {c.name for c in db.run(lambda cur: db.dialect.describe(cur, "whatsapp_accounts"))}
    assert {"position", "department"} <= set(cols) and cols["phone"].kind == "int8" and "nik" in cols
    assert {"phone_number", "user_id"} <= wa
    assert fetch("central_db", "SELECT name, department FROM employees") == [{"name": "Ani", "department": None}]


def test_sqlite_the_demos_database_is_migrated_the_same_way(tmp_path, connections, airflow_db):
    connections({"central_db": f"sqlite:///{tmp_path / 'central.db'}"})
    with Database("central_db") as db:
        dialect = db.dialect
        db.run(lambda cur: [cur.execute(t.create_sql(dialect)) for t in tracking.SCHEMA])
    run_sql("central_db", "ALTER TABLE sync_progress DROP COLUMN records_deleted",
            "INSERT INTO sync_batches (batch_id, status) VALUES ('sync_20260101_000000_aaaaaaaa', 'completed')",
            "INSERT INTO sync_progress (batch_id, connection_name, table_name, status) "
            "VALUES ('sync_20260101_000000_aaaaaaaa', 'a', 't', 'completed')")
    with Database("central_db") as db:
        tracking.ensure_schema(db)
    rows = fetch("central_db", "SELECT records_deleted FROM sync_progress")
    assert rows == [{"records_deleted": 0}]  # SQLite adds a column with its default for every row
    code, out, _ = cli("migrate", "--dry-run", "--conn", "central_db", "--app-conn", "nowhere")
    assert code == 0 and "  sync_progress: up to date" in out and "  sync_batches: up to date" in out, out


def test_naive_timestamps_in_a_session_zone_other_than_utc_are_pointed_out(pg_database, connections, airflow_db):
    """Laravel's ``timestamp(0) without time zone`` columns take an aware value in the session's
    time zone, while the bundle reads them as UTC: a database not in UTC is named in the plan."""
    uri = pg_database("tz")
    name = uri.rsplit("/", 1)[1]
    connections({"central_db": uri})
    laravel.create_sync_tables("central_db")
    run_sql("central_db", f"ALTER DATABASE \"{name}\" SET timezone TO 'UTC'")
    with Database("central_db") as db:
        plans = {p.table.name: p for p in schema.migrate(db, tracking.SCHEMA, dry_run=True)}
    assert not any("time zone" in n for n in plans["sync_batches"].notes)
    run_sql("central_db", f"ALTER DATABASE \"{name}\" SET timezone TO 'Asia/Jakarta'")
    with Database("central_db") as db:
        plans = {p.table.name: p for p in schema.migrate(db, tracking.SCHEMA, dry_run=True)}
    assert "started_at, completed_at, updated_at: without time zone, so written in this session's time zone " \
           "Asia/Jakarta but read as UTC: set the database's time zone to UTC" in plans["sync_batches"].notes
