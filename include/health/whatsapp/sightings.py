"""What the WhatsApp service last said of each account's session, kept by this job in ``app_db``
table ``whatsapp_service_sessions`` (one row per account): the status the service reported (in the
reconcile's vocabulary, ``not_found`` when it does not hold the session), since when it has said
so, and when it was last asked.

Why a table of its own: the database status is deliberately slow to follow the service (the flap
guard), so an operator looking at a ``connected`` account needs the service's own word beside it
to see that a disconnect is on its way; and the web app's ``metadata`` is not the place for a value
that changes on every run. The row is written on every non-dry run for every account read
(three statements per run, whatever the number of accounts, with the check's rows of
:mod:`include.health.whatsapp.uptime`); accounts the service's time budget did not reach keep their
previous row.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from include.common.db import Cursor, Database
from include.common.schema import TableDef, ensure_tables
from include.health.whatsapp import uptime
from include.health.whatsapp.client import Session

SIGHTINGS = "whatsapp_service_sessions"
NOT_FOUND = "not_found"

TABLE = TableDef(SIGHTINGS, (
    ("account_id", "bigint", True),
    ("session_id", "name", True),
    ("service_status", "status", True),
    ("status_since", "ts", True),
    ("checked_at", "ts", True),
), key=("account_id",))

def ensure_sightings_table(db: Database) -> None:
    """Create this job's tables where they are missing (readers create them too: they are ours,
    and an empty one means "not asked yet"): the last word per account, and every check's word
    (:mod:`include.health.whatsapp.uptime`)."""
    ensure_tables(db, (TABLE, uptime.TABLE), what=f"migrate {SIGHTINGS} and {uptime.CHECKS}")


COLUMNS = ("account_id", "session_id", "service_status", "status_since", "checked_at")


@dataclass(frozen=True)
class Sighting:
    account_id: int
    session_id: str
    service_status: str
    status_since: datetime
    checked_at: datetime


def sightings(accounts: Iterable[tuple[int, str]], remote: Mapping[str, Session], unchecked: set[str],
              previous: Mapping[int, tuple[str, datetime]], now: datetime) -> list[Sighting]:
    """The rows to write for the accounts ``(id, session_id)`` read this run (pure): a status
    unchanged since the previous run keeps its ``status_since``."""
    out = []
    for account_id, session_id in accounts:
        if session_id in unchecked:
            continue
        said = remote[session_id].status if session_id in remote else NOT_FOUND
        before = previous.get(account_id)
        since = before[1] if before is not None and before[0] == said and before[1] is not None else now
        out.append(Sighting(account_id, session_id, said, since, now))
    return out


def record_sightings(db: Database, accounts: Sequence[tuple[int, str]], remote: Mapping[str, Session],
                     unchecked: set[str], now: datetime) -> int:
    """Write what the service said of these accounts, the last word and this check's row of the
    history, in one transaction. Returns the accounts written."""
    table = db.quote(SIGHTINGS)

    def work(cur: Cursor) -> int:
        stored = cur.fetch(f"SELECT account_id, service_status, status_since FROM {table}")
        previous = {int(r["account_id"]): (str(r["service_status"]), db.parse_ts(r["status_since"])) for r in stored}
        rows = sightings(accounts, remote, unchecked, previous, now)
        if rows:
            cur.executemany(db.upsert(SIGHTINGS, COLUMNS, ("account_id",)),
                            [(r.account_id, r.session_id, r.service_status, db.ts(r.status_since), db.ts(r.checked_at))
                             for r in rows])
        uptime.insert_checks(db, cur, [(r.account_id, r.session_id, r.service_status) for r in rows], now)
        return len(rows)

    return db.run(work, what="record what the WhatsApp service said")
