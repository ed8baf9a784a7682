"""What one verification compares, as SQL for each side: the canonical text of every compared
column, the bucket a row falls in (its integer key modulo the bucket count, or the first hex
digits of the MD5 of its key text), and the row text's MD5 (what the bucket checksums add up).

Both databases render a value as the same text (``Dialect.canonical_text``: the writers'
normalisation, e.g. UTC timestamps, 1/0 booleans, decimals by value), so a row the sync stored
faithfully hashes alike on both sides. Fields are joined by commas, NULL is ``~``, and a field
whose text may hold a comma or a tilde (text, UUIDs and intervals stored as text, JSON) is
length-prefixed (``5:héllo``), so no two rows share a text; numbers, booleans, dates, times and
hex bytes are not (their texts cannot hold either), which spares rendering them twice. A column
with no rendering that agrees across the two dialects (floats, JSON between PostgreSQL and
MariaDB) is a *client* field: selected as it is and normalised in Python (:func:`normalise`); a
pair with one is verified by streaming (no checksums in SQL), and says so.

A single integer key is its own bucket hash: ``MOD(key, n)`` is the same number in both
databases and costs nothing next to an MD5 of the key text (the checksum scan then hashes each
row once), and a whole-table stream comes in key order straight from the primary key's index.
Any other key is hashed.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from include.branch_sync.config import BRANCH_COLUMN
from include.common.db import Database, PermanentError
from include.common.db.columns import Column

NULL_MARK = "'~'"
# kinds whose canonical text (and native text, for floats) holds neither ',' nor '~' in either
# dialect, as a sync stores them: their fields need no length prefix
UNFRAMED_KINDS = frozenset({"int2", "int4", "int8", "decimal", "float", "bool", "date", "time", "timestamp",
                            "timestamptz", "bytes"})
INTEGER_KINDS = frozenset({"int2", "int4", "int8"})


@dataclass(frozen=True)
class Field:
    """One compared column: ``sql`` its canonical text on this side, or None (a client field)."""

    column: Column
    sql: str | None


@dataclass(frozen=True)
class Side:
    """The SQL of one side of a pair: its table, the rows of the pair (``where``), its fields."""

    db: Database
    table: str
    where: str  # "" or a condition limiting the table to the pair's rows (the branch column)
    params: tuple[Any, ...]
    keys: tuple[Field, ...]
    values: tuple[Field, ...]
    integer_key: bool = False  # one key column, an integer on both sides: buckets by MOD, merge by key

    @property
    def portable(self) -> bool:
        return all(f.sql is not None for f in (*self.keys, *self.values))

    def _framed(self, fields: Sequence[Field]) -> str:
        d = self.db.dialect
        parts = []
        for f in fields:
            text = f.sql or d.native_text(self.db.quote(f.column.name))
            if f.column.kind not in UNFRAMED_KINDS:
                text = d.concat([d.text_of_int(d.char_length(text)), repr_sql(":"), text])
            parts.append(f"COALESCE({text}, {NULL_MARK})")
            parts.append(repr_sql(","))
        return d.concat(parts[:-1]) if len(parts) > 1 else parts[0]

    @property
    def key_hash(self) -> str:
        return self.db.dialect.md5_hex(self._framed(self.keys)) or ""

    @property
    def merge_key(self) -> str:
        """What both sides' row streams are ordered by (and merged on): the integer key itself,
        or the key hash (byte order, the same in both databases)."""
        if self.integer_key:
            return self.db.quote(self.keys[0].column.name)
        return self.key_hash

    @property
    def merge_order(self) -> str:
        return "kh_" if self.integer_key else self.db.dialect.bytewise("kh_")

    def bucket(self, buckets: int) -> str:
        """The bucket of a row among ``buckets`` (see ``diff.first_level``): the integer key modulo
        ``buckets`` (MOD keeps the sign of the key in both databases), or the first hex digits of
        the key hash (``buckets`` is then a power of 16)."""
        if self.integer_key:
            return f"MOD({self.db.quote(self.keys[0].column.name)}, {int(buckets)})"
        return f"SUBSTR({self.key_hash}, 1, {hex_digits(buckets)})"

    @property
    def row_hash(self) -> str:
        return self.db.dialect.md5_hex(self._framed((*self.keys, *self.values))) or ""

    def filter(self, extra: str = "") -> str:
        conditions = [c for c in (self.where, extra) if c]
        return f" WHERE {' AND '.join(conditions)}" if conditions else ""


def pin_canonical_settings(db: Database) -> None:
    """Pin the session settings the canonical text depends on, in ``db``'s open transaction."""
    with db.raw.cursor() as cur:
        for statement in db.dialect.canonical_settings:
            cur.execute(statement)


def hex_digits(buckets: int) -> int:
    digits = max(1, (int(buckets).bit_length() - 1) // 4)
    if 16 ** digits != buckets:
        raise ValueError(f"{buckets} buckets of a key hash: not a power of 16")
    return digits


def repr_sql(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def build_sides(source: Database, target: Database, table: str, target_table: str, columns: list[Column],
                target_columns: list[Column], key: Sequence[str], branch_value: str | None) -> tuple[Side, Side, bool]:
    """Both sides of a pair, and whether both can checksum in SQL (every field portable)."""
    have = {c.name for c in target_columns}
    lacking = [c.name for c in columns if c.name not in have]
    if lacking:
        raise PermanentError(f"central table {target_table!r} lacks column(s) {', '.join(lacking)} that the branch "
                             f"table has: run branch_sync for it first (it adds them), then verify")
    same = type(source.dialect) is type(target.dialect)
    src_fields, dst_fields = [], []
    for column in columns:
        s_sql = source.dialect.canonical_text(source.quote(column.name), column)
        d_sql = target.dialect.canonical_text(target.quote(column.name), column)
        if s_sql is None or d_sql is None:
            s_sql = d_sql = None
            if same:  # the same dialect renders its own text alike on both sides
                s_sql = source.dialect.native_text(source.quote(column.name))
                d_sql = target.dialect.native_text(target.quote(column.name))
        src_fields.append(Field(column, s_sql))
        dst_fields.append(Field(column, d_sql))
    for db in (source, target):
        if db.dialect.md5_hex("x") is None:
            raise PermanentError(f"table {table!r}: verification hashes rows in SQL (MD5), which connection "
                                 f"{db.conn_id!r} ({db.dialect.name}) does not have")
    for f in src_fields:
        if f.column.name in key and f.sql is None:
            raise PermanentError(f"table {table!r}: key column {f.column.name!r} ({f.column.source_type}) has no "
                                 f"text rendering common to both databases; a verification needs one for keys")

    integer_key = len(key) == 1 and all(any(c.name == key[0] and c.kind in INTEGER_KINDS for c in side_columns)
                                        for side_columns in (columns, target_columns))

    def side(db: Database, name: str, fields: list[Field], where: str, params: tuple[Any, ...]) -> Side:
        keys = tuple(f for f in fields if f.column.name in key)
        return Side(db, name, where, params, keys, tuple(f for f in fields if f.column.name not in key), integer_key)

    where, params = ("", ()) if branch_value is None else (f"{target.quote(BRANCH_COLUMN)} = %s", (branch_value,))
    src = side(source, table, src_fields, "", ())
    dst = side(target, target_table, dst_fields, where, params)
    return src, dst, src.portable and dst.portable


def normalise(value: Any, column: Column) -> str | None:
    """A client field's value in one text whatever the database returned (floats by their
    shortest repr, JSON re-serialised with sorted keys)."""
    if value is None:
        return None
    if column.kind == "json":
        if isinstance(value, (bytes, bytearray)):
            value = value.decode()
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                return value
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    if column.kind == "float":
        return repr(float(value))
    if isinstance(value, Decimal):
        return str(value.normalize()) if value == value.to_integral_value() else str(value)
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, (bytes, memoryview)):
        return bytes(value).hex()
    return str(value)
