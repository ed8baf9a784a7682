"""What was sent: ``batch_notifications`` (one row per (batch_id, status, channel), in the database
of the batch) and ``alert_episodes`` (consecutive bad checks of a watched subject).

A notice is *claimed* before it is sent: the row is inserted (or a ``failed`` / ``superseded`` /
long-stale ``sending`` row taken over) in one statement, so of two sightings at once only one sends;
a ``sent`` row is never sent again. When a batch's new outcome is claimed (a resumed batch
completes), the rows of its earlier outcomes become ``superseded``: should it end that way again,
that is news again.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from include.common.clock import utcnow
from include.common.text import iso_utc
from include.common.db import Cursor, Database
from include.common.schema import TableDef, ensure_tables

NOTIFICATIONS = "batch_notifications"
EPISODES = "alert_episodes"
STATES = ("sending", "sent", "failed", "superseded")
STALE_SENDING = timedelta(minutes=10)  # a sender killed mid-send: its claim is taken over after this
_ID_CHUNK = 500

TABLES = (
    TableDef(NOTIFICATIONS, (
        ("batch_id", "name", True), ("status", "status", True), ("channel", "status", True),
        ("source", "name", False), ("state", "status", True), ("attempts", "int", True),
        ("last_error", "text", False), ("first_attempt_at", "ts", False), ("sent_at", "ts", False),
        ("updated_at", "ts", False),
    ), key=("batch_id", "status", "channel"), defaults={"attempts": "0"},
        indexes=(("ix_batch_notifications_state", ("state",)),), values={"state": STATES}),
    TableDef(EPISODES, (
        ("subject", "name", True), ("source", "name", False), ("phase", "status", True),
        ("consecutive", "int", True), ("episode", "name", False), ("last_check", "name", False),
        ("detail", "text", False),
        ("opened_at", "ts", False), ("updated_at", "ts", False),
    ), key=("subject",), defaults={"consecutive": "0"}),
)

_KEY = "batch_id = %s AND status = %s AND channel = %s"


SCHEMA = TABLES  # in the database of the batches they tell of: central_db and app_db


def ensure_schema(db: Database) -> None:
    ensure_tables(db, SCHEMA, what="migrate notification tables")


def claim(db: Database, key: str, status: str, channel: str, source: str, *, supersede: bool = True,
          now: datetime | None = None) -> bool:
    """Take the right to send ``(key, status, channel)``: True for exactly one caller until the
    send is recorded; False when it was sent already, or another sender holds it."""
    now = now or utcnow()

    def work(cur: Cursor) -> bool:
        taken = cur.execute(db.insert_ignore(NOTIFICATIONS, ["batch_id", "status", "channel", "source", "state",
                                                             "attempts", "first_attempt_at", "updated_at"]),
                            (key, status, channel, source, "sending", 1, db.ts(now), db.ts(now))) == 1
        if not taken:
            taken = cur.execute(
                f"UPDATE {db.quote(NOTIFICATIONS)} SET state = 'sending', attempts = COALESCE(attempts, 0) + 1, updated_at = %s "
                f"WHERE {_KEY} AND (state IN ('failed', 'superseded') OR (state = 'sending' AND updated_at < %s))",
                (db.ts(now), key, status, channel, db.ts(now - STALE_SENDING))) == 1
        if taken and supersede:
            cur.execute(f"UPDATE {db.quote(NOTIFICATIONS)} SET state = 'superseded', updated_at = %s "
                        f"WHERE batch_id = %s AND status <> %s AND channel = %s AND state IN ('sent', 'failed')",
                        (db.ts(now), key, status, channel))
        return taken

    return db.run(work, what="claim notification")


def record(db: Database, key: str, status: str, channel: str, error: str | None) -> None:
    """The claimed send ended: ``sent``, or ``failed`` with the (scrubbed) reason."""
    now = db.ts(utcnow())
    if error:
        db.execute(f"UPDATE {db.quote(NOTIFICATIONS)} SET state = 'failed', last_error = %s, updated_at = %s "
                   f"WHERE {_KEY} AND state = 'sending'", (error, now, key, status, channel),
                   what="record failed notification")
    else:
        db.execute(f"UPDATE {db.quote(NOTIFICATIONS)} SET state = 'sent', last_error = NULL, sent_at = %s, "
                   f"updated_at = %s WHERE {_KEY} AND state = 'sending'", (now, now, key, status, channel),
                   what="record sent notification")


def sent_channels(db: Database, keys: Sequence[str]) -> dict[tuple[str, str], set[str]]:
    """``{(key, status): {channel, ...}}`` of the notices already sent."""
    out: dict[tuple[str, str], set[str]] = {}
    for row in notification_rows(db, keys):
        if row["state"] == "sent":
            out.setdefault((row["batch_id"], row["status"]), set()).add(row["channel"])
    return out


def notification_rows(db: Database, keys: Iterable[str]) -> list[dict[str, Any]]:
    """Every notification row of the given batches (none when the table does not exist yet)."""
    keys = list(dict.fromkeys(keys))
    rows: list[dict[str, Any]] = []
    for i in range(0, len(keys), _ID_CHUNK):
        part = keys[i:i + _ID_CHUNK]
        rows += db.fetchall(f"SELECT * FROM {db.quote(NOTIFICATIONS)} WHERE batch_id IN "
                            f"({', '.join(['%s'] * len(part))}) ORDER BY batch_id, status, channel", part)
    return rows


def notices_of(db: Database, batch_id: str) -> list[dict[str, Any]]:
    """What was sent for one batch, JSON-ready: one entry per (outcome, channel) with its state
    (``sent``, ``failed`` and retried by the sweep, ...), attempts and last error. Empty before the
    first notice created the table; one statement."""
    try:
        rows = notification_rows(db, [batch_id])
    except Exception:
        db.close()  # a failed query (no such table) leaves the transaction aborted on PostgreSQL
        return []
    return [{"status": row["status"], "channel": row["channel"], "state": row["state"],
             "attempts": int(row["attempts"] or 0), "last_error": row["last_error"],
             "sent_at": iso_utc(row["sent_at"]), "updated_at": iso_utc(row["updated_at"])} for row in rows]


def recent_final_batches(db: Database, batches_table: str, statuses: Sequence[str],
                         since: datetime) -> list[dict[str, Any]]:
    """Batches of ``batches_table`` in a final status that finished since ``since``."""
    marks = ", ".join(["%s"] * len(statuses))
    return db.fetchall(f"SELECT batch_id, dag_id, status FROM {db.quote(batches_table)} "
                       f"WHERE status IN ({marks}) AND completed_at >= %s ORDER BY completed_at",
                       (*statuses, db.ts(since)))


# -- alert episodes ---------------------------------------------------------------------------------
def get_episode(db: Database, subject: str) -> dict[str, Any] | None:
    return db.fetchone(f"SELECT * FROM {db.quote(EPISODES)} WHERE subject = %s", (subject,))


def episodes(db: Database, prefix: str) -> list[dict[str, Any]]:
    """The episodes whose subject starts with ``prefix`` (no ``%`` in it; ``_`` matches itself too)."""
    return db.fetchall(f"SELECT * FROM {db.quote(EPISODES)} WHERE subject LIKE %s ORDER BY subject",
                       (prefix + "%",))


def save_episode(db: Database, subject: str, source: str, phase: str, consecutive: int, episode: str | None,
                 last_check: str | None, detail: str | None, opened_at: datetime | None) -> None:
    now = db.ts(utcnow())
    cols = ["subject", "source", "phase", "consecutive", "episode", "last_check", "detail", "opened_at", "updated_at"]
    db.execute(db.upsert(EPISODES, cols, ["subject"]),
               (subject, source, phase, consecutive, episode, last_check, detail, db.ts(opened_at), now),
               what="save episode")


def delete_episode(db: Database, subject: str) -> None:
    db.execute(f"DELETE FROM {db.quote(EPISODES)} WHERE subject = %s", (subject,), what="close episode")
