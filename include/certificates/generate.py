"""Rendering a chunk's certificates: one PDF per participant, written under the output base.

No database connection is held while PDFs render; the chunk's outcomes are written together
afterwards, in a few statements (see :func:`include.certificates.batches.record_results`).
"""

from __future__ import annotations

import io
import logging
from datetime import date

from include.certificates.batches import BATCHES, ITEMS, DispatchError, record_results
from include.certificates.pdf import UnrenderableName, render_certificate
from include.certificates.uploads import output_base
from include.common.db import Database

log = logging.getLogger(__name__)

RECORD_EVERY = 100  # participants' outcomes written per round trip


def generate_chunk(db: Database, batch_id: str, chunk_index: int, verify_url_base: str) -> dict[str, int]:
    """Render this chunk's certificates that are not generated yet; one participant's failure never
    stops the others. Re-running it (a cleared task) regenerates only missing or failed ones.
    Outcomes are recorded every :data:`RECORD_EVERY` participants (a few round trips per chunk,
    and progress that moves while a large chunk renders)."""
    from airflow.sdk import ObjectStoragePath

    batch = db.fetchone(f"SELECT event_name, event_date FROM {db.quote(BATCHES)} WHERE batch_id = %s", (batch_id,))
    if batch is None:
        raise DispatchError(f"certificate batch {batch_id!r} does not exist")
    rows = db.fetchall(f"SELECT * FROM {db.quote(ITEMS)} WHERE batch_id = %s AND chunk_index = %s "
                       f"AND status <> 'generated' ORDER BY {db.quote('row_number')}", (batch_id, chunk_index))
    db.close()  # no connection is held while PDFs render
    target_dir = ObjectStoragePath(output_base().rstrip("/") + f"/{batch_id}")
    target_dir.mkdir(parents=True, exist_ok=True)
    event_date = _display_date(batch["event_date"])
    outcomes: list[tuple[int, str, str | None, str | None]] = []
    generated = failed = 0
    for row in rows:
        try:
            buffer = io.BytesIO()
            render_certificate(buffer, name=row["participant_name"], event_name=batch["event_name"],
                               event_date=event_date, certificate_number=row["certificate_number"],
                               verification_url=f"{verify_url_base.rstrip('/')}/{row['verification_token']}",
                               organization=row["organization"])
            path = target_dir / f"{row['certificate_number']}.pdf"
            path.write_bytes(buffer.getvalue())
            outcomes.append((row["row_number"], "generated", str(path), None))
            generated += 1
        except UnrenderableName as exc:
            outcomes.append((row["row_number"], "failed", None, str(exc)))
            failed += 1
        except Exception as exc:  # one participant's failure never fails the others
            log.exception("certificate of row %s failed", row["row_number"])
            outcomes.append((row["row_number"], "failed", None, f"{type(exc).__name__}: {exc}"))
            failed += 1
        if len(outcomes) >= RECORD_EVERY:
            record_results(db, batch_id, outcomes)
            db.close()
            outcomes = []
    record_results(db, batch_id, outcomes)
    db.close()
    return {"generated": generated, "failed": failed}


def _display_date(value: str) -> date | str:
    """A date object (the renderer prints it the Indonesian way), or the text as given."""
    try:
        return date.fromisoformat(value)
    except (TypeError, ValueError):
        return str(value)
