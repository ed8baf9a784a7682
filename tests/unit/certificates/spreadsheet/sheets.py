"""Helpers for the spreadsheet tests: workbooks and files to read, and what reading them gives."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path

import openpyxl
from openpyxl.styles import PatternFill

from include.certificates.spreadsheet import ParticipantRow, RowError, read_participants

YELLOW = PatternFill("solid", fgColor="FFFF00")


def read_all(path: Path | io.BytesIO, filename: str | None = None) -> list[ParticipantRow | RowError]:
    name = filename or (path.name if isinstance(path, Path) else "upload.csv")
    return list(read_participants(path, filename=name))


def good(items: list[ParticipantRow | RowError]) -> list[ParticipantRow]:
    return [item for item in items if isinstance(item, ParticipantRow)]


def errors(items: list[ParticipantRow | RowError]) -> list[RowError]:
    return [item for item in items if isinstance(item, RowError)]


def write_xlsx(path: Path, rows: Sequence[Sequence[object]],
               build: Callable[[openpyxl.Workbook], None] | None = None) -> Path:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "Peserta"
    for row in rows:
        sheet.append(row)
    if build is not None:
        build(workbook)
    workbook.save(path)
    return path


def patch_sheet_xml(path: Path, old: str, new: str) -> None:
    """Edit the first sheet's XML, e.g. to give a formula the cached value Excel would store."""
    with zipfile.ZipFile(path) as archive:
        members = {info.filename: archive.read(info.filename) for info in archive.infolist()}
    # openpyxl writes an empty cached value as <v /> (ElementTree) or <v></v> (with lxml installed)
    xml = members["xl/worksheets/sheet1.xml"].decode().replace("<v></v>", "<v />")
    assert old in xml, xml[:2000]
    members["xl/worksheets/sheet1.xml"] = xml.replace(old, new).encode()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)


def write_bytes(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path
