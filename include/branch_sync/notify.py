"""The notice of a finished sync batch (counts, records, failed tables with their scrubbed
reasons), announced once per channel through :mod:`include.common.notify`.

Called right after the one finalize (``tasks.finalize``), from the DAG-level callback (which runs
in the dag-processor) and by the 5-minute reconcile (:func:`sweep`), which also retries a channel
that failed; whichever sees the end first sends, the others find it sent.
"""

from __future__ import annotations


from include.branch_sync import tracking
from include.branch_sync.config import connection_passwords
from include.branch_sync.spec import DAG_ID
from include.common.db import Database
from include.common.notify import notice as notices
from include.common.notify.send import announce_batch, sweep_batches
from include.common.notify.settings import NotifySettings

FINAL_STATUSES = ("completed", "failed", "interrupted")
CONSOLE_PATH = "backoffice/sync/{batch_id}"
SOURCES = {DAG_ID: FINAL_STATUSES}  # the events ``notify_on`` may name for this DAG


def build(db: Database, batch_id: str) -> notices.Notice | None:
    """The notice of the batch, or None while it is not in a final status."""
    batch = tracking.get_batch(db, batch_id)
    if batch is None or batch["status"] not in FINAL_STATUSES:
        return None
    q = db.quote
    totals = db.fetchone(f"SELECT COALESCE(SUM(records_processed), 0) AS processed, "
                         f"COALESCE(SUM(records_skipped), 0) AS skipped, COALESCE(SUM(records_deleted), 0) AS deleted "
                         f"FROM {q(tracking.PROGRESS)} WHERE batch_id = %s", (batch_id,)) or {}
    failed = db.fetchall(f"SELECT connection_name, table_name, error_message FROM {q(tracking.PROGRESS)} "
                         f"WHERE batch_id = %s AND status = 'failed' ORDER BY connection_name, table_name "
                         f"LIMIT {notices.ITEMS_SHOWN}", (batch_id,))
    counts = {"total": int(batch["total_tables"] or 0), "completed": int(batch["completed_tables"] or 0),
              "failed": int(batch["failed_tables"] or 0), "skipped": int(batch["skipped_tables"] or 0)}
    return notices.batch_notice(
        source=batch["dag_id"] or DAG_ID, batch_id=batch_id, status=batch["status"], label="Sync batch",
        run_id=batch["run_id"], unit="tables", counts=counts,
        records={k: int(v or 0) for k, v in totals.items()}, duration_seconds=batch["duration_seconds"],
        error=batch["error_message"],
        failed_items=[(f"{r['connection_name']}.{r['table_name']}", r["error_message"]) for r in failed],
        failed_total=counts["failed"], console_path=CONSOLE_PATH.format(batch_id=batch_id), secrets=connection_passwords())



def announce(db: Database, batch_id: str, settings: NotifySettings | None = None) -> dict[str, str]:
    """Send the batch's notice where it has not gone yet; never raises."""
    return announce_batch(db, batch_id, build, settings)


def sweep(db: Database, settings: NotifySettings) -> list[str]:
    """Announce recently finished batches whose notice is still unsent on some channel."""
    return sweep_batches(db, tracking.BATCHES, FINAL_STATUSES, settings, build)
