"""Table introspection and type mapping between the supported dialects.

A source column is described once (:class:`Column`: name, the source's exact type, and a
portable kind); the target's DDL is rendered from it for the target's dialect. PostgreSQL to
PostgreSQL keeps the exact type, so COPY text moves between them unchanged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from include.db import Cursor, Database

# Portable kinds: int2 int4 int8 decimal float bool text date time timestamp timestamptz json bytes uuid
TEMPORAL_KINDS = {"date", "timestamp", "timestamptz"}


@dataclass(frozen=True)
class Column:
    name: str
    source_type: str  # the exact type in the source's dialect
    kind: str
    length: int | None = None  # varchar length
    precision: int | None = None
    scale: int | None = None
    pg_type: str | None = None  # exact PostgreSQL type when the source is PostgreSQL


_PG_KINDS = [
    (r"^smallint$", "int2"), (r"^integer$", "int4"), (r"^bigint$", "int8"),
    (r"^numeric", "decimal"), (r"^(real|double precision)$", "float"), (r"^boolean$", "bool"),
    (r"^(character varying|character|text|citext|name)", "text"), (r"^date$", "date"),
    (r"^time(\(\d+\))? (without|with) time zone$", "time"),
    (r"^timestamp(\(\d+\))? without time zone$", "timestamp"),
    (r"^timestamp(\(\d+\))? with time zone$", "timestamptz"),
    (r"^jsonb?$", "json"), (r"^bytea$", "bytes"), (r"^uuid$", "uuid"),
]
_MYSQL_KINDS = [
    (r"^(tinyint\(1\)|bool|boolean)", "bool"), (r"^(tinyint|smallint)", "int2"), (r"^(mediumint|int)", "int4"),
    (r"^bigint", "int8"), (r"^(decimal|numeric)", "decimal"), (r"^(float|double|real)", "float"),
    (r"^(varchar|char|tinytext|text|mediumtext|longtext|enum|set)", "text"), (r"^date$", "date"),
    (r"^time", "time"), (r"^datetime", "timestamp"), (r"^timestamp", "timestamptz"), (r"^json", "json"),
    (r"^(binary|varbinary|tinyblob|blob|mediumblob|longblob)", "bytes"),
]


def _kind(type_text: str, table: list[tuple[str, str]], default: str = "text") -> str:
    lowered = type_text.lower().strip()
    for pattern, kind in table:
        if re.match(pattern, lowered):
            return kind
    return default


def _sqlite_kind(declared: str) -> str:
    """SQLite declares loosely; follow its affinity rules, refined by common type names."""
    t = declared.lower()
    if "bool" in t:
        return "bool"
    if "int" in t:
        return "int8"
    if re.search(r"timestamptz|with time zone", t):
        return "timestamptz"
    if "timestamp" in t or "datetime" in t:
        return "timestamp"
    if t.startswith("date"):
        return "date"
    if "json" in t:
        return "json"
    if any(s in t for s in ("char", "clob", "text")):
        return "text"
    if "blob" in t or not t:
        return "bytes" if "blob" in t else "text"
    if any(s in t for s in ("real", "floa", "doub")):
        return "float"
    if "dec" in t or "num" in t:
        return "decimal"
    return "text"


def _numbers(type_text: str) -> list[int]:
    return [int(n) for n in re.findall(r"\d+", type_text)]


def describe(cur: Cursor, table: str) -> list[Column] | None:
    """The table's columns in order, or None when the table does not exist."""
    db = cur.db
    if db.dialect == "postgresql":
        rows = cur.fetch(
            "SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type, t.typtype AS typtype, "
            "format_type(t.typbasetype, t.typtypmod) AS basetype, a.attnum "
            "FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid "
            "WHERE a.attrelid = to_regclass(%s) AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
            (db.quote(table),),
        )
        if not rows:
            return None
        columns = []
        for r in rows:
            pg_type = r["type"]
            if r["typtype"] == "d":
                pg_type = r["basetype"]  # a domain lands as its base type
            elif r["typtype"] in ("e", "c", "r", "m"):
                pg_type = "text"  # enums, composites and ranges land as text
            kind = _kind(pg_type, _PG_KINDS)
            nums = _numbers(pg_type) if kind in ("decimal", "text") else []
            columns.append(Column(
                r["name"], r["type"], kind,
                length=nums[0] if kind == "text" and nums else None,
                precision=nums[0] if kind == "decimal" and nums else None,
                scale=nums[1] if kind == "decimal" and len(nums) > 1 else None,
                pg_type=pg_type,
            ))
        return columns
    if db.dialect == "mysql":
        if "." in table:
            schema, name = table.split(".", 1)
            where, params = "table_schema = %s AND table_name = %s", (schema, name)
        else:
            where, params = "table_schema = DATABASE() AND table_name = %s", (table,)
        rows = cur.fetch(
            f"SELECT column_name AS name, column_type AS type FROM information_schema.columns "
            f"WHERE {where} ORDER BY ordinal_position",
            params,
        )
        if not rows:
            return None
        columns = []
        for r in rows:
            type_text = r["type"].decode() if isinstance(r["type"], bytes) else r["type"]
            kind = _kind(type_text, _MYSQL_KINDS)
            nums = _numbers(type_text)
            columns.append(Column(
                r["name"], type_text, kind,
                length=nums[0] if kind == "text" and type_text.lower().startswith(("varchar", "char")) and nums else None,
                precision=nums[0] if kind == "decimal" and nums else None,
                scale=nums[1] if kind == "decimal" and len(nums) > 1 else None,
            ))
        return columns
    rows = cur.fetch(f"PRAGMA table_info({db.quote(table)})")
    if not rows:
        return None
    columns = []
    for r in rows:
        kind = _sqlite_kind(r["type"] or "")
        nums = _numbers(r["type"] or "")
        columns.append(Column(r["name"], r["type"] or "", kind,
                              length=nums[0] if kind == "text" and nums else None,
                              precision=nums[0] if kind == "decimal" and nums else None,
                              scale=nums[1] if kind == "decimal" and len(nums) > 1 else None))
    return columns


def target_type(column: Column, dialect: str, *, is_key: bool = False) -> str:
    """The DDL type of ``column`` in the target ``dialect``."""
    kind = column.kind
    if dialect == "postgresql":
        if column.pg_type:
            return column.pg_type
        return {
            "int2": "SMALLINT", "int4": "INTEGER", "int8": "BIGINT", "float": "DOUBLE PRECISION",
            "bool": "BOOLEAN", "date": "DATE", "time": "TIME", "timestamp": "TIMESTAMP",
            "timestamptz": "TIMESTAMP WITH TIME ZONE", "json": "JSONB", "bytes": "BYTEA", "uuid": "UUID",
            "decimal": f"NUMERIC({column.precision},{column.scale or 0})" if column.precision else "NUMERIC",
            "text": f"VARCHAR({column.length})" if column.length else "TEXT",
        }[kind]
    if dialect == "mysql":
        if kind == "text":
            if column.length and column.length <= 16383:
                return f"VARCHAR({column.length})"
            return "VARCHAR(255)" if is_key else "LONGTEXT"
        if kind == "decimal":
            if column.precision:
                return f"DECIMAL({min(column.precision, 65)},{min(column.scale or 0, 30)})"
            return "DECIMAL(65,20)"
        return {
            "int2": "SMALLINT", "int4": "INT", "int8": "BIGINT", "float": "DOUBLE", "bool": "TINYINT(1)",
            "date": "DATE", "time": "TIME(6)", "timestamp": "DATETIME(6)", "timestamptz": "DATETIME(6)",
            "json": "LONGTEXT", "bytes": "LONGBLOB", "uuid": "CHAR(36)",
        }[kind]
    # SQLite: exact decimals are kept as text, which NUMERIC affinity would round.
    return {
        "int2": "INTEGER", "int4": "INTEGER", "int8": "INTEGER", "float": "REAL", "bool": "INTEGER",
        "decimal": "TEXT", "text": "TEXT", "date": "DATE", "time": "TEXT", "timestamp": "TIMESTAMP",
        "timestamptz": "TIMESTAMPTZ", "json": "TEXT", "bytes": "BLOB", "uuid": "TEXT",
    }[kind]


BRANCH_COLUMN_TYPES = {"postgresql": "VARCHAR(64)", "mysql": "VARCHAR(64)", "sqlite": "TEXT"}


def create_table_sql(db: Database, table: str, columns: list[Column], key: tuple[str, ...],
                     branch_column: str | None) -> str:
    defs = [
        f"{db.quote(c.name)} {target_type(c, db.dialect, is_key=c.name in key)}"
        + (" NOT NULL" if c.name in key else "")
        for c in columns
    ]
    if branch_column:
        defs.insert(0, f"{db.quote(branch_column)} {BRANCH_COLUMN_TYPES[db.dialect]} NOT NULL")
    # The branch column leads the key so that one branch's rows are one index range.
    ordered_key = ([branch_column] if branch_column else []) + [k for k in key if k != branch_column]
    defs.append(f"PRIMARY KEY ({', '.join(db.quote(k) for k in ordered_key)})")
    return f"CREATE TABLE {db.quote(table)} ({', '.join(defs)})"


def add_column_sql(db: Database, table: str, column: Column) -> str:
    return f"ALTER TABLE {db.quote(table)} ADD COLUMN {db.quote(column.name)} {target_type(column, db.dialect)}"
