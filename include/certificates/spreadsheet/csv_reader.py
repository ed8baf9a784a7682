"""CSV: the upload's text, decoded and split, as a table of rows.

CSV: UTF-8 with or without BOM, then Windows-1252 (older Excel exports), UTF-16 with a BOM
(Excel's "Unicode Text"); delimiter ``,`` ``;`` or tab, chosen by which one yields a header row.
Values stay text, so decimal commas are harmless.
"""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import logging
from collections.abc import Iterator, Sequence
from typing import BinaryIO, Final

from include.certificates.spreadsheet.header import find_header
from include.certificates.spreadsheet.table import (
    EMPTY_ZIP_MAGIC,
    OLE2_MAGIC,
    PDF_MAGIC,
    ZIP_MAGIC,
    Header,
    Table,
    describe_bytes,
)
from include.certificates.spreadsheet.types import HEADER_SCAN_ROWS, UploadError

log = logging.getLogger(__name__)

# A cell over this size stops the CSV parser; far above CELL_MAX_CHARS so that a 1 MB cell is a
# row error and only an absurd one (or a runaway quote) fails the file.
CSV_FIELD_LIMIT: Final = 8 * 1024 * 1024


def open_csv(stream: BinaryIO, head: bytes, filename: str) -> Table:
    check_csv_signature(head, filename)
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
    return Table(rows=_csv_rows(reader, text, filename), where="", header=header)


def check_csv_signature(head: bytes, filename: str) -> None:
    if head.startswith((ZIP_MAGIC, EMPTY_ZIP_MAGIC)):
        raise UploadError(f"{filename}: this is an Excel workbook or another ZIP file, not CSV text; "
                          "upload an .xlsx with its .xlsx extension, or save as 'CSV UTF-8'")
    if head.startswith(OLE2_MAGIC):
        raise UploadError(f"{filename}: this is an old Excel (.xls) or other Office file, not CSV "
                          "text; save it as 'CSV UTF-8'")
    if head.startswith(PDF_MAGIC):
        raise UploadError(f"{filename}: this is a PDF document, not CSV text")
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return
    if b"\x00" in head:
        raise UploadError(f"{filename}: contains NUL bytes: a binary file, or UTF-16 text without a "
                          "byte-order mark; save it as 'CSV UTF-8'")
    controls = sum(1 for byte in head if byte < 32 and byte not in (9, 10, 13))
    if controls > max(2, len(head) // 100):
        raise UploadError(f"{filename}: not a text file ({describe_bytes(head)}); upload a .csv "
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


def _sniff_delimiter(sample: str, filename: str) -> tuple[str, Header]:
    """The delimiter whose split gives a header row with the most recognised columns."""
    if len(sample) == 65536 and "\n" in sample:
        sample = sample[: sample.rindex("\n")]   # drop a row cut by the sample's end
    best: tuple[tuple[int, int], str, Header] | None = None
    first_rows: list[list[str]] = []
    for delimiter in (",", ";", "\t"):
        rows = list(itertools.islice(csv.reader(io.StringIO(sample), delimiter=delimiter), HEADER_SCAN_ROWS))
        numbered = ((number, 0, cells) for number, cells in enumerate(rows, start=1))
        header, _ = find_header(numbered)
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
