"""The ``whatsapp_accounts`` table of ``app_db`` (owned by the web app; created only where missing):
reading the active accounts, and the one conditional write per account."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from include.common.clock import utcnow
from include.common.db import Cursor, Database
from include.common.schema import TableDef, ensure_tables
from include.health.whatsapp.metadata import dump_metadata, merge_metadata, parse_metadata
from include.health.whatsapp.sightings import TABLE as SIGHTINGS_TABLE
from include.health.whatsapp.uptime import TABLE as CHECKS_TABLE

ACCOUNTS = "whatsapp_accounts"


@dataclass(frozen=True)
class Account:
    """One active account row, metadata decoded."""

    id: int
    session_id: str
    workspace_id: Any
    phone_number: str | None
    status: str
    metadata: dict[str, Any]
    metadata_invalid: bool = False  # the stored metadata is not a JSON object (kept, and reported)


TABLE = TableDef(ACCOUNTS, (
    ("id", "serial", True),
    ("uuid", "id", True),
    ("workspace_id", "bigint", True),
    ("session_id", "name", False),
    ("phone_number", "status", False),
    ("status", "status", True),
    ("is_active", "bool", True),
    ("metadata", "text", False),
    ("updated_at", "ts", False),
), defaults={"status": "'disconnected'", "is_active": True}, unique=("uuid",),
    values={"status": ("connected", "disconnected")}, app_owned=True)
SCHEMA = (TABLE, SIGHTINGS_TABLE, CHECKS_TABLE)  # the WhatsApp part of app_db: a new table is one more TableDef here


def ensure_accounts_table(db: Database) -> None:
    """Create ``whatsapp_accounts`` where it is missing (the web app owns it: an existing table
    gets only the columns the bundle reads and lacks, its own are left as they are), and this
    job's ``whatsapp_service_sessions`` and ``whatsapp_session_checks``."""
    ensure_tables(db, SCHEMA, what="migrate whatsapp tables")


def add_account(db: Database, session_id: str, workspace_id: int, *, status: str = "connected",
                phone_number: str | None = None, metadata: Mapping[str, Any] | None = None,
                is_active: bool = True, uuid: str | None = None) -> str:
    """Insert an account (demo data and tests; the web app creates real ones). Returns its uuid."""
    import uuid as uuid_module

    account_uuid = uuid or str(uuid_module.uuid4())
    db.execute(
        f"INSERT INTO {db.quote(ACCOUNTS)} (uuid, workspace_id, session_id, phone_number, status, is_active, "
        f"metadata, updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
        (account_uuid, workspace_id, session_id, phone_number, status, is_active,
         None if metadata is None else dump_metadata(dict(metadata)), db.ts(utcnow())),
        what="insert whatsapp account",
    )
    return account_uuid


def load_accounts(db: Database, workspace_id: int | None = None, ids: Sequence[int] | None = None) -> list[Account]:
    """Active accounts that have a session id, optionally of one workspace or with these ids, in id order."""
    sql = (f"SELECT id, workspace_id, session_id, phone_number, status, metadata FROM {db.quote(ACCOUNTS)} "
           f"WHERE is_active = %s AND session_id IS NOT NULL AND session_id <> ''")
    params: list[Any] = [True]
    if workspace_id is not None:
        sql += " AND workspace_id = %s"
        params.append(workspace_id)
    if ids is not None:
        if not ids:
            return []
        sql += f" AND id IN ({', '.join(['%s'] * len(ids))})"
        params.extend(int(i) for i in ids)
    rows = db.fetchall(sql + " ORDER BY id", params)
    accounts = []
    for r in rows:
        metadata, unparsed = parse_metadata(r["metadata"])
        accounts.append(Account(id=int(r["id"]), session_id=str(r["session_id"]), workspace_id=r["workspace_id"],
                                phone_number=r["phone_number"], status=str(r["status"] or "").lower(),
                                metadata=metadata, metadata_invalid=unparsed is not None))
    return accounts


def write_account(db: Database, account_id: int, expected_status: str, new_status: str | None,
                  set_meta: Mapping[str, Any], drop_meta: tuple[str, ...], now: datetime) -> bool:
    """Apply one account's change in one short transaction, only if its status is still the one
    read (the web app may have changed it meanwhile). Metadata is merged into the row's *current*
    metadata, read under a row lock, so keys written concurrently by the web app survive.
    Returns False when the row changed (or vanished) and nothing was written."""
    table = db.quote(ACCOUNTS)
    lock = db.dialect.for_update
    target = new_status or expected_status

    def work(cur: Cursor) -> bool:
        rows = cur.fetch(f"SELECT status, metadata FROM {table} WHERE id = %s{lock}", (account_id,))
        if not rows:
            return False
        current_status = str(rows[0]["status"] or "").lower()
        current_meta, unparsed = parse_metadata(rows[0]["metadata"])
        if current_status != expected_status:
            # A retry after a commit whose acknowledgement was lost finds its own write: success.
            return current_status == target and all(current_meta.get(k) == v for k, v in set_meta.items())
        merged = merge_metadata(current_meta, unparsed, set_meta, drop_meta)
        cur.execute(f"UPDATE {table} SET status = %s, metadata = %s, updated_at = %s WHERE id = %s AND status = %s",
                    (target, dump_metadata(merged), db.ts(now), account_id, rows[0]["status"]))
        return True

    return db.run(work, what=f"update whatsapp account {account_id}")
