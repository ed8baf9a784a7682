"""``python -m include.cli cert-preview FILE``: the console's upload preview from a shell, on real
files; a file that cannot be used exits 1 with the reason."""

from __future__ import annotations

import json
from pathlib import Path

from tests.unit.certificates.test_preview import CSV
from tests.unit.cli.test_cli import airflow_home, run_cli, table_rows  # noqa: F401 (fixture)


def test_preview_of_a_csv_as_text_and_json(tmp_path: Path, airflow_home):  # noqa: F811
    path = tmp_path / "hadir.csv"
    path.write_text(CSV, encoding="utf-8")
    res = run_cli("cert-preview", str(path), conns={}, airflow_home=airflow_home)
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith(f"hadir.csv: CSV text, {len(CSV.encode()):,} bytes; header at row 3")
    assert "2 participant(s) will get a certificate; 5 row(s) will fail" in res.stdout
    rows = table_rows(res.stdout)
    assert ["B", "Nama Lengkap", "name"] in rows and ["E", "Catatan", "extra column"] in rows
    assert ["4", "Budi Santoso", "budi@example.com", "-", "PT Maju", "-"] in rows
    assert any(r[0] == "7" and r[1] == "E-mail" and "not a valid e-mail" in r[2] for r in rows if len(r) == 4)
    res = run_cli("cert-preview", str(path), "--json", "--rows", "1", "--problems", "1", conns={},
                  airflow_home=airflow_home)
    doc = json.loads(res.stdout)
    assert (doc["participants"], doc["failing_rows"], doc["header_row"], doc["format"]) == (2, 5, 3, ".csv")
    assert [r["name"] for r in doc["first_rows"]] == ["Budi Santoso"] and len(doc["problems"]) == 1
    assert doc["columns"][1] == {"letter": "B", "title": "Nama Lengkap", "field": "name"}


def test_a_file_that_cannot_be_used_exits_1_with_the_reason(tmp_path: Path, airflow_home):  # noqa: F811
    (tmp_path / "scan.csv").write_bytes(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    (tmp_path / "no_name.csv").write_text("No,Email\n1,a@b.co\n", encoding="utf-8")
    for name, reason in (("scan.csv", "this is a PDF document"), ("no_name.csv", "no header row with a name column"),
                         ("missing.csv", "cannot read")):
        res = run_cli("cert-preview", str(tmp_path / name), conns={}, airflow_home=airflow_home)
        assert res.returncode == 1 and reason in res.stderr and res.stdout == "", (name, res.stderr)
