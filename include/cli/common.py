"""What every command shares: errors with exit codes, colour and time-zone options, opening a
database by connection id, and error text without secrets."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from datetime import timezone, tzinfo
from typing import Any, TextIO

PROG = "python -m include.cli"




class CliError(Exception):
    """A failure to report on stderr with exit code ``code`` (no traceback)."""

    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.code = code


# -- shared helpers --------------------------------------------------------------------------------
def use_color(choice: str, stream: TextIO) -> bool:
    """``always``/``never``, or ``auto``: a terminal and no ``NO_COLOR`` (https://no-color.org)."""
    if choice == "always":
        return True
    if choice == "never":
        return False
    if os.environ.get("NO_COLOR"):
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def parse_tz(value: str) -> tzinfo:
    """``UTC`` (default), ``local`` (this machine's zone) or an IANA name such as ``Asia/Jakarta``."""
    if value.upper() == "UTC":
        return timezone.utc
    if value.lower() == "local":
        from datetime import datetime

        return datetime.now().astimezone().tzinfo or timezone.utc
    try:
        from zoneinfo import ZoneInfo

        return ZoneInfo(value)
    except Exception:
        raise argparse.ArgumentTypeError(f"unknown time zone {value!r} (use UTC, local or e.g. Asia/Jakarta)") from None


def positive_int(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {value!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {n}")
    return n


def resolve_conn_id(conn_id: str | None) -> str:
    """``--conn``, else the ``target`` of the sync config (``SYNC_CONFIG`` or config/sync.yaml)."""
    if conn_id:
        return conn_id
    from include.branch_sync.config import ConfigError, load_config

    try:
        return load_config().target
    except ConfigError as exc:
        raise CliError(f"cannot tell which database holds the tracking tables: {exc}; pass --conn CONN_ID") from None


def connection_defined(conn_id: str) -> bool:
    """True when Airflow knows the connection (an optional database is skipped with a note otherwise)."""
    try:
        from airflow.sdk import BaseHook

        BaseHook.get_connection(conn_id)
        return True
    except Exception:
        return False


def logs_to_stderr(*streams: Any) -> None:
    """Point log handlers that write to stdout (Airflow's default) at stderr: stdout carries
    results only, so ``--json`` stays parseable even when a retry logs a warning."""
    stdout_like = {id(s) for s in (*streams, sys.__stdout__) if s is not None}
    loggers = [logging.getLogger(), *(logging.getLogger(n) for n in ("airflow", "include"))]
    for logger in loggers:
        for handler in logger.handlers:
            if isinstance(handler, logging.StreamHandler) and id(getattr(handler, "stream", None)) in stdout_like:
                handler.setStream(sys.stderr)


def open_database(conn_id: str, out: TextIO | None = None) -> Any:
    """A :class:`include.common.db.Database` for ``conn_id`` (imports Airflow, hence late)."""
    try:
        from include.common.db import Database

        db = Database(conn_id, retries=2)
        logs_to_stderr(out)
        return db
    except CliError:
        raise
    except Exception as exc:
        raise CliError(f"connection {conn_id!r}: {describe_error(exc)}") from None


def describe_error(exc: BaseException) -> str:
    from include.common.scrub import scrub

    text = " ".join(str(exc).split()) or type(exc).__name__
    return scrub(f"{type(exc).__name__}: {text}")


_MISSING_TABLE_TEXT = ("no such table", "does not exist", "doesn't exist", "undefinedtable", "1146")


def query_error(exc: BaseException, conn_id: str) -> CliError:
    text = f"{type(exc).__name__} {exc}".lower()
    if any(s in text for s in _MISSING_TABLE_TEXT):
        return CliError(
            f"the tracking tables {PROGRESS_TABLES} are missing in connection {conn_id!r} "
            f"(wrong --conn, or branch_sync never ran against it): {describe_error(exc)}"
        )
    return CliError(f"query on connection {conn_id!r} failed: {describe_error(exc)}")


PROGRESS_TABLES = "sync_batches/sync_progress"
