"""The bundle's own tables, defined one way and migrated forward: a :class:`TableDef` per table
(tracking tables, and the web app's tables where the bundle creates them), :func:`ensure_tables`
to make a database's tables fit them.

**Adding a column** is adding a tuple to its ``TableDef``; **adding a table** is a new ``TableDef``
in its job's ``SCHEMA``. Nothing else: every process's first :func:`ensure_tables` compares the
definitions with the live tables (``information_schema``, ``pg_catalog``, ``PRAGMA``) and changes
what differs, so a release upgrades every deployment without a hand-written migration script.

What the migration does to a table that exists (a table of an earlier release, or one the
replaced Laravel system or the web app made, with its ``id`` key, timestamps and wider or
narrower types):

* a column the definition has and the table lacks is **added, nullable**: rows already there keep
  NULL, which every report shows as unknown (never as a made-up zero); rows written later get the
  definition's default;
* the **unique key** the bundle's upserts and insert-ignores find rows by (its ``key``, and each
  ``unique`` column) is created where no unique index covers it (an adopted table may have an
  ``id`` primary key instead); rows that share a key fail it by name;
* a **default** the bundle relies on is given to a column that has none; a named **index** is
  created where no index starts with the same columns;
* nothing is ever dropped, renamed, narrowed or retyped. What the bundle cannot use (a column
  whose type cannot hold what it writes, such as an integer ``status``; a key column missing; a
  ``NOT NULL`` column of the table's own that the bundle's inserts would leave empty; an enum
  lacking a status it writes) is a :class:`~include.common.db.errors.SchemaError` naming the
  table, the column, what was found and what is needed, raised before anything changes.

**The version record**: table ``backoffice_schema``, one row per table with the hash of the
definition applied (and the definition itself, for people). A process's first
:func:`ensure_tables` reads the rows of its tables in one statement and returns when every hash
matches, the common case; otherwise it takes the database's schema lock
(``pg_advisory_xact_lock``, MySQL ``GET_LOCK``, SQLite ``BEGIN IMMEDIATE``), so two processes
never migrate at once, plans, checks, applies and records in one transaction where DDL is
transactional (PostgreSQL, SQLite). MySQL commits each DDL statement, so every problem is found
before the first change, and each step finds its own earlier work done.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from include.common.clock import utcnow
from include.common.db import Cursor, Database, is_transient
from include.common.db.dialects.base import Dialect
from include.common.db.errors import SchemaError
from include.common.schema_plan import Problem, TablePlan, plan_table

log = logging.getLogger(__name__)

SCHEMA_TABLE = "backoffice_schema"
RULES = 1  # the migration's own rules: raise it when they change, so every database is looked at again


@dataclass(frozen=True)
class TableDef:
    """``columns``: (name, kind, not null) with the kinds of ``Dialect.tracking_types``; a
    ``serial`` column is its own primary key (leave ``key`` empty). A default of ``True`` is the
    dialect's boolean literal; other defaults are SQL text. ``values``: the values the bundle
    writes into a column (its statuses), checked against an enum or CHECK of an adopted table.
    ``app_owned``: the web app's table (the bundle creates it only where it is missing and does
    not insert into it in production), so columns of its own are none of the bundle's business."""

    name: str
    columns: tuple[tuple[str, str, bool], ...]
    key: tuple[str, ...] = ()
    defaults: Mapping[str, str | bool] = field(default_factory=dict)
    unique: tuple[str, ...] = ()
    indexes: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (index name, columns)
    values: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    app_owned: bool = False

    def default_sql(self, dialect: Dialect, column: str) -> str | None:
        default = self.defaults.get(column)
        return dialect.true if default is True else default  # type: ignore[return-value]

    def create_sql(self, dialect: Dialect) -> str:
        defs = []
        for name, kind, not_null in self.columns:
            default = self.default_sql(dialect, name)
            defs.append(f"{dialect.quote(name)} {dialect.tracking_types[kind]}"
                        + (f" DEFAULT {default}" if default is not None else "")
                        + (" NOT NULL" if not_null and kind != "serial" else ""))
        if self.key:
            defs.append(f"PRIMARY KEY ({', '.join(dialect.quote(k) for k in self.key)})")
        defs += [f"UNIQUE ({dialect.quote(column)})" for column in self.unique]
        return f"CREATE TABLE IF NOT EXISTS {dialect.quote(self.name)} ({', '.join(defs)})"

    def definition(self) -> dict[str, Any]:
        """The definition as plain JSON data (what the version record keeps)."""
        return {"name": self.name, "columns": [list(c) for c in self.columns], "key": list(self.key),
                "defaults": {k: self.defaults[k] for k in sorted(self.defaults)},
                "unique": list(self.unique), "indexes": [[n, list(c)] for n, c in self.indexes],
                "values": {k: list(self.values[k]) for k in sorted(self.values)}, "app_owned": self.app_owned}

    @cached_property
    def digest(self) -> str:
        """What the version record compares: the definition's hash (and the migration's rules)."""
        text = json.dumps({"rules": RULES, **self.definition()}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:32]


VERSIONS = TableDef(SCHEMA_TABLE, (
    ("table_name", "name", True),
    ("definition_hash", "id", True),
    ("definition", "text", False),
    ("applied_at", "ts", False),
), key=("table_name",))


# -- reading, applying, recording ----------------------------------------------------------------------
def read_plan(cur: Cursor, table: TableDef) -> TablePlan:
    """The live table's catalog entries, then :func:`plan_table`; a unique index the plan adds
    over rows that share a key becomes a problem naming a few of them."""
    dialect = cur.db.dialect
    found = dialect.describe(cur, table.name)
    if found is None:
        return plan_table(table, dialect, None)
    plan = plan_table(table, dialect, found, dialect.indexes(cur, table.name),
                      dialect.allowed_values(cur, table.name, found))
    naive = [name for name, kind, _ in table.columns if kind == "ts" and any(
        c.name.lower() == name.lower() and c.kind == "timestamp" for c in found)]
    if naive:
        zone = dialect.session_time_zone(cur)
        if zone.upper() not in _UTC_NAMES:
            plan.notes.append(f"{', '.join(naive)}: without time zone, so written in this session's time zone "
                              f"{zone} but read as UTC: set the database's time zone to UTC")
    present = {c.name.lower() for c in found}
    for step in [s for s in plan.steps if s.action == "add unique index"]:
        if not all(c.lower() in present for c in step.columns):
            continue  # a column added now holds no values yet
        cols = ", ".join(dialect.quote(c) for c in step.columns)
        shared = cur.fetch(f"SELECT {cols}, COUNT(*) AS n FROM {dialect.quote(table.name)} "
                           f"GROUP BY {cols} HAVING COUNT(*) > 1 ORDER BY {cols} LIMIT 3")
        if shared:
            examples = "; ".join(", ".join(f"{c}={r[c]!r}" for c in step.columns) + f" ({r['n']} rows)"
                                 for r in shared)
            plan.problems.append(Problem(
                table.name, ", ".join(step.columns), f"rows sharing one value, e.g. {examples}",
                f"unique values for the index {step.name}: the bundle finds its rows by them "
                f"(merge or delete the duplicates)"))
            plan.steps.remove(step)
    return plan


_UTC_NAMES = {"UTC", "ETC/UTC", "UCT", "ETC/UCT", "GMT", "ETC/GMT", "ZULU", "UNIVERSAL", "Z", "+00:00"}


def apply_plan(cur: Cursor, plan: TablePlan) -> None:
    dialect = cur.db.dialect
    name = plan.table.name
    for step in plan.steps:
        if step.action == "create table":
            cur.execute(plan.table.create_sql(dialect))
        elif step.action == "add column":
            dialect.add_column(cur, name, step.name, step.ddl_type, step.default)
        elif step.action == "set default":
            dialect.set_default(cur, name, step.name, step.default or "NULL")
        elif step.action == "add unique index":
            dialect.create_unique_index(cur, name, step.name, step.columns)
        elif step.action == "add index":
            dialect.create_index(cur, name, step.name, step.columns)
        else:
            raise ValueError(f"unknown migration step {step.action!r}")


def _with_versions(tables: Iterable[TableDef]) -> list[TableDef]:
    out: dict[str, TableDef] = {VERSIONS.name: VERSIONS}
    for table in tables:
        out.setdefault(table.name, table)
    return list(out.values())


def _recorded(cur: Cursor, names: Sequence[str]) -> dict[str, str]:
    db = cur.db
    rows = cur.fetch(f"SELECT table_name, definition_hash FROM {db.quote(SCHEMA_TABLE)} "
                     f"WHERE table_name IN ({', '.join(['%s'] * len(names))})", names)
    return {r["table_name"]: r["definition_hash"] for r in rows}


def _record(cur: Cursor, tables: Sequence[TableDef]) -> None:
    db = cur.db
    now = db.ts(utcnow())
    cur.executemany(db.upsert(SCHEMA_TABLE, ["table_name", "definition_hash", "definition", "applied_at"],
                              ["table_name"]),
                    [(t.name, t.digest, json.dumps(t.definition(), sort_keys=True), now) for t in tables])


def migrate(db: Database, tables: Iterable[TableDef], *, dry_run: bool = False,
            what: str = "migrate tables") -> list[TablePlan]:
    """Plan every table (and the version record's own), and unless ``dry_run`` apply the plans
    under the database's schema lock and record the versions, in one transaction where DDL is
    transactional. :class:`SchemaError` (nothing changed) when any table cannot be used; a dry
    run returns the problems in the plans instead and takes no lock."""
    tables = _with_versions(tables)
    dialect = db.dialect
    if dry_run:
        return db.run(lambda cur: [read_plan(cur, t) for t in tables], what=f"{what} (dry run)")

    def work(cur: Cursor) -> list[TablePlan]:
        dialect.lock_schema(cur, SCHEMA_TABLE)
        try:
            plans = [read_plan(cur, t) for t in tables]
            problems = [p for plan in plans for p in plan.problems]
            if problems:
                raise SchemaError(problems)
            for plan in plans:
                apply_plan(cur, plan)
            _record(cur, tables)
            return plans
        finally:
            try:
                dialect.unlock_schema(cur, SCHEMA_TABLE)
            except Exception:  # a dead connection drops the lock with it; the first error is the one to tell
                pass

    plans = db.run(work, what=what)
    for plan in plans:
        for step in plan.steps:
            log.info("schema of %s: %s: %s", db.conn_id, plan.table.name, step)
    return plans


# Databases (by connection identity) whose tables this process has found up to date, per set of
# definitions: the check runs once per process, as the tables were created once per process before.
_UP_TO_DATE: set[tuple[str, str]] = set()


def _identity(db: Database) -> str:
    c = db.connection
    return hashlib.sha256(repr((c.conn_type, c.host, c.port, c.schema, c.login)).encode()).hexdigest()


def up_to_date(db: Database, tables: Sequence[TableDef]) -> bool:
    """One statement: does the version record hold every table's current definition?"""
    names = [t.name for t in tables]
    try:
        recorded = db.run(lambda cur: _recorded(cur, names), what="read schema versions")
    except Exception as exc:
        if is_transient(exc):
            raise
        return False  # no version record yet: a fresh database, or one of a release before it
    return all(recorded.get(t.name) == t.digest for t in tables)


def ensure_tables(db: Database, tables: Iterable[TableDef], *, what: str = "migrate tables") -> None:
    """Make the database's tables fit their definitions (see the module docstring): once per
    process and database, one statement when the version record says they do."""
    tables = _with_versions(tables)
    token = (_identity(db), hashlib.sha256(" ".join(t.digest for t in tables).encode()).hexdigest())
    if token in _UP_TO_DATE:
        return
    if not up_to_date(db, tables):
        migrate(db, tables, what=what)
    _UP_TO_DATE.add(token)
