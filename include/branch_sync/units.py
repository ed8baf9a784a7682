"""Work units: the tables one sync task instance runs, one after another (pure; no I/O).

Why: a task instance costs Airflow about 0.8 CPU-seconds (fork, DAG parse, execution-API calls,
the scheduler's share of a loop that grows with the run's task instances), while most pairs of the
nightly sync take a tenth of that. So ``plan`` packs each connection's small tables of a step into
a few task instances and leaves every long table alone in its own, with its own retries and log.
Each table keeps its own ``sync_progress`` row, checkpoint, in-task retries and log section
(``tasks.sync_unit``).

The expected cost of a pair (seconds) comes, in this order, from its own history (the median of
its last completed runs of the same mode: incremental, or a whole-table read), from the source's
row estimate (a whole-table read of a table the pair never synced), else a default
(:func:`expected_cost`). :func:`pack` then fills units largest first (first-fit decreasing) up to
``unit_target_seconds`` and ``unit_max_tables``; the same costs always give the same units.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

# A table with neither history nor a row estimate: about what a small pair takes (measured with
# benchmarks/bench_scale.py: 0.1-0.2 s of SQL for a tiny table).
DEFAULT_SECONDS = 0.2
# Fixed cost of a pair (describe, prepare, checkpoint, tracking), and rows a whole-table read moves
# per second, for a row estimate from the catalog (benchmarks/bench_sync.py: 1M rows in ~6 s).
PAIR_SECONDS = 0.1
ROWS_PER_SECOND = 150_000
# The history a cost is taken from: the median of this many recent runs of the same mode.
HISTORY_RUNS = 5

FULL, INCREMENTAL = "full", "incremental"


def mode_class(sync_mode: str | None) -> str | None:
    """The history class of a recorded ``sync_mode``: an initial load and a full refresh both
    read the whole table; None for a row that has no mode (recorded before units existed)."""
    if sync_mode in ("initial", "full_refresh"):
        return FULL
    if sync_mode == INCREMENTAL:
        return INCREMENTAL
    return None


def expected_cost(mode: str, history: Sequence[float], row_estimate: int | None) -> tuple[float, str]:
    """(seconds, where the figure comes from) for a pair that will run in ``mode``."""
    if history:
        return float(statistics.median(history)), "history"
    if mode == FULL and row_estimate is not None and row_estimate >= 0:
        return PAIR_SECONDS + row_estimate / ROWS_PER_SECOND, "row estimate"
    return DEFAULT_SECONDS, "default"


@dataclass(frozen=True)
class Unit:
    """Tables of one connection and one step that one task instance syncs, in this order: the
    cheapest first, so most of a unit's tables are done early and a failure or a lost worker late
    in a long table leaves them completed (a retry skips them)."""

    connection: str
    tables: tuple[str, ...]
    cost: float

    @property
    def label(self) -> str:
        """The map label in the UI, naming the unit's largest table: ``pgsql_lmp: c_invoice +11``."""
        return unit_label(self.connection, self.tables[-1], len(self.tables))

    def as_arg(self) -> dict[str, object]:
        """The mapped argument of the unit's task instance (JSON for XCom)."""
        return {"tables": list(self.tables), "label": self.label, "expected_seconds": round(self.cost, 3)}


def unit_label(connection: str, table: str, count: int) -> str:
    more = f" +{count - 1}" if count > 1 else ""
    return f"{connection}: {table}{more}"


def pack(connection: str, costs: Mapping[str, float], *, target_seconds: float, max_tables: int,
         alone: Iterable[str] = ()) -> list[Unit]:
    """Pack the tables of ``costs`` into units (first-fit decreasing).

    Tables are placed largest first, ties by name, each into the first unit it fits in (the unit's
    cost plus its own at most ``target_seconds``, fewer than ``max_tables`` tables); a table that
    does not fit an empty unit (expected to exceed the target) and the tables of ``alone``
    (packing turned off for them) get a unit of their own. ``max_tables`` 1 turns packing off.
    The units come out largest first, so the long ones start early; inside a unit the tables run
    cheapest first."""
    if max_tables < 1:
        raise ValueError("max_tables must be at least 1")
    alone = set(alone)
    units: list[list[str]] = []
    totals: list[float] = []
    solo: list[bool] = []
    for table in sorted(costs, key=lambda t: (-costs[t], t)):
        cost = costs[table]
        if table not in alone and cost <= target_seconds:
            for i, members in enumerate(units):
                if not solo[i] and len(members) < max_tables and totals[i] + cost <= target_seconds:
                    members.append(table)
                    totals[i] += cost
                    break
            else:
                units.append([table])
                totals.append(cost)
                solo.append(False)
            continue
        units.append([table])
        totals.append(cost)
        solo.append(True)
    out = [Unit(connection, tuple(sorted(members, key=lambda t: (costs[t], t))), total)
           for members, total in zip(units, totals)]
    return sorted(out, key=lambda u: (-u.cost, u.tables))
