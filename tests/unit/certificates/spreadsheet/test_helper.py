"""include.certificates.spreadsheet.helper: a large sheet's second part converted by a forked helper."""

from __future__ import annotations

import io
import os
import re
from collections.abc import Callable
from datetime import date
from pathlib import Path

import openpyxl
import psutil
import pytest

from include.certificates.spreadsheet import ParticipantRow, RowError, UploadError, helper, read_participants
from tests.unit.certificates.spreadsheet.sheets import read_all, write_xlsx

# ----------------------------------------------------------------------------------------------
# Two processes: a large sheet's second part converted by a forked helper, same result

FORKS: list[int] = []
os.register_at_fork(after_in_parent=lambda: FORKS.append(1))


def _tricky_sheet(tmp_path: Path, rows: int = 400) -> Path:
    """Every kind of row the conversion treats specially, spread over both parts of the sheet."""
    data: list[list[object]] = [["Daftar peserta"], ["Nama", "Email", "No HP", "Instansi", "Lahir", "Nilai", None]]
    for number in range(3, rows + 3):
        kind = number % 11
        name: object = f"Peserta {number}"
        email: object = f"p{number}@example.com"
        phone: object = f"08{number:09d}"
        unheaded: object = None
        if kind == 1:
            email = "salah@gmail"
        elif kind == 2:
            name = None
        elif kind == 3:
            name, email = "Peserta Kembar", f"Kembar@Example.com{'' if number % 2 else ' '}"  # all as row 3
        elif kind == 4:
            phone = "8.12346E+09"
        elif kind == 5:
            name, unheaded = "Nguye\u0302\u0303n  Va\u0306n", "catatan"   # NFC, spaces, unheaded cell
        elif kind == 6:
            name = "=UPPER(A1)"                          # a formula without value (the XML scan)
        elif kind == 7:
            name = None if number % 2 else "x" * 300     # a blank row, or a name too long
            email = phone = None if number % 2 else email
        data.append([name, email, phone, f"Instansi {number}" if number % 50 else None,
                     date(1990, 1, 1 + number % 28), number * 1.5, unheaded])

    def build(workbook: openpyxl.Workbook) -> None:
        # A vertical merge over the middle of the sheet: the parts' boundary falls inside it.
        workbook.active.merge_cells(f"D{rows // 3}:D{rows * 2 // 3}")

    return write_xlsx(tmp_path / "tricky.xlsx", data, build)


def _read_with(path: Path, workers: int) -> tuple[list[ParticipantRow | RowError], str | None]:
    items: list[ParticipantRow | RowError] = []
    try:
        for item in read_participants(path, filename=path.name, workers=workers):
            items.append(item)
    except UploadError as exc:
        return items, str(exc)
    return items, None


def test_two_processes_give_the_same_rows_and_errors_as_one(tmp_path: Path,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    path = _tricky_sheet(tmp_path)
    before = len(FORKS)
    with caplog.at_level("INFO", logger="include.certificates.spreadsheet.rows"):
        together, failure = _read_with(path, workers=2)
    assert len(FORKS) == before + 1, "workers=2 must fork a helper for an XLSX sheet"
    shared = re.search(r"(\d+) data rows from row (\d+) on were converted by a helper process", caplog.text)
    assert shared, caplog.text
    assert 100 < int(shared[1]) and 200 < int(shared[2]) < 300   # about half of the 400 rows
    alone, alone_failure = _read_with(path, workers=1)
    assert len(FORKS) == before + 1
    assert failure is None and alone_failure is None
    assert together == alone
    # The cases the comparison covers really occur in the second part of the sheet.
    late = [item for item in together if item.row_number > 300]
    messages = {item.message for item in late if isinstance(item, RowError)}
    assert "duplicate of row 3 (same name and e-mail)" in messages
    assert "formula without a computed value; open and save the file in Excel" in messages
    assert any(isinstance(item, ParticipantRow) and item.extra.get("Column G") == "catatan" for item in late)
    merged = [item for item in together if isinstance(item, ParticipantRow) and 250 <= item.row_number <= 266]
    assert merged and {item.organization for item in merged} == {f"Instansi {400 // 3}"}


def test_two_processes_report_no_usable_rows_the_same_way(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "allbad.xlsx", [["Nama", "Email"], *[[f"Orang {n}", "salah@gmail"] for n in range(60)]])
    together, failure = _read_with(path, workers=2)
    alone, alone_failure = _read_with(path, workers=1)
    assert together == alone and len(alone) == 60
    assert failure == alone_failure and failure is not None and "no usable rows: all 60" in failure


def _break_results_file(monkeypatch: pytest.MonkeyPatch) -> None:
    def dumps(*args: object) -> bytes:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(helper.marshal, "dumps", dumps)   # inherited by the forked helper


def _refuse_fork(monkeypatch: pytest.MonkeyPatch) -> None:
    def fork() -> int:
        raise BlockingIOError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(helper.os, "fork", fork)


@pytest.mark.parametrize(("breakage", "reason"), [
    (_break_results_file, "exit code 1"),
    (_refuse_fork, "it could not be started: [Errno 11] Resource temporarily unavailable"),
])
def test_a_failed_helper_is_replaced_by_the_reader(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   caplog: pytest.LogCaptureFixture,
                                                   breakage: Callable[[pytest.MonkeyPatch], None], reason: str) -> None:
    path = _tricky_sheet(tmp_path, rows=120)
    expected, _ = _read_with(path, workers=1)
    breakage(monkeypatch)
    with caplog.at_level("WARNING", logger="include.certificates.spreadsheet.rows"):
        got, failure = _read_with(path, workers=2)
    assert failure is None and got == expected
    assert f"the helper process failed ({reason}); converting its rows here instead" in caplog.text


def test_closing_the_reader_early_stops_the_helper(tmp_path: Path) -> None:
    path = _tricky_sheet(tmp_path)
    me = psutil.Process()
    before = {child.pid for child in me.children()}
    reader = read_participants(path, filename=path.name, workers=2)
    next(reader)
    assert {child.pid for child in me.children()} - before, "the helper should be running"
    reader.close()
    assert {child.pid for child in me.children()} == before   # killed and reaped, no zombie


def test_small_sheets_and_csv_are_read_in_one_process(tmp_path: Path) -> None:
    before = len(FORKS)
    read_all(_tricky_sheet(tmp_path, rows=50))     # far below PARALLEL_MIN_ROWS
    list(read_participants(io.BytesIO(b"Nama\nAna\nBudi\n"), filename="x.csv", workers=2))
    assert len(FORKS) == before


@pytest.mark.parametrize(("files", "cpus"), [
    ({"cpu.max": "max 100000\n"}, None),
    ({"cpu.max": "150000 100000\n"}, 1.5),
    ({"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"}, None),
    ({"cpu/cpu.cfs_quota_us": "200000\n", "cpu/cpu.cfs_period_us": "100000\n"}, 2.0),
    ({"cpu.max": "garbage"}, None),
    ({}, None),
])
def test_container_cpu_limit_is_read_from_the_cgroup(tmp_path: Path, files: dict[str, str], cpus: float | None) -> None:
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    assert helper.cgroup_cpu_quota(tmp_path) == cpus
