"""include.certificates.spreadsheet.csv_reader: encodings, delimiters and records of a CSV upload."""

from __future__ import annotations

import io

import pytest

from tests.unit.certificates.spreadsheet.sheets import errors, good, read_all

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
