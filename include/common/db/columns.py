"""A table's column as every dialect describes it: name, exact source type, and a portable kind.

Portable kinds: int2 int4 int8 decimal float bool text date time timestamp timestamptz interval json
bytes uuid. An ``interval`` travels as the source's text (``1 mon -1 days``): no Python type holds
months and days apart, so a foreign target stores that text rather than a lossy duration. A dialect describes its tables in these terms (:meth:`Dialect.describe`) and renders DDL from
them (:meth:`Dialect.column_type`), so a column read in one dialect can be created in another.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

TEMPORAL_KINDS = frozenset({"date", "timestamp", "timestamptz"})


class Unbounded(str):
    """A temporal value beyond Python's range (PostgreSQL's ``infinity``/``-infinity``), kept as
    its text so that a writer can store it as text or refuse it by name, never crash obscurely."""


@dataclass(frozen=True)
class Column:
    name: str
    source_type: str  # the exact type in the source's dialect
    kind: str
    length: int | None = None  # varchar length
    precision: int | None = None
    scale: int | None = None
    pg_type: str | None = None  # exact PostgreSQL type when the source is PostgreSQL
    nullable: bool = True  # False only where the dialect reports NOT NULL
    has_default: bool = False  # a default, identity, auto-increment or generated value fills it
    type_oid: int | None = None  # PostgreSQL: the OID of the type its values travel in (a domain's base type)


def kind_of(type_text: str, table: list[tuple[str, str]], default: str = "text") -> str:
    """The portable kind of a type, by the first pattern of ``table`` that matches it."""
    lowered = type_text.lower().strip()
    for pattern, kind in table:
        if re.match(pattern, lowered):
            return kind
    return default


def numbers(type_text: str) -> list[int]:
    """The numbers in a type's text (``numeric(14,2)`` -> [14, 2])."""
    return [int(n) for n in re.findall(r"\d+", type_text)]


def column_from(name: str, type_text: str, kind: str, *, nums: list[int] | None = None,
                has_length: bool = True, pg_type: str | None = None, nullable: bool = True,
                has_default: bool = False, type_oid: int | None = None) -> Column:
    """A :class:`Column` with its length (text) or precision and scale (decimal) read from ``nums``."""
    nums = numbers(type_text) if nums is None else nums
    return Column(
        name, type_text, kind,
        length=nums[0] if kind == "text" and has_length and nums else None,
        precision=nums[0] if kind == "decimal" and nums else None,
        scale=nums[1] if kind == "decimal" and len(nums) > 1 else None,
        pg_type=pg_type,
        nullable=nullable,
        has_default=has_default,
        type_oid=type_oid,
    )
