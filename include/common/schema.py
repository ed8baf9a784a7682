"""One way to define and create the bundle's own tables (tracking tables, and the app tables it
creates only where the web app has not): a :class:`TableDef` per table, :func:`ensure_tables` to
create what is missing. There is no migration step for users; ``CREATE TABLE IF NOT EXISTS``
leaves an existing table as it is."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from include.common.db import Cursor, Database


@dataclass(frozen=True)
class TableDef:
    """``columns``: (name, kind, not null) with the kinds of ``Dialect.tracking_types``; a
    ``serial`` column is its own primary key (leave ``key`` empty). A default of ``True`` is the
    dialect's boolean literal; other defaults are SQL text."""

    name: str
    columns: tuple[tuple[str, str, bool], ...]
    key: tuple[str, ...] = ()
    defaults: Mapping[str, str | bool] = field(default_factory=dict)
    unique: tuple[str, ...] = ()
    indexes: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (index name, columns)

    def create_sql(self, db: Database) -> str:
        defs = []
        for name, kind, not_null in self.columns:
            default = self.defaults.get(name)
            if default is True:
                default = db.dialect.true
            defs.append(f"{db.quote(name)} {db.column_type(kind)}" + (f" DEFAULT {default}" if default is not None else "")
                        + (" NOT NULL" if not_null and kind != "serial" else ""))
        if self.key:
            defs.append(f"PRIMARY KEY ({', '.join(db.quote(k) for k in self.key)})")
        defs += [f"UNIQUE ({db.quote(column)})" for column in self.unique]
        return f"CREATE TABLE IF NOT EXISTS {db.quote(self.name)} ({', '.join(defs)})"


def ensure_tables(db: Database, tables: Iterable[TableDef], *, what: str = "create tables") -> None:
    """Create the tables and their indexes where missing, in one retried transaction."""
    tables = list(tables)

    def create(cur: Cursor) -> None:
        for table in tables:
            cur.execute(table.create_sql(db))
            for index, columns in table.indexes:
                db.dialect.create_index(cur, table.name, index, columns)

    db.run(create, what=what)
