"""Why a running sync batch does not move: pairs that have waited to start (``pending``, never
started) longer than ``stuck_after_seconds`` (sync config, default 600) are explained from the
pools' state (``GET /api/v2/pools``) and Airflow's task-instance states, each finding with a human
message and the command that fixes it. :func:`diagnose` is pure; :func:`check_batch` asks an
Airflow API client (``pools()``, ``task_states(dag_id, run_id)``, as
:class:`include.common.task_states.RestApiStates`) and never raises: an unreachable API is
reported as such. Inside a task (``health_reconcile``) without the REST API, the Task SDK gives the
task states but not the pools (``pools()`` is None): a task scheduled and never queued is then
reported as "its pool is missing or full, or no executor slot is free", with the pools command.

:func:`batch_report` is what a page or command calls: the thresholds from the sync config, the
batch's open pairs read in one statement, then :func:`check_batch`.

Reasons, most specific first: the pair's pool does not exist (Airflow never runs the task); the
pool is full (or has no slots); scheduled but not queued while the pools cannot be read (one of
the two, or no executor slot); step 2 waits for step 1 still running; the task is queued but no
worker starts it; it is scheduled but not queued (no free executor slot: ``[core] parallelism``,
``max_active_tasks``); it has no task instance yet (scheduler not running, or the run not started).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from include.branch_sync.config import ConfigError, load_config
from include.branch_sync.pools import POOLS_COMMAND
from include.branch_sync.tracking import BATCHES, OPEN_PAIR_STATUSES, PROGRESS
from include.common.batches import batches_to_check
from include.common.db import Database
from include.common.scrub import scrub
from include.common.text import format_duration, format_ts, iso_utc, to_utc

STEP1 = "step1"
_OPEN_TI = {"scheduled", "queued", "running", "up_for_retry", "up_for_reschedule", "deferred", "restarting"}


@dataclass(frozen=True)
class Finding:
    kind: str  # missing_pool | full_pool | pool_or_slot | step1_running | no_worker | no_executor_slot | not_scheduled
    message: str
    fix: str | None
    pool: str | None = None
    pairs: tuple[str, ...] = field(default_factory=tuple)  # "connection.table" of the waiting pairs it explains


def default_pool(connection: str) -> str:
    return f"sync_{connection}"


def waiting_pairs(batch: Mapping[str, Any], progress: Sequence[Mapping[str, Any]], now: datetime,
                  stuck_after_seconds: float) -> list[tuple[Mapping[str, Any], datetime]]:
    """Pairs ``pending`` with no ``started_at`` that have waited longer than the threshold, with
    the time they wait since (the later of the batch's start and the row's last update)."""
    started = to_utc(batch.get("started_at"))
    out = []
    for row in progress:
        if row.get("status") != "pending" or row.get("started_at") is not None:
            continue
        since = max([t for t in (started, to_utc(row.get("updated_at"))) if t is not None], default=None)
        if since is None:
            continue
        if (now - since).total_seconds() > stuck_after_seconds:
            out.append((row, since))
    return out


def _ti_state(row: Mapping[str, Any], states: Mapping[str, str | None]) -> str | None:
    task_id = row.get("task_id")
    if not task_id:
        return None
    if row.get("map_index") is not None:
        key = f"{task_id}_{row['map_index']}"
        if key in states:
            return states[key]
    return None


def _names(rows: Sequence[Mapping[str, Any]], most: int = 5) -> str:
    names = [f"{r['connection_name']}.{r['table_name']}" for r in rows]
    return ", ".join(names[:most]) + (f" and {len(names) - most} more" if len(names) > most else "")


def diagnose(batch: Mapping[str, Any], progress: Sequence[Mapping[str, Any]],
             pools: Sequence[Mapping[str, Any]] | None, task_states: Mapping[str, str | None], now: datetime, *,
             stuck_after_seconds: float = 600, pool_of: Callable[[str], str] = default_pool) -> list[Finding]:
    """The reasons the overdue waiting pairs of a running batch have not started (pure); ``pools``
    None when they could not be read."""
    if batch.get("status") != "running":
        return []
    waiting = waiting_pairs(batch, progress, now, stuck_after_seconds)
    if not waiting:
        return []
    findings: list[Finding] = []
    if pools is None:  # no pool can be ruled in or out: every waiting pair goes by its task state
        rest: list[Mapping[str, Any]] = [row for row, _ in waiting]
        grouped: dict[str, list[Mapping[str, Any]]] = {}
    else:
        rest = []
        grouped = {}
        for row, _ in waiting:
            grouped.setdefault(pool_of(str(row["connection_name"])), []).append(row)
    by_pool = {str(p.get("name")): p for p in pools or ()}
    since = format_ts(min(since for _, since in waiting))
    for pool, rows in grouped.items():
        info = by_pool.get(pool)
        label = tuple(f"{r['connection_name']}.{r['table_name']}" for r in rows)
        if info is None:
            findings.append(Finding(
                "missing_pool", f"pool {pool!r} does not exist: Airflow never starts its {len(rows)} waiting "
                f"table(s) ({_names(rows)}); waiting since {since} UTC", POOLS_COMMAND, pool, label))
            continue
        # Airflow reports an unlimited pool as slots -1 and its infinite open slots as -1.
        slots, open_slots = int(info.get("slots") or 0), info.get("open_slots")
        unlimited = slots < 0 or (open_slots is not None and int(open_slots) < 0)
        if not unlimited and (slots == 0 or (open_slots is not None and int(open_slots) == 0)):
            findings.append(Finding(
                "full_pool", f"pool {pool!r} is full: {int(info.get('running_slots') or 0)} running, "
                f"{int(info.get('queued_slots') or 0)} queued of {slots} slot(s); {len(rows)} table(s) wait for a "
                f"slot ({_names(rows)})",
                f"wait, or raise pool_slots in the sync config and run {POOLS_COMMAND}", pool, label))
            continue
        rest += rows

    step1_open = [r for r in progress if str(r.get("task_id") or "").startswith(STEP1 + ".")
                  and r.get("status") in ("pending", "in_progress")]
    buckets: dict[str, list[Mapping[str, Any]]] = {}
    for row in rest:
        state = _ti_state(row, task_states)
        in_step2 = not str(row.get("task_id") or "").startswith(STEP1 + ".")
        if in_step2 and step1_open and state not in _OPEN_TI:
            buckets.setdefault("step1_running", []).append(row)
        elif state == "queued":
            buckets.setdefault("no_worker", []).append(row)
        elif state == "scheduled":
            buckets.setdefault("no_executor_slot" if pools is not None else "pool_or_slot", []).append(row)
        elif state is None:
            buckets.setdefault("not_scheduled", []).append(row)
    texts = {
        "step1_running": (f"step 2 waits for step 1: {len(step1_open)} single-source table(s) not finished "
                          f"({_names(step1_open)})", "wait for step 1 (or trigger branch_sync with skip_step1=true)"),
        "no_worker": ("queued but no worker starts them: is a worker running and does it have free slots?",
                      "start a worker (airflow celery worker), or raise its concurrency"),
        "no_executor_slot": ("scheduled but not queued: no free executor slot ([core] parallelism, the DAG's "
                             "max_active_tasks) or the scheduler is busy",
                             "raise [core] parallelism / max_active_tasks, or wait for running tasks"),
        "pool_or_slot": ("scheduled but never queued: their pool may not exist (Airflow never starts a task whose "
                         "pool is missing) or be full, or no executor slot is free ([core] parallelism)",
                         f"check the pools (airflow pools list); create missing ones with {POOLS_COMMAND}"),
        "not_scheduled": ("no task instance is scheduled for them: is the scheduler running, and the DAG run "
                          "not paused?", "start the scheduler (airflow scheduler) and unpause branch_sync"),
    }
    for kind in ("step1_running", "pool_or_slot", "no_worker", "no_executor_slot", "not_scheduled"):
        rows = buckets.get(kind)
        if rows:
            message, fix = texts[kind]
            if kind == "pool_or_slot":
                names = ", ".join(dict.fromkeys(pool_of(str(r["connection_name"])) for r in rows))
                message = f"{len(rows)} table(s) {message}; pool(s) {names} ({_names(rows)})"
            elif kind != "step1_running":
                message = f"{len(rows)} table(s) {message} ({_names(rows)})"
            findings.append(Finding(kind, message, fix, None, tuple(f"{r['connection_name']}.{r['table_name']}"
                                                                   for r in rows)))
    return findings


def _client(api: Any | Callable[[], Any]) -> Any:
    """An API client, or a callable that makes one, as the client."""
    return api() if callable(api) and not hasattr(api, "pools") else api


def check_batch(batch: Mapping[str, Any], progress: Sequence[Mapping[str, Any]], api: Any | Callable[[], Any],
                now: datetime, *, stuck_after_seconds: float = 600,
                pool_of: Callable[[str], str] = default_pool) -> dict[str, Any] | None:
    """The ``stuck`` report of a batch as a dict, or None when the batch is not running.

    ``api`` is an Airflow API client (or a callable making one: it is then made only when some
    pair is overdue) whose ``pools()`` may be None (cannot read them: ``pools_known`` False).
    Never raises for an API failure: ``unavailable`` says why and ``findings`` is empty."""
    if batch.get("status") != "running":
        return None
    waiting = waiting_pairs(batch, progress, now, stuck_after_seconds)
    report: dict[str, Any] = {
        "stuck_after_seconds": stuck_after_seconds, "waiting_pairs": len(waiting),
        "waiting_since": iso_utc(min(since for _, since in waiting)) if waiting else None,
        "diagnosed": False, "unavailable": None, "pools_known": None, "findings": [],
    }
    if not waiting:
        return report
    try:
        client = _client(api)
        pools = client.pools()
        states = client.task_states(str(batch.get("dag_id")), str(batch.get("run_id"))) \
            if batch.get("dag_id") and batch.get("run_id") else {}
    except Exception as exc:
        text = " ".join(str(exc).split()) or type(exc).__name__
        report["unavailable"] = scrub(f"the Airflow REST API is unreachable ({type(exc).__name__}: {text})")[:500]
        return report
    report["diagnosed"], report["pools_known"] = True, pools is not None
    report["findings"] = [asdict(f) | {"pairs": list(f.pairs)} for f in
                          diagnose(batch, progress, pools, states, now, stuck_after_seconds=stuck_after_seconds,
                                   pool_of=pool_of)]
    return report


def thresholds() -> tuple[float, Callable[[str], str]]:
    """``stuck_after_seconds`` and the pool of a connection, from the sync config (the defaults
    when it cannot be read: a status must still show)."""
    try:
        config = load_config()
    except ConfigError:
        return 600, default_pool
    return config.stuck_after_seconds, config.pool_name


def open_pairs(db: Database, batch_id: str) -> list[dict[str, Any]]:
    """The rows :func:`diagnose` reads: the batch's pending and in-progress pairs (one statement)."""
    return db.fetchall(
        f"SELECT connection_name, table_name, status, started_at, updated_at, task_id, map_index "
        f"FROM {db.quote(PROGRESS)} WHERE batch_id = %s AND status IN (%s, %s)", [batch_id, *OPEN_PAIR_STATUSES])


def batch_report(db: Database | None, batch: Mapping[str, Any], api: Any | Callable[[], Any], now: datetime,
                 progress: Sequence[Mapping[str, Any]] | None = None) -> dict[str, Any] | None:
    """The ``stuck`` report of a batch (None unless running), with the config's thresholds; the
    open pairs are read from ``db`` unless ``progress`` (the batch's rows) is given."""
    if batch.get("status") != "running":
        return None
    threshold, pool_of = thresholds()
    rows = progress if progress is not None else open_pairs(db, str(batch["batch_id"]))
    return check_batch(batch, rows, api, now, stuck_after_seconds=threshold, pool_of=pool_of)


def running_reports(db: Database, api: Any | Callable[[], Any], now: datetime) -> list[dict[str, Any]]:
    """The ``stuck`` report of every running batch, each with its ``batch_id``, ``dag_id`` and
    ``run_id`` (``health_reconcile``'s check); ``api`` as for :func:`check_batch`, made at most once."""
    made: list[Any] = []

    def client() -> Any:
        if not made:
            made.append(_client(api))
        return made[0]

    reports = []
    for batch in batches_to_check(db, BATCHES, ("batch_id", "dag_id", "run_id", "status", "started_at"), ("running",)):
        report = batch_report(db, batch, client, now)
        if report is not None:
            reports.append({"batch_id": batch["batch_id"], "dag_id": batch["dag_id"], "run_id": batch["run_id"],
                            **report})
    return reports


def stuck_lines(report: Mapping[str, Any] | None) -> list[str]:
    """The report as text lines for ``sync-status`` (nothing when nothing waits too long)."""
    if not report or not report["waiting_pairs"]:
        return []
    head = (f"  Stuck: {report['waiting_pairs']} table(s) waiting to start for over "
            f"{format_duration(report['stuck_after_seconds'])} (since {format_ts(report['waiting_since'])} UTC)")
    if report["unavailable"]:
        return [f"{head}; cannot tell why: {report['unavailable']}"]
    lines = [head + ":"]
    for f in report["findings"]:
        lines.append(f"    - {f['message']}")
        if f["fix"]:
            lines.append(f"      fix: {f['fix']}")
    if not report["findings"]:
        lines.append("    - no blocking reason found in Airflow's pools and task states (they may start soon)")
    return lines
