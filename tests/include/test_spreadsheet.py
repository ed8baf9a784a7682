"""include.spreadsheet: participants from CSV/XLSX uploads, and the bad uploads it must explain."""

from __future__ import annotations

import io
import os
import re
import zipfile
from collections.abc import Callable, Sequence
from datetime import date, datetime
from pathlib import Path

import openpyxl
import psutil
import pytest
from openpyxl.styles import PatternFill

from include import spreadsheet
from include.spreadsheet import (
    ParticipantRow,
    RowError,
    UploadError,
    check_upload_name,
    neutralize_cell,
    read_participants,
)

YELLOW = PatternFill("solid", fgColor="FFFF00")


# ----------------------------------------------------------------------------------------------
# helpers


def read_all(path: Path | io.BytesIO, filename: str | None = None) -> list[ParticipantRow | RowError]:
    name = filename or (path.name if isinstance(path, Path) else "upload.csv")
    return list(read_participants(path, filename=name))


def good(items: list[ParticipantRow | RowError]) -> list[ParticipantRow]:
    return [item for item in items if isinstance(item, ParticipantRow)]


def errors(items: list[ParticipantRow | RowError]) -> list[RowError]:
    return [item for item in items if isinstance(item, RowError)]


def write_xlsx(path: Path, rows: Sequence[Sequence[object]],
               build: Callable[[openpyxl.Workbook], None] | None = None) -> Path:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "Peserta"
    for row in rows:
        sheet.append(row)
    if build is not None:
        build(workbook)
    workbook.save(path)
    return path


def patch_sheet_xml(path: Path, old: str, new: str) -> None:
    """Edit the first sheet's XML, e.g. to give a formula the cached value Excel would store."""
    with zipfile.ZipFile(path) as archive:
        members = {info.filename: archive.read(info.filename) for info in archive.infolist()}
    # openpyxl writes an empty cached value as <v /> (ElementTree) or <v></v> (with lxml installed)
    xml = members["xl/worksheets/sheet1.xml"].decode().replace("<v></v>", "<v />")
    assert old in xml, xml[:2000]
    members["xl/worksheets/sheet1.xml"] = xml.replace(old, new).encode()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)


def write_bytes(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


# ----------------------------------------------------------------------------------------------
# XLSX: layout, values, row numbers


def test_xlsx_title_rows_merged_title_and_values(tmp_path: Path) -> None:
    def build(workbook: openpyxl.Workbook) -> None:
        sheet = workbook.active
        sheet.merge_cells("A1:F1")                      # banner title above the header
        for row in range(7, 30):                          # trailing formatted-but-empty rows
            for column in range(1, 8):
                sheet.cell(row, column).fill = YELLOW

    path = write_xlsx(tmp_path / "peserta.xlsx", [
        ["DAFTAR PESERTA SEMINAR NASIONAL 2025"],
        [],
        ["No", "Nama Lengkap", "E-mail", "No HP", "Instansi", "Jabatan", "Tanggal Daftar", "Nilai"],
        [1, "  Budi Santoso ", "budi@example.co.id", 8123456789, "PT Maju", "Staf", date(2025, 8, 5), 85.5],
        [2, "Siti Aminah", "siti@example.com", "081234567890", None, None, datetime(2025, 8, 5, 13, 30), 0.1 + 0.2],
        [3, "Nguyễn Văn An", None, "+62 812-3456-7890", "Universitas Indonesia", "Dosen", None, 90.0],
    ], build)
    items = read_all(path)
    assert errors(items) == []
    budi, siti, an = good(items)
    assert (budi.row_number, siti.row_number, an.row_number) == (4, 5, 6)   # Excel's row numbers
    assert budi.name == "Budi Santoso"
    assert budi.email == "budi@example.co.id"
    assert budi.phone == "8123456789"                    # number cell: no ".0"
    assert siti.phone == "081234567890"                  # text cell: leading zero kept
    assert an.phone == "+62 812-3456-7890"               # kept as typed, not neutralised on input
    assert (budi.organization, budi.position) == ("PT Maju", "Staf")
    assert siti.organization is None and siti.position is None and an.email is None
    assert budi.extra == {"No": "1", "Tanggal Daftar": "2025-08-05", "Nilai": "85.5"}
    assert siti.extra["Tanggal Daftar"] == "2025-08-05 13:30:00"
    assert siti.extra["Nilai"] == "0.3"                  # Excel's 15 digits, not 0.30000000000000004
    assert an.extra["Nilai"] == "90"


def test_xlsx_header_away_from_a1_gives_sheet_row_numbers(tmp_path: Path) -> None:
    def build(workbook: openpyxl.Workbook) -> None:
        sheet = workbook.active
        sheet["C5"], sheet["D5"] = "Nama", "Email"
        sheet["C6"], sheet["D6"] = "Ani", "ani@example.com"
        sheet["C9"], sheet["D9"] = "Joko", "joko@example.com"

    items = read_all(write_xlsx(tmp_path / "offset.xlsx", [], build))
    assert [(row.row_number, row.name, row.email) for row in good(items)] == [
        (6, "Ani", "ani@example.com"), (9, "Joko", "joko@example.com")]


@pytest.mark.parametrize("headers", [
    ["NAMA", "EMAIL", "NO. TELEPON", "INSTANSI", "JABATAN"],
    ["Nama Peserta", "Alamat Email", "No HP", "Organisasi", "Posisi"],
    ["Full Name", "Email Address", "Phone", "Company", "Position"],
    ["name", "e-mail", "WhatsApp", "Organization", "Job Title"],
    ["Nama  Lengkap", "Surel", "Telepon", "Perusahaan", "Pekerjaan"],
    ["Nama Lengkap (beserta gelar)", "Email Aktif", "Nomor HP/WA", "Asal Instansi", "Jabatan [opsional]"],
])
def test_header_aliases(tmp_path: Path, headers: list[str]) -> None:
    path = write_xlsx(tmp_path / "aliases.xlsx", [headers, ["Dewi", "dewi@example.com", "0811", "PT A", "Manajer"]])
    (row,) = good(read_all(path))
    assert (row.name, row.email, row.phone, row.organization, row.position) == (
        "Dewi", "dewi@example.com", "0811", "PT A", "Manajer")
    assert row.extra == {}


def test_hidden_sheet_and_sheet_without_header_are_skipped(tmp_path: Path) -> None:
    def build(workbook: openpyxl.Workbook) -> None:
        hidden = workbook.create_sheet("Rahasia", 0)
        hidden.append(["Nama", "Email"])
        hidden.append(["Hidden Person", "h@example.com"])
        hidden.sheet_state = "hidden"
        notes = workbook.create_sheet("Catatan", 1)
        notes.append(["Petunjuk pengisian: isi nama di sheet berikutnya"])
        workbook.active = 2

    path = write_xlsx(tmp_path / "sheets.xlsx", [["Nama", "Email"], ["Rina", "rina@example.com"]], build)
    assert [row.name for row in good(read_all(path))] == ["Rina"]


def test_vertically_merged_cell_fills_the_rows_it_covers(tmp_path: Path) -> None:
    def build(workbook: openpyxl.Workbook) -> None:
        workbook.active.merge_cells("B2:B4")

    path = write_xlsx(tmp_path / "merged.xlsx", [
        ["Nama", "Instansi"],
        ["Ari", "Dinas Pendidikan"],
        ["Bayu", None],
        ["Citra", None],
        ["Dodi", "Dinas Kesehatan"],
    ], build)
    assert [(row.name, row.organization) for row in good(read_all(path))] == [
        ("Ari", "Dinas Pendidikan"), ("Bayu", "Dinas Pendidikan"), ("Citra", "Dinas Pendidikan"),
        ("Dodi", "Dinas Kesehatan")]


def test_vertically_merged_header_spans_two_rows(tmp_path: Path) -> None:
    def build(workbook: openpyxl.Workbook) -> None:
        workbook.active.merge_cells("A1:A2")
        workbook.active.merge_cells("B1:B2")

    path = write_xlsx(tmp_path / "tall-header.xlsx", [["Nama", "Email"], [None, None], ["Eka", "eka@example.com"]],
                      build)
    assert [(row.row_number, row.name) for row in good(read_all(path))] == [(3, "Eka")]


def test_formula_with_cached_value_is_used_and_empty_string_result_is_fine(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "cached.xlsx", [
        ["Nama", "Nilai", "Catatan"],
        ["Fajar", "=40+2", '=IF(B2>100,"x","")'],
    ])
    # What Excel stores after calculating: the formula and its last value.
    patch_sheet_xml(path, "<f>40+2</f><v /></c>", "<f>40+2</f><v>42</v></c>")
    patch_sheet_xml(path, '<c r="C2"><f>', '<c r="C2" t="str"><f>')
    (row,) = good(read_all(path))
    assert row.extra == {"Nilai": "42", "Catatan": ""}


def test_columns_without_header_travel_as_letters(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "unheaded.xlsx", [["Nama", None, "Kota"], ["Gita", "catatan lepas", "Bandung"]])
    (row,) = good(read_all(path))
    assert row.extra == {"Kota": "Bandung", "Column B": "catatan lepas"}


def test_file_object_source_is_read_and_left_open(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "fileobj.xlsx", [["Nama"], ["Hana"]])
    handle = io.BytesIO(path.read_bytes())
    assert [row.name for row in good(list(read_participants(handle, filename="fileobj.xlsx")))] == ["Hana"]
    assert not handle.closed
    csv_handle = io.BytesIO(b"Nama\nIndra\n")
    assert [row.name for row in good(list(read_participants(csv_handle, filename="x.csv")))] == ["Indra"]
    assert not csv_handle.closed


def test_non_seekable_stream_is_spooled() -> None:
    read_end, write_end = os.pipe()
    os.write(write_end, b"Nama;Email\nJoko;joko@example.com\n")
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        assert not pipe.seekable()
        items = list(read_participants(pipe, filename="pipe.csv"))
    assert [(row.name, row.email) for row in good(items)] == [("Joko", "joko@example.com")]


def test_reading_is_lazy(tmp_path: Path) -> None:
    missing = tmp_path / "not-there.csv"
    generator = read_participants(missing, filename="not-there.csv")   # nothing happens yet
    with pytest.raises(UploadError, match=r"not-there\.csv: cannot open the file"):
        next(generator)


# ----------------------------------------------------------------------------------------------
# CSV variants


@pytest.mark.parametrize(("label", "data"), [
    ("utf-8", "Nama,Email,No HP\nJosé Ramírez,jose@example.com,08123\n".encode()),
    ("utf-8 BOM", "\ufeffNama,Email,No HP\r\nJosé Ramírez,jose@example.com,08123\r\n".encode()),
    ("cp1252", "Nama,Email,No HP\r\nJosé Ramírez,jose@example.com,08123\r\n".encode("cp1252")),
    ("utf-16 BOM tab", "Nama\tEmail\tNo HP\r\nJosé Ramírez\tjose@example.com\t08123\r\n".encode("utf-16")),
    ("semicolon", "Nama;Email;No HP\nJosé Ramírez;jose@example.com;08123\n".encode()),
    ("tab", "Nama\tEmail\tNo HP\nJosé Ramírez\tjose@example.com\t08123\n".encode()),
])
def test_csv_encodings_and_delimiters(label: str, data: bytes) -> None:
    (row,) = good(read_all(io.BytesIO(data)))
    assert (row.row_number, row.name, row.email, row.phone) == (2, "José Ramírez", "jose@example.com", "08123")


def test_semicolon_csv_with_decimal_commas_keeps_text() -> None:
    data = "Daftar hadir;;\nNama;Nilai;Berat\nAhmad;8,5;72,3\n-Ahmad;9,0;\"1.234,5\"\n".encode("cp1252")
    rows = good(read_all(io.BytesIO(data)))
    assert [(row.row_number, row.name, row.extra) for row in rows] == [
        (3, "Ahmad", {"Nilai": "8,5", "Berat": "72,3"}),
        (4, "-Ahmad", {"Nilai": "9,0", "Berat": "1.234,5"}),   # input is never neutralised
    ]


def test_csv_row_numbers_count_records_and_skip_blank_lines() -> None:
    data = b'Nama,Alamat\nA,"Jl. Merdeka 1\nJakarta"\n\n\nB,Bogor\n,\n , \n'
    rows = read_all(io.BytesIO(data))
    assert [(row.row_number, row.name) for row in good(rows)] == [(2, "A"), (5, "B")]
    assert good(rows)[0].extra == {"Alamat": "Jl. Merdeka 1\nJakarta"}
    assert errors(rows) == []


# ----------------------------------------------------------------------------------------------
# Bad rows: reported with row and column, good rows still come out


def test_bad_rows_are_reported_and_good_rows_survive(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "mixed.xlsx", [
        ["Judul"],
        ["Nama", "Email", "No HP", "NIK"],
        ["Ok Satu", "satu@example.com", "0811", "3201"],
        [None, "tanpa.nama@example.com", "0812", None],                # row 4: no name
        ["Salah Email", "salah@gmail", None, None],                     # row 5: bad e-mail
        ["Ok Satu", "SATU@example.com", None, None],                    # row 6: duplicate of row 3
        ["Nik Angka", "nik@example.com", None, 3201234567890123],       # row 7: 16-digit number
        ["X" * 200, None, None, None],                                  # row 8: name too long
        ["Ok Dua", "dua@example.com", "0813", None],
    ])
    items = read_all(path)
    assert [(row.row_number, row.name) for row in good(items)] == [(3, "Ok Satu"), (9, "Ok Dua")]
    found = {(error.row_number, error.column): error.message for error in errors(items)}
    assert found[(4, "Nama")] == "the name is empty"
    assert found[(5, "Email")] == "'salah@gmail' is not a valid e-mail address"
    assert found[(6, "Nama")] == "duplicate of row 3 (same name and e-mail)"
    assert "has more than 15 digits" in found[(7, "NIK")]
    assert found[(8, "Nama")] == "the value is 200 characters long; at most 150 are allowed"
    assert str(errors(items)[0]) == "row 4, column 'Nama': the name is empty"


def test_formula_without_cached_value_and_error_cells_are_row_errors(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "formulas.xlsx", [
        ["Nama", "Email", "Skor"],
        ["Lina", "lina@example.com", "=1+1"],
        ["=UPPER(\"mira\")", "mira@example.com", 3],
        ["Nanda", "nanda@example.com", 4],
        ["Oki", "=VLOOKUP(A5,Data!A:B,2,FALSE)", 5],
    ])
    patch_sheet_xml(path, '<c r="B5"><f>', '<c r="B5" t="e"><f>')
    patch_sheet_xml(path, "<f>VLOOKUP(A5,Data!A:B,2,FALSE)</f><v />", "<f>VLOOKUP(A5,Data!A:B,2,FALSE)</f><v>#N/A</v>")
    items = read_all(path)
    assert [row.name for row in good(items)] == ["Nanda"]
    found = {(error.row_number, error.column): error.message for error in errors(items)}
    uncalculated = "formula without a computed value; open and save the file in Excel"
    assert found[(2, "Skor")] == uncalculated
    assert found[(3, "Nama")] == uncalculated
    assert found[(5, "Email")] == "the cell shows the Excel error #N/A; fix the formula or type the value"
    assert (3, "Nama") in found and len([e for e in errors(items) if e.row_number == 3]) == 1


def test_formulas_saved_with_values_skip_the_cell_by_cell_parse(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    rows = [["No", "Nama"], *[["=ROW()-1", f"Orang {n}"] for n in range(1, 4)]]
    path = write_xlsx(tmp_path / "excel-saved.xlsx", rows)
    for number in range(2, 5):
        # What Excel saves: each formula with its computed value.
        patch_sheet_xml(path, f'<f>ROW()-1</f><v /></c><c r="B{number}"',
                        f'<f>ROW()-1</f><v>{number - 1}</v></c><c r="B{number}"')

    def no_parse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a sheet whose formulas have values must not be parsed cell by cell")

    monkeypatch.setattr(spreadsheet.ET, "iterparse", no_parse)
    assert [(row.extra["No"], row.name) for row in good(read_all(path))] == [
        ("1", "Orang 1"), ("2", "Orang 2"), ("3", "Orang 3")]


def test_shared_formula_without_value_is_reported(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "shared.xlsx", [["Nama", "Skor"], ["Wati", "=1+1"], ["Yani", "=1+1"], ["Zaki", 7]])
    patch_sheet_xml(path, '<c r="B2"><f>1+1</f>', '<c r="B2"><f t="shared" ref="B2:B3" si="0">1+1</f>')
    patch_sheet_xml(path, '<c r="B3"><f>1+1</f><v /></c>', '<c r="B3"><f t="shared" si="0"/></c>')
    items = read_all(path)
    assert [row.name for row in good(items)] == ["Zaki"]
    assert [(e.row_number, e.column) for e in errors(items)] == [(2, "Skor"), (3, "Skor")]


@pytest.mark.parametrize(("root", "cell", "flagged"), [
    (b'<worksheet xmlns="m">', b'<c r="A1"><f>1</f><v /></c>', True),
    (b'<worksheet xmlns="m">', b'<c r="A1"><f>1</f></c>', True),
    (b'<worksheet xmlns="m">', b'<c r="A1"><f>1</f>\n  <v></v>\n</c>', True),
    (b'<worksheet xmlns="m">', b'<c r="A1"><f>1</f><v>1</v></c>', False),
    (b'<worksheet xmlns="m">', b'<c r="A1"><f t="shared" si="0"/><v>3</v></c>', False),
    (b'<worksheet xmlns="m">', b'<c r="A1" t="e"><v>#N/A</v></c>', True),
    (b'<worksheet xmlns="m">', b'<autoFilter ref="A1:B9"><filterColumn colId="0"/></autoFilter>', False),
    (b"<x:worksheet xmlns:x='m'>", b"<x:c r='A1'><x:f>1</x:f></x:c>", True),
    (b"<x:worksheet xmlns:x='m'>", b"<x:c r='A1' t='e'><x:v>#REF!</x:v></x:c>", True),
    (b"<x:worksheet xmlns:x='m'>", b"<x:c r='A1'><x:f>1</x:f><x:v>1</x:v></x:c>", False),
])
def test_quick_scan_patterns(root: bytes, cell: bytes, flagged: bool) -> None:
    literals, patterns = spreadsheet._bad_cell_patterns(root)
    xml = root + cell
    assert any(pattern.search(xml) for pattern in patterns) is flagged
    # The literal pre-check never hides a match: each flagged cell holds one of the literals.
    assert any(literal in cell for literal in literals) or not flagged


def test_one_megabyte_cell_is_a_row_error_not_a_crash(tmp_path: Path) -> None:
    big = "x" * 1_048_576
    csv_rows = read_all(io.BytesIO(f"Nama,Catatan\nPanji,{big}\nQori,pendek\n".encode()))
    assert [row.name for row in good(csv_rows)] == ["Qori"]
    (error,) = errors(csv_rows)
    assert (error.row_number, error.column) == (2, "Catatan")
    assert error.message == "the value is 1,048,576 characters long; at most 1,000 are allowed"
    xlsx_rows = read_all(write_xlsx(tmp_path / "big-cell.xlsx", [["Nama", "Catatan"], [big, "x"], ["Rudi", "ok"]]))
    assert [row.name for row in good(xlsx_rows)] == ["Rudi"]
    assert [(e.row_number, e.column) for e in errors(xlsx_rows)] == [(2, "Nama")]


def test_phone_in_scientific_notation_and_control_characters() -> None:
    data = b"Nama,HP\nSari,8.12346E+09\nTono\x07,0812\nUmar,0813\n"
    items = read_all(io.BytesIO(data))
    assert [row.name for row in good(items)] == ["Umar"]
    messages = {(e.row_number, e.column): e.message for e in errors(items)}
    assert "scientific notation" in messages[(2, "HP")]
    assert messages[(3, "Nama")] == "the name contains control characters"


def test_duplicates_without_email_use_the_phone() -> None:
    data = b"Nama,HP\nBudi,0811\nBudi,0812\nbudi ,0811\n"
    items = read_all(io.BytesIO(data))
    assert [row.row_number for row in good(items)] == [2, 3]
    assert [(e.row_number, e.message) for e in errors(items)] == [(4, "duplicate of row 2 (same name and phone)")]


# ----------------------------------------------------------------------------------------------
# Two processes: a large sheet's second part converted by a forked helper, same result

FORKS: list[int] = []
os.register_at_fork(after_in_parent=lambda: FORKS.append(1))


def _tricky_sheet(tmp_path: Path, rows: int = 400) -> Path:
    """Every kind of row the conversion treats specially, spread over both parts of the sheet."""
    data: list[list[object]] = [["Daftar peserta"], ["Nama", "Email", "No HP", "Instansi", "Lahir", "Nilai", None]]
    for number in range(3, rows + 3):
        kind = number % 11
        name: object = f"Peserta {number}"
        email: object = f"p{number}@example.com"
        phone: object = f"08{number:09d}"
        unheaded: object = None
        if kind == 1:
            email = "salah@gmail"
        elif kind == 2:
            name = None
        elif kind == 3:
            name, email = "Peserta Kembar", f"Kembar@Example.com{'' if number % 2 else ' '}"  # all as row 3
        elif kind == 4:
            phone = "8.12346E+09"
        elif kind == 5:
            name, unheaded = "Nguye\u0302\u0303n  Va\u0306n", "catatan"   # NFC, spaces, unheaded cell
        elif kind == 6:
            name = "=UPPER(A1)"                          # a formula without value (the XML scan)
        elif kind == 7:
            name = None if number % 2 else "x" * 300     # a blank row, or a name too long
            email = phone = None if number % 2 else email
        data.append([name, email, phone, f"Instansi {number}" if number % 50 else None,
                     date(1990, 1, 1 + number % 28), number * 1.5, unheaded])

    def build(workbook: openpyxl.Workbook) -> None:
        # A vertical merge over the middle of the sheet: the parts' boundary falls inside it.
        workbook.active.merge_cells(f"D{rows // 3}:D{rows * 2 // 3}")

    return write_xlsx(tmp_path / "tricky.xlsx", data, build)


def _read_with(path: Path, workers: int) -> tuple[list[ParticipantRow | RowError], str | None]:
    items: list[ParticipantRow | RowError] = []
    try:
        for item in read_participants(path, filename=path.name, workers=workers):
            items.append(item)
    except UploadError as exc:
        return items, str(exc)
    return items, None


def test_two_processes_give_the_same_rows_and_errors_as_one(tmp_path: Path,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    path = _tricky_sheet(tmp_path)
    before = len(FORKS)
    with caplog.at_level("INFO", logger="include.spreadsheet"):
        together, failure = _read_with(path, workers=2)
    assert len(FORKS) == before + 1, "workers=2 must fork a helper for an XLSX sheet"
    shared = re.search(r"(\d+) data rows from row (\d+) on were converted by a helper process", caplog.text)
    assert shared, caplog.text
    assert 100 < int(shared[1]) and 200 < int(shared[2]) < 300   # about half of the 400 rows
    alone, alone_failure = _read_with(path, workers=1)
    assert len(FORKS) == before + 1
    assert failure is None and alone_failure is None
    assert together == alone
    # The cases the comparison covers really occur in the second part of the sheet.
    late = [item for item in together if item.row_number > 300]
    messages = {item.message for item in late if isinstance(item, RowError)}
    assert "duplicate of row 3 (same name and e-mail)" in messages
    assert "formula without a computed value; open and save the file in Excel" in messages
    assert any(isinstance(item, ParticipantRow) and item.extra.get("Column G") == "catatan" for item in late)
    merged = [item for item in together if isinstance(item, ParticipantRow) and 250 <= item.row_number <= 266]
    assert merged and {item.organization for item in merged} == {f"Instansi {400 // 3}"}


def test_two_processes_report_no_usable_rows_the_same_way(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "allbad.xlsx", [["Nama", "Email"], *[[f"Orang {n}", "salah@gmail"] for n in range(60)]])
    together, failure = _read_with(path, workers=2)
    alone, alone_failure = _read_with(path, workers=1)
    assert together == alone and len(alone) == 60
    assert failure == alone_failure and failure is not None and "no usable rows: all 60" in failure


def _break_results_file(monkeypatch: pytest.MonkeyPatch) -> None:
    def dumps(*args: object) -> bytes:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(spreadsheet.marshal, "dumps", dumps)   # inherited by the forked helper


def _refuse_fork(monkeypatch: pytest.MonkeyPatch) -> None:
    def fork() -> int:
        raise BlockingIOError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(spreadsheet.os, "fork", fork)


@pytest.mark.parametrize(("breakage", "reason"), [
    (_break_results_file, "exit code 1"),
    (_refuse_fork, "it could not be started: [Errno 11] Resource temporarily unavailable"),
])
def test_a_failed_helper_is_replaced_by_the_reader(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   caplog: pytest.LogCaptureFixture,
                                                   breakage: Callable[[pytest.MonkeyPatch], None], reason: str) -> None:
    path = _tricky_sheet(tmp_path, rows=120)
    expected, _ = _read_with(path, workers=1)
    breakage(monkeypatch)
    with caplog.at_level("WARNING", logger="include.spreadsheet"):
        got, failure = _read_with(path, workers=2)
    assert failure is None and got == expected
    assert f"the helper process failed ({reason}); converting its rows here instead" in caplog.text


def test_closing_the_reader_early_stops_the_helper(tmp_path: Path) -> None:
    path = _tricky_sheet(tmp_path)
    me = psutil.Process()
    before = {child.pid for child in me.children()}
    reader = read_participants(path, filename=path.name, workers=2)
    next(reader)
    assert {child.pid for child in me.children()} - before, "the helper should be running"
    reader.close()
    assert {child.pid for child in me.children()} == before   # killed and reaped, no zombie


def test_small_sheets_and_csv_are_read_in_one_process(tmp_path: Path) -> None:
    before = len(FORKS)
    read_all(_tricky_sheet(tmp_path, rows=50))     # far below PARALLEL_MIN_ROWS
    list(read_participants(io.BytesIO(b"Nama\nAna\nBudi\n"), filename="x.csv", workers=2))
    assert len(FORKS) == before


@pytest.mark.parametrize(("files", "cpus"), [
    ({"cpu.max": "max 100000\n"}, None),
    ({"cpu.max": "150000 100000\n"}, 1.5),
    ({"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"}, None),
    ({"cpu/cpu.cfs_quota_us": "200000\n", "cpu/cpu.cfs_period_us": "100000\n"}, 2.0),
    ({"cpu.max": "garbage"}, None),
    ({}, None),
])
def test_container_cpu_limit_is_read_from_the_cgroup(tmp_path: Path, files: dict[str, str], cpus: float | None) -> None:
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    assert spreadsheet.cgroup_cpu_quota(tmp_path) == cpus


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


def test_no_usable_rows_comes_after_the_row_errors() -> None:
    generator = read_participants(io.BytesIO(b"Nama,Email\n,a@example.com\n"), filename="x.csv")
    first = next(generator)
    assert isinstance(first, RowError) and first.row_number == 2
    with pytest.raises(UploadError, match="no usable rows"):
        next(generator)


def test_oversized_sheet_is_refused_before_parsing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_xlsx(tmp_path / "bomb.xlsx", [["Nama"], *[[f"Orang {i}"] for i in range(100)]])
    monkeypatch.setattr(spreadsheet, "MAX_SHEET_XML_BYTES", 1024)
    with pytest.raises(UploadError, match=r"bomb.xlsx: the workbook is too large to read \(xl/worksheets/sheet1.xml"):
        list(read_participants(path, filename="bomb.xlsx"))


@pytest.mark.parametrize(("name", "message"), [
    ("../../etc/passwd.csv", "must not contain '..' (path traversal)"),
    ("uploads/..\\..\\secret.xlsx", "must not contain '..' (path traversal)"),
    ("/etc/peserta.csv", "must be a path relative to the upload folder"),
    ("C:\\data\\peserta.csv", "must be a path relative to the upload folder"),
    ("s3://bucket/peserta.csv", "must be a path relative to the upload folder"),
    ("peserta\x00.csv", "contains control characters"),
    ("peserta.exe", "unsupported file type ('.exe')"),
    ("", "upload name is empty"),
])
def test_upload_name_is_checked(name: str, message: str) -> None:
    with pytest.raises(UploadError, match=message.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        check_upload_name(name)


def test_good_upload_names_are_normalised() -> None:
    assert check_upload_name("2025/08/./peserta.xlsx") == "2025/08/peserta.xlsx"
    assert check_upload_name("batch\\peserta.CSV") == "batch/peserta.CSV"


# ----------------------------------------------------------------------------------------------
# Output


@pytest.mark.parametrize(("value", "expected"), [
    ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"),
    ("+62812", "'+62812"),
    ("-Ahmad", "'-Ahmad"),
    ("@SUM(A1)", "'@SUM(A1)"),
    ("\tx", "'\tx"),
    ("\rx", "'\rx"),
    ("\nx", "'\nx"),
    ("Budi", "Budi"),
    ("", ""),
])
def test_neutralize_cell_for_output(value: str, expected: str) -> None:
    assert neutralize_cell(value) == expected
