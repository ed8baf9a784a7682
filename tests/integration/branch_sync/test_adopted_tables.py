"""``branch_sync`` on a central database that already holds tracking tables: the replaced Laravel
system's (seed 002's columns, Laravel's ``id``, timestamps and types, months of history), or an
earlier release's with columns missing; and one whose ``status`` cannot hold the bundle's
statuses. Real PostgreSQL and MariaDB, whole runs with ``dag.test()``."""

from __future__ import annotations

import io
import json

import pytest

from include.branch_sync import tracking
from include.cli import main
from include.common.db import Database
from include.common.schema import SCHEMA_TABLE
from tests.integration import laravel_tables as laravel
from tests.integration.branch_sync.test_branch_sync_dag import PAIRS, SIZES, batch_of, branches, progress, run  # noqa: F401
from tests.integration.sync_helpers import fetch, run_sql

LARAVEL_BATCH_COLUMNS = ["id", "batch_id", "status", "total_tables", "completed_tables", "failed_tables",
                         "command_options", "started_at", "completed_at", "duration_seconds", "created_at", "updated_at"]
LARAVEL_PROGRESS_COLUMNS = ["id", "batch_id", "connection_name", "table_name", "model_name", "status",
                            "records_processed", "records_skipped", "error_message", "started_at", "completed_at",
                            "duration_seconds", "retry_count", "created_at", "updated_at"]


def cli(*argv: str) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue() + err.getvalue()


def columns_of(conn_id: str, table: str) -> set[str]:
    with Database(conn_id) as db:
        return {c.name for c in db.run(lambda cur: db.dialect.describe(cur, table))}


@pytest.mark.parametrize("branches", ["pg", "mariadb"], indirect=True)
def test_laravel_tables_with_months_of_history_are_adopted_and_listed(branches):
    laravel.create_sync_tables("central_db")
    history = laravel.fill_sync_history("central_db", days=120)
    before = (laravel.rows("central_db", "sync_batches", LARAVEL_BATCH_COLUMNS),
              laravel.rows("central_db", "sync_progress", LARAVEL_PROGRESS_COLUMNS))

    dag_run = run()
    assert dag_run.state == "success"
    batch = batch_of(dag_run)
    assert (batch["status"], batch["total_tables"], batch["completed_tables"], batch["failed_tables"],
            batch["skipped_tables"]) == ("completed", len(PAIRS), len(PAIRS), 0, 0)
    rows = progress(batch["batch_id"])
    assert {k: (r["status"], r["records_processed"], r["records_deleted"]) for k, r in rows.items()} == {
        k: ("completed", SIZES[k[1]], 0) for k in PAIRS}

    # the history is intact: every Laravel row and value as it was, its ids kept
    assert (laravel.rows("central_db", "sync_batches", LARAVEL_BATCH_COLUMNS)[:len(history)],
            laravel.rows("central_db", "sync_progress", LARAVEL_PROGRESS_COLUMNS)[:len(before[1])]) == before
    # what the old rows never recorded is unknown (NULL), not zero
    old = fetch("central_db", "SELECT skipped_tables, dag_id, run_id FROM sync_batches WHERE batch_id = %s",
                (history[0],))[0]
    assert old == {"skipped_tables": None, "dag_id": None, "run_id": None}
    # the new batch got an id of Laravel's sequence after the old ones
    assert fetch("central_db", "SELECT id FROM sync_batches WHERE batch_id = %s", (batch["batch_id"],))[0]["id"] > len(history)

    # sync-status lists the old batches beside the new one, newest first
    code, text = cli("sync-status", "--all", "--json", "--limit", "500")
    assert code == 0, text
    listed = [b["batch_id"] for b in json.loads(text)]
    assert listed == [batch["batch_id"], *reversed(history)]
    # an old batch in detail: counts derived from its rows, the records it never counted unknown
    failed_old = history[3]  # failed on day 4 (see laravel.fill_sync_history)
    code, text = cli("sync-status", failed_old, "--json")
    assert code == 0, text
    doc = json.loads(text)
    assert (doc["status"], doc["total_tables"], doc["completed_tables"], doc["failed_tables"]) == ("failed", 6, 5, 1)
    assert {t["records_deleted"] for t in doc["tables"]} == {None}
    assert [t["error_message"] for t in doc["tables"] if t["status"] == "failed"] == ["SQLSTATE[08006] connection timeout"]
    code, text = cli("sync-status", failed_old, "--color", "never")
    assert code == 0 and "connection timeout" in text and "Failed: 1 table" in text, text
    # the stats reach back over the Laravel history
    code, text = cli("sync-stats", "--last", "500", "--json")
    assert code == 0, text
    stats = json.loads(text)
    assert stats["batches"] == len(history) + 1
    assert {r["table_name"] for r in stats["most_failing_tables"]} == {"c_order"}
    # the export of an old batch: records deleted unknown, not 0
    from include.branch_sync.export import report_sheets

    with Database("central_db") as db:
        summary, _ = report_sheets(db, failed_old)
    cells = dict(zip([c.header for c in summary.columns], summary.rows[0]))
    assert cells["Records deleted"] is None and cells["Failed"] == 1 and cells["DAG"] is None
    # the console lists them too, and an old batch's page shows what it lacks as unknown
    from include.console import pages, params, sync

    with Database("central_db") as db:
        listing = sync.list_batches(db, params.sync_list({"per_page": "500"}))
        detail = sync.batch_detail(db, failed_old, params.sync_detail({}))
    assert listing["total"] == len(history) + 1
    assert [b["batch_id"] for b in listing["batches"]] == listed
    assert detail["records_deleted"] is None and detail["records_processed"] is not None
    html = pages.sync_detail(detail, {}, can_act=False)
    assert failed_old in html and '<td class="n x">-</td>' in html and "None" not in html
    assert failed_old in pages.sync_list(listing, {})


@pytest.mark.parametrize("branches", ["pg", "mariadb"], indirect=True)
def test_tables_of_an_earlier_release_get_their_columns_back_and_count_exactly(branches):
    """An earlier release's tables lacked columns a later one added; their rows stay, the next
    run adds the columns and counts its own batch exactly."""
    with Database("central_db") as db:
        dialect = db.dialect
        db.run(lambda cur: [cur.execute(t.create_sql(dialect)) for t in tracking.SCHEMA])
    run_sql("central_db",
            "ALTER TABLE sync_batches DROP COLUMN skipped_tables",
            "ALTER TABLE sync_batches DROP COLUMN updated_at",
            "ALTER TABLE sync_progress DROP COLUMN records_deleted",
            "ALTER TABLE sync_progress DROP COLUMN task_id",
            "ALTER TABLE sync_progress DROP COLUMN map_index",
            "INSERT INTO sync_batches (batch_id, dag_id, run_id, status, total_tables, completed_tables, failed_tables, "
            "started_at) VALUES ('sync_20261001_000000_earlier1', 'branch_sync', 'manual__old', 'completed', 1, 1, 0, "
            "'2026-10-01 00:00:00')",
            "INSERT INTO sync_progress (batch_id, connection_name, table_name, status, records_processed, "
            "records_skipped, retry_count) VALUES ('sync_20261001_000000_earlier1', 'pgsql_aa', 'ad_org', 'completed', "
            "5, 0, 0)")
    assert "records_deleted" not in columns_of("central_db", "sync_progress")

    dag_run = run()
    assert dag_run.state == "success"
    assert {"skipped_tables", "updated_at"} <= columns_of("central_db", "sync_batches")
    assert {"records_deleted", "task_id", "map_index"} <= columns_of("central_db", "sync_progress")
    batch = batch_of(dag_run)
    assert (batch["total_tables"], batch["completed_tables"], batch["failed_tables"], batch["skipped_tables"]) == (
        len(PAIRS), len(PAIRS), 0, 0)
    rows = progress(batch["batch_id"])
    assert {k: (r["records_processed"], r["records_skipped"], r["records_deleted"]) for k, r in rows.items()} == {
        k: (SIZES[k[1]], 0, 0) for k in PAIRS}
    assert all(r["task_id"] and r["map_index"] is not None for r in rows.values())
    earlier = fetch("central_db", "SELECT * FROM sync_progress WHERE batch_id = 'sync_20261001_000000_earlier1'")
    assert [(r["records_processed"], r["records_deleted"]) for r in earlier] == [(5, None)]
    versions = {r["table_name"]: r["definition_hash"] for r in fetch("central_db", f"SELECT * FROM {SCHEMA_TABLE}")}
    assert {t.name: t.digest for t in tracking.SCHEMA}.items() <= versions.items()


@pytest.mark.parametrize("branches", ["pg", "mariadb"], indirect=True)
def test_a_status_column_that_cannot_hold_the_statuses_fails_planning_at_once_by_name(branches, capfd):
    laravel.create_sync_tables("central_db", status="smallint NOT NULL DEFAULT 0")
    laravel_columns = columns_of("central_db", "sync_batches")

    dag_run = run()
    assert dag_run.state == "failed"
    tries = {ti.task_id: (ti.state, ti.try_number) for ti in dag_run.get_task_instances()}
    assert tries["plan"] == ("failed", 1)  # permanent: no retry
    out, err = capfd.readouterr()
    assert "table 'sync_batches' column 'status': found smallint" in out + err
    assert "running, completed, failed, interrupted" in out + err
    # nothing was changed or written: the operator fixes the table, then runs again
    assert columns_of("central_db", "sync_batches") == laravel_columns
    assert not fetch("central_db", "SELECT batch_id FROM sync_batches")
