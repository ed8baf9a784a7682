"""certificate_dispatch on a running Airflow: triggered per upload through the REST API with a
token, polled to success; the PDFs and the app_db rows are checked."""

from __future__ import annotations

import re
from pathlib import Path

import openpyxl
from pypdf import PdfReader

from include.common.db import Database
from include.certificates.spreadsheet import PARALLEL_MIN_ROWS
from tests.integration.sync_helpers import fetch

DAG_ID = "certificate_dispatch"


def test_rest_trigger_per_upload_generates_every_certificate(airflow_server_factory, mariadb_database, connections,
                                                             tmp_path_factory):
    uri = mariadb_database("e2e_cert")
    connections({"app_db": uri})
    base = tmp_path_factory.mktemp("e2e-cert")
    uploads, output = base / "uploads", base / "output"
    (uploads / "2026-11").mkdir(parents=True)
    lines = ["Daftar Hadir", "", "No,Nama,E-mail,No HP"] + [f"{i},Peserta Ke-{i},p{i}@example.com,08{i:09d}"
                                                            for i in range(1, 26)]
    (uploads / "2026-11" / "hadir.csv").write_text("\n".join(lines) + "\n", encoding="utf-8-sig")
    server = airflow_server_factory({"AIRFLOW_CONN_APP_DB": uri, "CERTIFICATE_UPLOAD_BASE": str(uploads),
                                     "CERTIFICATE_OUTPUT_BASE": str(output)})
    server.wait_for_dag(DAG_ID)
    server.unpause(DAG_ID)
    run_id = server.trigger(DAG_ID, {"data_source": "file", "file": "2026-11/hadir.csv", "event_name": "Rapat Kerja",
                                     "event_date": "2026-11-23", "chunk_size": 10})
    assert server.wait_for_run(DAG_ID, run_id, timeout=240) == "success", server.failure_report(DAG_ID, run_id)

    (batch,) = fetch("app_db", "SELECT * FROM certificate_batches WHERE run_id = %s", (run_id,))
    assert (batch["status"], batch["total_participants"], batch["success_count"], batch["failed_count"],
            float(batch["progress_percentage"]), batch["source_file"]) == (
        "completed", 25, 25, 0, 100.0, "2026-11/hadir.csv")
    rows = fetch("app_db", f"SELECT * FROM certificates WHERE batch_id = %s ORDER BY "
                           f"{Database('app_db').quote('row_number')}", (batch["batch_id"],))
    assert [r["row_number"] for r in rows] == list(range(4, 29))  # title, blank line, header come first
    assert all(r["status"] == "generated" and r["attempts"] == 1 for r in rows)
    pdfs = sorted(Path(output).rglob("*.pdf"))
    assert len(pdfs) == 25 and {str(p) for p in pdfs} == {r["file_path"] for r in rows}
    text = PdfReader(rows[0]["file_path"]).pages[0].extract_text()
    assert "Peserta Ke-1" in text and rows[0]["certificate_number"] in text
    generate = [ti for ti in server.task_instances(DAG_ID, run_id) if ti["task_id"] == "generate"]
    assert len(generate) == 3  # 25 participants in chunks of 10

    # A sheet large enough to be read by two processes inside the real task runner: the helper is
    # forked from the task's process. 12 people registered over and over: every repeat after the
    # first is reported as a duplicate of that first row, in whichever part of the sheet it is.
    workbook = openpyxl.Workbook(write_only=True)
    sheet = workbook.create_sheet("Peserta")
    sheet.append(["Nama", "Email"])
    rows = PARALLEL_MIN_ROWS + 500
    for number in range(rows):
        sheet.append([f"Orang {number % 12}", f"orang{number % 12}@example.com"])
    workbook.save(uploads / "2026-11" / "besar.xlsx")
    big_run = server.trigger(DAG_ID, {"data_source": "file", "file": "2026-11/besar.xlsx", "event_name": "Apel",
                                      "event_date": "2026-11-30", "chunk_size": 50})
    assert server.wait_for_run(DAG_ID, big_run, timeout=300) == "success", server.failure_report(DAG_ID, big_run)
    (big,) = fetch("app_db", "SELECT * FROM certificate_batches WHERE run_id = %s", (big_run,))
    assert (big["status"], big["total_participants"], big["success_count"], big["failed_count"]) == (
        "completed_with_errors", rows, 12, rows - 12)
    last = fetch("app_db", f"SELECT status, error_message FROM certificates WHERE batch_id = %s AND "
                           f"{Database('app_db').quote('row_number')} = %s", (big["batch_id"], rows + 1))
    assert last == [{"status": "failed", "error_message": f"row {rows + 1}, column 'Nama': duplicate of row "
                                                         f"{(rows - 1) % 12 + 2} (same name and e-mail)"}]
    log = server.task_log(DAG_ID, big_run, "prepare")
    assert re.search(r"\d+ data rows from row \d+ on were converted by a helper process", log), log[-3000:]
