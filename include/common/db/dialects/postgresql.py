"""PostgreSQL: psycopg 3 through the Postgres provider's hook."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from include.common.db.columns import TEMPORAL_KINDS, Column, Unbounded, column_from, kind_of, numbers
from include.common.db.dialects.base import Dialect, Index, lock_key, quoted_literals

_KINDS = [
    (r"^smallint$", "int2"), (r"^integer$", "int4"), (r"^bigint$", "int8"),
    (r"^numeric", "decimal"), (r"^(real|double precision)$", "float"), (r"^boolean$", "bool"),
    (r"^(character varying|character|text|citext|name)", "text"), (r"^date$", "date"),
    (r"^time(\(\d+\))? (without|with) time zone$", "time"),
    (r"^timestamp(\(\d+\))? without time zone$", "timestamp"),
    (r"^timestamp(\(\d+\))? with time zone$", "timestamptz"),
    (r"^jsonb?$", "json"), (r"^bytea$", "bytes"), (r"^uuid$", "uuid"), (r"^interval", "interval"),
]
_TYPES = {
    "int2": "SMALLINT", "int4": "INTEGER", "int8": "BIGINT", "float": "DOUBLE PRECISION",
    "bool": "BOOLEAN", "date": "DATE", "time": "TIME", "timestamp": "TIMESTAMP",
    "timestamptz": "TIMESTAMP WITH TIME ZONE", "json": "JSONB", "bytes": "BYTEA", "uuid": "UUID",
    "interval": "INTERVAL",
}


class PostgresDialect(Dialect):
    name = "postgresql"
    conn_types = ("postgres", "postgresql")
    tracking_types = {
        "id": "VARCHAR(64)", "name": "VARCHAR(255)", "status": "VARCHAR(32)", "text": "TEXT",
        "int": "INTEGER", "bigint": "BIGINT", "float": "DOUBLE PRECISION", "ts": "TIMESTAMP WITH TIME ZONE",
        "bool": "BOOLEAN", "serial": "BIGSERIAL PRIMARY KEY",
    }
    nulls_first = " NULLS FIRST"
    copy_text = True
    # casts of dates, timestamps and intervals to text follow DateStyle and IntervalStyle, a
    # float's text extra_float_digits: pinned, so two servers configured apart render alike
    canonical_settings = ("SET LOCAL DateStyle = 'ISO, YMD'", "SET LOCAL IntervalStyle = 'postgres'",
                          "SET LOCAL extra_float_digits = 1")
    # expecting a group per row, the planner sorts them all (spilling to disk) where a hash
    # aggregate of the actual groups costs a third of that (and runs as well in parallel workers)
    few_groups_settings = (("SET LOCAL enable_sort = off",), ("RESET enable_sort",))

    def connect(self, connection: Any, conn_id: str) -> Any:
        raw = connection.get_hook().get_conn()
        raw.autocommit = False
        return raw

    def ensure_database(self, connection: Any) -> None:
        import psycopg

        with psycopg.connect(host=connection.host, port=connection.port or 5432, user=connection.login,
                             password=connection.password, dbname="postgres", autocommit=True) as admin:
            if not admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (connection.schema,)).fetchone():
                admin.execute(f"CREATE DATABASE {self.quote(connection.schema)}")

    def begin_snapshot(self, raw: Any, clock_column: Column | None) -> Any:
        import psycopg

        raw.rollback()
        raw.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        raw.read_only = True
        with raw.cursor() as cur:
            cur.execute("SET LOCAL work_mem = '64MB'")  # keyset ORDER BY sorts in memory
            if clock_column is not None and clock_column.kind in TEMPORAL_KINDS:
                cur.execute(f"SELECT CAST(now() AS {clock_column.pg_type})")
                return cur.fetchone()[0]
        return None

    def server_cursor(self, raw: Any, chunk_rows: int) -> Any:
        cur = raw.cursor(name=f"sync_read_{uuid.uuid4().hex[:12]}")
        cur.itersize = min(chunk_rows, 10_000)
        for type_name, loader in _unbounded_loaders().items():
            cur.adapters.register_loader(type_name, loader)
        return cur

    def select_column(self, column: Column) -> str:
        if column.kind == "interval":
            return f"CAST({self.quote(column.name)} AS text)"
        return self.quote(column.name)

    def bind(self, column: Column, value: Any, text: str | None) -> tuple[str, Any]:
        # Text cast to the exact type: a key value compares exactly as the server stores it.
        return f"CAST(%s AS {column.pg_type})", text

    def describe(self, cur: Any, table: str) -> list[Column] | None:
        rows = cur.fetch(
            "SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type, t.typtype AS typtype, "
            "format_type(t.typbasetype, t.typtypmod) AS basetype, a.attnotnull AS notnull, a.attnum, "
            "(a.atthasdef OR a.attidentity <> '' OR a.attgenerated <> '') AS has_default "
            "FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid "
            "WHERE a.attrelid = to_regclass(%s) AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
            (self.quote(table),),
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
            kind = kind_of(pg_type, _KINDS)
            nums = numbers(pg_type) if kind in ("decimal", "text") else []
            columns.append(column_from(r["name"], r["type"], kind, nums=nums, pg_type=pg_type,
                                       nullable=not r["notnull"], has_default=bool(r["has_default"])))
        return columns

    def row_estimates(self, cur: Any, tables: Sequence[str]) -> dict[str, int]:
        # reltuples is -1 for a table never analyzed or vacuumed (PostgreSQL 14+): no estimate
        rows = cur.fetch(
            "SELECT t.name, c.reltuples FROM unnest(%s::text[], %s::text[]) AS t(name, quoted) "
            "JOIN pg_class c ON c.oid = to_regclass(t.quoted) WHERE c.reltuples >= 0",
            (list(tables), [self.quote(t) for t in tables]))
        return {r["name"]: int(r["reltuples"]) for r in rows}

    def indexes(self, cur: Any, table: str) -> list[Index]:
        rows = cur.fetch(
            "SELECT c.relname AS name, i.indisunique AS uniq, ARRAY(SELECT a.attname::text "
            "FROM unnest(i.indkey::int2[]) WITH ORDINALITY k(attnum, n) JOIN pg_attribute a "
            "ON a.attrelid = i.indrelid AND a.attnum = k.attnum ORDER BY k.n) AS cols "
            "FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "WHERE i.indrelid = to_regclass(%s) AND i.indpred IS NULL AND i.indexprs IS NULL",
            (self.quote(table),))
        return [Index(r["name"], tuple(r["cols"]), bool(r["uniq"])) for r in rows]

    def allowed_values(self, cur: Any, table: str, columns: Sequence[Column]) -> dict[str, frozenset[str]]:
        # An enum type's labels, and a one-column CHECK of the form Laravel's enum() makes:
        # CHECK (((status)::text = ANY ((ARRAY['running'::character varying, ...])::text[])))
        rows = cur.fetch(
            "SELECT a.attname AS col, e.enumlabel AS label, NULL AS def FROM pg_attribute a "
            "JOIN pg_enum e ON e.enumtypid = a.atttypid WHERE a.attrelid = to_regclass(%s) AND a.attnum > 0 "
            "UNION ALL SELECT a.attname, NULL, pg_get_constraintdef(c.oid) FROM pg_constraint c "
            "JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1] "
            "WHERE c.conrelid = to_regclass(%s) AND c.contype = 'c' AND cardinality(c.conkey) = 1",
            (self.quote(table), self.quote(table)))
        allowed: dict[str, set[str]] = {}
        for r in rows:
            if r["label"] is not None:
                allowed.setdefault(r["col"], set()).add(r["label"])
            elif " = ANY " in r["def"] or " IN (" in r["def"].upper():
                values = set(quoted_literals(r["def"]))
                allowed[r["col"]] = allowed[r["col"]] & values if r["col"] in allowed else values
        return {col: frozenset(values) for col, values in allowed.items()}

    def session_time_zone(self, cur: Any) -> str:
        return str(cur.scalar("SELECT current_setting('TimeZone')"))

    def lock_schema(self, cur: Any, name: str) -> None:
        # A bounded wait (55P03 is transient: Database.run retries), for the lock and for the DDL's
        # table locks; the advisory lock is this database's and ends with the transaction.
        cur.execute("SET LOCAL lock_timeout = '60s'")
        cur.execute("SELECT pg_advisory_xact_lock(%s)", (lock_key(name),))

    def canonical_text(self, expr: str, column: Column) -> str | None:
        kind = column.kind
        if kind in ("int2", "int4", "int8", "uuid", "interval"):
            return f"CAST({expr} AS text)"
        if kind == "text":
            if (column.pg_type or "").startswith("character(") or column.pg_type == "character":
                # a cast to text drops char(n)'s padding, which the sync stores (COPY, tuples)
                return f"CASE WHEN {expr} IS NULL THEN NULL ELSE concat({expr}) END"
            return f"CAST({expr} AS text)"
        if kind == "decimal":
            return f"CAST(trim_scale({expr}) AS text)"
        if kind == "bool":
            return f"CAST(CAST({expr} AS integer) AS text)"
        # the ISO text output (DateStyle pinned): a quarter of to_char's cost, and it keeps what
        # to_char drops (BC, infinity)
        if kind in ("date", "timestamp"):
            return f"CAST({expr} AS text)"
        if kind == "timestamptz":
            return f"CAST({expr} AT TIME ZONE 'UTC' AS text)"
        if kind == "time":
            return f"to_char(CAST({expr} AS time), 'HH24:MI:SS.US')"
        if kind == "bytes":
            return f"encode({expr}, 'hex')"
        return None  # float (1e+20 here, 1e20 in MariaDB), json (key order, spacing, escapes)

    def native_text(self, expr: str) -> str | None:
        return f"CAST({expr} AS text)"

    def md5_hex(self, expr: str) -> str | None:
        return f"md5({expr})"

    def hex_int(self, expr: str) -> str:
        return f"CAST(CAST('x' || {expr} AS bit(60)) AS bigint)"

    def char_length(self, expr: str) -> str:
        return f"length({expr})"

    def text_of_int(self, expr: str) -> str:
        return f"CAST({expr} AS text)"

    def bytewise(self, expr: str) -> str:
        return f'{expr} COLLATE "C"'

    def column_type(self, column: Column, *, is_key: bool = False) -> str:
        if column.pg_type:
            return column.pg_type  # PostgreSQL to PostgreSQL keeps the exact type
        if column.kind == "decimal":
            return f"NUMERIC({column.precision},{column.scale or 0})" if column.precision else "NUMERIC"
        if column.kind == "text":
            return f"VARCHAR({column.length})" if column.length else "TEXT"
        return _TYPES[column.kind]


def _unbounded_loaders() -> dict[str, Any]:
    """Loaders that read ``infinity``/``-infinity`` dates and timestamps as :class:`Unbounded`
    text instead of failing with "timestamp too large" and no column named."""
    from psycopg.types.datetime import DateLoader, TimestampLoader, TimestamptzLoader

    def bounded(base: Any) -> Any:
        class Loader(base):  # type: ignore[misc, valid-type]
            def load(self, data: Any) -> Any:
                text = bytes(data)
                if text in (b"infinity", b"-infinity"):
                    return Unbounded(text.decode())
                return super().load(data)

        return Loader

    return {"date": bounded(DateLoader), "timestamp": bounded(TimestampLoader),
            "timestamptz": bounded(TimestamptzLoader)}
