"""Raw tables: rows of cells plus what the format knows about bad cells; the upload as a stream.

Row numbers are the ones a user sees in Excel: the sheet row for XLSX, the record number for
CSV (a quoted value spanning lines is one row, as Excel shows it).
"""

from __future__ import annotations

import io
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import BinaryIO, Final

from include.certificates.spreadsheet.types import Source, UploadError

ZIP_MAGIC: Final = b"PK\x03\x04"
EMPTY_ZIP_MAGIC: Final = b"PK\x05\x06"
OLE2_MAGIC: Final = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
PDF_MAGIC: Final = b"%PDF-"


@dataclass(slots=True)
class Table:
    """Rows of one sheet: (row number, first column index, cells), and per-format knowledge."""

    rows: Iterator[tuple[int, int, Sequence[object]]]
    where: str                                           # "sheet 'Peserta'" or "" for CSV
    header: Header
    bad_cells: dict[int, dict[int, str]] = field(default_factory=dict)   # row -> col -> message
    fill_down: dict[int, list[tuple[int, int]]] = field(default_factory=dict)  # row -> (col, from row)
    row_count: int | None = None   # how many rows ``rows`` holds, when they are all in memory


@dataclass(frozen=True, slots=True)
class Column:
    index: int            # 0-based absolute column
    title: str            # header text as written
    field: str | None     # one of FIELDS, or None for an extra column
    limit: int            # longest accepted value, in characters


@dataclass(slots=True)
class Header:
    row_number: int
    columns: list[Column]
    last_row: int         # the header's last row (a vertically merged header spans several)


@contextmanager
def seekable(source: Source, filename: str) -> Iterator[BinaryIO]:
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


def stream_size(stream: BinaryIO) -> int:
    stream.seek(0, io.SEEK_END)
    size = stream.tell()
    stream.seek(0)
    return size


def describe_bytes(head: bytes) -> str:
    if head.startswith(PDF_MAGIC):
        return "it is a PDF document"
    if head.startswith((b"\x89PNG", b"\xff\xd8\xff", b"GIF8")):
        return "it is an image"
    if head.lstrip().startswith((b"<!DOCTYPE", b"<html", b"<HTML", b"<?xml")):
        return "it is an HTML/XML document"
    if head.startswith(ZIP_MAGIC):
        return "it is a ZIP archive"
    return "it starts with bytes " + head[:8].hex(" ")


def column_letter(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, remainder = divmod(index - 1, 26)
        letters = chr(65 + remainder) + letters
    return letters
