"""What makes a live table fit its :class:`~include.common.schema.TableDef` (pure: the catalog's
answers in, a :class:`TablePlan` out): the steps that add what it lacks, the problems that stop
the bundle from using it, and the differences kept as they are. :mod:`include.common.schema`
reads the catalog, applies the steps and records the version."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from include.common.db.columns import Column, numbers
from include.common.db.dialects.base import Dialect, Index

if TYPE_CHECKING:
    from include.common.schema import TableDef


@dataclass(frozen=True)
class Step:
    """One change to a table, in the order it is applied."""

    table: str
    action: str  # create table | add column | set default | add unique index | add index
    name: str = ""  # the column or index
    columns: tuple[str, ...] = ()  # an index's columns
    ddl_type: str = ""  # an added column's type
    default: str | None = None

    def __str__(self) -> str:
        if self.action == "create table":
            return "create table"
        if self.action == "add column":
            return (f"add column {self.name} {self.ddl_type} NULL"
                    + (f", DEFAULT {self.default} for new rows" if self.default is not None else "")
                    + " (existing rows: NULL, shown as unknown)")
        if self.action == "set default":
            return f"set default of {self.name} to {self.default}"
        return f"{self.action} {self.name} ({', '.join(self.columns)})"

    def as_json(self) -> dict[str, Any]:
        return {"action": self.action, "name": self.name or None, "columns": list(self.columns) or None,
                "type": self.ddl_type or None, "default": self.default, "text": str(self)}


@dataclass(frozen=True)
class Problem:
    """Why the bundle cannot use a table as it is."""

    table: str
    column: str | None
    found: str
    needed: str

    def __str__(self) -> str:
        where = f"table {self.table!r}" + (f" column {self.column!r}" if self.column else "")
        return f"{where}: found {self.found}; needed {self.needed}"

    def as_json(self) -> dict[str, Any]:
        return {"table": self.table, "column": self.column, "found": self.found, "needed": self.needed,
                "text": str(self)}


@dataclass
class TablePlan:
    """What the migration would do to one table (``steps``), what stops it (``problems``), and the
    differences it accepts as they are (``notes``: wider or narrower types, columns of its own)."""

    table: TableDef
    exists: bool
    steps: list[Step] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {"table": self.table.name, "exists": self.exists, "steps": [s.as_json() for s in self.steps],
                "problems": [p.as_json() for p in self.problems], "notes": list(self.notes)}


# The kinds of a found column that hold what the bundle writes into a column of each kind.
_FITS = {
    "id": {"text"}, "name": {"text"}, "status": {"text"}, "text": {"text", "json"},
    "int": {"int2", "int4", "int8", "decimal"}, "bigint": {"int4", "int8", "decimal"},
    "float": {"float", "decimal", "int2", "int4", "int8"}, "ts": {"timestamp", "timestamptz"},
    "bool": {"bool", "int2", "int4", "int8"}, "serial": {"int4", "int8"},
}
_NEEDED = {
    "id": "a text type", "name": "a text type", "status": "a text type", "text": "a text type",
    "int": "an integer type", "bigint": "an integer type of at least 32 bits", "float": "a numeric type",
    "ts": "a timestamp type", "bool": "a boolean or integer type", "serial": "an auto-increment integer",
}
# The longest text the bundle writes into a column of these kinds (ids: batch ids, certificate
# numbers and tokens are 32 characters at most; names: Airflow's generated run ids fit in 64).
_MIN_LENGTH = {"id": 32, "name": 64, "status": 32}


def plan_table(table: TableDef, dialect: Dialect, found: Sequence[Column] | None,
               indexes: Sequence[Index] = (), allowed: Mapping[str, frozenset[str]] | None = None) -> TablePlan:
    """What makes ``found`` (the live table's columns, None when it does not exist) fit ``table``."""
    if found is None:
        return TablePlan(table, False, [Step(table.name, "create table")]
                         + [Step(table.name, "add index", name, tuple(cols)) for name, cols in table.indexes])
    plan = TablePlan(table, True)
    have = {c.name.lower(): c for c in found}
    allowed = allowed or {}
    for name, kind, _ in table.columns:
        column = have.get(name.lower())
        default = table.default_sql(dialect, name)
        if column is None:
            if name in table.key or kind == "serial":
                plan.problems.append(Problem(table.name, name, "no such column",
                                             f"the key column {name} ({_NEEDED[kind]}, on every row)"))
            else:
                plan.steps.append(Step(table.name, "add column", name, ddl_type=dialect.tracking_types[kind],
                                       default=default))
            continue
        _check_column(plan, dialect, name, kind, column, allowed.get(column.name))
        if default is not None and not column.has_default and kind != "serial" and not table.app_owned:
            if dialect.alters_defaults:
                plan.steps.append(Step(table.name, "set default", name, default=default))
            else:
                plan.problems.append(Problem(table.name, name, "no default",
                                             f"DEFAULT {default} ({dialect.name} cannot add one to an existing "
                                             f"column: recreate the table)"))
    known = {name.lower() for name, _, _ in table.columns}
    extra = [c for c in found if c.name.lower() not in known]
    for column in extra:
        if not table.app_owned and not column.nullable and not column.has_default:
            plan.problems.append(Problem(
                table.name, column.name, f"{column.source_type} NOT NULL without a default (a column of the table's "
                f"own, which the bundle does not write)", "NULL allowed, or a default"))
    if extra:
        plan.notes.append(f"columns of its own, kept: {', '.join(c.name for c in extra)}")
    _plan_indexes(plan, table, indexes)
    return plan


def _check_column(plan: TablePlan, dialect: Dialect, name: str, kind: str, column: Column,
                  allowed: frozenset[str] | None) -> None:
    table = plan.table
    fits = _FITS[kind] | ({"text"} if kind == "ts" and dialect.text_timestamps else set())
    values = table.values.get(name)
    what = _NEEDED[kind] + (f" holding {', '.join(values)}" if values else "")
    # Of the web app's tables the bundle writes only the keys and the columns whose values it
    # names; the rest it reads, so a different type there is noted, not refused.
    strict = not table.app_owned or name in table.key or kind == "serial" or values is not None
    if column.kind not in fits:
        if strict:
            plan.problems.append(Problem(table.name, name, column.source_type, what))
        else:
            plan.notes.append(f"{name}: {column.source_type} kept (the bundle reads it as {_NEEDED[kind]})")
        return
    if kind == "serial" and not column.has_default:
        plan.problems.append(Problem(table.name, name, f"{column.source_type} without auto-increment", what))
        return
    if column.kind == "text" and column.length is not None and kind in _MIN_LENGTH and strict:
        need = max(len(v) for v in values) if values else _MIN_LENGTH[kind]
        if column.length < need:
            plan.problems.append(Problem(table.name, name, column.source_type, f"{what}, at least {need} characters"))
            return
    if values and allowed is not None:
        missing = [v for v in values if v not in allowed]
        if missing:
            plan.problems.append(Problem(table.name, name, f"{column.source_type} allowing only "
                                         f"{', '.join(sorted(allowed))}", f"{what} (missing: {', '.join(missing)})"))
            return
    own = dialect.tracking_types[kind]
    own_length = (numbers(own) or [None])[0]
    if column.kind == "text" and column.length is not None and (own_length is None or column.length < own_length):
        plan.notes.append(f"{name}: {column.source_type}, narrower than the {own} the bundle creates, kept")


def _plan_indexes(plan: TablePlan, table: TableDef, indexes: Sequence[Index]) -> None:
    uniques = [{c.lower() for c in i.columns} for i in indexes if i.unique]
    wanted = ([("key", table.key)] if table.key else []) + [(c, (c,)) for c in table.unique]
    for label, columns in wanted:
        if any(p.column in columns for p in plan.problems):
            continue  # a missing or unusable key column is the problem already named
        if {c.lower() for c in columns} not in uniques:
            plan.steps.append(Step(table.name, "add unique index", index_name("ux", table.name, label), tuple(columns)))
    names = {i.name.lower() for i in indexes}
    for name, columns in table.indexes:
        lowered = tuple(c.lower() for c in columns)
        if name.lower() in names or any(tuple(c.lower() for c in i.columns[:len(columns)]) == lowered
                                        for i in indexes):
            continue
        plan.steps.append(Step(table.name, "add index", name, tuple(columns)))


def index_name(prefix: str, table: str, suffix: str) -> str:
    """``<prefix>_<table>_<suffix>``, shortened with a hash to fit every dialect's 63 characters."""
    name = f"{prefix}_{table}_{suffix}"
    return name if len(name) <= 60 else f"{name[:51]}_{hashlib.sha256(name.encode()).hexdigest()[:8]}"
