"""certificate_dispatch on a running Airflow: triggered per upload through the REST API with a
token, polled to success; the PDFs and the app_db rows are checked."""

from __future__ import annotations

from pathlib import Path

from pypdf import PdfReader

from include.db import Database
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
