"""XLSX: the first visible worksheet with a header row, as a table of rows.

XLSX is read with python-calamine (Rust: the whole sheet in ~1 s and ~120 MiB peak RSS for
100,000 rows x 10 columns, where openpyxl's streaming mode needs 15-20 s). calamine returns ""
for a formula without a cached value and for an error cell such as #N/A, so such cells are
found by scanning the sheet XML: one quick byte scan, run while calamine parses, and a
cell-by-cell parse only when the scan finds a formula without value or an error cell.

The parsed rows are turned into participants by ``rows`` (with a helper process for a large
sheet: see ``helper``).
"""

from __future__ import annotations

import itertools
import logging
import re
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import PurePosixPath
from typing import BinaryIO, Final

import python_calamine

from include.certificates.spreadsheet.header import find_header
from include.certificates.spreadsheet.table import (
    EMPTY_ZIP_MAGIC,
    OLE2_MAGIC,
    ZIP_MAGIC,
    Table,
    column_letter,
    describe_bytes,
)
from include.certificates.spreadsheet.types import HEADER_SCAN_ROWS, UploadError

log = logging.getLogger(__name__)

# Uncompressed size of one worksheet's XML we agree to hand to calamine, which holds the whole
# sheet in memory: 100,000 rows x 10 columns written by openpyxl (inline strings) are 55 MiB.
# Stops zip bombs.
MAX_SHEET_XML_BYTES: Final = 512 * 1024 * 1024


def open_xlsx(stream: BinaryIO, head: bytes, filename: str) -> Table:
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
            header, buffered = find_header(rows)
            if header is None:
                continue
            bad_cells = _scan_result(scan, filename)
            trailing = _trailing_bad_rows(sheet, bad_cells)
            table = Table(rows=itertools.chain(buffered, rows, trailing), where=f"sheet '{sheet_name}'",
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
    if head.startswith(ZIP_MAGIC):
        return
    if head.startswith(OLE2_MAGIC):
        raise UploadError(f"{filename}: the workbook is password-protected (encrypted) or is an old "
                          "Excel 97-2003 file renamed to .xlsx; remove the password / save it as "
                          "'Excel Workbook (*.xlsx)'")
    if head.startswith(EMPTY_ZIP_MAGIC):
        raise UploadError(f"{filename}: not an Excel workbook (an empty ZIP archive)")
    raise UploadError(f"{filename}: not an Excel .xlsx workbook ({describe_bytes(head)}); "
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
        raise UploadError(f"{filename}: {zip_kind(names)}")
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


def zip_kind(names: dict[str, str], renamed: bool = True) -> str:
    """What a ZIP archive that is no workbook is (``renamed``: it came with an .xlsx name)."""
    as_xlsx = " renamed to .xlsx" if renamed else ""
    if "word/document.xml" in names:
        return f"this is a Word document{as_xlsx}, not an Excel workbook"
    if "ppt/presentation.xml" in names:
        return f"this is a PowerPoint file{as_xlsx}, not an Excel workbook"
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




def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1].rsplit(":", 1)[-1]


def _apply_merges(table: Table, merges: Iterable[tuple[tuple[int, int], tuple[int, int]]],
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
                title = titles.get(left, f"Column {column_letter(left)}")
                span = f"{column_letter(left)}{top + 1}:{column_letter(right)}{bottom + 1}"
                raise UploadError(f"{filename}: header '{title}' is a merged cell ({span}) covering "
                                  "several columns; unmerge it so every column has its own header")
            header.last_row = max(header.last_row, bottom + 1)
    for (top, left), (bottom, _right) in merges:
        if top + 1 > header.last_row and bottom > top:
            for row in range(top + 2, bottom + 2):
                table.fill_down.setdefault(row, []).append((left, top + 1))
