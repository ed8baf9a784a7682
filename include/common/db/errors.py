"""Which database errors a retry on a fresh connection can fix, and which it cannot."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

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


class SchemaError(PermanentError):
    """A table the bundle needs cannot be used as it is (see :mod:`include.common.schema`):
    ``problems`` (each names its table, column, what was found and what is needed) must be fixed
    by hand; nothing was changed."""

    def __init__(self, problems: Sequence[Any]):
        self.problems = list(problems)
        super().__init__("; ".join(str(p) for p in self.problems)
                         + " -- the database was left unchanged; fix this, then run the task again "
                           "(python -m include.cli migrate --dry-run shows every change and problem)")


@contextmanager
def fail_unless_transient(what: str, *conn_ids: str | None) -> Iterator[None]:
    """In a task body: an error a retry cannot fix (not :func:`is_transient`: a schema that cannot
    be adopted, a bad config, a constraint) fails the task at once, without Airflow's retries
    (``AirflowFailException``), its text starting with ``what`` and free of the named
    connections' secrets; a transient error passes on to Airflow's retries."""
    try:
        yield
    except Exception as exc:
        from airflow.sdk.exceptions import AirflowFailException

        from include.common.scrub import error_text

        if isinstance(exc, AirflowFailException) or is_transient(exc):
            raise
        # from None: the driver's own exception may carry a DSN; the text here is scrubbed
        raise AirflowFailException(f"{what}: {type(exc).__name__}: {error_text(exc, *conn_ids)}") from None


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
