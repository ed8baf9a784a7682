"""DDL of a synced target table, rendered from the source's columns for the target's dialect.

A source column is described once (:class:`~include.common.db.columns.Column`: name, the source's
exact type, a portable kind); the target dialect renders its type. PostgreSQL to PostgreSQL keeps
the exact type, so COPY text moves between them unchanged.
"""

from __future__ import annotations

from include.common.db import Database
from include.common.db.columns import Column


def create_table_sql(db: Database, table: str, columns: list[Column], key: tuple[str, ...],
                     branch_column: str | None, options: str = "") -> str:
    """``options``: the dialect's :meth:`table_options` (MySQL: a binary collation, so that keys
    distinct at the source stay distinct)."""
    defs = [
        f"{db.quote(c.name)} {db.dialect.column_type(c, is_key=c.name in key)}"
        + (" NOT NULL" if c.name in key else "")
        for c in columns
    ]
    if branch_column:
        defs.insert(0, f"{db.quote(branch_column)} {db.column_type('id')} NOT NULL")
    # The branch column leads the key so that one branch's rows are one index range.
    ordered_key = ([branch_column] if branch_column else []) + [k for k in key if k != branch_column]
    defs.append(f"PRIMARY KEY ({', '.join(db.quote(k) for k in ordered_key)})")
    return f"CREATE TABLE {db.quote(table)} ({', '.join(defs)}){options}"


def add_column_sql(db: Database, table: str, column: Column) -> str:
    return f"ALTER TABLE {db.quote(table)} ADD COLUMN {db.quote(column.name)} {db.dialect.column_type(column)}"
