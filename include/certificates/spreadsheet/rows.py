"""Participants from an uploaded file: ``read_participants``, and the tally over its rows.

The format's reader (``xlsx``, ``csv_reader``) gives a table of rows; each data row is converted
(``converter``), by this process or, for the second part of a large sheet, by a helper process
(``helper``); duplicates are looked for here, over all rows in order.

Rows that are entirely blank are skipped, so formatted-but-empty rows at the end vanish.
"""

from __future__ import annotations

import itertools
import logging
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import BinaryIO

from include.certificates.spreadsheet.cells import cell_at, is_blank, is_empty
from include.certificates.spreadsheet.converter import RowConverter
from include.certificates.spreadsheet.csv_reader import check_csv_signature, open_csv
from include.certificates.spreadsheet.header import check_header
from include.certificates.spreadsheet.helper import RowHelper, own_share
from include.certificates.spreadsheet.table import (
    EMPTY_ZIP_MAGIC,
    OLE2_MAGIC,
    ZIP_MAGIC,
    Header,
    Table,
    seekable,
    stream_size,
)
from include.certificates.spreadsheet.types import (
    ParticipantRow,
    RowError,
    Source,
    UploadError,
    upload_extension,
)
from include.certificates.spreadsheet.xlsx import open_xlsx, zip_kind

log = logging.getLogger(__name__)


def read_participants(source: Source, *, filename: str, workers: int | None = None,
                      on_table: Callable[[Header, str], None] | None = None) -> Iterator[ParticipantRow | RowError]:
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

    ``on_table(header, where)`` is told where the header was found (its row and columns, and the
    sheet) before the first row, for a preview of the upload.
    """
    extension = upload_extension(filename)
    with seekable(source, filename) as stream:
        size = stream_size(stream)
        if size == 0:
            raise UploadError(f"{filename}: the file is empty (0 bytes)")
        head = stream.read(8192)
        stream.seek(0)
        table = open_xlsx(stream, head, filename) if extension == ".xlsx" else open_csv(stream, head, filename)
        if on_table is not None:
            on_table(table.header, table.where)
        yield from _participants(table, filename, workers)


def detect_format(stream: BinaryIO, filename: str) -> str:
    """``.xlsx`` or ``.csv`` from the file's bytes, whatever its name says; ``UploadError`` saying
    what the file is otherwise (a Word document, an old .xls, a PDF, an image, ...). The stream is
    left at its start."""
    stream.seek(0)
    head = stream.read(8192)
    stream.seek(0)
    if not head:
        raise UploadError(f"{filename}: the file is empty (0 bytes)")
    if head.startswith(ZIP_MAGIC):
        try:
            with zipfile.ZipFile(stream) as archive:
                names = {name.lower(): name for name in archive.namelist()}
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError) as exc:
            raise UploadError(f"{filename}: a damaged ZIP archive ({exc}), not a readable Excel workbook") from exc
        finally:
            stream.seek(0)
        if "xl/workbook.xml" not in names:
            raise UploadError(f"{filename}: {zip_kind(names, renamed=False)}")
        return ".xlsx"
    if head.startswith(OLE2_MAGIC):
        raise UploadError(f"{filename}: an old Excel 97-2003 (.xls) or password-protected workbook; save it as "
                          "'Excel Workbook (*.xlsx)' without a password, or as 'CSV UTF-8'")
    if head.startswith(EMPTY_ZIP_MAGIC):
        raise UploadError(f"{filename}: an empty ZIP archive, not an Excel workbook")
    check_csv_signature(head, filename)  # PDF, image, binary: refused, saying what it is
    return ".csv"


@dataclass(slots=True)
class _Tally:
    data_rows: int = 0
    good_rows: int = 0
    first_error: RowError | None = None
    seen: dict[str, int] = field(default_factory=dict)   # duplicate key -> first row


def _participants(table: Table, filename: str, workers: int | None) -> Iterator[ParticipantRow | RowError]:
    header = table.header
    check_header(header, filename)
    converter = RowConverter(header)
    filler = _FillDown(table.fill_down) if table.fill_down else None
    tally = _Tally()

    def outcomes(rows: Iterator[tuple[int, int, Sequence[object]]],
                 skip: int = 0) -> Iterator[ParticipantRow | list[RowError]]:
        return _outcomes(rows, header.last_row, converter, filler, table.bad_cells, skip)

    own_rows = own_share(table, workers)
    if own_rows is None:
        yield from _tallied(outcomes(table.rows), converter, tally)
    else:
        with RowHelper(lambda: outcomes(table.rows, skip=own_rows)) as helper:
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
              converter: RowConverter, filler: _FillDown | None, bad_cells: dict[int, dict[int, str]],
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
            blank = bad is None and is_blank(cells)
            cells = filler.apply(number, first_column, cells)
            if blank:
                continue
        outcome = convert(number, first_column, cells, bad)
        if outcome is not None:
            yield outcome


def _tallied(outcomes: Iterable[ParticipantRow | list[RowError]], converter: RowConverter,
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


def _check_usable(tally: _Tally, header: Header, where: str, filename: str) -> None:
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
            self._values[(number, column)] = cell_at(cells, first_column, column)
        targets = self._targets.get(number)
        if not targets:
            return cells
        filled = list(cells)
        for column, source_row in targets:
            offset = column - first_column
            if offset >= 0 and is_empty(cell_at(cells, first_column, column)):
                filled.extend([""] * (offset + 1 - len(filled)))
                filled[offset] = self._values.get((source_row, column), "")
        return filled
