"""``certificate_dispatch`` on an ``app_db`` that already holds the certificate tables (the
replaced system's, with Laravel's ``id``, timestamps, types and history; or an earlier release's
with columns missing) and the web app's own ``employees``; and one whose ``status`` cannot hold
the bundle's statuses. Real MariaDB and PostgreSQL, whole runs with ``dag.test()``."""

from __future__ import annotations

import io
import json

from include.certificates import batches as cert
from include.cli import main
from include.common.db import Database
from tests.integration import laravel_tables as laravel
from tests.integration.certificates.test_certificate_dispatch_dag import app, batch_of, load_dag  # noqa: F401
from tests.integration.sync_helpers import fetch, run_sql

LARAVEL_BATCH_COLUMNS = ["id", "batch_id", "data_source", "source_file", "total_participants", "processed_count",
                         "success_count", "failed_count", "progress_percentage", "status", "error_message",
                         "started_at", "completed_at", "created_at", "updated_at"]
LARAVEL_ITEM_COLUMNS = ["id", "batch_id", "row_number", "participant_name", "email", "certificate_number",
                        "verification_token", "file_path", "status", "error_message", "attempts", "generated_at",
                        "created_at", "updated_at"]


def columns_of(table: str) -> set[str]:
    with Database("app_db") as db:
        return {c.name for c in db.run(lambda cur: db.dialect.describe(cur, table))}


def test_laravel_certificate_tables_with_history_are_adopted(app):
    uploads, _ = app
    laravel.create_certificate_tables("app_db")
    history = laravel.fill_certificate_history("app_db", days=90)
    before = (laravel.rows("app_db", "certificate_batches", LARAVEL_BATCH_COLUMNS),
              laravel.rows("app_db", "certificates", LARAVEL_ITEM_COLUMNS),
              laravel.rows("app_db", "employees"))
    (uploads / "peserta.csv").write_text("Nama;Email\nBudi;budi@example.com\nSiti;siti@example.com\n", encoding="utf-8")

    dag = load_dag()
    from_file = dag.test(run_conf={"data_source": "file", "file": "peserta.csv", "event_name": "Pelatihan K3",
                                   "event_date": "2026-12-01"})
    assert from_file.state == "success"
    from_employees = dag.test(run_conf={"data_source": "database", "employee_ids": [1, 2], "event_name": "Rapat",
                                        "event_date": "2026-12-02"})
    assert from_employees.state == "success"
    for dag_run, names in ((from_file, {"Budi", "Siti"}), (from_employees, {"Karyawan 1", "Karyawan 2"})):
        batch = batch_of(dag_run)
        assert (batch["status"], batch["total_participants"], batch["success_count"], batch["failed_count"]) == (
            "completed", 2, 2, 0)
        rows = fetch("app_db", "SELECT participant_name, status, chunk_index, attempts FROM certificates "
                               "WHERE batch_id = %s", (batch["batch_id"],))
        assert {r["participant_name"] for r in rows} == names
        assert {(r["status"], r["chunk_index"], r["attempts"]) for r in rows} == {("generated", 0, 1)}

    # the history and the web app's employees are as they were; what old rows lack is unknown
    n_batches, n_items = len(before[0]), len(before[1])
    assert (laravel.rows("app_db", "certificate_batches", LARAVEL_BATCH_COLUMNS)[:n_batches],
            laravel.rows("app_db", "certificates", LARAVEL_ITEM_COLUMNS)[:n_items],
            laravel.rows("app_db", "employees")) == before
    old = fetch("app_db", "SELECT dag_id, event_name FROM certificate_batches WHERE batch_id = %s", (history[0],))
    assert old == [{"dag_id": None, "event_name": None}]

    out, err = io.StringIO(), io.StringIO()
    assert main(["cert-status", "--all", "--json", "--limit", "500"], out=out, err=err) == 0, err.getvalue()
    listed = [b["batch_id"] for b in json.loads(out.getvalue())]
    assert listed[:2] == [batch_of(from_employees)["batch_id"], batch_of(from_file)["batch_id"]]
    assert listed[2:] == list(reversed(history))
    out = io.StringIO()
    assert main(["cert-status", history[0], "--json"], out=out, err=io.StringIO()) == 0
    old_doc = json.loads(out.getvalue())
    assert (old_doc["status"], old_doc["total_participants"], old_doc["failed_count"]) == ("completed_with_errors", 4, 1)


def test_tables_of_an_earlier_release_get_their_columns_back(app):
    uploads, _ = app
    with Database("app_db") as db:
        dialect = db.dialect
        db.run(lambda cur: [cur.execute(t.create_sql(dialect)) for t in cert.SCHEMA])
    run_sql("app_db", "ALTER TABLE certificate_batches DROP COLUMN event_date",
            "ALTER TABLE certificate_batches DROP COLUMN updated_at",
            "ALTER TABLE certificates DROP COLUMN organization",
            f"INSERT INTO certificate_batches (batch_id, data_source, status, total_participants, success_count) "
            f"VALUES ('cert_20261001_000000_earlier1', 'file', 'completed', 1, 1)")
    (uploads / "a.csv").write_text("name,organization\nAni,PT Maju\n", encoding="utf-8")
    dag_run = load_dag().test(run_conf={"file": "a.csv", "event_name": "E", "event_date": "2026-12-03"})
    assert dag_run.state == "success"
    assert {"event_date", "updated_at"} <= columns_of("certificate_batches")
    batch = batch_of(dag_run)
    assert (batch["event_date"], batch["total_participants"], batch["success_count"]) == ("2026-12-03", 1, 1)
    assert fetch("app_db", "SELECT organization FROM certificates WHERE batch_id = %s", (batch["batch_id"],)) == [
        {"organization": "PT Maju"}]
    assert fetch("app_db", "SELECT event_date FROM certificate_batches WHERE batch_id = 'cert_20261001_000000_earlier1'"
                 ) == [{"event_date": None}]


def test_an_integer_status_fails_prepare_at_once_by_name(app, capfd):
    uploads, _ = app
    laravel.create_certificate_tables("app_db", item_status="integer NOT NULL DEFAULT 0")
    (uploads / "a.csv").write_text("name\nAni\n", encoding="utf-8")
    dag_run = load_dag().test(run_conf={"file": "a.csv", "event_name": "E", "event_date": "2026-12-03"})
    assert dag_run.state == "failed"
    assert {ti.task_id: ti.try_number for ti in dag_run.get_task_instances()}["prepare"] == 1  # no retry
    out, err = capfd.readouterr()
    assert "table 'certificates' column 'status': found int" in out + err
    assert "pending, generated, failed" in out + err
    assert not fetch("app_db", "SELECT batch_id FROM certificate_batches")
    assert "chunk_index" not in columns_of("certificates")  # nothing changed
