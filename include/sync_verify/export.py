"""One verification run as spreadsheet sheets (written by :mod:`include.common.spreadsheet_export`):
a detail sheet (one row per pair, counts as recorded) and a sheet of the sampled differing keys.
One statement whatever the run's size."""

from __future__ import annotations

import json

from include.common.db import Database
from include.common.spreadsheet_export import Column, Sheet
from include.sync_verify.queries import run_rows

PAIR_COLUMNS = (
    Column("Verification"), Column("Connection"), Column("Table"), Column("Status"), Column("Method"),
    Column("Rows at branch", "int"), Column("Rows in central", "int"), Column("Missing in central", "int"),
    Column("Extra in central", "int"), Column("Changed", "int"), Column("Not yet synced", "int"),
    Column("Repaired", "int"), Column("Started (UTC)", "datetime"), Column("Completed (UTC)", "datetime"),
    Column("Duration", "duration"), Column("Retries", "int"), Column("Note"), Column("Error"),
)
KEY_COLUMNS = (Column("Connection"), Column("Table"), Column("Kind"), Column("Key"), Column("Columns"))


def report_sheets(db: Database, verification_id: str) -> list[Sheet]:
    """``[pairs, sampled keys]``; :class:`LookupError` naming an unknown id."""
    pairs = run_rows(db, verification_id)
    detail = [[p["verification_id"], p["connection"], p["table"], p["status"], p["method"], p["branch_rows"],
               p["central_rows"], p["missing_rows"], p["extra_rows"], p["changed_rows"], p["not_yet_synced"],
               p["repaired_rows"], p["started_at"], p["completed_at"], p["duration_seconds"], p["retry_count"],
               p["note"], p["error"]] for p in pairs]
    keys = [[p["connection"], p["table"], s["kind"], json.dumps(s["key"], ensure_ascii=False, sort_keys=True),
             ", ".join(s.get("columns") or [])] for p in pairs for s in p["sample_keys"]]
    return [Sheet("Pairs", PAIR_COLUMNS, detail), Sheet("Differing keys", KEY_COLUMNS, keys)]
