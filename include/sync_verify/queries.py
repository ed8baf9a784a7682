"""Verifications for the CLI (``verify-status``) and the console: the latest verification of
every pair, the recent runs with their counts (derived from their rows), and one run's rows.
Each is one statement, whatever the number of rows; plain dicts out in one stable JSON shape."""

from __future__ import annotations

import json
from typing import Any

from include.common.db import Database
from include.common.text import as_int, iso_utc
from include.sync_verify.tracking import VERIFICATIONS

MAX_RUNS = 500
COUNTS = ("branch_rows", "central_rows", "missing_rows", "extra_rows", "changed_rows", "not_yet_synced",
          "repaired_rows")
_STATUS_SUMS = ("clean", "drift", "repaired", "failed", "pending", "in_progress")


def pair_to_json(row: dict[str, Any]) -> dict[str, Any]:
    """One ``sync_verifications`` row in the stable shape (counts as ints, times as UTC ISO)."""
    try:
        sample = json.loads(row.get("sample_keys") or "[]")
    except ValueError:
        sample = []
    drift = sum(as_int(row.get(k)) for k in ("missing_rows", "extra_rows", "changed_rows"))
    return {
        "verification_id": row["verification_id"], "connection": row["connection_name"], "table": row["table_name"],
        "status": row["status"], "repair": bool(as_int(row.get("repair"))), "method": row.get("method"),
        **{k: as_int(row.get(k)) for k in COUNTS}, "drift_rows": drift, "sample_keys": sample,
        "note": row.get("note"), "error": row.get("error_message"), "run_id": row.get("run_id"),
        "started_at": iso_utc(row.get("started_at")), "completed_at": iso_utc(row.get("completed_at")),
        "duration_seconds": row.get("duration_seconds"), "retry_count": as_int(row.get("retry_count")),
    }


def latest_per_pair(db: Database) -> list[dict[str, Any]]:
    """The newest verification row of every (connection, table) ever verified (ids sort by time)."""
    v = db.quote(VERIFICATIONS)
    rows = db.fetchall(
        f"SELECT v.* FROM {v} v JOIN (SELECT connection_name, table_name, MAX(verification_id) AS vid FROM {v} "
        f"GROUP BY connection_name, table_name) m ON m.connection_name = v.connection_name "
        f"AND m.table_name = v.table_name AND m.vid = v.verification_id ORDER BY v.table_name, v.connection_name")
    return [pair_to_json(r) for r in rows]


def runs(db: Database, limit: int = 20, offset: int = 0) -> list[dict[str, Any]]:
    """Recent verification runs, newest first, their counts derived from their rows."""
    if not 1 <= int(limit) <= MAX_RUNS or int(offset) < 0:
        raise ValueError(f"limit must be 1..{MAX_RUNS} and offset >= 0, got {limit!r}, {offset!r}")
    sums = ", ".join(f"SUM(CASE WHEN status = '{s}' THEN 1 ELSE 0 END) AS n_{s}" for s in _STATUS_SUMS)
    rows = db.fetchall(
        f"SELECT verification_id, MAX(dag_id) AS dag_id, MAX(run_id) AS run_id, MAX(repair) AS repair, "
        f"MIN(started_at) AS started_at, MAX(completed_at) AS completed_at, COUNT(*) AS pairs, {sums}, "
        + ", ".join(f"SUM({k}) AS {k}" for k in COUNTS[2:])
        + f" FROM {db.quote(VERIFICATIONS)} GROUP BY verification_id ORDER BY verification_id DESC LIMIT %s OFFSET %s",
        [int(limit), int(offset)])
    return [{"verification_id": r["verification_id"], "run_id": r["run_id"], "repair": bool(as_int(r["repair"])),
             "started_at": iso_utc(r["started_at"]), "completed_at": iso_utc(r["completed_at"]),
             "pairs": as_int(r["pairs"]), "status": run_status(r),
             **{s: as_int(r[f"n_{s}"]) for s in _STATUS_SUMS}, **{k: as_int(r[k]) for k in COUNTS[2:]}}
            for r in rows]


def run_status(row: dict[str, Any]) -> str:
    """A run's status from its pair counts: running while a pair is open, else failed, drift,
    repaired or clean (the worst first)."""
    for status, key in (("running", "n_pending"), ("running", "n_in_progress"), ("failed", "n_failed"),
                        ("drift", "n_drift"), ("repaired", "n_repaired")):
        if as_int(row.get(key)):
            return status
    return "clean"


def run_rows(db: Database, verification_id: str) -> list[dict[str, Any]]:
    """Every pair of one run; a :class:`LookupError` naming an unknown id."""
    rows = db.fetchall(f"SELECT * FROM {db.quote(VERIFICATIONS)} WHERE verification_id = %s "
                       f"ORDER BY connection_name, table_name", (verification_id,))
    if not rows:
        raise LookupError(f"verification {verification_id!r} not found in {VERIFICATIONS}")
    return [pair_to_json(r) for r in rows]
