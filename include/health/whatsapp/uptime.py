"""How much of the last 24 hours and 7 days each session was really up, from what the reconcile
recorded at each check (seed 003's "Connection uptime percentage"), kept by this job in ``app_db``
table ``whatsapp_session_checks``: one row per account and check, with what the service said
(the reconcile's vocabulary, ``not_found``, or ``unreachable`` when the service could not be
read at all: a session is not up when its service is down).

Uptime is the share of a window's checks at which the service said ``connected``: counted, not
estimated, and shown with the checks it is based on (how many, the first and the last), so a
window the reconcile did not watch (its scheduler stopped) is visibly thin rather than guessed.
Dry runs record nothing; sessions the service's time budget did not reach have no row for that
check. ``health_reconcile``'s housekeeping deletes rows older than :data:`HISTORY_DAYS`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from include.common.clock import iso_z
from include.common.db import Cursor, Database
from include.common.schema import TableDef

CHECKS = "whatsapp_session_checks"
UNREACHABLE = "unreachable"
UP = "connected"
WINDOWS = {"24h": timedelta(hours=24), "7d": timedelta(days=7)}
HISTORY_DAYS = 8  # the longest window and a day's margin

TABLE = TableDef(CHECKS, (
    ("account_id", "bigint", True),
    ("checked_at", "ts", True),
    ("session_id", "name", True),
    ("service_status", "status", True),
), key=("account_id", "checked_at"), indexes=(("ix_whatsapp_session_checks_at", ("checked_at",)),))
COLUMNS = ("account_id", "checked_at", "session_id", "service_status")


def insert_checks(db: Database, cur: Cursor, rows: Iterable[tuple[int, str, str]], now: datetime) -> int:
    """One check's rows ``(account_id, session_id, what the service said)``, in the caller's
    transaction; a row already there (a retried transaction) is left as it is."""
    values = [(account_id, db.ts(now), session_id, said) for account_id, session_id, said in rows]
    if values:
        cur.executemany(db.insert_ignore(CHECKS, COLUMNS), values)
    return len(values)


def record_unreachable(db: Database, accounts: Sequence[tuple[int, str]], now: datetime) -> int:
    """A check at which the service could not be read: every account ``(id, session_id)`` it was
    asked about was down (the accounts' own rows are left untouched, as the reconcile does)."""
    return db.run(lambda cur: insert_checks(db, cur, [(a, s, UNREACHABLE) for a, s in accounts], now),
                  what="record a check the WhatsApp service did not answer")


def uptime_rows(db: Database, cur: Cursor, account_ids: Sequence[int] | None,
                now: datetime) -> dict[int, dict[str, Any]]:
    """Per account (of ``account_ids``, or every one), the checks of each window and those that
    found it up: one statement in the caller's transaction."""
    since = {name: now - span for name, span in WINDOWS.items()}
    oldest = min(since.values())
    sums = ", ".join(
        f"SUM(CASE WHEN checked_at >= %s THEN 1 ELSE 0 END) AS checks_{name}, "
        f"SUM(CASE WHEN checked_at >= %s AND service_status = %s THEN 1 ELSE 0 END) AS up_{name}, "
        f"MIN(CASE WHEN checked_at >= %s THEN checked_at END) AS first_{name}"
        for name in WINDOWS)
    params: list[Any] = [v for name in WINDOWS for v in (db.ts(since[name]), db.ts(since[name]), UP,
                                                          db.ts(since[name]))]
    where = "checked_at >= %s AND checked_at <= %s"
    params += [db.ts(oldest), db.ts(now)]
    if account_ids is not None:
        if not account_ids:
            return {}
        where += f" AND account_id IN ({', '.join(['%s'] * len(account_ids))})"
        params += list(account_ids)
    rows = cur.fetch(f"SELECT account_id, {sums}, MAX(checked_at) AS last_check FROM {db.quote(CHECKS)} "
                     f"WHERE {where} GROUP BY account_id", params)
    return {int(r["account_id"]): r for r in rows}


def uptime(row: Mapping[str, Any] | None) -> dict[str, dict[str, Any]]:
    """The figures of one account's :func:`uptime_rows` row (pure): per window the percentage up
    (None without a check), the checks it is based on, and the first and last of them."""
    out = {}
    for name in WINDOWS:
        checks = int((row or {}).get(f"checks_{name}") or 0)
        up = int((row or {}).get(f"up_{name}") or 0)
        first = Database.parse_ts((row or {}).get(f"first_{name}")) if checks else None
        last = Database.parse_ts((row or {}).get("last_check")) if checks else None
        out[name] = {"percent": round(100.0 * up / checks, 1) if checks else None, "up_checks": up,
                     "checks": checks, "first_check": iso_z(first) if first else None,
                     "last_check": iso_z(last) if last else None}
    return out


def delete_old_checks(db: Database, cutoff: datetime, dry_run: bool = False) -> int:
    """Rows older than ``cutoff`` (housekeeping): counted in a dry run, deleted otherwise."""
    table = db.quote(CHECKS)
    if dry_run:
        row = db.fetchone(f"SELECT COUNT(*) AS n FROM {table} WHERE checked_at < %s", [db.ts(cutoff)])
        return int(row["n"]) if row else 0
    return db.run(lambda cur: cur.execute(f"DELETE FROM {table} WHERE checked_at < %s", (db.ts(cutoff),)),
                  what=f"delete old rows of {CHECKS}")
