"""The notice of a finished certificate batch (participants generated / failed, the failed ones
with their scrubbed reasons), announced once per channel through :mod:`include.common.notify`.

Called right after the one finalize (``tasks.finalize``, and where ``prepare`` finalizes) and by the
5-minute reconcile (:func:`sweep`), which also retries a channel that failed.
"""

from __future__ import annotations


from include.certificates import batches
from include.certificates.spec import DAG_ID
from include.common.conn_ids import APP_DB
from include.common.db import Database
from include.common.notify import notice as notices
from include.common.notify.send import announce_batch, sweep_batches
from include.common.notify.settings import NotifySettings
from include.common.scrub import connection_secrets

CONSOLE_PATH = "backoffice/certificates/{batch_id}"
SOURCES = {DAG_ID: batches.FINAL_BATCH_STATUSES}  # the events ``notify_on`` may name for this DAG


def build(db: Database, batch_id: str) -> notices.Notice | None:
    """The notice of the batch, or None while it is not in a final status."""
    batch = batches.get_batch(db, batch_id)
    if batch is None or batch["status"] not in batches.FINAL_BATCH_STATUSES:
        return None
    failed = db.fetchall(f"SELECT {db.quote('row_number')}, participant_name, error_message "
                         f"FROM {db.quote(batches.ITEMS)} WHERE batch_id = %s AND status = 'failed' "
                         f"ORDER BY {db.quote('row_number')} LIMIT {notices.ITEMS_SHOWN}", (batch_id,))
    total, success, fail = (int(batch[k] or 0) for k in ("total_participants", "success_count", "failed_count"))
    started, ended = db.parse_ts(batch["started_at"]), db.parse_ts(batch["completed_at"])
    return notices.batch_notice(
        source=batch["dag_id"] or DAG_ID, batch_id=batch_id, status=batch["status"],
        label="Certificate batch", run_id=batch["run_id"], unit="participants",
        counts={"total": total, "completed": success, "failed": fail, "skipped": max(total - success - fail, 0)},
        records=None, duration_seconds=(ended - started).total_seconds() if started and ended else None,
        error=batch["error_message"],
        failed_items=[(f"row {r['row_number']}" + (f" ({r['participant_name']})" if r["participant_name"] else ""),
                       r["error_message"]) for r in failed],
        failed_total=fail, console_path=CONSOLE_PATH.format(batch_id=batch_id),
        secrets=connection_secrets(APP_DB))


def announce(db: Database, batch_id: str, settings: NotifySettings | None = None) -> dict[str, str]:
    """Send the batch's notice where it has not gone yet; never raises."""
    return announce_batch(db, batch_id, build, settings)


def sweep(db: Database, settings: NotifySettings) -> list[str]:
    """Announce recently finished batches whose notice is still unsent on some channel."""
    return sweep_batches(db, batches.BATCHES, batches.FINAL_BATCH_STATUSES, settings, build)
