"""MySQL and MariaDB: mysqlclient through the MySQL provider's hook, sessions in UTC."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

from include.common.db.columns import Column, column_from, kind_of, numbers
from include.common.db.dialects.base import Dialect, Index, quoted_literals

_KINDS = [
    (r"^(tinyint\(1\)|bool|boolean)", "bool"), (r"^(tinyint|smallint)", "int2"), (r"^(mediumint|int)", "int4"),
    (r"^bigint", "int8"), (r"^(decimal|numeric)", "decimal"), (r"^(float|double|real)", "float"),
    (r"^(varchar|char|tinytext|text|mediumtext|longtext|enum|set)", "text"), (r"^date$", "date"),
    (r"^datetime", "timestamp"), (r"^timestamp", "timestamptz"), (r"^time", "time"), (r"^json", "json"),
    (r"^(binary|varbinary|tinyblob|blob|mediumblob|longblob)", "bytes"),
]
_TYPES = {
    "int2": "SMALLINT", "int4": "INT", "int8": "BIGINT", "float": "DOUBLE", "bool": "TINYINT(1)",
    "date": "DATE", "time": "TIME(6)", "timestamp": "DATETIME(6)", "timestamptz": "DATETIME(6)",
    "json": "LONGTEXT", "bytes": "LONGBLOB", "uuid": "CHAR(36)",
    "interval": "VARCHAR(100)",  # PostgreSQL's interval text: TIME would fold months into days
}
# Binary, NO PAD collations: 'abc', 'ABC', 'abc ' and 'äbc' stay four keys (MariaDB, then MySQL 8).
_EXACT_COLLATIONS = ("utf8mb4_nopad_bin", "utf8mb4_0900_bin")


class MySqlDialect(Dialect):
    name = "mysql"
    conn_types = ("mysql", "mariadb")
    tracking_types = {
        # VARCHAR(191): a utf8mb4 key column within the 767-byte index limit of older servers.
        "id": "VARCHAR(64)", "name": "VARCHAR(191)", "status": "VARCHAR(32)", "text": "LONGTEXT",
        "int": "INT", "bigint": "BIGINT", "float": "DOUBLE", "ts": "DATETIME(6)", "bool": "TINYINT(1)",
        "serial": "BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY",
    }
    true = "1"
    int_div = "DIV"
    text_cast = "CHAR(64)"

    def connect(self, connection: Any, conn_id: str, *, local_infile: bool = False) -> Any:
        # LOAD DATA LOCAL lets the server ask the client for a file. A caller that loads files (the
        # sync target) asks for it; an operator refuses it per connection with the extra
        # {"local_infile": false}, and then the client refuses it too (MariaDB's client library
        # allows it unless told otherwise), so the sync inserts rows instead.
        refused = str(connection.extra_dejson.get("local_infile", "")).lower() in ("false", "0", "no", "off")
        # the connection already looked up, given to the hook (see the PostgreSQL dialect)
        hook = connection.get_hook(hook_params={"connection": connection,
                                                **({"local_infile": True} if local_infile and not refused else {})})
        if refused and hasattr(hook, "_get_conn_config_mysql_client") \
                and connection.extra_dejson.get("client", "mysqlclient") == "mysqlclient":
            import MySQLdb

            raw = MySQLdb.connect(**{**hook._get_conn_config_mysql_client(connection), "local_infile": 0})
        else:
            raw = hook.get_conn()
        raw.autocommit(False)
        with raw.cursor() as cur:
            cur.execute("SET SESSION time_zone = '+00:00'")
        return raw

    def quote(self, name: str) -> str:
        return ".".join("`" + p.replace("`", "``") + "`" for p in name.split("."))

    def ts(self, value: datetime) -> Any:
        return value.astimezone(timezone.utc).replace(tzinfo=None)  # naive UTC (session time zone)

    def param(self, value: Any) -> Any:
        return int(value) if isinstance(value, bool) else value

    def insert_ignore(self, table: str, cols: str, marks: str) -> str:
        return f"INSERT IGNORE INTO {table} ({cols}) VALUES ({marks})"

    def upsert(self, table: str, cols: str, marks: str, key: Sequence[str], update: Sequence[str]) -> str:
        sets = ", ".join(f"{c} = VALUES({c})" for c in update) or f"{key[0]} = {key[0]}"
        return f"INSERT INTO {table} ({cols}) VALUES ({marks}) ON DUPLICATE KEY UPDATE {sets}"

    def create_index(self, cur: Any, table: str, index: str, columns: Sequence[str]) -> None:
        exists = cur.scalar(
            "SELECT COUNT(*) FROM information_schema.statistics WHERE table_schema = DATABASE() "
            "AND table_name = %s AND index_name = %s", (table, index))
        if not exists:  # MariaDB 10.11 has IF NOT EXISTS, MySQL 8 does not
            cols = ", ".join(self.quote(c) for c in columns)
            cur.execute(f"CREATE INDEX {self.quote(index)} ON {self.quote(table)} ({cols})")

    def begin_snapshot(self, raw: Any, clock_column: Column | None) -> Any:
        with raw.cursor() as cur:
            cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            cur.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
        return None

    def read_sorts(self, cur: Any, sql: str, params: Sequence[Any]) -> bool | None:
        rows = cur.fetch(f"EXPLAIN {sql}", params)
        return any("filesort" in str(r.get("Extra") or r.get("extra") or "").lower() for r in rows)

    def server_cursor(self, raw: Any, chunk_rows: int) -> Any:
        import MySQLdb.cursors

        return raw.cursor(MySQLdb.cursors.SSCursor)  # unbuffered: the driver keeps no full result

    def row_estimates(self, cur: Any, tables: Sequence[str]) -> dict[str, int]:
        # information_schema.tables.table_rows: InnoDB's sampled estimate, no scan
        out: dict[str, int] = {}
        for table in tables:
            schema, name = table.split(".", 1) if "." in table else (None, table)
            rows = cur.fetch("SELECT table_rows FROM information_schema.tables WHERE table_schema = "
                             + ("%s" if schema else "DATABASE()") + " AND table_name = %s",
                             (schema, name) if schema else (name,))
            if rows and rows[0]["table_rows"] is not None:
                out[table] = int(rows[0]["table_rows"])
        return out

    def describe(self, cur: Any, table: str) -> list[Column] | None:
        if "." in table:
            schema, name = table.split(".", 1)
            where, params = "table_schema = %s AND table_name = %s", (schema, name)
        else:
            where, params = "table_schema = DATABASE() AND table_name = %s", (table,)
        rows = cur.fetch(
            f"SELECT column_name AS name, column_type AS type, is_nullable AS nullable, "
            f"column_default AS dflt, extra AS extra FROM information_schema.columns "
            f"WHERE {where} ORDER BY ordinal_position",
            params,
        )
        if not rows:
            return None
        columns = []
        for r in rows:
            type_text = r["type"].decode() if isinstance(r["type"], bytes) else r["type"]
            kind = kind_of(type_text, _KINDS)
            extra = str(r["extra"] or "").lower()
            columns.append(column_from(r["name"], type_text, kind, nums=numbers(type_text),
                                       has_length=type_text.lower().startswith(("varchar", "char")),
                                       nullable=r["nullable"] != "NO",
                                       has_default=r["dflt"] is not None or "auto_increment" in extra
                                       or "generated" in extra))
        return columns

    def table_options(self, cur: Any) -> str:
        return f" CHARACTER SET utf8mb4 COLLATE {self._exact_collation(cur)}"

    def _exact_collation(self, cur: Any) -> str:
        rows = cur.fetch("SELECT collation_name AS name FROM information_schema.collations "
                         "WHERE collation_name IN (%s, %s)", _EXACT_COLLATIONS)
        names = {r["name"] for r in rows}
        # utf8mb4_bin (PAD SPACE) at worst: case and accents kept, trailing spaces reported below
        return next((c for c in _EXACT_COLLATIONS if c in names), "utf8mb4_bin")

    def lossy_key_columns(self, cur: Any, table: str, columns: Sequence[str]) -> list[tuple[str, str]]:
        rows = cur.fetch("SELECT column_name AS name, collation_name AS coll FROM information_schema.columns "
                         "WHERE table_schema = DATABASE() AND table_name = %s AND collation_name IS NOT NULL",
                         (table,))
        return [(r["name"], r["coll"]) for r in rows
                if r["name"] in columns and r["coll"] not in _EXACT_COLLATIONS]

    def indexes(self, cur: Any, table: str) -> list[Index]:
        schema, name = table.split(".", 1) if "." in table else (None, table)
        rows = cur.fetch(
            "SELECT index_name AS idx, column_name AS col, non_unique AS non_unique "
            "FROM information_schema.statistics WHERE table_schema = COALESCE(%s, DATABASE()) AND table_name = %s "
            "ORDER BY index_name, seq_in_index", (schema, name))
        found: dict[str, list[Any]] = {}
        for r in rows:
            found.setdefault(r["idx"], [int(r["non_unique"]) == 0, []])[1].append(r["col"])
        # an expression part has no column: such an index is left out
        return [Index(idx, tuple(cols), unique) for idx, (unique, cols) in found.items() if all(cols)]

    def allowed_values(self, cur: Any, table: str, columns: Sequence[Column]) -> dict[str, frozenset[str]]:
        return {c.name: frozenset(quoted_literals(c.source_type)) for c in columns
                if c.source_type.lower().startswith("enum(")}

    def lock_schema(self, cur: Any, name: str) -> None:
        # GET_LOCK names are server-wide: the database's name makes the lock this database's.
        got = cur.scalar("SELECT GET_LOCK(LEFT(CONCAT(%s, '.', DATABASE()), 64), 60)", (name,))
        if got != 1:  # 0: another process held it for 60 s; a TimeoutError is retried by Database.run
            raise TimeoutError(f"waited 60 s for the schema lock {name!r} held by another process")

    def unlock_schema(self, cur: Any, name: str) -> None:
        cur.execute("SELECT RELEASE_LOCK(LEFT(CONCAT(%s, '.', DATABASE()), 64))", (name,))

    def canonical_text(self, expr: str, column: Column) -> str | None:
        kind = column.kind
        if kind in ("int2", "int4", "int8"):
            return f"CAST({expr} AS CHAR)"
        if kind in ("text", "uuid", "interval"):  # uuid and interval are stored as their text here
            return f"CONVERT({expr} USING utf8mb4)"
        if kind == "decimal":
            text = f"CAST({expr} AS CHAR)"
            return (f"CASE WHEN LOCATE('.', {text}) > 0 THEN TRIM(TRAILING '.' FROM TRIM(TRAILING '0' FROM {text})) "
                    f"ELSE {text} END")
        if kind == "bool":
            return f"CASE WHEN {expr} IS NULL THEN NULL WHEN {expr} <> 0 THEN '1' ELSE '0' END"
        if kind == "date":
            return f"DATE_FORMAT({expr}, '%%Y-%%m-%%d')"
        if kind in ("timestamp", "timestamptz"):  # the session is in UTC; DATETIME holds UTC
            # PostgreSQL's ISO text: a fraction only when there is one, without trailing zeros
            return (f"CASE WHEN MICROSECOND({expr}) = 0 THEN DATE_FORMAT({expr}, '%%Y-%%m-%%d %%H:%%i:%%s') "
                    f"ELSE TRIM(TRAILING '0' FROM DATE_FORMAT({expr}, '%%Y-%%m-%%d %%H:%%i:%%s.%%f')) END")
        if kind == "time":
            return f"TIME_FORMAT({expr}, '%%H:%%i:%%s.%%f')"
        if kind == "bytes":
            return f"LOWER(HEX({expr}))"
        return None  # float (1e20 here, 1e+20 in PostgreSQL), json (stored as the writer's text)

    def native_text(self, expr: str) -> str | None:
        return f"CAST({expr} AS CHAR)"

    def md5_hex(self, expr: str) -> str | None:
        return f"MD5(CONVERT({expr} USING utf8mb4))"

    def hex_int(self, expr: str) -> str:
        return f"CAST(CONV({expr}, 16, 10) AS UNSIGNED)"

    def concat(self, parts: Sequence[str]) -> str:
        return f"CONCAT({', '.join(parts)})"

    def text_of_int(self, expr: str) -> str:
        return f"CAST({expr} AS CHAR)"

    def bytewise(self, expr: str) -> str:
        return f"BINARY {expr}"

    def column_type(self, column: Column, *, is_key: bool = False) -> str:
        if column.kind == "text":
            if column.length and column.length <= 16383:
                return f"VARCHAR({column.length})"
            return "VARCHAR(255)" if is_key else "LONGTEXT"
        if column.kind == "decimal":
            if column.precision:
                return f"DECIMAL({min(column.precision, 65)},{min(column.scale or 0, 30)})"
            return "DECIMAL(65,20)"
        return _TYPES[column.kind]
