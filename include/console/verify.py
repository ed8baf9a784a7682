"""The verification pages (``/backoffice/verify``): the latest verification of every table with
drift highlighted, the recent runs, one run's pairs with their sampled differing keys, and the
run's export. Reads are ``sync_verify.queries`` (one statement each); rendering is pure."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from include.console.html import badge, count, duration, esc, layout, table, url, when
from include.common.db import Database
from include.sync_verify import queries

DRIFT_CSS = "<style>tr.drift td{background:#fee2e2}tr.drift td.n{color:#991b1b;font-weight:600}</style>"


def overview(db: Database) -> dict[str, Any]:
    """Two statements: the latest row of every pair, and the last 20 runs."""
    return {"tables": queries.latest_per_pair(db), "runs": queries.runs(db, 20)}


def run_detail(db: Database, verification_id: str) -> dict[str, Any]:
    pairs = queries.run_rows(db, verification_id)  # LookupError for an unknown id: 404
    return {"verification_id": verification_id, "pairs": pairs}


def _pair_row(p: Mapping[str, Any], with_run: bool) -> str:
    drift = p["drift_rows"] > 0 and p["status"] == "drift"
    cells = [esc(p["table"]), esc(p["connection"]), badge(p["status"]), count(p["branch_rows"]), count(p["central_rows"])]
    cells += [f'<span class="n">{count(p[k])}</span>' for k in ("missing_rows", "extra_rows", "changed_rows")]
    cells += [count(p["not_yet_synced"]), count(p["repaired_rows"])]
    if with_run:
        cells.append(f'<a class="mono" href="{esc(url("/verify/" + p["verification_id"]))}">{esc(p["verification_id"])}</a>')
    cells += [esc(when(p["completed_at"])), esc(duration(p["duration_seconds"]))]
    tds = "".join(f'<td class="{"n" if i in (5, 6, 7) else ""}">{c}</td>' for i, c in enumerate(cells))
    return f'<tr class="{"drift" if drift else ""}" data-pair="{esc(p["connection"])}.{esc(p["table"])}">{tds}</tr>'


_HEAD = ["Table", "Connection", "Status", "At branch", "In central", "Missing", "Extra", "Changed", "Not yet synced",
         "Repaired"]


def overview_page(d: Mapping[str, Any]) -> str:
    tables = d["tables"]
    drifted = sum(1 for p in tables if p["status"] == "drift")
    body = [DRIFT_CSS, "<h1>Verification: is central equal to the branches?</h1>",
            f'<p class="truth">{len(tables)} tables verified; <b>{drifted}</b> with drift not repaired '
            f'(latest verification of each). Rows changed at a branch after the last sync are '
            f'<i>not yet synced</i>, not drift.</p>']
    if not tables:
        body.append('<p class="muted">No verification yet: trigger the DAG sync_verify.</p>')
    else:
        body.append(table([*_HEAD, "Verification", "Finished", "Duration"], (_pair_row(p, True) for p in tables)))
    runs = [f'<tr><td class="mono"><a href="{esc(url("/verify/" + r["verification_id"]))}">{esc(r["verification_id"])}'
            f'</a></td><td>{badge(r["status"])}</td><td>{"repair" if r["repair"] else "check"}</td>'
            f'<td>{r["pairs"]}</td><td>{r["drift"]}</td><td>{r["repaired"]}</td><td>{r["failed"]}</td>'
            f'<td>{count(r["missing_rows"] + r["extra_rows"] + r["changed_rows"])}</td>'
            f'<td>{esc(when(r["started_at"]))}</td></tr>' for r in d["runs"]]
    if runs:
        body += ["<h2>Recent runs</h2>", table(["Verification", "Status", "Kind", "Pairs", "Drift", "Repaired",
                                                 "Failed", "Rows differing", "Started"], runs)]
    return layout("Verification", "".join(body), "verify")


def run_page(d: Mapping[str, Any]) -> str:
    vid, pairs = d["verification_id"], d["pairs"]
    totals = {k: sum(p[k] for p in pairs) for k in ("missing_rows", "extra_rows", "changed_rows", "not_yet_synced",
                                                    "repaired_rows")}
    summary = "".join(f"<div><span>{label}</span><b>{count(totals[k])}</b></div>" for k, label in (
        ("missing_rows", "Missing in central"), ("extra_rows", "Extra in central"), ("changed_rows", "Changed"),
        ("not_yet_synced", "Not yet synced"), ("repaired_rows", "Repaired")))
    body = [DRIFT_CSS, f'<h1>Verification <span class="mono">{esc(vid)}</span></h1>',
            f'<div class="summary"><div><span>Pairs</span><b>{len(pairs)}</b></div>{summary}</div>',
            f'<p><a class="btn light" href="{esc(url(f"/verify/{vid}/export.xlsx"))}">Export .xlsx</a> '
            f'<a class="btn light" href="{esc(url(f"/verify/{vid}/export.csv"))}">Export .csv</a></p>',
            table([*_HEAD, "Finished", "Duration"], (_pair_row(p, False) for p in pairs))]
    details = []
    for p in pairs:
        lines = [f"<li>{esc(s['kind'])}: <span class='mono'>{esc(json.dumps(s['key'], ensure_ascii=False))}</span>"
                 + (f" ({esc(', '.join(s['columns']))})" if s.get("columns") else "") + "</li>" for s in p["sample_keys"]]
        notes = [f'<p class="err">{esc(p["error"])}</p>' if p["error"] else "",
                 f'<p class="muted">{esc(p["note"])}</p>' if p["note"] else ""]
        if lines or any(notes):
            details.append(f'<div class="card"><p class="chart-title">{esc(p["connection"])}.{esc(p["table"])}</p>'
                           f'{"".join(notes)}<ul>{"".join(lines)}</ul></div>')
    if details:
        body += ["<h2>Differing keys (a sample of each pair)</h2>", '<div class="charts">', *details, "</div>"]
    return layout(f"Verification {vid}", "".join(body), "verify")


def sheets(db: Database, verification_id: str) -> Sequence[Any]:
    from include.sync_verify.export import report_sheets

    return report_sheets(db, verification_id)
