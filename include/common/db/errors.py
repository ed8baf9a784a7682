"""Which database errors a retry on a fresh connection can fix, and which it cannot."""

from __future__ import annotations

import re

# SQLSTATE classes and codes that mean "try again on a fresh connection".
_PG_TRANSIENT_CLASSES = ("08", "53", "57P", "58")
_PG_TRANSIENT_CODES = {"40001", "40P01", "55P03", "57014", "57P01", "57P02", "57P03"}
# MySQL/MariaDB client and server error numbers that are transient.
_MYSQL_TRANSIENT = {1040, 1053, 1205, 1213, 1317, 2002, 2003, 2006, 2013, 2055, 4031}
_TRANSIENT_TEXT = re.compile(
    r"server closed the connection|connection (refused|reset|timed out)|could not connect|"
    r"terminating connection|gone away|lost connection|database is locked|timeout expired|"
    r"connection is closed|the connection is lost|broken pipe|no route to host|"
    r"temporary failure in name resolution",
    re.IGNORECASE,
)


class PermanentError(Exception):
    """An error a retry cannot fix: bad config, missing table or column, type mismatch."""


def is_transient(exc: BaseException) -> bool:
    """True when a retry on a fresh connection may succeed (connection loss, timeout, deadlock)."""
    if isinstance(exc, PermanentError):
        return False
    sqlstate = getattr(exc, "sqlstate", None) or getattr(exc, "pgcode", None)
    if isinstance(sqlstate, str) and sqlstate:
        return sqlstate in _PG_TRANSIENT_CODES or sqlstate.startswith(_PG_TRANSIENT_CLASSES)
    args = getattr(exc, "args", ())
    if args and isinstance(args[0], int):
        return args[0] in _MYSQL_TRANSIENT
    if isinstance(exc, (ConnectionError, TimeoutError)):
        return True
    return bool(_TRANSIENT_TEXT.search(str(exc)))


def error_code(exc: BaseException) -> str | int | None:
    """The SQLSTATE (PostgreSQL) or error number (MySQL) of a driver error, if it has one."""
    sqlstate = getattr(exc, "sqlstate", None) or getattr(exc, "pgcode", None)
    if sqlstate:
        return sqlstate
    args = getattr(exc, "args", ())
    return args[0] if args and isinstance(args[0], int) else None
