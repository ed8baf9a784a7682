"""include.certificates.spreadsheet: the bad uploads it must explain, each with its own message."""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from pathlib import Path

import openpyxl
import pytest

from include.certificates.spreadsheet import UploadError, read_participants
from tests.unit.certificates.spreadsheet.sheets import YELLOW, write_bytes, write_xlsx

# ----------------------------------------------------------------------------------------------
# Bad uploads: each has its own clear message


def _zip_with(tmp_path: Path, name: str, members: dict[str, str]) -> Path:
    path = tmp_path / name
    with zipfile.ZipFile(path, "w") as archive:
        for member, text in members.items():
            archive.writestr(member, text)
    return path


def _format_empty_cells(workbook: openpyxl.Workbook) -> None:
    for row in range(1, 30):
        workbook.active.cell(row, 1).fill = YELLOW


def _valid_xlsx_bytes(tmp_path: Path) -> bytes:
    return write_xlsx(tmp_path / "valid.xlsx", [["Nama"], *[[f"Orang {i}"] for i in range(200)]]).read_bytes()


BAD_UPLOADS: list[tuple[str, Callable[[Path], Path], str]] = [
    ("empty csv", lambda tmp: write_bytes(tmp / "kosong.csv", b""),
     "kosong.csv: the file is empty (0 bytes)"),
    ("empty xlsx", lambda tmp: write_bytes(tmp / "kosong.xlsx", b""),
     "kosong.xlsx: the file is empty (0 bytes)"),
    ("header only csv", lambda tmp: write_bytes(tmp / "header.csv", b"Nama,Email\n\n\n"),
     "header.csv: the header is at row 1 but there are no participant rows below it"),
    ("header only xlsx", lambda tmp: write_xlsx(tmp / "header.xlsx", [["Judul"], ["Nama", "Email"]]),
     "header.xlsx: the header is at row 2 of sheet 'Peserta' but there are no participant rows below it"),
    ("no name column csv", lambda tmp: write_bytes(tmp / "noname.csv", b"Email,HP\na@example.com,0811\n"),
     "noname.csv: no header row with a name column (e.g. 'Nama', 'Nama Lengkap', 'Name') in the first 20 "
     "rows; first row has: 'Email', 'HP'"),
    ("no name column xlsx", lambda tmp: write_xlsx(tmp / "noname.xlsx", [["Email"], ["a@example.com"]]),
     "noname.xlsx: no header row with a name column (e.g. 'Nama', 'Nama Lengkap', 'Name') in the first 20 "
     "rows of any visible sheet (sheets: 'Peserta')"),
    ("header below row 20", lambda tmp: write_xlsx(tmp / "deep.xlsx", [*[["catatan"]] * 24, ["Nama"], ["Ana"]]),
     "deep.xlsx: no header row with a name column"),
    ("only blank lines", lambda tmp: write_bytes(tmp / "blank.csv", b"\r\n \r\n,,\r\n"),
     "blank.csv: the file has no data (only blank lines)"),
    ("only formatted blank cells", lambda tmp: write_xlsx(tmp / "blank.xlsx", [], _format_empty_cells),
     "blank.xlsx: no header row with a name column"),
    ("binary junk named xlsx", lambda tmp: write_bytes(tmp / "junk.xlsx", bytes(range(256)) * 8),
     "junk.xlsx: not an Excel .xlsx workbook (it starts with bytes 00 01 02 03 04 05 06 07)"),
    ("random bytes named csv", lambda tmp: write_bytes(tmp / "random.csv", bytes(range(1, 256)) * 8),
     "random.csv: not a text file"),
    ("pdf named csv", lambda tmp: write_bytes(tmp / "scan.csv", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n"),
     "scan.csv: this is a PDF document, not CSV text"),
    ("xlsx named csv", lambda tmp: write_bytes(tmp / "renamed.csv", _valid_xlsx_bytes(tmp)),
     "renamed.csv: this is an Excel workbook or another ZIP file, not CSV text"),
    ("wrong extension txt", lambda tmp: write_bytes(tmp / "peserta.txt", b"Nama\nAna\n"),
     "peserta.txt: unsupported file type ('.txt'); upload a .csv or .xlsx file"),
    ("old xls", lambda tmp: write_bytes(tmp / "lama.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 512),
     "lama.xls: '.xls' files are not supported"),
    ("nul bytes csv", lambda tmp: write_bytes(tmp / "nul.csv", b"Nama,Email\nAna\x00,a@example.com\n"),
     "nul.csv: contains NUL bytes"),
    ("utf-16 without bom",
     lambda tmp: write_bytes(tmp / "utf16.csv", "Nama,Email\nAna,a@example.com\n".encode("utf-16-le")),
     "utf16.csv: contains NUL bytes: a binary file, or UTF-16 text without a byte-order mark"),
    ("undecodable encoding", lambda tmp: write_bytes(tmp / "enc.csv", b"Nama,Email\nAna\x81\x8d,a@example.com\n"),
     "enc.csv: the text encoding is not recognised (tried utf-8-sig: invalid byte 0x81 at byte 14; "
     "cp1252: invalid byte 0x81 at byte 14)"),
    ("zip that is not xlsx", lambda tmp: _zip_with(tmp, "arsip.xlsx", {"peserta.csv": "Nama\nAna\n"}),
     "arsip.xlsx: a ZIP archive that is not an Excel workbook (no xl/workbook.xml inside)"),
    ("docx named xlsx",
     lambda tmp: _zip_with(tmp, "surat.xlsx", {"word/document.xml": "<w/>", "[Content_Types].xml": "<x/>"}),
     "surat.xlsx: this is a Word document renamed to .xlsx"),
    ("password protected xlsx",   # an encrypted .xlsx is an OLE2 container, not a ZIP
     lambda tmp: write_bytes(tmp / "rahasia.xlsx", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 4096),
     "rahasia.xlsx: the workbook is password-protected (encrypted)"),
    ("truncated xlsx", lambda tmp: write_bytes(tmp / "putus.xlsx", _valid_xlsx_bytes(tmp)[:1500]),
     "putus.xlsx: the workbook is damaged"),
    ("merged header", lambda tmp: write_xlsx(
        tmp / "merge.xlsx", [["Nama", None, "Email"], ["Ana", "Putri", "a@example.com"]],
        lambda wb: wb.active.merge_cells("A1:B1")),
     "merge.xlsx: header 'Nama' is a merged cell (A1:B1) covering several columns; unmerge it"),
    ("two email columns",
     lambda tmp: write_bytes(tmp / "dupcol.csv", b"Nama,Email,E-mail\nAna,a@example.com,b@example.com\n"),
     "dupcol.csv: columns 'Email' (B) and 'E-mail' (C) both look like the e-mail column; rename or remove one"),
    ("huge number of columns", lambda tmp: write_bytes(
        tmp / "wide.csv", ("Nama," + ",".join(f"K{i}" for i in range(300)) + "\nAna\n").encode()),
     "wide.csv: the header row (row 1) has 301 columns; at most 200 are supported"),
    ("all rows bad", lambda tmp: write_bytes(tmp / "allbad.csv", b"Nama,Email\n,a@example.com\nBudi,not-an-email\n"),
     "allbad.csv: no usable rows: all 2 participant rows have errors (first: row 2, column 'Nama': "
     "the name is empty)"),
    ("formulas only", lambda tmp: write_xlsx(
        tmp / "formulas-only.xlsx", [["Nama"], ["=A5"], ["=A5"]]),
     "formulas-only.xlsx: no usable rows: all 2 participant rows have errors (first: row 2, column 'Nama': "
     "formula without a computed value"),
]


@pytest.mark.parametrize(("label", "make", "message"), BAD_UPLOADS, ids=[case[0] for case in BAD_UPLOADS])
def test_bad_upload_has_its_clear_message(tmp_path: Path, label: str, make: Callable[[Path], Path],
                                          message: str) -> None:
    path = make(tmp_path)
    with pytest.raises(UploadError) as caught:
        list(read_participants(path, filename=path.name))
    assert str(caught.value).startswith(message), str(caught.value)


def test_at_least_twenty_kinds_of_bad_upload() -> None:
    assert len(BAD_UPLOADS) >= 20
