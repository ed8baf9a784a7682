"""Participants from an uploaded CSV or XLSX file, streamed row by row.

``read_participants`` yields one ``ParticipantRow`` per good row and one or more ``RowError`` per
bad row (a bad row never stops the good ones); a problem with the whole file raises
``UploadError``, whose message names the file and says what to fix.

What it copes with, and why:

* The header row is the first of the first ``HEADER_SCAN_ROWS`` rows holding a name-column alias,
  so title rows, logos and merged banner cells above it are skipped. Column names are matched
  case-, space- and punctuation-insensitively against Indonesian and English aliases.
* Every value comes out as text. Numbers that are whole lose Excel's ".0" (a phone stored as the
  number 8123456789 gives "8123456789"); text cells keep their leading zeros; Excel dates give ISO
  dates. Numbers of 16+ digits (an NIK typed as a number) were already rounded by Excel, and
  formulas that were never calculated (files written by scripts) have no value at all: both are
  reported on their cell rather than passed on wrong or empty.
* XLSX is read with python-calamine (Rust: the whole sheet in ~1 s and ~120 MiB peak RSS for
  100,000 rows x 10 columns, where openpyxl's streaming mode needs 15-20 s). calamine returns ""
  for a formula without a cached value and for an error cell such as #N/A, so such cells are
  found by scanning the sheet XML: one quick byte scan, run while calamine parses, and a
  cell-by-cell parse only when the scan finds a formula without value or an error cell.
  Turning the parsed rows into participants takes as long again in Python, so for a sheet of
  ``PARALLEL_MIN_ROWS`` rows or more a helper process, forked once the sheet is parsed, converts
  the second part of the rows on the other core (see ``_RowHelper``).
* CSV: UTF-8 with or without BOM, then Windows-1252 (older Excel exports), UTF-16 with a BOM
  (Excel's "Unicode Text"); delimiter ``,`` ``;`` or tab, chosen by which one yields a header row.
  Values stay text, so decimal commas are harmless.
* Rows that are entirely blank are skipped, so formatted-but-empty rows at the end vanish.
* Row numbers are the ones a user sees in Excel: the sheet row for XLSX, the record number for
  CSV (a quoted value spanning lines is one row, as Excel shows it).

``neutralize_cell`` is for OUTPUT only (exports, error reports): input names such as "-Ahmad" and
phones such as "+62..." are legitimate and are never altered on the way in.
"""

from __future__ import annotations

import codecs
import csv
import gc
import io
import itertools
import logging
import math
import marshal
import os
import re
import shutil
import signal
import tempfile
import unicodedata
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO, Final

import python_calamine

log = logging.getLogger(__name__)

Source = str | os.PathLike[str] | BinaryIO

HEADER_SCAN_ROWS: Final = 20
MAX_COLUMNS: Final = 200
NAME_MAX_CHARS: Final = 150      # two lines of the certificate at a readable size
EMAIL_MAX_CHARS: Final = 254     # RFC 5321 path limit
CELL_MAX_CHARS: Final = 1_000
# A cell over this size stops the CSV parser; far above CELL_MAX_CHARS so that a 1 MB cell is a
# row error and only an absurd one (or a runaway quote) fails the file.
CSV_FIELD_LIMIT: Final = 8 * 1024 * 1024
# Uncompressed size of one worksheet's XML we agree to hand to calamine, which holds the whole
# sheet in memory: 100,000 rows x 10 columns written by openpyxl (inline strings) are 55 MiB.
# Stops zip bombs.
MAX_SHEET_XML_BYTES: Final = 512 * 1024 * 1024
EXCEL_EXACT_DIGITS: Final = 15   # Excel keeps 15 significant digits of a number
# A sheet with at least this many data rows is converted by two processes when two CPUs are free.
PARALLEL_MIN_ROWS: Final = 20_000
_OWN_SHARE: Final = 0.55
_HELPER_CHUNK_ROWS: Final = 2_000

SUPPORTED_EXTENSIONS: Final = (".csv", ".xlsx")

FIELDS: Final = ("name", "email", "phone", "organization", "position")
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

# Pragmatic e-mail check: one @, no spaces, a dotted domain of letters/digits/hyphens, no empty
# dot-separated parts. Catches the typos that happen in spreadsheets ("budi@gmail", "budi gmail.com",
# "budi@gmail,com") without rejecting valid international addresses.
_EMAIL_RE: Final = re.compile(
    r"^(?!\.)(?!.*\.\.)[^@\s\"(),:;<>\[\\\]]{1,64}(?<!\.)"
    r"@(?=.{1,253}$)(?:[^\W_](?:[\w-]{0,61}[^\W_])?\.)+[^\W\d_]{2,63}$"
)
# A phone written by Excel in scientific notation ("8.12346E+09") has lost its digits.
_SCIENTIFIC_RE: Final = re.compile(r"^[+-]?\d+(?:[.,]\d+)?[eE][+-]?\d+$")
_BRACKETED_RE: Final = re.compile(r"\([^)]*\)|\[[^\]]*\]")
_CONTROL_RE: Final = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_INJECTION_PREFIXES: Final = ("=", "+", "-", "@", "\t", "\r", "\n")

_ZIP_MAGIC: Final = b"PK\x03\x04"
_EMPTY_ZIP_MAGIC: Final = b"PK\x05\x06"
_OLE2_MAGIC: Final = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_PDF_MAGIC: Final = b"%PDF-"


# --------------------------------------------------------------------------------------------
# Public types


@dataclass(slots=True)   # not frozen: a frozen dataclass is 2x slower to create, 0.1 s per 100k rows
class ParticipantRow:
    """One usable participant. ``row_number`` is the row as Excel shows it (1-based)."""

    row_number: int
    name: str
    email: str | None
    phone: str | None
    organization: str | None
    position: str | None
    extra: dict[str, str]   # the other columns, by header ("Column F" when it has none)


@dataclass(frozen=True, slots=True)
class RowError:
    """A bad row, reported and left out. One row can produce several (one per bad cell)."""

    row_number: int
    column: str | None
    message: str

    def __str__(self) -> str:
        where = f"row {self.row_number}" + (f", column '{self.column}'" if self.column else "")
        return f"{where}: {self.message}"


class UploadError(ValueError):
    """The whole file cannot be used; the message names the file and the problem."""


def neutralize_cell(value: str) -> str:
    """Text safe to write into a CSV/XLSX export: a leading = + - @ tab CR LF gets a "'" prefix.

    OWASP's CSV-injection defence, for output only; never apply it to what is read.
    """
    return "'" + value if value.startswith(_INJECTION_PREFIXES) else value


def check_upload_name(name: str, *, check_extension: bool = True) -> str:
    """The upload's relative path, normalised to POSIX form, or ``UploadError``.

    For the DAG's ``file`` parameter before it is joined to the upload base: refuses absolute
    paths, drive letters, ``..`` components, control characters and unsupported extensions.
    Symlinks are not seen here: the caller still checks that the resolved path is under the base.
    """
    shown = name if len(name) <= 200 else name[:200] + "..."
    if not name or not name.strip():
        raise UploadError("upload name is empty")
    if _CONTROL_RE.search(name) or "\n" in name or "\r" in name:
        raise UploadError(f"{shown!r}: upload name contains control characters")
    parts = name.replace("\\", "/").split("/")
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name) or "://" in name:
        raise UploadError(f"{shown!r}: upload name must be a path relative to the upload folder")
    if ".." in parts:
        raise UploadError(f"{shown!r}: upload name must not contain '..' (path traversal)")
    clean = PurePosixPath(*[part for part in parts if part not in ("", ".")])
    if not clean.parts:
        raise UploadError(f"{shown!r}: upload name has no file name")
    if check_extension:
        _extension(str(clean))
    return str(clean)


def read_participants(source: Source, *, filename: str,
                      workers: int | None = None) -> Iterator[ParticipantRow | RowError]:
    """Stream participants from a CSV or XLSX upload.

    ``source`` is a path or a binary file object (read from its start; it is not closed);
    ``filename`` is the name shown to the user and decides the format by its extension. A bad
    row yields one ``RowError`` per problem (consecutively, same ``row_number``) and no
    ``ParticipantRow``. Raises ``UploadError`` for whole-file problems, at the first ``next()``
    or, for "no usable rows", after the row errors have been yielded.

    ``workers``: 1 converts every row in this process; 2 forks a helper process that converts
    the second half of an XLSX sheet (CSV rows are always read in this process); None, the
    default, chooses 2 for a sheet of ``PARALLEL_MIN_ROWS`` rows or more when two CPUs are
    usable. The rows and errors are the same either way.
    """
    extension = _extension(filename)
    with _seekable(source, filename) as stream:
        size = _stream_size(stream)
        if size == 0:
            raise UploadError(f"{filename}: the file is empty (0 bytes)")
        head = stream.read(8192)
        stream.seek(0)
        table = _open_xlsx(stream, head, filename) if extension == ".xlsx" else _open_csv(stream, head, filename)
        yield from _participants(table, filename, workers)


# --------------------------------------------------------------------------------------------
# Raw tables: rows of cells plus what the format knows about bad cells


@dataclass(slots=True)
class _Table:
    """Rows of one sheet: (row number, first column index, cells), and per-format knowledge."""

    rows: Iterator[tuple[int, int, Sequence[object]]]
    where: str                                           # "sheet 'Peserta'" or "" for CSV
    header: _Header
    bad_cells: dict[int, dict[int, str]] = field(default_factory=dict)   # row -> col -> message
    fill_down: dict[int, list[tuple[int, int]]] = field(default_factory=dict)  # row -> (col, from row)
    row_count: int | None = None   # how many rows ``rows`` holds, when they are all in memory


@dataclass(frozen=True, slots=True)
class _Column:
    index: int            # 0-based absolute column
    title: str            # header text as written
    field: str | None     # one of FIELDS, or None for an extra column
    limit: int            # longest accepted value, in characters


@dataclass(slots=True)
class _Header:
    row_number: int
    columns: list[_Column]
    last_row: int         # the header's last row (a vertically merged header spans several)


def _extension(filename: str) -> str:
    suffix = PurePosixPath(filename.replace("\\", "/")).suffix.lower()
    if suffix in SUPPORTED_EXTENSIONS:
        return suffix
    if suffix in (".xls", ".xlsm", ".xlsb", ".ods", ".numbers"):
        raise UploadError(f"{filename}: '{suffix}' files are not supported; in Excel use "
                          "File > Save As > 'Excel Workbook (*.xlsx)' or 'CSV UTF-8'")
    shown = f"'{suffix}'" if suffix else "no extension"
    raise UploadError(f"{filename}: unsupported file type ({shown}); upload a .csv or .xlsx file")


@contextmanager
def _seekable(source: Source, filename: str) -> Iterator[BinaryIO]:
    """A seekable binary stream over ``source``; a non-seekable one is spooled to a temp file."""
    with ExitStack() as stack:
        if isinstance(source, (str, os.PathLike)):
            try:
                stream: BinaryIO = stack.enter_context(open(source, "rb"))
            except OSError as exc:
                raise UploadError(f"{filename}: cannot open the file: {exc.strerror or exc}") from exc
        elif _is_seekable(source):
            stream = source
            stream.seek(0)
        else:
            spool = stack.enter_context(tempfile.SpooledTemporaryFile(max_size=16 * 1024 * 1024))
            shutil.copyfileobj(source, spool)
            spool.seek(0)
            stream = spool  # type: ignore[assignment]
        yield stream


def _is_seekable(stream: object) -> bool:
    try:
        return bool(stream.seekable())  # type: ignore[attr-defined]
    except (AttributeError, ValueError):
        return False


def _stream_size(stream: BinaryIO) -> int:
    stream.seek(0, io.SEEK_END)
    size = stream.tell()
    stream.seek(0)
    return size


# --------------------------------------------------------------------------------------------
# XLSX


def _open_xlsx(stream: BinaryIO, head: bytes, filename: str) -> _Table:
    _check_xlsx_signature(head, filename)
    with _open_zip(stream, filename) as archive, ThreadPoolExecutor(max_workers=1) as pool:
        sheet_paths = _sheet_xml_paths(archive, filename)
        # Before calamine inflates anything: it holds whole sheets in memory.
        _check_sizes(archive, list(sheet_paths.values()), filename)
        # calamine copies the whole file into memory here, so the archive may read the stream
        # from the scan thread below without the two sharing a file position.
        workbook = _open_calamine(stream, filename)
        for sheet_name in _visible_sheet_names(workbook):
            member = sheet_paths.get(sheet_name)
            # The XML scan runs while calamine parses the sheet (it releases the GIL): together they
            # take the time of the parse alone.
            scan = pool.submit(_scan_bad_cells, archive, member) if member else None
            sheet = _load_sheet(workbook, sheet_name, filename)
            rows = _calamine_rows(sheet)
            header, buffered = _find_header(rows)
            if header is None:
                continue
            bad_cells = _scan_result(scan, filename)
            trailing = _trailing_bad_rows(sheet, bad_cells)
            table = _Table(rows=itertools.chain(buffered, rows, trailing), where=f"sheet '{sheet_name}'",
                           header=header, bad_cells=bad_cells, row_count=_sheet_rows(sheet) + len(trailing))
            _apply_merges(table, sheet.merged_cell_ranges or [], filename)
            log.info("%s: reading sheet %r, header at row %d", filename, sheet_name, header.row_number)
            return table
    names = ", ".join(f"'{meta.name}'" for meta in workbook.sheets_metadata)
    raise UploadError(f"{filename}: no header row with a name column (e.g. 'Nama', 'Nama Lengkap', "
                      f"'Name') in the first {HEADER_SCAN_ROWS} rows of any visible sheet "
                      f"(sheets: {names})")


def _scan_result(scan: Future[dict[int, dict[int, str]]] | None, filename: str) -> dict[int, dict[int, str]]:
    if scan is None:
        return {}
    try:
        return scan.result()
    except (ET.ParseError, zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
        raise UploadError(f"{filename}: the workbook is damaged ({exc}); open it in Excel and save "
                          "it again") from exc


def _check_xlsx_signature(head: bytes, filename: str) -> None:
    if head.startswith(_ZIP_MAGIC):
        return
    if head.startswith(_OLE2_MAGIC):
        raise UploadError(f"{filename}: the workbook is password-protected (encrypted) or is an old "
                          "Excel 97-2003 file renamed to .xlsx; remove the password / save it as "
                          "'Excel Workbook (*.xlsx)'")
    if head.startswith(_EMPTY_ZIP_MAGIC):
        raise UploadError(f"{filename}: not an Excel workbook (an empty ZIP archive)")
    raise UploadError(f"{filename}: not an Excel .xlsx workbook ({_describe_bytes(head)}); "
                      "save it from Excel as 'Excel Workbook (*.xlsx)'")


def _open_zip(stream: BinaryIO, filename: str) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(stream)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError) as exc:
        raise UploadError(f"{filename}: the workbook is damaged (not a readable ZIP archive: {exc}); "
                          "open it in Excel and save it again") from exc


def _sheet_xml_paths(archive: zipfile.ZipFile, filename: str) -> dict[str, str]:
    """Worksheet name -> path of its XML inside the archive, from workbook.xml and its rels."""
    names = {name.lower(): name for name in archive.namelist()}
    workbook = names.get("xl/workbook.xml")
    if workbook is None:
        raise UploadError(f"{filename}: {_zip_kind(names)}")
    try:
        sheets = ET.fromstring(archive.read(workbook))
        rels = ET.fromstring(archive.read(names.get("xl/_rels/workbook.xml.rels", "")))
    except (KeyError, ET.ParseError, zipfile.BadZipFile, OSError, EOFError) as exc:
        raise UploadError(f"{filename}: the workbook is damaged ({exc}); open it in Excel and save "
                          "it again") from exc
    targets = {rel.get("Id"): rel.get("Target", "") for rel in rels.iter() if _local(rel.tag) == "Relationship"}
    paths: dict[str, str] = {}
    for sheet in sheets.iter():
        if _local(sheet.tag) != "sheet":
            continue
        rel_id = next((value for key, value in sheet.attrib.items() if _local(key) == "id"), None)
        target = targets.get(rel_id, "")
        path = target.lstrip("/") if target.startswith("/") else f"xl/{target}"
        resolved = names.get(str(PurePosixPath(path)).lower())
        if resolved is not None:
            paths[sheet.get("name", "")] = resolved
    return paths


def _zip_kind(names: dict[str, str]) -> str:
    if "word/document.xml" in names:
        return "this is a Word document renamed to .xlsx, not an Excel workbook"
    if "ppt/presentation.xml" in names:
        return "this is a PowerPoint file renamed to .xlsx, not an Excel workbook"
    if "content.xml" in names and "mimetype" in names:
        return "this is an OpenDocument file (.ods); save it as 'Excel Workbook (*.xlsx)'"
    if "xl/workbook.bin" in names:
        return "this is an Excel binary workbook (.xlsb); save it as 'Excel Workbook (*.xlsx)'"
    return "a ZIP archive that is not an Excel workbook (no xl/workbook.xml inside)"


def _open_calamine(stream: BinaryIO, filename: str) -> python_calamine.CalamineWorkbook:
    stream.seek(0)
    try:
        return python_calamine.CalamineWorkbook.from_filelike(stream)
    except python_calamine.PasswordError as exc:
        raise UploadError(f"{filename}: the workbook is password-protected; remove the password "
                          "and upload it again") from exc
    except (python_calamine.CalamineError, OSError, ValueError) as exc:
        raise UploadError(f"{filename}: the workbook cannot be read ({exc}); open it in Excel and "
                          "save it again") from exc


def _visible_sheet_names(workbook: python_calamine.CalamineWorkbook) -> list[str]:
    """Visible worksheets in order: hidden sheets are not what the user sees and checked."""
    return [meta.name for meta in workbook.sheets_metadata
            if meta.visible == python_calamine.SheetVisibleEnum.Visible
            and meta.typ == python_calamine.SheetTypeEnum.WorkSheet]


def _load_sheet(workbook: python_calamine.CalamineWorkbook, sheet_name: str,
                filename: str) -> python_calamine.CalamineSheet:
    try:
        return workbook.get_sheet_by_name(sheet_name)
    except python_calamine.CalamineError as exc:
        raise UploadError(f"{filename}: sheet '{sheet_name}' cannot be read ({exc}); open the file "
                          "in Excel and save it again") from exc


def _calamine_rows(sheet: python_calamine.CalamineSheet) -> Iterator[tuple[int, int, Sequence[object]]]:
    """(Excel row number, first column, cells) for every row of the sheet's used range.

    calamine's iter_rows() starts at the sheet's first row (leading empty rows included, so the
    index + 1 is the Excel row number) but at the first used column, given by sheet.start.
    Built from C-level iterators: this runs once per row of a 100,000-row sheet.
    """
    first_column = sheet.start[1] if sheet.start else 0
    return zip(itertools.count(1), itertools.repeat(first_column), sheet.iter_rows())


def _sheet_rows(sheet: python_calamine.CalamineSheet) -> int:
    """How many rows iter_rows() yields: from the sheet's first row to the range's last."""
    return sheet.end[0] + 1 if sheet.end else 0


def _trailing_bad_rows(sheet: python_calamine.CalamineSheet,
                       bad_cells: dict[int, dict[int, str]]) -> list[tuple[int, int, Sequence[object]]]:
    """Empty rows for bad cells below the sheet's used range, so they are reported too.

    calamine's range ends at the last cell with a value: rows holding nothing but uncalculated
    formulas are not in it.
    """
    last = _sheet_rows(sheet)
    first_column = sheet.start[1] if sheet.start else 0
    return [(number, first_column, []) for number in sorted(bad_cells) if number > last]


def _check_sizes(archive: zipfile.ZipFile, members: list[str], filename: str) -> None:
    strings = [info.filename for info in archive.infolist() if info.filename.lower() == "xl/sharedstrings.xml"]
    for member in members + strings:
        size = archive.getinfo(member).file_size
        if size > MAX_SHEET_XML_BYTES:
            raise UploadError(f"{filename}: the workbook is too large to read ({member} is "
                              f"{size // 2**20} MiB uncompressed, limit {MAX_SHEET_XML_BYTES // 2**20} "
                              "MiB); split it into smaller files")


_ROOT_PREFIX_RE: Final = re.compile(rb"<(\w+:)?worksheet[\s>]")


def _scan_bad_cells(archive: zipfile.ZipFile, member: str) -> dict[int, dict[int, str]]:
    """Cells calamine reads as "" but that are not empty: uncalculated formulas and error values."""
    if not _may_have_bad_cells(archive, member):
        return {}
    bad: dict[int, dict[int, str]] = {}
    row_number, column = 0, -1
    sheet_data: ET.Element | None = None
    with archive.open(member) as xml:
        for event, element in ET.iterparse(xml, events=("start", "end")):
            tag = _local(element.tag)
            if event == "start":
                if tag == "sheetData":
                    sheet_data = element
                elif tag == "row":
                    row_number = int(element.get("r") or row_number + 1)
                    column = -1
                elif tag == "c":
                    ref = element.get("r")
                    column = _column_index(ref) if ref else column + 1
                continue
            if tag == "c":
                problem = _cell_problem(element)
                if problem:
                    bad.setdefault(row_number, {})[column] = problem
                element.clear()
            elif tag == "row" and sheet_data is not None:
                sheet_data.clear()   # drop finished rows: the tree stays one row big
    return bad


def _may_have_bad_cells(archive: zipfile.ZipFile, member: str) -> bool:
    """A quick byte scan, so that the XML is parsed cell by cell only for a sheet that needs it.

    It looks for a formula followed by no value ("</f><v />", "</f></c>", a shared formula
    "<f .../></c>") and for an error cell (t="e"). Formulas that have their value, as Excel saves
    them (a "No" column of =ROW()-3), do not trigger the parse. A chunk is searched with the
    patterns only when it holds one of their literals ("</f>", "<f", 't="e"'), which bytes' own search
    finds at memory speed: over the 55 MiB of a 100,000-row sheet without formulas the scan takes
    ~0.2 s with the unpacking (the patterns alone took 0.45 s), the cell-by-cell parse ~3 s.
    """
    tail = b""
    scan: tuple[tuple[bytes, ...], tuple[re.Pattern[bytes], ...]] | None = None
    with archive.open(member) as xml:
        while chunk := xml.read(1 << 20):
            window = tail + chunk   # a pattern split across two chunks is still found
            if scan is None:
                scan = _bad_cell_patterns(window)
            literals, patterns = scan
            if any(literal in window for literal in literals) and any(pattern.search(window) for pattern in patterns):
                return True
            tail = chunk[-256:]
    return False


def _bad_cell_patterns(start: bytes) -> tuple[tuple[bytes, ...], tuple[re.Pattern[bytes], ...]]:
    """The quick-scan literals and patterns, in the sheet's namespace prefix ("x:" or none) and
    quote style. Every match of a pattern contains one of the literals."""
    root = _ROOT_PREFIX_RE.search(start)
    raw_prefix = (root.group(1) or b"") if root else b""
    prefix = re.escape(raw_prefix)
    quote = b"'" if re.search(rb"<(?:\w+:)?worksheet[^>]*=\s*'", start) else b'"'
    no_value = rb"\s*(?:<%(p)sv\s*/>|<%(p)sv>\s*</%(p)sv>|</%(p)sc>)" % {b"p": prefix}
    return (b"</%sf>" % raw_prefix, b"<%sf" % raw_prefix, b"t=%se%s" % (quote, quote)), (
        re.compile(rb"</%sf>" % prefix + no_value),                      # <f>A1+1</f><v />
        re.compile(rb"<%sf\b[^>]*/>" % prefix + no_value),               # <f t="shared" si="0"/></c>
        re.compile(rb"\st=%se%s" % (quote, quote)),                       # an error cell: t="e"
    )


def _cell_problem(cell: ET.Element) -> str | None:
    children = {_local(child.tag): child for child in cell}
    value = children.get("v")
    if cell.get("t") == "e":
        shown = value.text if value is not None and value.text else "an error"
        return f"the cell shows the Excel error {shown}; fix the formula or type the value"
    formula = children.get("f")
    if formula is None:
        return None
    # t="str" with an empty <v/> is a formula that computed "" (e.g. =IF(A2="","",...)): fine.
    if (value is None or not value.text) and cell.get("t") != "str":
        return "formula without a computed value; open and save the file in Excel"
    return None


def _column_index(ref: str) -> int:
    index = 0
    for char in ref:
        if not char.isalpha():
            break
        index = index * 26 + (ord(char.upper()) - 64)
    return index - 1


def _column_letter(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, remainder = divmod(index - 1, 26)
        letters = chr(65 + remainder) + letters
    return letters


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1].rsplit(":", 1)[-1]


def _apply_merges(table: _Table, merges: Iterable[tuple[tuple[int, int], tuple[int, int]]],
                  filename: str) -> None:
    """Header merges: refuse one across columns, extend the header over one down rows.

    Data merges: a vertically merged cell (an 'Instansi' shared by a group of rows) shows its value
    on every row it covers, so it is filled down; calamine gives the value to the top row only.
    """
    header = table.header
    header_row = header.row_number - 1                # calamine ranges are 0-based
    titles = {column.index: column.title for column in header.columns}
    for (top, left), (bottom, right) in merges:
        if top <= header_row <= bottom:
            if right > left and any(index in titles for index in range(left, right + 1)):
                title = titles.get(left, f"Column {_column_letter(left)}")
                span = f"{_column_letter(left)}{top + 1}:{_column_letter(right)}{bottom + 1}"
                raise UploadError(f"{filename}: header '{title}' is a merged cell ({span}) covering "
                                  "several columns; unmerge it so every column has its own header")
            header.last_row = max(header.last_row, bottom + 1)
    for (top, left), (bottom, _right) in merges:
        if top + 1 > header.last_row and bottom > top:
            for row in range(top + 2, bottom + 2):
                table.fill_down.setdefault(row, []).append((left, top + 1))


# --------------------------------------------------------------------------------------------
# CSV


def _open_csv(stream: BinaryIO, head: bytes, filename: str) -> _Table:
    _check_csv_signature(head, filename)
    encoding = _detect_encoding(stream, head, filename)
    stream.seek(0)
    text = io.TextIOWrapper(stream, encoding=encoding, newline="")
    try:
        sample = text.read(65536)
        delimiter, header = _sniff_delimiter(sample, filename)
        text.seek(0)
    except BaseException:
        text.detach()   # closing the wrapper would close the caller's file
        raise
    # csv.field_size_limit is process-wide; it is only ever raised here, never lowered.
    csv.field_size_limit(max(csv.field_size_limit(), CSV_FIELD_LIMIT))
    reader = csv.reader(text, delimiter=delimiter)
    log.info("%s: CSV decoded as %s, delimiter %r, header at row %d", filename, encoding,
             delimiter, header.row_number)
    return _Table(rows=_csv_rows(reader, text, filename), where="", header=header)


def _check_csv_signature(head: bytes, filename: str) -> None:
    if head.startswith((_ZIP_MAGIC, _EMPTY_ZIP_MAGIC)):
        raise UploadError(f"{filename}: this is an Excel workbook or another ZIP file, not CSV text; "
                          "upload an .xlsx with its .xlsx extension, or save as 'CSV UTF-8'")
    if head.startswith(_OLE2_MAGIC):
        raise UploadError(f"{filename}: this is an old Excel (.xls) or other Office file, not CSV "
                          "text; save it as 'CSV UTF-8'")
    if head.startswith(_PDF_MAGIC):
        raise UploadError(f"{filename}: this is a PDF document, not CSV text")
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return
    if b"\x00" in head:
        raise UploadError(f"{filename}: contains NUL bytes: a binary file, or UTF-16 text without a "
                          "byte-order mark; save it as 'CSV UTF-8'")
    controls = sum(1 for byte in head if byte < 32 and byte not in (9, 10, 13))
    if controls > max(2, len(head) // 100):
        raise UploadError(f"{filename}: not a text file ({_describe_bytes(head)}); upload a .csv "
                          "saved as 'CSV UTF-8'")


def _detect_encoding(stream: BinaryIO, head: bytes, filename: str) -> str:
    """utf-16 (with BOM), utf-8-sig, else cp1252: the whole file is checked before rows are read."""
    utf16 = head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))
    candidates = ("utf-16",) if utf16 else ("utf-8-sig", "cp1252")
    failures: list[str] = []
    for encoding in candidates:
        failure = _decode_failure(stream, encoding)
        if failure is None:
            return encoding
        failures.append(f"{encoding}: {failure}")
    raise UploadError(f"{filename}: the text encoding is not recognised (tried "
                      f"{'; '.join(failures)}); save it as 'CSV UTF-8'")


def _decode_failure(stream: BinaryIO, encoding: str) -> str | None:
    stream.seek(0)
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    offset = 0
    try:
        while chunk := stream.read(1 << 20):
            decoder.decode(chunk)
            offset += len(chunk)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError as exc:
        return f"invalid byte 0x{exc.object[exc.start]:02X} at byte {offset + exc.start}" \
            if exc.start < len(exc.object) else f"truncated text at byte {offset + exc.start}"
    return None


def _sniff_delimiter(sample: str, filename: str) -> tuple[str, _Header]:
    """The delimiter whose split gives a header row with the most recognised columns."""
    if len(sample) == 65536 and "\n" in sample:
        sample = sample[: sample.rindex("\n")]   # drop a row cut by the sample's end
    best: tuple[tuple[int, int], str, _Header] | None = None
    first_rows: list[list[str]] = []
    for delimiter in (",", ";", "\t"):
        rows = list(itertools.islice(csv.reader(io.StringIO(sample), delimiter=delimiter), HEADER_SCAN_ROWS))
        numbered = ((number, 0, cells) for number, cells in enumerate(rows, start=1))
        header, _ = _find_header(numbered)
        first_rows.append(next((cells for cells in rows if any(cell.strip() for cell in cells)), []))
        if header is None:
            continue
        score = (sum(1 for column in header.columns if column.field), len(header.columns))
        if best is None or score > best[0]:
            best = (score, delimiter, header)
    if best is not None:
        return best[1], best[2]
    # A line of bare delimiters (",,,") is blank too: blank under any delimiter means blank.
    if not all(first_rows):
        raise UploadError(f"{filename}: the file has no data (only blank lines)")
    widest = max(first_rows, key=len)
    found = ", ".join(f"'{cell.strip()[:40]}'" for cell in widest[:12] if cell.strip())
    raise UploadError(f"{filename}: no header row with a name column (e.g. 'Nama', 'Nama Lengkap', "
                      f"'Name') in the first {HEADER_SCAN_ROWS} rows; first row has: {found}")


def _csv_rows(reader: Iterator[list[str]], text: io.TextIOWrapper,
              filename: str) -> Iterator[tuple[int, int, Sequence[object]]]:
    number = 0
    try:
        for number, cells in enumerate(reader, start=1):
            yield number, 0, cells
    except csv.Error as exc:
        raise UploadError(f"{filename}: CSV cannot be parsed after row {number}: {exc} (an opening "
                          "quote without its closing quote makes the rest of the file one cell)") from exc
    finally:
        # The caller's file object must stay usable (and open) after reading.
        text.detach()


def _describe_bytes(head: bytes) -> str:
    if head.startswith(_PDF_MAGIC):
        return "it is a PDF document"
    if head.startswith((b"\x89PNG", b"\xff\xd8\xff", b"GIF8")):
        return "it is an image"
    if head.lstrip().startswith((b"<!DOCTYPE", b"<html", b"<HTML", b"<?xml")):
        return "it is an HTML/XML document"
    if head.startswith(_ZIP_MAGIC):
        return "it is a ZIP archive"
    return "it starts with bytes " + head[:8].hex(" ")


# --------------------------------------------------------------------------------------------
# Header detection (shared)


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
    text = _cell_text(value)
    return "" if type(text) is _CellError else text


def _find_header(rows: Iterator[tuple[int, int, Sequence[object]]]
                 ) -> tuple[_Header | None, list[tuple[int, int, Sequence[object]]]]:
    """The first row (of HEADER_SCAN_ROWS) with a name alias; also returns the rows consumed."""
    consumed: list[tuple[int, int, Sequence[object]]] = []
    for row in itertools.islice(rows, HEADER_SCAN_ROWS):
        consumed.append(row)
        number, first_column, cells = row
        if any(_ALIAS_FIELD.get(_normalize_header(cell)) == "name" for cell in cells):
            return _Header(number, _columns(first_column, cells), last_row=number), consumed
    return None, consumed


def _columns(first_column: int, cells: Sequence[object]) -> list[_Column]:
    columns: list[_Column] = []
    for offset, cell in enumerate(cells):
        title = _header_text(cell)
        if title:
            field_name = _ALIAS_FIELD.get(_normalize_header(cell))
            columns.append(_Column(first_column + offset, title, field_name,
                                   _FIELD_MAX_CHARS.get(field_name or "", CELL_MAX_CHARS)))
    return columns


def _check_header(header: _Header, filename: str) -> None:
    if len(header.columns) > MAX_COLUMNS:
        raise UploadError(f"{filename}: the header row (row {header.row_number}) has "
                          f"{len(header.columns)} columns; at most {MAX_COLUMNS} are supported")
    seen: dict[str, _Column] = {}
    for column in header.columns:
        if column.field is None:
            continue
        earlier = seen.get(column.field)
        if earlier is not None:
            raise UploadError(
                f"{filename}: columns '{earlier.title}' ({_column_letter(earlier.index)}) and "
                f"'{column.title}' ({_column_letter(column.index)}) both look like the "
                f"{_FIELD_LABEL[column.field]} column; rename or remove one")
        seen[column.field] = column


# --------------------------------------------------------------------------------------------
# Rows -> participants (shared)


@dataclass(slots=True)
class _Tally:
    data_rows: int = 0
    good_rows: int = 0
    first_error: RowError | None = None
    seen: dict[str, int] = field(default_factory=dict)   # duplicate key -> first row


def _participants(table: _Table, filename: str, workers: int | None) -> Iterator[ParticipantRow | RowError]:
    header = table.header
    _check_header(header, filename)
    converter = _RowConverter(header)
    filler = _FillDown(table.fill_down) if table.fill_down else None
    tally = _Tally()

    def outcomes(rows: Iterator[tuple[int, int, Sequence[object]]],
                 skip: int = 0) -> Iterator[ParticipantRow | list[RowError]]:
        return _outcomes(rows, header.last_row, converter, filler, table.bad_cells, skip)

    own_rows = _own_rows(table, workers)
    if own_rows is None:
        yield from _tallied(outcomes(table.rows), converter, tally)
    else:
        with _RowHelper(lambda: outcomes(table.rows, skip=own_rows)) as helper:
            yield from _tallied(outcomes(itertools.islice(table.rows, own_rows)), converter, tally)
            if helper.succeeded():
                yield from _tallied(helper.outcomes(), converter, tally)
                log.info("%s: %d data rows from row %d on were converted by a helper process", filename,
                         helper.received, own_rows + 1)
            else:   # table.rows stands right after this process's share
                log.warning("%s: the helper process failed (%s); converting its rows here instead",
                            filename, helper.failure)
                yield from _tallied(outcomes(table.rows), converter, tally)
    _check_usable(tally, header, table.where, filename)


def _outcomes(rows: Iterator[tuple[int, int, Sequence[object]]], last_header_row: int,
              converter: _RowConverter, filler: _FillDown | None, bad_cells: dict[int, dict[int, str]],
              skip: int = 0) -> Iterator[ParticipantRow | list[RowError]]:
    """Each data row's participant (not yet checked for duplicates) or errors; blank rows dropped.

    The first ``skip`` rows are another process's share: they only feed the merges reaching below.
    """
    for number, first_column, cells in itertools.islice(rows, skip):
        if filler is not None and number > last_header_row:
            filler.apply(number, first_column, cells)
    convert = converter.convert
    for number, first_column, cells in rows:
        if number <= last_header_row:
            continue
        bad = bad_cells.get(number) if bad_cells else None
        if filler is not None:
            # Blank before filling down: a merged cell reaching past the last participant adds no rows.
            blank = bad is None and _is_blank(cells)
            cells = filler.apply(number, first_column, cells)
            if blank:
                continue
        outcome = convert(number, first_column, cells, bad)
        if outcome is not None:
            yield outcome


def _tallied(outcomes: Iterable[ParticipantRow | list[RowError]], converter: _RowConverter,
             tally: _Tally) -> Iterator[ParticipantRow | RowError]:
    """The outcomes in row order, duplicates turned into errors, counted in ``tally``."""
    seen, duplicate = tally.seen, converter.duplicate
    for outcome in outcomes:
        tally.data_rows += 1
        if outcome.__class__ is ParticipantRow:
            error = duplicate(outcome, seen)  # type: ignore[arg-type]
            if error is None:
                tally.good_rows += 1
                yield outcome  # type: ignore[misc]
                continue
            outcome = [error]
        tally.first_error = tally.first_error or outcome[0]  # type: ignore[index]
        yield from outcome  # type: ignore[misc]


# --------------------------------------------------------------------------------------------
# A second process for the second part of a large sheet
#
# calamine hands over a parsed sheet in memory, and turning its 100,000 rows into participants
# takes as long again as the parse, on one core. A process forked once the sheet is parsed
# inherits it for free (copy-on-write), converts the rows after the reader's own share on the
# other core, and writes its outcomes to a temp file that the reader yields after its own rows
# (with marshal: plain tuples, lists and text, read back in half pickle's time; the file is
# private to the two processes and read by the same interpreter that wrote it).
# Duplicates are looked for by the reader alone, over all rows in order, so the result is the
# same as one process's. If the helper fails in any way, the reader converts its rows itself.


def _own_rows(table: _Table, workers: int | None) -> int | None:
    """How many rows of ``table.rows`` this process converts before a helper's share; None: all."""
    if table.row_count is None or not hasattr(os, "fork"):
        return None   # a CSV is read from its file as it goes: a second reader would share the position
    data_rows = table.row_count - table.header.last_row
    if workers is None:
        workers = 2 if data_rows >= PARALLEL_MIN_ROWS and _usable_cpus() >= 2 else 1
    if workers < 2 or data_rows < 2:
        return None
    # The reader also reads back and yields the helper's rows afterwards, so it takes a bit less.
    return table.header.last_row + int(data_rows * _OWN_SHARE)


def _usable_cpus() -> int:
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:   # not on Linux
        cpus = os.cpu_count() or 1
    quota = cgroup_cpu_quota()
    return min(cpus, max(int(quota), 1)) if quota else cpus


def cgroup_cpu_quota(root: Path = Path("/sys/fs/cgroup")) -> float | None:
    """CPUs a container's CPU limit allows (cgroup v2 ``cpu.max``, v1 CFS quota); None: no limit.

    A worker pod limited to one CPU still sees every CPU of its node in its affinity mask.
    """
    try:
        limit, period = (root / "cpu.max").read_text().split()[:2]
        return None if limit == "max" else int(limit) / int(period)
    except (OSError, ValueError):
        pass
    try:
        quota = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period_us = int((root / "cpu" / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return quota / period_us if quota > 0 and period_us > 0 else None


class _RowHelper:
    """A forked process that runs ``work`` (its share of a sheet's outcomes) and stores the results."""

    def __init__(self, work: Callable[[], Iterator[ParticipantRow | list[RowError]]]) -> None:
        self.failure = ""
        self.received = 0   # data rows read back from the helper
        self._pid: int | None = None
        self._results: BinaryIO | None = None
        try:
            self._results = tempfile.TemporaryFile()
            self._pid = os.fork()
        except OSError as exc:   # no temp space, memory or process slot for it: the reader does it all
            self.failure = f"it could not be started: {exc}"
            return
        if self._pid == 0:
            self._run_child(work)

    def _run_child(self, work: Callable[[], Iterator[ParticipantRow | list[RowError]]]) -> None:
        code = 1
        try:
            # Nothing inherited may be finalized here (a database connection's __del__ would talk
            # on the parent's socket): no garbage collection, and os._exit rather than exit.
            gc.disable()
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            chunk: list[tuple[object, ...] | list[tuple[int, str | None, str]]] = []
            for outcome in work():
                if outcome.__class__ is ParticipantRow:
                    row: ParticipantRow = outcome  # type: ignore[assignment]
                    chunk.append((row.row_number, row.name, row.email, row.phone, row.organization,
                                  row.position, row.extra))
                else:
                    chunk.append([(error.row_number, error.column, error.message) for error in outcome])  # type: ignore[union-attr]
                if len(chunk) == _HELPER_CHUNK_ROWS:
                    self._write(chunk)
                    chunk = []
            self._write(chunk)
            self._write(None)   # the end: nothing is missing
            self._results.flush()  # type: ignore[union-attr]
            code = 0
        finally:
            os._exit(code)

    def _write(self, chunk: object) -> None:
        # Length-prefixed: marshal.load() on a file object reads it in pieces of a few bytes.
        data = marshal.dumps(chunk)
        assert self._results is not None
        self._results.write(len(data).to_bytes(4, "little"))
        self._results.write(data)

    def succeeded(self) -> bool:
        """Waits for the helper; True when it exited having written all its outcomes."""
        if self._pid is None:
            return False
        _, status = os.waitpid(self._pid, 0)
        self._pid = None
        code = os.waitstatus_to_exitcode(status)
        if code != 0:
            self.failure = f"exit code {code}" if code > 0 else f"killed by signal {-code}"
        return code == 0

    def outcomes(self) -> Iterator[ParticipantRow | list[RowError]]:
        results = self._results
        assert results is not None   # a helper that succeeded had its file
        results.seek(0)
        while (chunk := marshal.loads(results.read(int.from_bytes(results.read(4), "little")))) is not None:
            self.received += len(chunk)
            for item in chunk:
                if item.__class__ is tuple:
                    yield ParticipantRow(*item)
                else:
                    yield [RowError(*error) for error in item]

    def __enter__(self) -> _RowHelper:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._pid is not None:   # the reader stopped early: the helper's work is not wanted
            os.kill(self._pid, signal.SIGKILL)
            os.waitpid(self._pid, 0)
            self._pid = None
        if self._results is not None:
            self._results.close()


def _check_usable(tally: _Tally, header: _Header, where: str, filename: str) -> None:
    place = f" of {where}" if where else ""
    if tally.data_rows == 0:
        raise UploadError(f"{filename}: the header is at row {header.row_number}{place} but there are "
                          "no participant rows below it")
    if tally.good_rows == 0:
        raise UploadError(f"{filename}: no usable rows: all {tally.data_rows} participant rows have "
                          f"errors (first: {tally.first_error})")


class _FillDown:
    """Gives every row covered by a vertical merge the value of the merge's top cell."""

    def __init__(self, targets: dict[int, list[tuple[int, int]]]) -> None:
        self._targets = targets
        self._sources: dict[int, list[int]] = {}
        for pairs in targets.values():
            for column, source_row in pairs:
                if column not in self._sources.setdefault(source_row, []):
                    self._sources[source_row].append(column)
        self._values: dict[tuple[int, int], object] = {}

    def apply(self, number: int, first_column: int, cells: Sequence[object]) -> Sequence[object]:
        for column in self._sources.get(number, ()):
            self._values[(number, column)] = _cell_at(cells, first_column, column)
        targets = self._targets.get(number)
        if not targets:
            return cells
        filled = list(cells)
        for column, source_row in targets:
            offset = column - first_column
            if offset >= 0 and _is_empty(_cell_at(cells, first_column, column)):
                filled.extend([""] * (offset + 1 - len(filled)))
                filled[offset] = self._values.get((source_row, column), "")
        return filled


class _CellError(str):
    """A cell without usable text (uncalculated formula, #N/A, rounded number) and why.

    A str, so that a row's cells stay one list of text; its text is a single NUL, which the row's
    fast check finds in the joined row, and which is replaced by "" once the error is recorded.
    """

    message: str

    def __new__(cls, message: str) -> _CellError:
        cell = super().__new__(cls, _CELL_ERROR_MARK)
        cell.message = message
        return cell


_CELL_ERROR_MARK: Final = "\x00"


@dataclass(frozen=True, slots=True)
class _Plan:
    """Where things sit in a row's list of texts, for one (first column, width) shape of row."""

    fields: dict[str, int]               # field -> offset, or -1 (the "" appended to every row)
    extras: list[tuple[str, int]]        # (key in extra, offset) of headed extra columns
    unheaded: list[tuple[str, int]]      # ("Column F", offset) of cells under no header
    checks: list[tuple[int, str, int]]   # (offset, column title, max length) of every read cell
    pad: int                             # "" cells to append so every offset exists
    beyond: int                          # offsets from here on are not read


class _RowConverter:
    """Turns one row's cells into a ParticipantRow or its RowErrors."""

    def __init__(self, header: _Header) -> None:
        self.header = header
        self.titles = {column.field: column.title for column in header.columns if column.field}
        self._extra_titles = _extra_titles(header.columns)
        self._plans: dict[tuple[int, int], _Plan] = {}
        self._last_shape = (-1, -1)
        self._last_plan: _Plan | None = None

    def convert(self, number: int, first_column: int, cells: Sequence[object],
                bad: dict[int, str] | None) -> ParticipantRow | list[RowError] | None:
        """The row's participant or errors; None for a blank row (every cell empty or spaces).

        Duplicates are not looked for here (see ``duplicate``): rows may be converted in two
        processes, and only the reader's own process sees all of them in order.
        """
        # One comprehension per row: text cells are stripped at C speed, the rest converted.
        text_of, number_text = _TEXT_OF.get, _number_text
        texts = [value.strip() if (kind := value.__class__) is str  # type: ignore[attr-defined]
                 else number_text(value) if kind is float  # type: ignore[arg-type]
                 else text_of(kind, _other_text)(value) for value in cells]
        if bad:
            _mark_bad_cells(texts, first_column, bad)
        # One C-level join answers three questions: blank row, a bad cell (its NUL mark), and
        # whether any cell can be too long (not while the whole row is short).
        joined = "".join(texts)
        if not joined:
            return None
        plan = self._plan(first_column, len(texts))
        if plan.pad:
            texts.extend([""] * plan.pad)
        texts.append("")   # what a missing column's offset (-1) reads
        errors: list[RowError] = []
        if _CELL_ERROR_MARK in joined or (len(joined) > NAME_MAX_CHARS and max(map(len, texts)) > NAME_MAX_CHARS):
            _cell_errors(number, texts, plan, errors)
        if len(texts) > plan.beyond + 1 and any(texts[plan.beyond:]):
            errors.append(RowError(number, None, f"data beyond column {_column_letter(MAX_COLUMNS * 2 - 1)} "
                                   "is not read; remove the stray cells"))
        extra = {key: texts[offset] for key, offset in plan.extras}
        for key, offset in plan.unheaded:
            if texts[offset]:
                extra[key] = texts[offset]
        fields = plan.fields
        name = texts[fields["name"]]
        if not name.isascii():
            name = unicodedata.normalize("NFC", name)
        name = " ".join(name.split())
        email = texts[fields["email"]] or None
        phone = texts[fields["phone"]] or None
        name_title = self.titles["name"]
        if not name and not any(error.column == name_title for error in errors):
            errors.append(RowError(number, name_title, "the name is empty"))
        elif not name.isprintable() and _CONTROL_RE.search(name):
            errors.append(RowError(number, name_title, "the name contains control characters"))
        if email and not _EMAIL_RE.match(email):
            errors.append(RowError(number, self.titles["email"], f"'{email}' is not a valid e-mail address"))
        if phone and ("E" in phone or "e" in phone) and _SCIENTIFIC_RE.match(phone):
            errors.append(RowError(number, self.titles["phone"], f"'{phone}' is a number in scientific "
                                   "notation and its digits are lost; format the column as Text and "
                                   "type the numbers again"))
        if errors:
            return errors
        return ParticipantRow(number, name, email, phone, texts[fields["organization"]] or None,
                              texts[fields["position"]] or None, extra)

    def duplicate(self, row: ParticipantRow, seen: dict[str, int]) -> RowError | None:
        """The error for a row with the same name and e-mail (or name and phone when there is no
        e-mail) as an earlier good row, else None; the row is remembered as seen.

        The keys are kept as text, about 13 MiB per 100,000 rows: exact, unlike a hash.
        """
        email, phone = row.email, row.phone
        key = f"{row.name.casefold()}\x1f{email.casefold() if email else phone or ''}"
        first = seen.setdefault(key, row.row_number)
        if first == row.row_number:
            return None
        same = "same name and e-mail" if email else "same name and phone" if phone else "same name"
        return RowError(row.row_number, self.titles["name"], f"duplicate of row {first} ({same})")

    def _plan(self, first_column: int, width: int) -> _Plan:
        shape = (first_column, width)
        if shape == self._last_shape:   # every row of an XLSX range has the same shape
            return self._last_plan  # type: ignore[return-value]
        plan = self._plans.get(shape)
        if plan is None:
            plan = self._plans[shape] = self._make_plan(first_column, width)
        self._last_shape, self._last_plan = shape, plan
        return plan

    def _make_plan(self, first_column: int, width: int) -> _Plan:
        columns = self.header.columns
        headed = {column.index - first_column: column for column in columns}
        # A row of 16,384 cells (stray data far right) is not read beyond twice the column limit.
        beyond = max(MAX_COLUMNS * 2 - first_column, 0)
        unheaded = [(f"Column {_column_letter(first_column + offset)}", offset)
                    for offset in range(min(width, beyond)) if offset not in headed]
        checks = [(offset, column.title, column.limit) for offset, column in headed.items()]
        checks += [(offset, title, CELL_MAX_CHARS) for title, offset in unheaded]
        return _Plan(
            fields={name: next((offset for offset, column in headed.items() if column.field == name), -1)
                    for name in FIELDS},
            extras=[(self._extra_titles[column.index], offset) for offset, column in headed.items()
                    if not column.field],
            unheaded=unheaded,
            checks=sorted(checks),
            pad=max(max(headed, default=-1) + 1 - width, 0),
            beyond=beyond,
        )


def _mark_bad_cells(texts: list[str], first_column: int, bad: dict[int, str]) -> None:
    """Put the XML scan's findings (calamine read those cells as "") into the row."""
    for index, message in bad.items():
        offset = index - first_column
        if offset < 0:
            continue
        if offset >= len(texts):
            texts.extend([""] * (offset + 1 - len(texts)))
        texts[offset] = _CellError(message)


def _cell_errors(number: int, texts: list[str], plan: _Plan, errors: list[RowError]) -> None:
    """RowErrors for bad and over-long cells; their text becomes "" so nothing else trips on it."""
    for offset, title, limit in plan.checks:
        text = texts[offset]
        if type(text) is _CellError:
            errors.append(RowError(number, title, text.message))
            texts[offset] = ""
        elif len(text) > limit:
            errors.append(RowError(number, title, f"the value is {len(text):,} characters long; at "
                                   f"most {limit:,} are allowed"))
            texts[offset] = ""


def _extra_titles(columns: list[_Column]) -> dict[int, str]:
    """Column index -> key in ParticipantRow.extra, made unique ("Catatan (2)")."""
    titles: dict[int, str] = {}
    used: set[str] = set()
    for column in columns:
        if column.field is not None:
            continue
        title, suffix = column.title, 2
        while title in used:
            title, suffix = f"{column.title} ({suffix})", suffix + 1
        used.add(title)
        titles[column.index] = title
    return titles


# --------------------------------------------------------------------------------------------
# Cell values


def _cell_at(cells: Sequence[object], first_column: int, index: int) -> object:
    offset = index - first_column
    return cells[offset] if 0 <= offset < len(cells) else None


def _is_empty(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _is_blank(cells: Sequence[object]) -> bool:
    # A loop rather than all(generator): it returns at the first cell of nearly every row.
    for value in cells:
        if value is None or value == "" or (value.__class__ is str and value.isspace()):
            continue
        return False
    return True


def _cell_text(value: object) -> str:
    """A cell as text (see the module docstring); a _CellError for a number Excel rounded."""
    if isinstance(value, str):
        return value.strip()
    return _TEXT_OF.get(value.__class__, _other_text)(value)


def _other_text(value: object) -> str:
    return str(value).strip()


def _datetime_text(value: datetime) -> str:
    if value.time() == time(0, 0):
        return value.date().isoformat()
    return value.isoformat(sep=" ", timespec="seconds")


_EXACT_LIMIT: Final = 10.0 ** EXCEL_EXACT_DIGITS


def _number_text(value: float) -> str:
    if value.is_integer() and -_EXACT_LIMIT < value < _EXACT_LIMIT:
        return str(int(value))   # 8123456789.0 -> "8123456789": phones and ids stay digits
    if not math.isfinite(value):
        return _CellError("the cell holds an invalid number")
    if value.is_integer():
        return _CellError(f"the number {value:.0f} has more than {EXCEL_EXACT_DIGITS} digits, so "
                          "Excel has already rounded it (e.g. an NIK or card number); format the "
                          "column as Text and type it again")
    # 15 significant digits is what Excel displays: 0.1+0.2 shows as 0.3, not 0.30000000000000004.
    return f"{value:.{EXCEL_EXACT_DIGITS}g}"


# Converters by exact type (a dict lookup instead of an isinstance chain: 150,000 dates and
# numbers per 100,000 rows). bool is listed so True never falls through to int's "1".
_TEXT_OF: Final[dict[type, Callable[[Any], str]]] = {
    float: _number_text,
    int: str,
    bool: lambda value: "TRUE" if value else "FALSE",
    datetime: _datetime_text,
    date: date.isoformat,
    time: lambda value: value.isoformat(timespec="seconds"),
    timedelta: str,
    type(None): lambda value: "",
}
