"""Header detection, shared by the XLSX and CSV readers.

The header row is the first of the first ``HEADER_SCAN_ROWS`` rows holding a name-column alias,
so title rows, logos and merged banner cells above it are skipped. Column names are matched
case-, space- and punctuation-insensitively against Indonesian and English aliases.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Iterator, Sequence
from typing import Final

from include.certificates.spreadsheet.cells import CellError, cell_text
from include.certificates.spreadsheet.table import Column, Header, column_letter
from include.certificates.spreadsheet.types import (
    CELL_MAX_CHARS,
    EMAIL_MAX_CHARS,
    HEADER_SCAN_ROWS,
    MAX_COLUMNS,
    NAME_MAX_CHARS,
    UploadError,
)

# Header aliases after _normalize_header (lower case, letters and digits only).
ALIASES: Final[dict[str, frozenset[str]]] = {
    "name": frozenset({
        "nama", "namalengkap", "namapeserta", "namalengkappeserta", "namapenerima", "namakaryawan",
        "namapegawai", "name", "fullname", "participantname", "participant", "peserta",
        "recipient", "recipientname", "employeename", "namasesuaisertifikat", "namadisertifikat",
        "namalengkapdangelar", "namalengkapbesertagelar", "namadangelar",
    }),
    "email": frozenset({
        "email", "emailaddress", "alamatemail", "surel", "alamatsurel", "mail", "emailpeserta",
        "surelpeserta", "emailaktif", "alamatemailaktif",
    }),
    "phone": frozenset({
        "nohp", "nomorhp", "hp", "nohandphone", "nomorhandphone", "handphone", "notelepon",
        "nomortelepon", "notelp", "nomortelp", "telepon", "telp", "tel", "phone", "phonenumber",
        "phoneno", "telephone", "mobile", "mobilenumber", "mobilephone", "whatsapp", "wa", "nowa",
        "nomorwa", "nowhatsapp", "nomorwhatsapp", "nohpwa", "nohpwhatsapp", "nomorhpwa",
        "nomorhpwhatsapp", "notelpwa", "kontak", "nomorkontak",
    }),
    "organization": frozenset({
        "instansi", "namainstansi", "asalinstansi", "organisasi", "namaorganisasi", "perusahaan",
        "namaperusahaan", "institusi", "asalinstitusi", "lembaga", "afiliasi", "unitkerja",
        "sekolah", "asalsekolah", "universitas", "kampus", "organization", "organisation",
        "company", "institution", "affiliation", "employer",
    }),
    "position": frozenset({
        "jabatan", "posisi", "pekerjaan", "profesi", "position", "jobtitle", "role", "occupation",
        "designation",
    }),
}
_ALIAS_FIELD: Final = {alias: name for name, aliases in ALIASES.items() for alias in aliases}
_FIELD_LABEL: Final = {"name": "name", "email": "e-mail", "phone": "phone",
                       "organization": "organization", "position": "position"}
_FIELD_MAX_CHARS: Final = {"name": NAME_MAX_CHARS, "email": EMAIL_MAX_CHARS}
_BRACKETED_RE: Final = re.compile(r"\([^)]*\)|\[[^\]]*\]")


def _normalize_header(value: object) -> str:
    """Lower case, letters and digits only; a note in brackets is dropped.

    Form exports add notes: "Nama Lengkap (beserta gelar)" is the name column.
    """
    text = unicodedata.normalize("NFKC", _header_text(value)).casefold()
    without_notes = _BRACKETED_RE.sub("", text)
    if any(char.isalnum() for char in without_notes):
        text = without_notes
    return "".join(char for char in text if char.isalnum())


def _header_text(value: object) -> str:
    if isinstance(value, str):
        return " ".join(value.split())
    if value is None:
        return ""
    text = cell_text(value)
    return "" if type(text) is CellError else text


def find_header(rows: Iterator[tuple[int, int, Sequence[object]]]
                 ) -> tuple[Header | None, list[tuple[int, int, Sequence[object]]]]:
    """The first row (of HEADER_SCAN_ROWS) with a name alias; also returns the rows consumed."""
    consumed: list[tuple[int, int, Sequence[object]]] = []
    for row in itertools.islice(rows, HEADER_SCAN_ROWS):
        consumed.append(row)
        number, first_column, cells = row
        if any(_ALIAS_FIELD.get(_normalize_header(cell)) == "name" for cell in cells):
            return Header(number, _columns(first_column, cells), last_row=number), consumed
    return None, consumed


def _columns(first_column: int, cells: Sequence[object]) -> list[Column]:
    columns: list[Column] = []
    for offset, cell in enumerate(cells):
        title = _header_text(cell)
        if title:
            field_name = _ALIAS_FIELD.get(_normalize_header(cell))
            columns.append(Column(first_column + offset, title, field_name,
                                   _FIELD_MAX_CHARS.get(field_name or "", CELL_MAX_CHARS)))
    return columns


def check_header(header: Header, filename: str) -> None:
    if len(header.columns) > MAX_COLUMNS:
        raise UploadError(f"{filename}: the header row (row {header.row_number}) has "
                          f"{len(header.columns)} columns; at most {MAX_COLUMNS} are supported")
    seen: dict[str, Column] = {}
    for column in header.columns:
        if column.field is None:
            continue
        earlier = seen.get(column.field)
        if earlier is not None:
            raise UploadError(
                f"{filename}: columns '{earlier.title}' ({column_letter(earlier.index)}) and "
                f"'{column.title}' ({column_letter(column.index)}) both look like the "
                f"{_FIELD_LABEL[column.field]} column; rename or remove one")
        seen[column.field] = column
