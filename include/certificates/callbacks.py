"""Task callbacks of ``certificate_dispatch``: the batch row follows its participant rows."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from include.certificates import batches
from include.common.conn_ids import APP_DB
from include.common.db import Database

log = logging.getLogger(__name__)


def refresh_counts(context: Mapping[str, Any]) -> None:
    """A chunk ended: derive the batch's counts from its rows (``finalize`` derives them again, so
    a callback that cannot write loses nothing and never fails the task)."""
    job = (getattr(context.get("task"), "op_kwargs", None) or {}).get("job") or {}
    if isinstance(job, dict) and job.get("batch_id"):
        try:
            with Database(APP_DB) as db:
                batches.refresh_counts(db, job["batch_id"])
        except Exception as exc:
            log.warning("could not refresh certificate counts: %s", type(exc).__name__)
