"""A second process for the second part of a large sheet.

Turning the parsed rows into participants takes as long again in Python, so for a sheet of
``PARALLEL_MIN_ROWS`` rows or more a helper process, forked once the sheet is parsed, converts
the second part of the rows on the other core (see ``RowHelper``).

calamine hands over a parsed sheet in memory, and turning its 100,000 rows into participants
takes as long again as the parse, on one core. A process forked once the sheet is parsed
inherits it for free (copy-on-write), converts the rows after the reader's own share on the
other core, and writes its outcomes to a temp file that the reader yields after its own rows
(with marshal: plain tuples, lists and text, read back in half pickle's time; the file is
private to the two processes and read by the same interpreter that wrote it).
Duplicates are looked for by the reader alone, over all rows in order, so the result is the
same as one process's. If the helper fails in any way, the reader converts its rows itself.
"""

from __future__ import annotations

import gc
import marshal
import os
import signal
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO, Final

from include.certificates.spreadsheet.table import Table
from include.certificates.spreadsheet.types import ParticipantRow, RowError

# A sheet with at least this many data rows is converted by two processes when two CPUs are free.
PARALLEL_MIN_ROWS: Final = 20_000
_OWN_SHARE: Final = 0.55
_HELPER_CHUNK_ROWS: Final = 2_000


def own_share(table: Table, workers: int | None) -> int | None:
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


class RowHelper:
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

    def __enter__(self) -> RowHelper:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._pid is not None:   # the reader stopped early: the helper's work is not wanted
            os.kill(self._pid, signal.SIGKILL)
            os.waitpid(self._pid, 0)
            self._pid = None
        if self._results is not None:
            self._results.close()
