"""``python -m include.cli export``: sync and certificate batch reports as xlsx, CSV and PDF, from
real SQLite tracking tables (PostgreSQL and MariaDB in tests/integration/console), run as a user
runs it. The PDFs are read back with pypdf, a standard extractor."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta
from pathlib import Path

import openpyxl
import pytest

from tests.unit.cli.test_cli import NEW, OLD, airflow_home, populate, run_cli, use_conn  # noqa: F401 (fixtures)

CERT = "cert_20251108_150000_Zx9Yw8Vu"
EVIL = "=cmd|' /C calc'!A0"


def populate_certificates(conn_id: str) -> None:
    """Four participants: two generated, one failed (bad row), one still pending; one injected name."""
    from include.certificates import batches as b
    from include.common.db import Database

    with Database(conn_id) as db:
        b.ensure_schema(db)
        people = [b.Participant(2, "Budi Santoso", "budi@example.com", "0811"),
                  b.Participant(3, EVIL, "evil@example.com"),
                  b.Participant(4, None, error="row 4, column 'nama': empty name"),
                  b.Participant(5, "Siti Aminah", "siti@example.com")]
        b.create_batch(db, CERT, dag_id="certificate_dispatch", run_id="manual__1", data_source="file",
                       source_file="2026/peserta.csv", event_name="Pelatihan K3", event_date="2026-11-20",
                       participants=people, chunk_size=10)
        b.record_results(db, CERT, [(2, "generated", "out/2.pdf", None), (3, "generated", "out/3.pdf", None)])


@pytest.fixture
def dbs(tmp_path: Path, use_conn) -> dict[str, str]:  # noqa: F811
    conns = {"status_test": f"sqlite:///{tmp_path / 'central.db'}", "app_db": f"sqlite:///{tmp_path / 'app.db'}"}
    for conn_id, uri in conns.items():
        use_conn(conn_id, uri)
    populate("status_test")
    populate_certificates("app_db")
    return conns


def test_sync_batch_xlsx(dbs, airflow_home, tmp_path: Path):  # noqa: F811
    out = tmp_path / "new.xlsx"
    res = run_cli("export", NEW, "-o", str(out), "--conn", "status_test", conns=dbs, airflow_home=airflow_home)
    assert res.returncode == 0, res.stderr
    assert NEW in res.stdout and "5 rows" in res.stdout
    wb = openpyxl.load_workbook(out)
    assert wb.sheetnames == ["Summary", "Tables"]
    summary, tables = wb["Summary"], wb["Tables"]
    head = [c.value for c in summary[1]]
    values = dict(zip(head, [c.value for c in summary[2]]))
    assert summary.max_row == 2
    assert values["Batch ID"] == NEW and values["Status"] == "running"
    assert (values["Total tables"], values["Completed"], values["Failed"], values["In progress"],
            values["Pending"]) == (5, 2, 1, 1, 1), "counts derived from the rows, not the lagging counters"
    assert values["Progress %"] == 40.0
    assert values["Records processed"] == 17 + 15234 + 5000
    assert tables.freeze_panes == "A2" and tables.auto_filter.ref == "A1:M6"
    header = [c.value for c in tables[1]]
    rows = [dict(zip(header, [c.value for c in r])) for r in tables.iter_rows(min_row=2)]
    assert [(r["Connection"], r["Table"]) for r in rows] == [
        ("pgsql_lmp", "ad_org"), ("pgsql_sby", "m_product"), ("pgsql_jkt", "c_order"),
        ("pgsql_bdg", "c_invoice"), ("pgsql_jkt", "c_bpartner")], "exactly the batch's rows, in the order they ran"
    product = rows[1]
    assert product["Records processed"] == 15234 and isinstance(product["Records processed"], int)
    assert product["Duration"] == timedelta(seconds=97389)
    assert tables.cell(3, header.index("Duration") + 1).number_format == "[h]:mm:ss"
    assert rows[2]["Error"].startswith("Connection refused") and rows[2]["Status"] == "failed"
    assert rows[4]["Started (UTC)"] is None and rows[4]["Duration"] is None


def test_certificate_batch_xlsx_keeps_injected_name_as_text(dbs, airflow_home, tmp_path: Path):  # noqa: F811
    out = tmp_path / "cert.xlsx"
    res = run_cli("export", CERT, "-o", str(out), conns=dbs, airflow_home=airflow_home)
    assert res.returncode == 0, res.stderr
    wb = openpyxl.load_workbook(out)
    assert wb.sheetnames == ["Summary", "Participants"]
    ws = wb["Participants"]
    header = [c.value for c in ws[1]]
    assert ws.max_row == 5, "a header and the batch's four participants"
    assert [ws.cell(r, 1).value for r in range(2, 6)] == [2, 3, 4, 5]
    name = ws.cell(3, header.index("Participant") + 1)
    assert name.value == EVIL and name.data_type == "s"
    statuses = [ws.cell(r, header.index("Status") + 1).value for r in range(2, 6)]
    assert statuses == ["generated", "generated", "failed", "pending"]
    assert "column 'nama'" in ws.cell(4, header.index("Error") + 1).value
    summary = dict(zip([c.value for c in wb["Summary"][1]], [c.value for c in wb["Summary"][2]]))
    assert (summary["Participants"], summary["Generated"], summary["Failed"], summary["Pending"]) == (4, 2, 1, 1)
    assert summary["Source file"] == "2026/peserta.csv" and summary["Progress %"] == 75.0


def test_csv_to_stdout_and_file(dbs, airflow_home, tmp_path: Path):  # noqa: F811
    res = run_cli("export", CERT, "--format", "csv", "-o", "-", conns=dbs, airflow_home=airflow_home)
    assert res.returncode == 0, res.stderr
    rows = list(csv.reader(io.StringIO(res.stdout.lstrip("\ufeff"))))
    assert len(rows) == 5 and rows[2][1] == "'" + EVIL, "prefixed so no spreadsheet runs it"

    out = tmp_path / "old.csv"  # the format follows the extension
    res = run_cli("export", OLD, "-o", str(out), "--sheet", "summary", "--conn", "status_test", conns=dbs,
                  airflow_home=airflow_home)
    assert res.returncode == 0, res.stderr
    rows = list(csv.reader(io.StringIO(out.read_text(encoding="utf-8-sig"))))
    summary = dict(zip(rows[0], rows[1]))
    assert summary["Batch ID"] == OLD and summary["Duration (s)"] == "6320" and summary["Completed"] == "2"


def pdf_text(data: bytes) -> tuple[list[str], dict]:
    """The text of each page and the document's metadata, as pypdf extracts them."""
    import pypdf

    reader = pypdf.PdfReader(io.BytesIO(data))
    return [page.extract_text() for page in reader.pages], dict(reader.metadata or {})


def test_sync_batch_pdf_holds_the_summary_and_every_pair(dbs, airflow_home, tmp_path: Path):  # noqa: F811
    out = tmp_path / "new.pdf"  # the format follows the extension
    res = run_cli("export", NEW, "-o", str(out), "--conn", "status_test", conns=dbs, airflow_home=airflow_home)
    assert res.returncode == 0, res.stderr
    assert f"{out}: {NEW}, 5 rows (pdf)" in res.stdout
    pages, meta = pdf_text(out.read_bytes())
    text = "\n".join(pages)
    assert meta["/Title"] == f"Sync batch {NEW}" and meta["/Creator"] == "branch_sync"
    # the newest progress row (m_product, completed on the 9th), not the time of the export
    assert "true as of 2025-11-09 17:34:03 UTC" in pages[0]
    assert NEW in text and "running" in text and "Tables (5 rows)" in text
    for connection, table in (("pgsql_lmp", "ad_org"), ("pgsql_sby", "m_product"), ("pgsql_bdg", "c_invoice"),
                              ("pgsql_jkt", "c_order"), ("pgsql_jkt", "c_bpartner")):
        assert re.search(rf"{connection} {table} ", text), (connection, table)
    assert "15,234" in text and "27:03:09" in text and "5.00 s" in text  # people's numbers and durations
    assert "page 1 of 1" in pages[0]


def test_certificate_batch_pdf_holds_every_participant(dbs, airflow_home, tmp_path: Path):  # noqa: F811
    out = tmp_path / "report"  # no extension: --format decides
    res = run_cli("export", CERT, "--format", "pdf", "-o", str(out), conns=dbs, airflow_home=airflow_home)
    assert res.returncode == 0, res.stderr
    pages, meta = pdf_text(out.read_bytes())
    text = "\n".join(pages)
    assert meta["/Creator"] == "certificate_dispatch" and CERT in pages[0] and "Participants (4 rows)" in text
    for name in ("Budi Santoso", EVIL, "Siti Aminah"):
        assert name in text
    assert "row 4, column 'nama': empty name" in text  # the bad row and why
    assert "Pelatihan K3" in text and "2026/peserta.csv" in text
    res = run_cli("export", CERT, "--format", "pdf", "--sheet", "summary", conns=dbs, airflow_home=airflow_home)
    assert res.returncode == 2 and "--sheet applies to --format csv" in res.stderr


def test_unknown_and_malformed_ids(dbs, airflow_home, tmp_path: Path):  # noqa: F811
    for missing in ("sync_20990101_000000_nOtThErE", "cert_20990101_000000_nOtThErE"):
        res = run_cli("export", missing, "-o", str(tmp_path / "x.xlsx"), "--conn", "status_test", conns=dbs,
                      airflow_home=airflow_home)
        assert res.returncode == 1 and missing in res.stderr and "not found" in res.stderr, res.stderr
        assert not (tmp_path / "x.xlsx").exists() and not list(tmp_path.glob(".x.xlsx.*"))
    for bad in ("sync_2025", "'; DROP TABLE sync_batches; --", "job_20251108_143052_aB3dEf9h"):
        res = run_cli("export", bad, conns=dbs, airflow_home=airflow_home)
        assert res.returncode == 2 and "batch id" in res.stderr, res.stderr
    res = run_cli("export", NEW, "--sheet", "summary", conns=dbs, airflow_home=airflow_home)
    assert res.returncode == 2
