"""DDL of a synced target table, rendered from the source's columns for the target's dialect.

A source column is described once (:class:`~include.common.db.columns.Column`: name, the source's
exact type, a portable kind); the target dialect renders its type. PostgreSQL to PostgreSQL keeps
the exact type, so COPY data (binary or text) moves between them unchanged.
"""

from __future__ import annotations

from include.common.db import Database
from include.common.db.columns import Column


def create_table_sql(db: Database, table: str, columns: list[Column], key: tuple[str, ...],
                     branch_column: str | None, options: str = "", *, with_key: bool = True) -> str:
    """``options``: the dialect's :meth:`table_options` (MySQL: a binary collation, so that keys
    distinct at the source stay distinct). Without ``with_key`` the key columns are NOT NULL but
    the primary key is left for the initial load to build after its rows."""
    defs = [
        f"{db.quote(c.name)} {db.dialect.column_type(c, is_key=c.name in key)}"
        + (" NOT NULL" if c.name in key else "")
        for c in columns
    ]
    if branch_column:
        defs.insert(0, f"{db.quote(branch_column)} {db.column_type('id')} NOT NULL")
    if with_key:
        defs.append(f"PRIMARY KEY ({', '.join(db.quote(k) for k in primary_key_order(key, branch_column))})")
    return f"CREATE TABLE {db.quote(table)} ({', '.join(defs)}){options}"


def primary_key_order(key: tuple[str, ...], branch_column: str | None) -> list[str]:
    """The columns of a synced table's primary key: the branch column leads, so that one branch's
    rows are one index range."""
    return ([branch_column] if branch_column else []) + [k for k in key if k != branch_column]


def add_column_sql(db: Database, table: str, column: Column) -> str:
    return f"ALTER TABLE {db.quote(table)} ADD COLUMN {db.quote(column.name)} {db.dialect.column_type(column)}"
