"""The notice of a verification run that found drift (``drift``) or repaired it (``repaired``),
sent once per channel through :mod:`include.common.notify`; a clean run sends nothing.

Sent by ``finalize`` and by the DAG-level callback, whichever sees the end first; the other
finds it sent (the channel's row is claimed before sending).
"""

from __future__ import annotations

from include.branch_sync.config import connection_passwords
from include.common.db import Database
from include.common.notify import notice as notices
from include.common.notify.send import announce_batch
from include.common.notify.settings import CHECK_EVENTS, NotifySettings
from include.common.text import format_count
from include.sync_verify import tracking
from include.sync_verify.spec import DAG_ID

CONSOLE_PATH = "backoffice/verify/{verification_id}"
SOURCES = {DAG_ID: CHECK_EVENTS}  # the events ``notify_on`` may name for this DAG


def differences(row: dict) -> str:
    """``3 missing, 1 extra, 2 changed`` (the non-zero ones), ``, 5 repaired`` when it repaired."""
    parts = [f"{format_count(int(row[k] or 0))} {label}" for k, label in (
        ("missing_rows", "missing"), ("extra_rows", "extra"), ("changed_rows", "changed")) if row.get(k)]
    if row.get("repaired_rows"):
        parts.append(f"{format_count(int(row['repaired_rows']))} repaired")
    return ", ".join(parts) or "no drift"


def build(db: Database, verification_id: str) -> notices.Notice | None:
    """The notice, or None when the run found no drift or is still open."""
    rows = tracking.rows_of(db, verification_id)
    if not rows or any(r["status"] in tracking.OPEN_STATUSES for r in rows):
        return None
    summary = tracking.summary(rows)
    drifted = [r for r in rows if r["status"] in ("drift", "repaired")]
    if not drifted:
        return None
    event = "repaired" if summary["drift"] == 0 else "drift"
    run_id = rows[0]["run_id"]
    title = (f"Verification {verification_id}: drift in {len(drifted)} of {summary['pairs']} tables"
             + (", repaired" if event == "repaired" else ""))
    facts = (("Verification", verification_id), ("DAG run", f"{DAG_ID} / {run_id or '-'}"),
             ("Tables", f"{summary['pairs']} verified: {summary['clean']} clean, {summary['drift']} with drift, "
                        f"{summary['repaired']} repaired, {summary['failed']} failed"),
             ("Rows", f"{format_count(summary['missing_rows'])} missing, {format_count(summary['extra_rows'])} extra, "
                      f"{format_count(summary['changed_rows'])} changed, {format_count(summary['repaired_rows'])} "
                      f"repaired; {format_count(summary['not_yet_synced'])} not yet synced"))
    links = {"Verification in the console": notices.airflow_url(CONSOLE_PATH.format(verification_id=verification_id))}
    if run_id:
        links["Airflow run"] = notices.run_url(DAG_ID, run_id)
    items = tuple((f"{r['connection_name']}.{r['table_name']}", differences(r)) for r in drifted[:notices.ITEMS_SHOWN])
    data = {"verification_id": verification_id, "dag_id": DAG_ID, "run_id": run_id, "status": event,
            "summary": summary}
    return notices.Notice(source=DAG_ID, key=verification_id, event=event, title=title, facts=facts, items=items,
                          item_count=len(drifted), links=links, data=data, secrets=tuple(connection_passwords()))



def announce(db: Database, verification_id: str, settings: NotifySettings | None = None) -> dict[str, str]:
    """Send the run's notice where it has not gone yet; never raises."""
    return announce_batch(db, verification_id, build, settings)
