"""What the reader finds in an upload before anything runs (certificates.preview): the format from
the bytes, the header row and its columns, the participants, the first rows, and the rows that
will fail and why, on real CSV and XLSX files; a file that cannot be used is refused naming why."""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import pytest

from include.certificates.preview import preview_upload, renamed_for_content
from include.certificates.spreadsheet import UploadError, detect_format, read_participants
from tests.unit.certificates.spreadsheet.sheets import write_xlsx

CSV = ("Daftar Hadir Rapat Kerja\n\nNo,Nama Lengkap,E-mail,Instansi,Catatan\n"
       "1,Budi Santoso,budi@example.com,PT Maju,\n"
       "2,,kosong@example.com,,tanpa nama\n"
       "3,张伟,zhang@example.com,,\n"
       "4,Siti Aminah,not-an-email,,\n"
       "5,Budi Santoso,budi@example.com,PT Maju,\n"
       "6,Nguyễn Văn An,an@example.com,Lembaga 研究,\n"
       "7,Rina,rina@example.com,,\n")


def preview_of(data: bytes, name: str, **kw):
    return preview_upload(io.BytesIO(data), name, **kw)


def test_csv_preview_says_what_prepare_and_generate_will_do():
    p = preview_of(CSV.encode(), "hadir.csv")
    assert (p.filename, p.format, p.format_name, p.where, p.header_row) == ("hadir.csv", ".csv", "CSV text", "", 3)
    assert p.size == len(CSV.encode())
    assert [(c.letter, c.title, c.field) for c in p.columns] == [
        ("A", "No", None), ("B", "Nama Lengkap", "name"), ("C", "E-mail", "email"), ("D", "Instansi", "organization"),
        ("E", "Catatan", None)]
    assert p.missing_fields == ["phone", "position"]
    assert [r["name"] for r in p.first_rows] == ["Budi Santoso", "Rina"]  # rows 4 and 10
    assert (p.participants, p.failing_rows) == (2, 5)
    assert [(x.row_number, x.column, x.when) for x in p.problems] == [
        (5, "Nama Lengkap", "prepare"), (6, "Nama Lengkap", "generate"), (7, "E-mail", "prepare"),
        (8, "Nama Lengkap", "prepare"), (9, "Instansi", "generate")]
    assert "'张' (U+5F20)" in p.problems[1].message and "duplicate of row 4" in p.problems[3].message
    assert p.problems[4].message.startswith("UnrenderableText: organization 'Lembaga 研究' cannot be printed")
    # what prepare will record agrees: the same rows good and bad
    items = list(read_participants(io.BytesIO(CSV.encode()), filename="hadir.csv"))
    assert {i.row_number for i in items if hasattr(i, "message")} == {5, 7, 8}


def test_xlsx_preview_names_the_sheet_and_limits_what_it_lists(tmp_path: Path):
    rows = [["Laporan"], [], ["Nama", "Email", "No HP"]] + [[f"Peserta {i}", f"p{i}@x.id", f"0812{i:04d}"]
                                                            for i in range(1, 31)] + [["", "x@y.id", ""]] * 3
    path = write_xlsx(tmp_path / "peserta.xlsx", rows)
    p = preview_of(path.read_bytes(), "peserta.xlsx", first_rows=5, max_problems=2)
    assert (p.format, p.where, p.header_row, p.participants, p.failing_rows) == (".xlsx", "sheet 'Peserta'", 3, 30, 3)
    assert [r["row_number"] for r in p.first_rows] == [4, 5, 6, 7, 8] and p.first_rows[0]["phone"] == "08120001"
    assert len(p.problems) == 2  # listed up to the limit, all counted
    assert p.to_json()["problems_shown"] == 2 and p.to_json()["format_name"] == "Excel workbook (.xlsx)"


def test_the_content_decides_the_format_not_the_name(tmp_path: Path):
    workbook = write_xlsx(tmp_path / "a.xlsx", [["Nama"], ["Ana"]]).read_bytes()
    assert preview_of(workbook, "peserta.csv").filename == "peserta.xlsx"  # a workbook named .csv
    assert preview_of(b"Nama\nAna\n", "peserta.xlsx").filename == "peserta.csv"  # CSV named .xlsx
    assert preview_of(b"Nama\nAna\n", "daftar").filename == "daftar.csv"
    assert renamed_for_content("laporan.final.CSV", ".xlsx") == "laporan.final.xlsx"


def docx() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("word/document.xml", "<w:document/>")
    return out.getvalue()


@pytest.mark.parametrize("data, reason", [
    (b"", "the file is empty"),
    (b"%PDF-1.4\n%\xe2\xe3\n1 0 obj", "this is a PDF document"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4, "NUL bytes"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 512, "old Excel 97-2003 (.xls) or password-protected"),
    (docx(), "this is a Word document, not an Excel workbook"),
    (b"PK\x03\x04garbage", "a damaged ZIP archive"),
])
def test_files_that_are_no_spreadsheet_are_refused_saying_what_they_are(data, reason):
    with pytest.raises(UploadError, match=re.escape(reason)):
        detect_format(io.BytesIO(data), "peserta.csv")


@pytest.mark.parametrize("text, reason", [
    ("No,Email\n1,a@b.c\n", "no header row with a name column"),
    ("Nama,Email\n,a@b.c\n,b@c.d\n", "no usable rows: all 2 participant rows have errors"),
    ("Nama\n", "no participant rows below it"),
])
def test_a_file_nothing_can_come_of_is_refused(text, reason):
    with pytest.raises(UploadError, match=reason):
        preview_of(text.encode(), "peserta.csv")
