"""One :class:`~include.common.db.dialects.base.Dialect` per supported database, chosen by the
Airflow connection's type."""

from __future__ import annotations

from include.common.db.dialects.base import Dialect
from include.common.db.dialects.mysql import MySqlDialect
from include.common.db.dialects.postgresql import PostgresDialect
from include.common.db.dialects.sqlite import SqliteDialect
from include.common.db.errors import PermanentError

DIALECTS: tuple[Dialect, ...] = (PostgresDialect(), MySqlDialect(), SqliteDialect())
_BY_CONN_TYPE = {conn_type: dialect for dialect in DIALECTS for conn_type in dialect.conn_types}


def dialect_for(conn_type: str | None, conn_id: str) -> Dialect:
    """The dialect serving an Airflow connection type; an unsupported type is a clear error."""
    dialect = _BY_CONN_TYPE.get((conn_type or "").lower())
    if dialect is None:
        raise PermanentError(
            f"connection {conn_id!r} has type {conn_type!r}; supported: {', '.join(sorted(_BY_CONN_TYPE))}")
    return dialect


__all__ = ["DIALECTS", "Dialect", "dialect_for"]
