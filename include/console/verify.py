"""The verification pages (``/backoffice/verify``): the latest verification of every table with
drift highlighted, the recent runs, one run's pairs with their sampled differing keys, and the
run's export. Reads are ``sync_verify.queries`` (one statement each); rendering is pure: the data
goes to ``templates/verify_overview.html`` and ``templates/verify_run.html``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from include.console.html import render
from include.common.db import Database
from include.sync_verify import queries


def overview(db: Database) -> dict[str, Any]:
    """Two statements: the latest row of every pair, and the last 20 runs."""
    return {"tables": queries.latest_per_pair(db), "runs": queries.runs(db, 20)}


def run_detail(db: Database, verification_id: str) -> dict[str, Any]:
    pairs = queries.run_rows(db, verification_id)  # LookupError for an unknown id: 404
    return {"verification_id": verification_id, "pairs": pairs}


def overview_page(d: Mapping[str, Any]) -> str:
    tables = d["tables"]
    return render("verify_overview.html", title="Verification", active="verify", tables=tables, runs=d["runs"],
                  drifted=sum(1 for p in tables if p["status"] == "drift"))


def run_page(d: Mapping[str, Any]) -> str:
    pairs = d["pairs"]
    totals = {k: sum(p[k] for p in pairs) for k in ("missing_rows", "extra_rows", "changed_rows", "not_yet_synced",
                                                    "repaired_rows")}
    return render("verify_run.html", title=f"Verification {d['verification_id']}", active="verify",
                  vid=d["verification_id"], pairs=pairs, totals=totals,
                  detailed=any(p["sample_keys"] or p["error"] or p["note"] for p in pairs))


def sheets(db: Database, verification_id: str) -> Sequence[Any]:
    from include.sync_verify.export import report_sheets

    return report_sheets(db, verification_id)
