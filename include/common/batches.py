"""What every job's batches share: their ids, the run states that end them, the length of a stored
error, "the given batches or every unfinished one", and the deletion of old batches' rows.

A batch is one DAG run's unit of tracking (a ``sync_batches`` or ``certificate_batches`` row) with
one item row per thing it does (``sync_progress``, ``certificates``).
"""

from __future__ import annotations

import hashlib
import re
import string
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from include.common.db import Cursor, Database
from include.common.text import to_utc

# A DAG run in one of these states will not run another task; a batch still open then was interrupted.
TERMINAL_RUN_STATES = ("success", "failed")
# The longest error text stored in a tracking row or an audit entry (after scrubbing).
ERROR_MAX = 2000
_ALPHABET = string.ascii_letters + string.digits
_ID_CHUNK = 500  # ids per IN list: bounded statements whatever the number of batches


def batch_id_for_run(prefix: str, dag_id: str, run_id: str, when: datetime) -> str:
    """``<prefix>_YYYYmmdd_HHMMSS_xxxxxxxx`` (the seed's format): the 8 letters/digits derive from
    the run, so a retried or cleared first task continues the same batch instead of an orphan."""
    digest = int.from_bytes(hashlib.sha256(f"{dag_id}/{run_id}".encode()).digest()[:8], "big")
    return f"{prefix}_{when:%Y%m%d_%H%M%S}_" + "".join(_ALPHABET[(digest >> (6 * i)) % 62] for i in range(8))


BATCH_ID_RE = re.compile(r"^([a-z]+)_\d{8}_\d{6}_[A-Za-z0-9]{8}$")


def batch_id_prefix(batch_id: str) -> str:
    """The job prefix of a well-formed batch id (``sync``, ``cert``); :class:`ValueError` naming
    the text when it is not ``<prefix>_YYYYmmdd_HHMMSS_xxxxxxxx``."""
    match = BATCH_ID_RE.match(batch_id or "")
    if match is None:
        raise ValueError(f"malformed batch id {batch_id!r}: expected <prefix>_YYYYmmdd_HHMMSS_xxxxxxxx, "
                         f"e.g. sync_20251108_143052_aB3dEf9h or cert_20251108_143052_aB3dEf9h")
    return match.group(1)


def true_as_of(batch: Mapping[str, Any], items: Iterable[Mapping[str, Any]]) -> datetime | None:
    """When a batch's numbers were last true: the newest ``updated_at`` of its item rows (what its
    counts derive from), else the batch row's own; None when neither was ever stamped."""
    stamps = [stamp for stamp in (to_utc(item.get("updated_at")) for item in items) if stamp is not None]
    return max(stamps) if stamps else to_utc(batch.get("updated_at"))


def run_ended_text(run_state: str | None) -> str:
    """How a batch's DAG run ended, for error messages: ``no longer exists`` or ``ended (failed)``."""
    return "no longer exists" if run_state is None else f"ended ({run_state})"


def batches_to_check(db: Database, table: str, columns: Sequence[str], open_statuses: Sequence[str],
                     batch_ids: Iterable[str] | None = None, *, label: str = "batch") -> list[dict[str, Any]]:
    """The given batches (an unknown id is a :class:`LookupError` naming it), or every batch whose
    status is one of ``open_statuses``; oldest first."""
    select = f"SELECT {', '.join(db.quote(c) for c in columns)} FROM {db.quote(table)}"
    ids = list(dict.fromkeys(batch_ids or []))
    if not ids:
        marks = ", ".join(["%s"] * len(open_statuses))
        return db.fetchall(f"{select} WHERE status IN ({marks}) ORDER BY started_at", list(open_statuses))
    rows: list[dict[str, Any]] = []
    for i in range(0, len(ids), _ID_CHUNK):
        part = ids[i:i + _ID_CHUNK]
        rows += db.fetchall(f"{select} WHERE batch_id IN ({', '.join(['%s'] * len(part))}) ORDER BY started_at", part)
    missing = set(ids) - {r["batch_id"] for r in rows}
    if missing:
        raise LookupError(f"unknown {label} id(s): {', '.join(sorted(missing))}")
    return rows


def delete_batch_rows(cur: Cursor, batches_table: str, items_table: str, ids: Sequence[str],
                      dry_run: bool = False) -> int:
    """Delete the given batches and their item rows in bounded statements; with ``dry_run`` only
    count the item rows. Returns the item rows deleted (or that would be)."""
    db = cur.db
    items = 0
    for i in range(0, len(ids), _ID_CHUNK):
        part = list(ids[i:i + _ID_CHUNK])
        marks = ", ".join(["%s"] * len(part))
        if dry_run:
            items += int(cur.scalar(f"SELECT COUNT(*) FROM {db.quote(items_table)} WHERE batch_id IN ({marks})", part))
        else:
            items += cur.execute(f"DELETE FROM {db.quote(items_table)} WHERE batch_id IN ({marks})", part)
            cur.execute(f"DELETE FROM {db.quote(batches_table)} WHERE batch_id IN ({marks})", part)
    return items


def delete_old_batches(db: Database, batches_table: str, items_table: str, open_statuses: Sequence[str],
                       cutoff: datetime, dry_run: bool = False) -> dict[str, int]:
    """Delete the rows of batches started before ``cutoff`` that are no longer open; returns the
    number of batches and of item rows, keyed by table name."""

    def work(cur: Cursor) -> dict[str, int]:
        marks = ", ".join(["%s"] * len(open_statuses))
        ids = [r["batch_id"] for r in cur.fetch(
            f"SELECT batch_id FROM {db.quote(batches_table)} WHERE started_at < %s AND status NOT IN ({marks})",
            (db.ts(cutoff), *open_statuses))]
        return {batches_table: len(ids), items_table: delete_batch_rows(cur, batches_table, items_table, ids, dry_run)}

    return db.run(work, what=f"delete old {batches_table} rows")
