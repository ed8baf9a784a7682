"""What the reader finds in an upload before anything runs: the format (from the bytes, not the
name), the header row and which columns it mapped, how many participants will get a certificate,
the first of them, and the rows that will fail and why: the rows ``prepare`` will record as bad
(the reader's own errors) and the rows ``generate`` will fail (a name or organization the
certificate font cannot print). Used by the console's upload form and by ``cert-preview``; a
whole-file problem is the reader's :class:`UploadError` naming it, raised before anything is
stored or run."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import PurePosixPath
from typing import Any, BinaryIO

from include.certificates.pdf import UnrenderableName, UnrenderableText, unsupported_characters
from include.certificates.spreadsheet import ParticipantRow, RowError, UploadError, detect_format, read_participants
from include.certificates.spreadsheet.table import Header, column_letter

FORMAT_NAMES = {".csv": "CSV text", ".xlsx": "Excel workbook (.xlsx)"}
FIRST_ROWS = 10
MAX_PROBLEMS = 200


@dataclass(frozen=True)
class MappedColumn:
    letter: str            # as Excel shows it (A, B, ...)
    title: str             # the header as written
    field: str | None      # name, email, phone, organization, position; None: kept as an extra column


@dataclass(frozen=True)
class Problem:
    row_number: int
    column: str | None
    message: str
    when: str              # "prepare" (a bad row, recorded failed) or "generate" (the PDF cannot be made)


@dataclass
class UploadPreview:
    filename: str          # the name it is read as (the extension its bytes decided)
    format: str            # ".csv" or ".xlsx"
    size: int              # bytes
    where: str             # "sheet 'Peserta'", or "" for CSV
    header_row: int
    columns: list[MappedColumn] = field(default_factory=list)
    participants: int = 0          # rows that will get a certificate
    failing_rows: int = 0          # rows that will not, at prepare or at generate
    first_rows: list[dict[str, Any]] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)   # the first MAX_PROBLEMS, by row

    @property
    def format_name(self) -> str:
        return FORMAT_NAMES[self.format]

    @property
    def missing_fields(self) -> list[str]:
        """Optional columns the file does not have (certificates are made without them)."""
        found = {c.field for c in self.columns}
        return [f for f in ("email", "phone", "organization", "position") if f not in found]

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "format_name": self.format_name, "missing_fields": self.missing_fields,
                "problems_shown": len(self.problems)}


def renamed_for_content(name: str, extension: str) -> str:
    """``name`` with the extension its content decided (``peserta.csv`` holding a workbook is read
    as ``peserta.xlsx``)."""
    path = PurePosixPath(name)
    stem = path.stem if path.suffix.lower() in (".csv", ".xlsx", ".xls", ".txt", "") else path.name
    return f"{stem or 'upload'}{extension}"


def preview_upload(source: BinaryIO, name: str, *, first_rows: int = FIRST_ROWS,
                   max_problems: int = MAX_PROBLEMS) -> UploadPreview:
    """Read the whole upload (a seekable binary stream) as ``prepare`` will, in this process
    (no helper process: a web server's worker must not fork), and say what will happen.
    :class:`UploadError` for a file that cannot be used at all."""
    extension = detect_format(source, name)
    filename = renamed_for_content(name, extension)
    source.seek(0, 2)
    size = source.tell()
    source.seek(0)
    found: dict[str, Any] = {}

    def on_table(header: Header, where: str) -> None:
        found.update(header=header, where=where)

    preview: UploadPreview | None = None
    titles: dict[str, str] = {}
    last_bad_row = None
    for item in read_participants(source, filename=filename, workers=1, on_table=on_table):
        if preview is None:
            header: Header = found["header"]
            preview = UploadPreview(filename, extension, size, found["where"], header.row_number,
                                    [MappedColumn(column_letter(c.index), c.title, c.field) for c in header.columns])
            titles = {c.field: c.title for c in header.columns if c.field}
        if isinstance(item, RowError):
            if item.row_number != last_bad_row:
                preview.failing_rows += 1
                last_bad_row = item.row_number
            _note(preview, Problem(item.row_number, item.column, item.message, "prepare"), max_problems)
            continue
        unprintable = _unprintable(item, titles)
        if unprintable:
            preview.failing_rows += 1
            _note(preview, unprintable, max_problems)
            continue
        preview.participants += 1
        if len(preview.first_rows) < first_rows:
            preview.first_rows.append({"row_number": item.row_number, "name": item.name, "email": item.email,
                                       "phone": item.phone, "organization": item.organization,
                                       "position": item.position})
    if preview is None:  # the reader raises for a file without rows; this is only a guard
        raise UploadError(f"{filename}: no participant rows")
    return preview


def _note(preview: UploadPreview, problem: Problem, limit: int) -> None:
    if len(preview.problems) < limit:
        preview.problems.append(problem)


def _unprintable(row: ParticipantRow, titles: dict[str, str]) -> Problem | None:
    """The reason ``generate`` will fail this row (the words it will record), or None; ``titles``
    names the columns as the file does."""
    missing = unsupported_characters(row.name)
    if missing:
        return Problem(row.row_number, titles.get("name"), str(UnrenderableName(row.name, missing)), "generate")
    missing = unsupported_characters(row.organization or "")
    if missing:
        error = UnrenderableText("organization", row.organization or "", missing)
        return Problem(row.row_number, titles.get("organization"), f"{type(error).__name__}: {error}", "generate")
    return None
