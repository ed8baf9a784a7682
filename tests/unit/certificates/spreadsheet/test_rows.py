"""include.certificates.spreadsheet.rows: reading an upload, and the bad rows reported with the good ones."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from include.certificates.spreadsheet import RowError, UploadError, read_participants
from tests.unit.certificates.spreadsheet.sheets import errors, good, read_all, write_xlsx

# ----------------------------------------------------------------------------------------------
# Sources: paths, file objects, pipes; read lazily


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


def test_no_usable_rows_comes_after_the_row_errors() -> None:
    generator = read_participants(io.BytesIO(b"Nama,Email\n,a@example.com\n"), filename="x.csv")
    first = next(generator)
    assert isinstance(first, RowError) and first.row_number == 2
    with pytest.raises(UploadError, match="no usable rows"):
        next(generator)
