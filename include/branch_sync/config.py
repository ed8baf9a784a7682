"""The sync configuration: which branches, which tables, how.

The YAML file ``config/sync.yaml`` is the default; the environment variable ``SYNC_CONFIG`` names
another file. Every identifier in it is validated here, once, so the rest of the code can quote
names it received from the config and refuse anything else.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from include.common.paths import CONFIG_DIR

DEFAULT_CONFIG_PATH = CONFIG_DIR / "sync.yaml"

# A connection id becomes part of a task id, a pool name and a column value: keep it plain.
CONN_ID_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")
# One identifier, optionally schema-qualified once (``erp.m_product``).
TABLE_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}(\.[A-Za-z_][A-Za-z0-9_]{0,62})?$")
COLUMN_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")

BRANCH_COLUMN = "sync_branch"


class ConfigError(ValueError):
    """The sync configuration or a selection made against it is invalid."""


@dataclass(frozen=True)
class TableSpec:
    table: str
    model: str
    primary_key: tuple[str, ...]
    cursor: str | None = None
    single_source: str | None = None
    lookback_seconds: int = 300
    delete_missing: bool = False  # incremental: delete target rows whose key the source lost
    pack: bool = True  # False: this table always gets a task instance of its own (see units.py)

    @property
    def per_branch(self) -> bool:
        """Read from every branch, landing with a ``sync_branch`` key column."""
        return self.single_source is None

    @property
    def target_table(self) -> str:
        """The target keeps the source's table name, without the source's schema."""
        return self.table.rsplit(".", 1)[-1]

    @property
    def target_key(self) -> tuple[str, ...]:
        return self.primary_key + ((BRANCH_COLUMN,) if self.per_branch else ())


@dataclass(frozen=True)
class SyncConfig:
    path: Path
    target: str
    branches: tuple[str, ...]
    tables: tuple[TableSpec, ...]
    pool_slots: int = 4
    chunk_rows: int = 50_000
    schedule: str | None = None
    retries: int = 3
    retry_delay_seconds: int = 30
    stuck_after_seconds: int = 600  # a pair waiting to start longer than this is diagnosed (sync-status)
    # Work units (units.py): small tables of one connection and step share a task instance up to
    # this expected cost and count; packing False is one table per task instance.
    packing: bool = True
    unit_target_seconds: float = 60.0
    unit_max_tables: int = 40
    verify_schedule: str | None = None  # when sync_verify runs by itself (None: triggered only)

    def table(self, name_or_model: str) -> TableSpec:
        for spec in self.tables:
            if name_or_model in (spec.table, spec.model, spec.target_table):
                return spec
        raise ConfigError(
            f"unknown table or model {name_or_model!r} (config {self.path}); "
            f"known: {', '.join(s.table for s in self.tables)}"
        )

    @property
    def connections(self) -> tuple[str, ...]:
        """Every source connection: the branches, then single sources that are not branches."""
        extra = [s.single_source for s in self.tables if s.single_source and s.single_source not in self.branches]
        return tuple(dict.fromkeys([*self.branches, *extra]))

    def pool_name(self, conn_id: str) -> str:
        return f"sync_{conn_id}"


def config_path() -> Path:
    return Path(os.environ.get("SYNC_CONFIG") or DEFAULT_CONFIG_PATH)


def load_config(path: str | Path | None = None) -> SyncConfig:
    """Load and validate the sync configuration (``SYNC_CONFIG`` or the repo default)."""
    resolved = Path(path) if path else config_path()
    return _load_cached(str(resolved.resolve()), _mtime(resolved))


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        raise ConfigError(f"sync config file not found: {path} (set SYNC_CONFIG to an existing file)") from None


@lru_cache(maxsize=8)
def _load_cached(path: str, _mtime: float) -> SyncConfig:
    try:
        # libyaml's safe loader when built in: every task process parses the config again (~6x faster).
        raw = yaml.load(Path(path).read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as exc:
        raise ConfigError(f"sync config {path} is not valid YAML: {exc}") from None
    return parse_config(raw, Path(path))


def parse_config(raw: Any, path: Path) -> SyncConfig:
    where = f"sync config {path}"
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: the top level must be a mapping")
    target = _conn_id(raw.get("target"), f"{where}: 'target'")
    branches_raw = raw.get("branches")
    if not isinstance(branches_raw, list) or not branches_raw:
        raise ConfigError(f"{where}: 'branches' must be a non-empty list of connection ids")
    branches = tuple(_conn_id(b, f"{where}: branches[{i}]") for i, b in enumerate(branches_raw))
    if len(set(branches)) != len(branches):
        raise ConfigError(f"{where}: 'branches' lists a connection twice")
    if target in branches:
        raise ConfigError(f"{where}: the target {target!r} is also listed as a branch")

    default_lookback = _int(raw.get("lookback_seconds", 300), f"{where}: 'lookback_seconds'", minimum=0)
    tables_raw = raw.get("tables")
    if not isinstance(tables_raw, list) or not tables_raw:
        raise ConfigError(f"{where}: 'tables' must be a non-empty list")
    tables: list[TableSpec] = []
    seen: dict[str, str] = {}
    for i, entry in enumerate(tables_raw):
        at = f"{where}: tables[{i}]"
        if not isinstance(entry, dict):
            raise ConfigError(f"{at} must be a mapping")
        unknown = set(entry) - {"table", "model", "primary_key", "cursor", "single_source", "lookback_seconds",
                                "delete_missing", "pack"}
        if unknown:
            raise ConfigError(f"{at} has unknown keys: {', '.join(sorted(unknown))}")
        table = entry.get("table")
        if not isinstance(table, str) or not TABLE_RE.match(table):
            raise ConfigError(f"{at}.table {table!r} is not a valid table name")
        model = entry.get("model") or table
        if not isinstance(model, str) or not COLUMN_RE.match(model):
            raise ConfigError(f"{at}.model {model!r} is not a valid model name")
        pk_raw = entry.get("primary_key")
        if isinstance(pk_raw, str):
            pk_raw = [pk_raw]
        if not isinstance(pk_raw, list) or not pk_raw:
            raise ConfigError(f"{at}.primary_key must list at least one column")
        pk = tuple(_column(c, f"{at}.primary_key") for c in pk_raw)
        if len(set(pk)) != len(pk):
            raise ConfigError(f"{at}.primary_key lists a column twice")
        cursor = entry.get("cursor")
        if cursor is not None:
            cursor = _column(cursor, f"{at}.cursor")
        single = entry.get("single_source")
        if single is not None:
            single = _conn_id(single, f"{at}.single_source")
            if single == target:
                raise ConfigError(f"{at}.single_source {single!r} is the target itself")
        if BRANCH_COLUMN in pk or cursor == BRANCH_COLUMN:
            raise ConfigError(f"{at}: {BRANCH_COLUMN!r} is reserved for the branch key column")
        lookback = _int(entry.get("lookback_seconds", default_lookback), f"{at}.lookback_seconds", minimum=0)
        delete_missing = entry.get("delete_missing", False)
        if not isinstance(delete_missing, bool):
            raise ConfigError(f"{at}.delete_missing must be true or false, got {delete_missing!r}")
        if delete_missing and cursor is None:
            raise ConfigError(f"{at}.delete_missing applies to a table with a cursor (a table without one is "
                              f"refreshed whole, which deletes already)")
        pack = _bool(entry.get("pack", True), f"{at}.pack")
        spec = TableSpec(table, model, pk, cursor, single, lookback, delete_missing, pack)
        for name in {spec.table, spec.model, spec.target_table}:
            if name in seen and seen[name] != spec.table:
                raise ConfigError(f"{at}: name {name!r} is already used by table {seen[name]!r}")
            seen[name] = spec.table
        tables.append(spec)

    schedule = raw.get("schedule")
    if schedule is not None and not isinstance(schedule, str):
        raise ConfigError(f"{where}: 'schedule' must be a cron expression, a preset such as '@daily', or null")
    verify_schedule = raw.get("verify_schedule")
    if verify_schedule is not None and not isinstance(verify_schedule, str):
        raise ConfigError(f"{where}: 'verify_schedule' must be a cron expression, a preset such as '@weekly', or null")
    return SyncConfig(
        path=path,
        target=target,
        branches=branches,
        tables=tuple(tables),
        pool_slots=_int(raw.get("pool_slots", 4), f"{where}: 'pool_slots'", minimum=1),
        chunk_rows=_int(raw.get("chunk_rows", 50_000), f"{where}: 'chunk_rows'", minimum=1),
        schedule=schedule,
        retries=_int(raw.get("retries", 3), f"{where}: 'retries'", minimum=0),
        retry_delay_seconds=_int(raw.get("retry_delay_seconds", 30), f"{where}: 'retry_delay_seconds'", minimum=1),
        stuck_after_seconds=_int(raw.get("stuck_after_seconds", 600), f"{where}: 'stuck_after_seconds'", minimum=1),
        packing=_bool(raw.get("packing", True), f"{where}: 'packing'"),
        unit_target_seconds=_positive(raw.get("unit_target_seconds", 60), f"{where}: 'unit_target_seconds'"),
        unit_max_tables=_int(raw.get("unit_max_tables", 40), f"{where}: 'unit_max_tables'", minimum=1),
        verify_schedule=verify_schedule,
    )


def _conn_id(value: Any, where: str) -> str:
    if not isinstance(value, str) or not CONN_ID_RE.match(value):
        raise ConfigError(f"{where}: {value!r} is not a valid connection id (letters, digits, '_' or '-')")
    return value


def _column(value: Any, where: str) -> str:
    if not isinstance(value, str) or not COLUMN_RE.match(value):
        raise ConfigError(f"{where}: {value!r} is not a valid column name")
    return value


def _bool(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{where} must be true or false, got {value!r}")
    return value


def _positive(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ConfigError(f"{where} must be a number of seconds > 0, got {value!r}")
    return float(value)


def _int(value: Any, where: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{where} must be an integer >= {minimum}, got {value!r}")
    return value


def list_param(params: Any, name: str) -> list[str]:
    """A DAG's list param of names (a list, or a comma-separated string from a trigger form)."""
    value = params.get(name) or []
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"param {name!r} must be a list of names, got {value!r}")
    return value


def connection_passwords() -> list[str | None]:
    """The passwords of the target and every source connection, never to appear in a notice
    (empty when the config cannot be read: the notice is then scrubbed of the usual patterns)."""
    from include.common.scrub import connection_secrets

    try:
        config = load_config()
        return connection_secrets(config.target, *config.connections)
    except Exception:
        return []


@dataclass(frozen=True)
class SyncPlan:
    """The (connection, table) pairs one run syncs, in the seed's order: step 1, then step 2."""

    step1: dict[str, list[str]]
    step2: dict[str, list[str]]

    @property
    def pairs(self) -> list[tuple[str, str]]:
        return [(c, t) for step in (self.step1, self.step2) for c, tables in step.items() for t in tables]


def plan_pairs(
    config: SyncConfig,
    connections: list[str] | None = None,
    tables: list[str] | None = None,
    skip_step1: bool = False,
) -> SyncPlan:
    """Resolve the trigger-time selection against the config; unknown names are refused."""
    if connections:
        unknown = [c for c in connections if c not in config.connections]
        if unknown:
            raise ConfigError(
                f"param 'connections': unknown connection(s) {', '.join(map(repr, unknown))}; "
                f"configured: {', '.join(config.connections)}"
            )
        selected_conns = [c for c in config.connections if c in connections]
    else:
        selected_conns = list(config.connections)
    if tables:
        specs = {config.table(name).table for name in tables}  # raises on unknown names
        selected = [s for s in config.tables if s.table in specs]
    else:
        selected = list(config.tables)

    step1: dict[str, list[str]] = {}
    step2: dict[str, list[str]] = {}
    for spec in selected:
        if spec.single_source:
            if not skip_step1 and spec.single_source in selected_conns:
                step1.setdefault(spec.single_source, []).append(spec.table)
        else:
            for conn in selected_conns:
                if conn in config.branches:
                    step2.setdefault(conn, []).append(spec.table)
    if not step1 and not step2:
        raise ConfigError("the selection (connections, tables, skip_step1) leaves nothing to sync")
    return SyncPlan(step1=step1, step2=step2)
