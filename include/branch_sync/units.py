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
Both are pure; :func:`plan_units` beside them reads the costs (``sync_progress``, ``sync_state``,
the branches' catalogs) and packs every sync task's pairs. ``branch_sync`` and ``sync_verify``
map over the units it plans.
"""

from __future__ import annotations

import logging
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from include.branch_sync import tracking
from include.branch_sync.checkpoint import pairs_with_state
from include.branch_sync.config import SyncConfig, SyncPlan
from include.branch_sync.spec import task_id_for
from include.common.db import Database
from include.common.scrub import error_text

log = logging.getLogger(__name__)

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


# -- the costs read, and every sync task's pairs packed ------------------------------------------------
class PlannedUnits:
    """The work units of a run: ``units`` per sync task id, in map-index order, and each pair's
    assignment to its unit's task instance."""

    def __init__(self) -> None:
        self.units: dict[str, list[Unit]] = {}
        self.assignments: list[tracking.Assignment] = []


def selection_pairs(config: SyncConfig, selection: SyncPlan) -> list[tracking.Pair]:
    """The pairs of a run's selection, each with the sync task (step and connection) that syncs it."""
    return [tracking.Pair(conn, table, config.table(table).model, task_id_for(step, conn))
            for step, by_conn in (("step1", selection.step1), ("step2", selection.step2))
            for conn, tables in by_conn.items() for table in tables]


def plan_units(config: SyncConfig, target: Database, pairs: Sequence[tracking.Pair], full_refresh: bool) -> PlannedUnits:
    """Group each sync task's pairs (one connection, one step) into work units by expected cost
    (``pack``): the cost from the pair's history in ``sync_progress`` for the mode it will run in,
    else from the source's row estimate, else the default."""
    tracking.ensure_schema(target)
    by_task: dict[str, list[tracking.Pair]] = {}
    for pair in pairs:
        by_task.setdefault(pair.task_id, []).append(pair)
    connections = sorted({p.connection for p in pairs})
    synced = pairs_with_state(target, connections)
    history: dict[tuple[str, str, str], list[float]] = {}
    for (conn, table, sync_mode), durations in tracking.pair_history(target, connections, HISTORY_RUNS).items():
        if mode := mode_class(sync_mode):
            history.setdefault((conn, table, mode), []).extend(durations)

    def mode_of(pair: tracking.Pair) -> str:
        spec = config.table(pair.table)
        full = full_refresh or spec.cursor is None or (pair.connection, pair.table) not in synced
        return FULL if full else INCREMENTAL

    def past(pair: tracking.Pair, mode: str) -> list[float]:
        return history.get((pair.connection, pair.table, mode), [])[:HISTORY_RUNS]

    modes = {pair: mode_of(pair) for pair in pairs}
    need_estimate: dict[str, list[str]] = {}
    for pair, mode in modes.items():
        if mode == FULL and not past(pair, mode) and config.packing:
            need_estimate.setdefault(pair.connection, []).append(pair.table)
    estimates = {conn: _row_estimates(conn, tables) for conn, tables in need_estimate.items()}

    planned = PlannedUnits()
    for task_id, task_pairs in by_task.items():
        connection = task_pairs[0].connection
        costs = {p.table: expected_cost(modes[p], past(p, modes[p]),
                                              estimates.get(connection, {}).get(p.table))[0] for p in task_pairs}
        packed = pack(connection, costs, target_seconds=config.unit_target_seconds,
                            max_tables=config.unit_max_tables if config.packing else 1,
                            alone=[p.table for p in task_pairs if not config.table(p.table).pack])
        planned.units[task_id] = packed
        by_table = {p.table: p for p in task_pairs}
        for index, unit in enumerate(packed):
            planned.assignments += [tracking.Assignment(by_table[t], index, round(costs[t], 3)) for t in unit.tables]
    return planned


def _row_estimates(connection: str, tables: Sequence[str]) -> dict[str, int]:
    """The source catalog's row estimates, a planning hint: a branch that cannot answer now costs
    its tables the default estimate (its sync task then reports the real error)."""
    try:
        with Database(connection, retries=0) as source:
            return source.run(lambda cur: source.dialect.row_estimates(cur, tables), what="read row estimates")
    except Exception as exc:
        log.warning("no row estimates from %s for planning work units (%s); using the default cost",
                    connection, error_text(exc, connection))
        return {}
