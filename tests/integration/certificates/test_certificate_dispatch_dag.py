"""``certificate_dispatch`` with ``dag.test()`` on real MariaDB and PostgreSQL as ``app_db``."""

from __future__ import annotations

import multiprocessing
import os
import threading
import time

import pytest
from pypdf import PdfReader

from include.certificates import batches as cert
from include.certificates.generate import generate_chunk
from include.common.db import Database
from tests.integration.sync_helpers import fetch, run_sql

SEED_CSV = ("Nama;Email;No HP;Instansi\n"
            "Budi Santoso;budi@example.com;081234567890;PT Maju\n"
            "Siti Nurhaliza;siti@example.com;081298765432;PT Jaya\n"
            "Nguyễn Văn An;an@example.com;0899;Hanoi Co\n"
            "Łukasz Żółć;lukasz@example.com;+48123;Kraków SA\n"
            "José Müller;jose@example.com;0812;Berlin GmbH\n"
            "O'Brien & Sons;obrien@example.com;0813;Dublin Ltd\n")


@pytest.fixture(params=["mariadb", "postgresql"])
def app(request, pg_database, mariadb_database, connections, tmp_path, monkeypatch, airflow_db):
    uri = mariadb_database("app") if request.param == "mariadb" else pg_database("app")
    connections({"app_db": uri})
    uploads, output = tmp_path / "uploads", tmp_path / "output"
    (uploads / "2026").mkdir(parents=True)
    monkeypatch.setenv("CERTIFICATE_UPLOAD_BASE", str(uploads))
    monkeypatch.setenv("CERTIFICATE_OUTPUT_BASE", str(output))
    return uploads, output


def load_dag():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder="dags/certificate_dispatch.py")
    assert not bag.import_errors, bag.import_errors
    return bag.dags["certificate_dispatch"]


def q(name: str) -> str:
    """Quote for app_db's dialect (``row_number`` is a reserved word in MariaDB)."""
    return Database("app_db").quote(name)


def batch_of(dag_run):
    (row,) = fetch("app_db", "SELECT * FROM certificate_batches WHERE run_id = %s", (dag_run.run_id,))
    return row


def test_seed_file_of_six_participants(app):
    uploads, output = app
    (uploads / "2026" / "peserta.csv").write_text(SEED_CSV, encoding="utf-8-sig")
    dag_run = load_dag().test(run_conf={"data_source": "file", "file": "2026/peserta.csv",
                                        "event_name": "Pelatihan K3", "event_date": "2026-11-20", "chunk_size": 4})
    assert dag_run.state == "success"
    batch = batch_of(dag_run)
    assert (batch["status"], batch["total_participants"], batch["success_count"], batch["failed_count"],
            float(batch["progress_percentage"])) == ("completed", 6, 6, 0, 100.0)
    rows = fetch("app_db", f"SELECT * FROM certificates WHERE batch_id = %s ORDER BY {q('row_number')}",
                 (batch["batch_id"],))
    assert [r["row_number"] for r in rows] == [2, 3, 4, 5, 6, 7]  # as Excel numbers them (header is row 1)
    assert len({r["certificate_number"] for r in rows}) == 6 and len({r["verification_token"] for r in rows}) == 6
    assert rows[0]["phone"] == "081234567890"  # leading zero kept
    for row in rows:
        text = PdfReader(row["file_path"]).pages[0].extract_text()
        assert row["participant_name"] in text and row["certificate_number"] in text and "Pelatihan K3" in text
        assert "20 November 2026" in text
    # clearing/re-running a chunk never duplicates: the same run's rows stay as they are
    assert generate_chunk(Database("app_db"), batch["batch_id"], 0, "http://v") == {"generated": 0, "failed": 0}


def test_bad_rows_are_reported_and_unrenderable_names_fail_alone(app):
    uploads, _ = app
    (uploads / "mixed.csv").write_text("name,email\nAni,ani@example.com\n,missing@example.com\n张伟,zw@example.com\n"
                                       "Budi,not-an-email\nCitra,citra@example.com\n", encoding="utf-8")
    dag_run = load_dag().test(run_conf={"file": "mixed.csv", "event_name": "Seminar", "event_date": "2026-11-21"})
    assert dag_run.state == "success"  # completed with errors: good participants still got theirs
    batch = batch_of(dag_run)
    assert (batch["status"], batch["success_count"], batch["failed_count"]) == ("completed_with_errors", 2, 3)
    errors = {r["row_number"]: r["error_message"] for r in fetch(
        "app_db", f"SELECT {q('row_number')}, error_message FROM certificates WHERE status = 'failed' AND batch_id = %s",
        (batch["batch_id"],))}
    assert "row 3" in errors[3] and "name" in errors[3].lower()
    assert "张" in errors[4] or "render" in errors[4].lower()
    assert "row 5" in errors[5] and "email" in errors[5].lower()


@pytest.mark.parametrize("conf, message", [
    ({"file": "../../etc/passwd.csv"}, "outside the upload base"),
    ({"file": "/etc/hosts"}, "outside the upload base"),
    ({"file": "missing.csv"}, "does not exist"),
    ({"file": "notes.txt"}, "not a .csv or .xlsx"),
    ({"file": None}, "required"),
    ({"file": "ok.csv", "event_name": "研讨会"}, "cannot print"),
    ({"file": "ok.csv", "evnet_name": "x"}, "unknown key(s) 'evnet_name'; allowed: chunk_size, data_source"),
    ({"file": "ok\x00.csv"}, "param 'file': 'ok\\x00.csv' contains a control character"),
])
def test_bad_requests_are_refused_before_any_row_is_written(app, conf, message, capfd):
    uploads, _ = app
    (uploads / "notes.txt").write_text("x")
    (uploads / "ok.csv").write_text("name\nAni\n")
    dag_run = load_dag().test(run_conf={"event_name": "E", "event_date": "2026-01-01", **conf})  # conf wins
    assert dag_run.state == "failed"
    assert {ti.task_id: ti.try_number for ti in dag_run.get_task_instances()}["prepare"] == 1  # refused, no retry
    out, err = capfd.readouterr()  # task logs go through structlog to the console
    assert message in out + err
    with Database("app_db") as db:
        cert.ensure_schema(db)
    assert not fetch("app_db", "SELECT 1 AS x FROM certificates")


def test_a_file_of_2000_participants_in_mapped_chunks(app):
    """An XLSX of 2,000 participants under a title row: 8 mapped chunks of 250, every certificate
    once, numbers unique, counts exact."""
    from openpyxl import Workbook

    uploads, output = app
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("Peserta")
    sheet.append(["Daftar Peserta Pelatihan K3 2026"])
    sheet.append(["No", "Nama Lengkap", "E-mail", "No. HP", "Instansi"])
    for i in range(1, 2001):
        sheet.append([i, f"Peserta Nomor {i}", f"peserta{i}@example.com", f"0812{i:08d}", f"Cabang {i % 17 + 1}"])
    workbook.save(uploads / "2026" / "peserta_2000.xlsx")
    dag_run = load_dag().test(run_conf={"file": "2026/peserta_2000.xlsx", "event_name": "Pelatihan K3",
                                        "event_date": "2026-11-20", "chunk_size": 250})
    assert dag_run.state == "success"
    generate = [ti for ti in dag_run.get_task_instances() if ti.task_id == "generate"]
    assert len(generate) == 8 and all(ti.state == "success" for ti in generate)
    batch = batch_of(dag_run)
    assert (batch["status"], batch["total_participants"], batch["success_count"], batch["failed_count"],
            float(batch["progress_percentage"])) == ("completed", 2000, 2000, 0, 100.0)
    rows = fetch("app_db", f"SELECT {q('row_number')}, phone, certificate_number, file_path FROM certificates "
                           "WHERE batch_id = %s", (batch["batch_id"],))
    assert sorted(r["row_number"] for r in rows) == list(range(3, 2003))  # under the title and header rows
    assert len({r["certificate_number"] for r in rows}) == 2000
    assert {r["phone"] for r in rows if r["row_number"] == 3} == {"081200000001"}
    assert len(list((output / batch["batch_id"]).glob("*.pdf"))) == 2000


@pytest.mark.parametrize("kind", ["unparseable_mid_file", "every_row_bad"])
def test_an_upload_failing_mid_stream_fails_the_batch_with_its_reason_and_leaves_nothing_pending(app, kind):
    """The reader streams: rows are written in bundles of 500 before the file's end is read. A file
    that turns out unreadable later fails the batch with the file, row and reason, and every row
    already written says it was not generated; no PDF is written."""
    uploads, output = app
    if kind == "unparseable_mid_file":  # an unclosed quote at row 1202 swallows the rest: 9 MiB in one cell
        good = "".join(f"Peserta {i},p{i}@example.com\n" for i in range(1200))
        rest = "".join(f"Sesudah {i},s{i}@example.com\n" for i in range(400_000))
        (uploads / "big.csv").write_text(f'name,email\n{good}"Rusak,x@example.com\n{rest}', encoding="utf-8")
        expected = ("big.csv", "after row 1201", "quote")
    else:  # every row has an error: known only at the end of the file
        bad = "".join(f"Peserta {i},not-an-email-{i}\n" for i in range(1200))
        (uploads / "big.csv").write_text("name,email\n" + bad, encoding="utf-8")
        expected = ("big.csv", "no usable rows", "1200")
    dag_run = load_dag().test(run_conf={"file": "big.csv", "event_name": "E", "event_date": "2026-01-01"})
    assert dag_run.state == "failed"
    batch = batch_of(dag_run)
    assert batch["status"] == "failed"
    assert all(part in batch["error_message"] for part in expected), batch["error_message"]
    statuses = {r["status"]: r["n"] for r in fetch(
        "app_db", "SELECT status, COUNT(*) AS n FROM certificates WHERE batch_id = %s GROUP BY status",
        (batch["batch_id"],))}
    assert set(statuses) <= {"failed"} and statuses, statuses  # nothing left pending in a failed batch
    assert (batch["total_participants"], batch["failed_count"], float(batch["progress_percentage"])) == (
        statuses["failed"], statuses["failed"], 100.0)
    assert not list(output.rglob("*.pdf"))


def test_database_source_and_unknown_employee(app):
    with Database("app_db") as db:
        cert.ensure_schema(db)
    active = "TRUE" if Database("app_db").dialect.name == "postgresql" else "1"
    run_sql("app_db", "INSERT INTO employees (id, name, email, phone, position, department, is_active) VALUES "
            f"(7, 'Dewi Lestari', 'dewi@example.com', '0811', 'Staff', 'HR', {active}), "
            f"(8, 'Eko Prasetyo', 'eko@example.com', '0812', 'Manager', 'IT', {active})")
    dag = load_dag()
    refused = dag.test(run_conf={"data_source": "database", "employee_ids": [7, 99], "event_name": "E",
                                 "event_date": "2026-01-01"})
    assert refused.state == "failed" and not fetch("app_db", "SELECT 1 AS x FROM certificates")
    dag_run = dag.test(run_conf={"data_source": "database", "employee_ids": [8], "event_name": "Rapat",
                                 "event_date": "2026-02-02", "chunk_size": 1})
    assert dag_run.state == "success"
    (row,) = fetch("app_db", "SELECT * FROM certificates")
    assert (row["row_number"], row["participant_name"], row["status"]) == (8, "Eko Prasetyo", "generated")


def _complete(uri: str, batch_id: str, rows: list[int]) -> None:
    os.environ["AIRFLOW_CONN_APP_DB"] = uri
    with Database("app_db") as db:
        for number in rows:
            cert.record_results(db, batch_id, [(number, "generated", f"/x/{number}.pdf", None)])
            cert.refresh_counts(db, batch_id)  # concurrent derivations, as the task callbacks do


def test_600_concurrent_completions_from_8_processes_are_counted_exactly(app):
    """Eight writers, each recording a participant and re-deriving the counts as the task
    callbacks do, interleaved on the same batch row: no completion is lost or counted twice."""
    uri = os.environ["AIRFLOW_CONN_APP_DB"]
    participants = [cert.Participant(i, f"P{i}") for i in range(1, 601)]
    with Database("app_db") as db:
        cert.ensure_schema(db)
        cert.create_batch(db, "cert_20260101_000000_concurrn", dag_id="d", run_id="r", data_source="file",
                          source_file="x.csv", event_name="E", event_date="2026-01-01", participants=participants,
                          chunk_size=75)
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_complete, args=(uri, "cert_20260101_000000_concurrn", list(range(i + 1, 601, 8))))
             for i in range(8)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(300)
        assert p.exitcode == 0
    with Database("app_db") as db:
        final = cert.finalize_batch(db, "cert_20260101_000000_concurrn")
    assert (final["processed"], final["success"], final["status"], final["progress_percentage"]) == (
        600, 600, "completed", 100.0)


def test_killed_connections_and_short_idle_timeout_lose_no_participant(app, monkeypatch):
    """Seed 000's "MySQL server has gone away", and PostgreSQL's admin shutdown: connections die
    while PDFs render and while idle; every write reconnects and retries."""
    import include.certificates.generate as pdf  # render_certificate as the task looks it up

    uploads, _ = app
    (uploads / "slow.csv").write_text("name\n" + "".join(f"Peserta {i}\n" for i in range(12)), encoding="utf-8")
    mysql = Database("app_db").dialect.name == "mysql"
    dbname = fetch("app_db", "SELECT DATABASE() AS d" if mysql else "SELECT current_database() AS d")[0]["d"]
    if mysql:
        run_sql("app_db", "SET GLOBAL wait_timeout = 2")
    else:
        run_sql("app_db", f'ALTER DATABASE "{dbname}" SET idle_session_timeout = 2000')
    real_render = pdf.render_certificate

    def slow_render(*args, **kwargs):  # generation slower than the idle timeout
        time.sleep(0.6)
        return real_render(*args, **kwargs)

    monkeypatch.setattr(pdf, "render_certificate", slow_render)
    stop = threading.Event()
    killed = []

    def killer():  # kill the task's idle connections while it works
        while not stop.wait(1.5):
            try:
                if mysql:
                    for row in fetch("app_db", "SELECT id FROM information_schema.processlist WHERE db = DATABASE() "
                                               "AND id <> CONNECTION_ID() AND command = 'Sleep'"):
                        run_sql("app_db", f"KILL {int(row['id'])}")
                        killed.append(row["id"])
                else:
                    rows = fetch("app_db", "SELECT pg_terminate_backend(pid) AS k FROM pg_stat_activity WHERE "
                                           "datname = current_database() AND pid <> pg_backend_pid() AND state = 'idle'")
                    killed.extend(r["k"] for r in rows)
            except Exception:
                pass  # a connection killed while this thread used it: try again next round

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    try:
        dag_run = load_dag().test(run_conf={"file": "slow.csv", "event_name": "E", "event_date": "2026-01-01",
                                            "chunk_size": 6})
    finally:
        stop.set()
        thread.join()
        if mysql:
            run_sql("app_db", "SET GLOBAL wait_timeout = 28800")
        else:
            run_sql("app_db", f'ALTER DATABASE "{dbname}" RESET idle_session_timeout')
    assert dag_run.state == "success"
    batch = batch_of(dag_run)
    assert (batch["status"], batch["success_count"], batch["total_participants"]) == ("completed", 12, 12)
