"""PostgreSQL: psycopg 3 through the Postgres provider's hook.

Rows leave a PostgreSQL branch by ``COPY ... TO STDOUT`` (:meth:`PostgresDialect.copy_out`) in the
form the target takes: binary for a PostgreSQL target whose column types match, *load text* (CSV,
:meth:`PostgresDialect.load_text_select`) for a ``LOAD DATA`` target, text otherwise.
"""

from __future__ import annotations

import json
import select
import struct
import uuid
from collections.abc import Iterator, Sequence
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
    copy_forms = ("text", "binary", "csv")
    defer_primary_key = True
    # casts of dates, timestamps and intervals to text follow DateStyle and IntervalStyle, a
    # float's text extra_float_digits: pinned, so two servers configured apart render alike
    canonical_settings = ("SET LOCAL DateStyle = 'ISO, YMD'", "SET LOCAL IntervalStyle = 'postgres'",
                          "SET LOCAL extra_float_digits = 1")
    # expecting a group per row, the planner sorts them all (spilling to disk) where a hash
    # aggregate of the actual groups costs a third of that (and runs as well in parallel workers)
    few_groups_settings = (("SET LOCAL enable_sort = off",), ("RESET enable_sort",))

    def connect(self, connection: Any, conn_id: str, *, local_infile: bool = False) -> Any:
        # the hook gets the connection looked up already (in a task each lookup is an API call)
        raw = connection.get_hook(hook_params={"connection": connection}).get_conn()
        raw.autocommit = False
        if raw.info.encoding != "utf-8":
            # COPY hands bytes from one connection to another (or to LOAD DATA ... utf8mb4): every
            # connection speaks UTF-8, whatever a database's own encoding.
            raw.execute("SET client_encoding TO 'UTF8'")
            raw.commit()
        return raw

    def table_options(self, cur: Any) -> str:
        # Room on each page for a later run's new row versions: updates stay on their page and leave
        # the key's index alone (HOT): 1,000 changed rows into 1M merged in 14 ms, not 23 ms.
        return " WITH (fillfactor = 90)"

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
        # work_mem: a keyset ORDER BY that no index serves sorts in memory. The output styles make
        # COPY text exact and parseable whatever the server's defaults (dates ISO, floats exact).
        # One round trip with the clock: the statements as one simple query.
        clock = clock_column is not None and clock_column.kind in TEMPORAL_KINDS
        with raw.cursor() as cur:
            cur.execute("SET LOCAL work_mem = '64MB'; SET LOCAL DateStyle = 'ISO, YMD'; "
                        "SET LOCAL IntervalStyle = 'postgres'; SET LOCAL extra_float_digits = 3"
                        + (f"; SELECT CAST(now() AS {clock_column.pg_type})" if clock else ""))
            while clock and cur.description is None and cur.nextset():
                pass
            return cur.fetchone()[0] if clock else None

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
            "(a.atthasdef OR a.attidentity <> '' OR a.attgenerated <> '') AS has_default, "
            "CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE a.atttypid END::int AS type_oid "
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
                                       nullable=not r["notnull"], has_default=bool(r["has_default"]),
                                       type_oid=r["type_oid"]))
        return columns

    def row_estimates(self, cur: Any, tables: Sequence[str]) -> dict[str, int]:
        # reltuples is -1 for a table never analyzed or vacuumed (PostgreSQL 14+): no estimate
        rows = cur.fetch(
            "SELECT t.name, c.reltuples FROM unnest(%s::text[], %s::text[]) AS t(name, quoted) "
            "JOIN pg_class c ON c.oid = to_regclass(t.quoted) WHERE c.reltuples >= 0",
            (list(tables), [self.quote(t) for t in tables]))
        return {r["name"]: int(r["reltuples"]) for r in rows}

    # -- COPY out ------------------------------------------------------------------------------------
    def copy_out(self, raw: Any, sql: str, params: Sequence[Any], form: str, chunk_rows: int, chunk_bytes: int,
                 block_bytes: int) -> Iterator[tuple[list[Any], bool]]:
        """libpq hands over one message per row; this loop only collects them (no generator step or
        wait per row, no value per field) and yields them in blocks. Binary rows come without the
        stream's header and trailer: a writer frames each chunk itself. The COPY's own row count
        must equal the rows yielded."""
        from psycopg import OperationalError, pq
        from psycopg.errors import error_from_result

        pgconn = raw.pgconn
        get, consume, fd = pgconn.get_copy_data, pgconn.consume_input, pgconn.socket

        def wait() -> None:
            select.select([fd], [], [])
            consume()

        binary = form == "binary"
        header = binary
        sent = 0
        with raw.cursor() as cur, cur.copy(f"COPY ({sql}) TO STDOUT{_COPY_OPTIONS[form]}", params):
            rows: list[Any] = []
            append = rows.append
            size = chunk_size = chunk_count = 0
            while True:
                nbytes, data = get(1)
                if nbytes > 2 and not header:  # a row (the hot path: nothing else per row)
                    append(data)
                    size += nbytes
                    if size >= block_bytes or chunk_count + len(rows) >= chunk_rows:
                        chunk_count += len(rows)
                        chunk_size += size
                        ends_chunk = chunk_count >= chunk_rows or chunk_size >= chunk_bytes
                        sent += len(rows)
                        yield rows, ends_chunk
                        rows, size = [], 0
                        append = rows.append
                        if ends_chunk:
                            chunk_count = chunk_size = 0
                    continue
                if nbytes == 0:
                    wait()
                elif nbytes > 0:
                    if header:
                        data, header = data[_binary_header_size(data):], False
                    if binary and bytes(data) == BINARY_TRAILER or not len(data):
                        continue
                    append(data)
                    size += len(data)
                elif nbytes == -1:
                    break
                else:
                    raise OperationalError(f"COPY failed: {pgconn.get_error_message()}")
            copied = None
            while True:
                while pgconn.is_busy():
                    wait()
                result = pgconn.get_result()
                if result is None:
                    break
                if result.status != pq.ExecStatus.COMMAND_OK:
                    raise error_from_result(result, encoding=raw.info.encoding)
                copied = result.command_tuples
            if rows or chunk_count:  # the last chunk ends here (with an empty block if its rows went ahead)
                sent += len(rows)
                yield rows, True
        if copied is not None and copied != sent:
            raise RuntimeError(f"COPY reported {copied} rows, {sent} arrived")

    def binary_value(self, raw: Any, type_oid: int, data: bytes) -> Any:
        if type_oid in _UNBOUNDED_BINARY and data in _UNBOUNDED_BINARY[type_oid]:
            return Unbounded(_UNBOUNDED_BINARY[type_oid][data])
        from psycopg import pq

        loader = raw.adapters.get_loader(type_oid, pq.Format.BINARY)
        return loader(type_oid, raw).load(data)

    def load_text_select(self, column: Column) -> str:
        q = self.quote(column.name)
        pg_type = (column.pg_type or "").lower()
        if pg_type.endswith("]"):
            return f"CAST(array_to_json({q}) AS text)"
        if column.kind == "bool":
            return f"CAST({q} AS integer)"
        if column.kind == "timestamptz":
            return f"({q} AT TIME ZONE 'UTC')"
        if column.kind == "time":
            return f"CAST({q} AS time)"  # a time zone offset is dropped, the local time kept
        if column.kind == "bytes":
            return f"encode({q}, 'hex')"
        return q  # COPY prints every other type as its text (char(n) padded, numbers exact)

    def load_text_key(self, column: Column, text: str) -> str | None:
        pg_type = (column.pg_type or "").lower()
        if pg_type.endswith("]") or column.kind == "json" or (column.kind == "time" and "with time" in pg_type):
            return None
        if column.kind == "timestamptz":
            return text + "+00"
        if column.kind == "bytes":
            return "\\x" + text
        return text

    def read_sorts(self, cur: Any, sql: str, params: Sequence[Any]) -> bool | None:
        # With sorting discouraged the planner sorts only where no index gives the order (where one
        # does, it may still prefer a sort of a few rows; that is its choice, not a missing index).
        # One round trip: the three statements as one simple query, the values bound client-side.
        from psycopg import ClientCursor

        explain = ClientCursor(cur.raw.connection).mogrify(f"EXPLAIN (FORMAT JSON) {sql}", list(params))
        cur.db.statements += 1
        cur.raw.execute(f"SET LOCAL enable_sort = off; {explain}; RESET enable_sort")
        cur.raw.nextset()
        plan = cur.raw.fetchone()[0]
        if isinstance(plan, str):
            plan = json.loads(plan)

        def sorts(node: Any) -> bool:
            return node.get("Node Type") == "Sort" or any(sorts(child) for child in node.get("Plans", ()))

        return sorts(plan[0]["Plan"]) if plan else None

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


BINARY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00"
BINARY_HEADER = BINARY_SIGNATURE + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00"  # no flags, no extension
BINARY_TRAILER = b"\xff\xff"
# CSV that MySQL's LOAD DATA reads back exactly: every value quoted (quotes doubled), NULL the bare
# word NULL, no escape character (a backslash is itself), one row per line (newlines inside quotes).
_COPY_OPTIONS = {"text": "", "binary": " (FORMAT binary)", "csv": " (FORMAT csv, NULL 'NULL', FORCE_QUOTE *)"}
# infinity / -infinity of date (int32 days) and timestamp[tz] (int64 microseconds) in binary
_UNBOUNDED_BINARY = {
    1082: {struct.pack(">i", 2**31 - 1): "infinity", struct.pack(">i", -(2**31)): "-infinity"},
    **{oid: {struct.pack(">q", 2**63 - 1): "infinity", struct.pack(">q", -(2**63)): "-infinity"}
       for oid in (1114, 1184)},
}


def _binary_header_size(data: Any) -> int:
    """Length of the binary COPY header at the start of the first message (signature, flags,
    header extension)."""
    if bytes(data[:11]) != BINARY_SIGNATURE:
        raise RuntimeError("binary COPY data without its signature")
    extension = struct.unpack_from(">i", data, 15)[0]
    return 19 + extension


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
