"""include.certificates.spreadsheet.xlsx: what an XLSX workbook's sheet gives, formulas and error cells."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import openpyxl
import pytest

from include.certificates.spreadsheet import UploadError, read_participants, xlsx
from tests.unit.certificates.spreadsheet.sheets import YELLOW, errors, good, patch_sheet_xml, read_all, write_xlsx

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


# ----------------------------------------------------------------------------------------------
# Formulas and error cells: the XML scan


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

    monkeypatch.setattr(xlsx.ET, "iterparse", no_parse)
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
    literals, patterns = xlsx._bad_cell_patterns(root)
    xml = root + cell
    assert any(pattern.search(xml) for pattern in patterns) is flagged
    # The literal pre-check never hides a match: each flagged cell holds one of the literals.
    assert any(literal in cell for literal in literals) or not flagged


# ----------------------------------------------------------------------------------------------
# Zip bombs


def test_oversized_sheet_is_refused_before_parsing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_xlsx(tmp_path / "bomb.xlsx", [["Nama"], *[[f"Orang {i}"] for i in range(100)]])
    monkeypatch.setattr(xlsx, "MAX_SHEET_XML_BYTES", 1024)
    with pytest.raises(UploadError, match=r"bomb.xlsx: the workbook is too large to read \(xl/worksheets/sheet1.xml"):
        list(read_participants(path, filename="bomb.xlsx"))
