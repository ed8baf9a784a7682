"""One render function per page, from the JSON the API serves (so the page and the API never
disagree). Pure: data in, HTML out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from include.branch_sync.tracking import BATCH_STATUSES
from include.common.task_states import ui_run_path, ui_task_path
from include.console import charts
from include.console.html import (
    badge, count, duration, esc, filter_links, layout, pager, progress_bar, table, url, when,
)
from include.console.params import CERT_BATCH_STATUSES, CERT_ROW_STATUSES

RESUMABLE = ("failed", "interrupted")


run_link = ui_run_path
ti_link = ui_task_path  # a table's "log" is its work unit's task instance


def _live_duration(b: Mapping[str, Any]) -> str:
    return "running" if b.get("status") == "running" else duration(b.get("duration_seconds"))


# -- sync ----------------------------------------------------------------------------------------------------
def sync_list(data: Mapping[str, Any], query: Mapping[str, Any]) -> str:
    rows = []
    for b in data["batches"]:
        rows.append(
            f'<tr data-batch="{esc(b["batch_id"])}" data-status="{esc(b["status"])}">'
            f'<td class="mono"><a href="{esc(url("/sync/" + b["batch_id"]))}">{esc(b["batch_id"])}</a></td>'
            f'<td class="st">{badge(b["status"])}</td><td>{esc(when(b["started_at"]))}</td>'
            f'<td class="n dur">{esc(_live_duration(b))}</td>'
            f'<td class="prog">{progress_bar(b["completed_tables"], b["total_tables"], b["failed_tables"])}</td>'
            f'<td class="n failed">{b["failed_tables"]}</td></tr>')
    body = (f'<h1>Sync batches</h1>'
            f'{filter_links("/sync", query, "status", BATCH_STATUSES, data["status"])}'
            + table(["Batch ID", "Status", "Started (UTC)", "Duration", "Progress (completed/total)", "Failed"], rows,
                    body_id="batches")
            + (f'<p class="muted">No sync batches{" with status " + esc(data["status"]) if data["status"] else ""}.</p>'
               if not rows else "")
            + pager("/sync", query, data["page"], data["per_page"], data["total"])
            + '<p class="muted">Running batches refresh every 3 s. <span id="asof"></span></p>')
    return layout("Sync batches", body, "sync", script=LIST_JS,
                  data={"api": url("/api/sync/batches", query)})


LIST_JS = r"""
async function refresh(){
  const r = await fetch(PAGE.api, {credentials:'same-origin'}); if(!r.ok) return;
  const d = await r.json(); let running = 0;
  for (const b of d.batches){
    const tr = document.querySelector(`tr[data-batch="${CSS.escape(b.batch_id)}"]`); if(!tr) continue;
    tr.dataset.status = b.status; if (b.status === 'running') running++;
    tr.querySelector('.st').innerHTML = badge(b.status);
    tr.querySelector('.dur').textContent = b.status === 'running' ? 'running' : hms(b.duration_seconds);
    tr.querySelector('.prog').innerHTML = bar(b.completed_tables, b.total_tables, b.failed_tables);
    tr.querySelector('.failed').textContent = b.failed_tables;
  }
  document.getElementById('asof').textContent = 'Refreshed ' + new Date().toISOString().slice(11,19) + ' UTC.';
  if (!running) clearInterval(window.liveTimer);
}
window.startLive = () => { clearInterval(window.liveTimer); window.liveTimer = setInterval(refresh, 3000); };
if (document.querySelector('tr[data-status="running"]')) window.startLive();
"""


def _sort_header(label: str, word: str, path: str, query: Mapping[str, Any], current: str) -> str:
    desc = current == word
    arrow = " ▲" if current == word else " ▼" if current == "-" + word else ""
    return f'<a href="{esc(url(path, {**query, "sort": ("-" if desc else "") + word, "page": None}))}">{label}{arrow}</a>'


def stuck_banner(lines: Sequence[str]) -> str:
    """Why a running batch's pairs wait to start (``stuck_lines`` of the JSON: the first line the
    summary, then each reason and its fix); nothing when no pair waits too long."""
    if not lines:
        return ""
    items = "".join(f'<li class="{"fix" if line.startswith("fix:") else "why"}">{esc(line.removeprefix("- "))}</li>'
                    for line in lines[1:])
    return f'<div class="stuck" id="stuck"><b>{esc(lines[0])}</b>{f"<ul>{items}</ul>" if items else ""}</div>'


def notices_section(notices: Sequence[Mapping[str, Any]]) -> str:
    """What the operators were told of this batch: one row per (outcome, channel), a failed
    channel with its reason (``health_reconcile`` retries it); nothing before any notice."""
    if not notices:
        return ""
    rows = [f'<tr><td>{badge(n["status"])}</td><td>{esc(n["channel"])}</td><td>{badge(n["state"])}</td>'
            f'<td class="n">{n["attempts"]}</td><td>{esc(when(n["sent_at"]) if n["sent_at"] else "-")}</td>'
            f'<td class="err">{esc(n["last_error"] or "")}</td></tr>' for n in notices]
    return '<h2>Notifications</h2>' + table(["Outcome", "Channel", "State", "Attempts", "Sent", "Last error"], rows)


def sync_detail(d: Mapping[str, Any], query: Mapping[str, Any], can_act: bool) -> str:
    path = "/sync/" + d["batch_id"]
    f = d["filter"]
    total, done = d["total_tables"], d["completed_tables"]
    truth = (f'<p class="truth" id="truth"><b>{done} of {total} tables, {d["progress_percentage"]:.1f} %</b> — true as '
             f'of {esc(when(d["as_of"]))} UTC (counted from the progress rows)</p>')
    summary = "".join(f'<div><span>{label}</span><b id="{key}">{value}</b></div>' for label, key, value in (
        ("Status", "s-status", badge(d["status"])), ("Started (UTC)", "s-started", esc(when(d["started_at"]))),
        ("Duration", "s-duration", esc(_live_duration(d))), ("Completed", "s-completed", done),
        ("Failed", "s-failed", d["failed_tables"]), ("In progress", "s-running", d["in_progress_tables"]),
        ("Pending", "s-pending", d["pending_tables"]), ("Skipped", "s-skipped", d["skipped_tables"]),
        ("Records processed", "s-records", count(d["records_processed"]))))
    links = []
    if d.get("dag_id") and d.get("run_id"):
        links.append(f'<a href="{esc(run_link(d["dag_id"], d["run_id"]))}">Airflow run {esc(d["run_id"])}</a>')
    links.append(f'<a class="btn light" href="{esc(url(path + "/export.xlsx"))}">Download .xlsx</a>')
    links.append(f'<a class="btn light" href="{esc(url(path + "/export.csv"))}">Download CSV</a>')
    if d["status"] in RESUMABLE:
        links.append(f'<button id="resume" data-url="{esc(url("/api/sync/batches/" + d["batch_id"] + "/resume"))}"'
                     f'{"" if can_act else " disabled title=&quot;needs permission to clear task instances&quot;"}>'
                     f'Resume</button>')
    base_q = {k: v for k, v in query.items() if k in ("failed", "status", "connection", "table", "sort")}
    filters = (
        f'<form class="filters" method="get" action="{esc(url(path))}">'
        f'<label><input type="checkbox" name="failed" value="true" id="failed-only"'
        f'{" checked" if f["failed"] else ""} onchange="this.form.submit()"> failed only</label>'
        f'<select name="connection" onchange="this.form.submit()"><option value="">every connection</option>'
        + "".join(f'<option{" selected" if c == f["connection"] else ""}>{esc(c)}</option>' for c in d["connections"])
        + '</select><select name="table" onchange="this.form.submit()"><option value="">every table</option>'
        + "".join(f'<option{" selected" if t == f["table"] else ""}>{esc(t)}</option>' for t in d["tables_available"])
        + f'</select><input type="hidden" name="sort" value="{esc(f["sort"])}">'
        f'<a href="{esc(url(path))}">clear filters</a><span class="muted">{d["matching"]:,} matching</span></form>')
    heads = [_sort_header(label, word, path, base_q, f["sort"]) for label, word in (
        ("Connection", "connection"), ("Table", "table"), ("Model", "model"), ("Status", "status"),
        ("Processed", "processed"), ("Skipped", "skipped"), ("Deleted", "deleted"), ("Duration", "duration"),
        ("Retries", "retries"))] + ["Error", "Log"]
    rows = []
    for t in d["tables"]:
        log = (f'<a href="{esc(ti_link(d["dag_id"], d["run_id"], t["task_id"], t["map_index"]))}">log</a>'
               if t.get("task_id") and d.get("run_id") and t.get("map_index") is not None else "")
        rows.append(
            f'<tr data-key="{esc(t["connection_name"])}|{esc(t["table_name"])}" data-status="{esc(t["status"])}">'
            f'<td class="mono">{esc(t["connection_name"])}</td><td class="mono">{esc(t["table_name"])}</td>'
            f'<td>{esc(t["model_name"])}</td><td class="st">{badge(t["status"])}</td>'
            f'<td class="n p">{count(t["records_processed"])}</td><td class="n k">{count(t["records_skipped"])}</td>'
            f'<td class="n x">{count(t["records_deleted"])}</td>'
            f'<td class="n dur">{"running" if t["status"] == "in_progress" else duration(t["duration_seconds"])}</td>'
            f'<td class="n r">{t["retry_count"]}</td><td class="err">{esc(t["error_message"])}</td><td>{log}</td></tr>')
    error = f'<p class="err">Batch error: {esc(d["error_message"])}</p>' if d.get("error_message") else ""
    body = (f'<p><a href="{esc(url("/sync"))}">&larr; all sync batches</a></p>'
            f'<h1>Sync batch <span class="mono">{esc(d["batch_id"])}</span></h1>{truth}'
            f'<div id="stuck-slot">{stuck_banner(d.get("stuck_lines") or [])}</div><div class="summary">{summary}</div>{error}<p class="filters">{" ".join(links)}</p>'
            f'<div id="action-result"></div>{filters}'
            + table(heads, rows, body_id="pairs")
            + pager(path, base_q, f["page"], f["per_page"], d["matching"])
            + notices_section(d.get("notifications") or []))
    return layout(f"Sync batch {d['batch_id']}", body, "sync", script=DETAIL_JS,
                  data={"api": url(f"/api/sync/batches/{d['batch_id']}", query), "status": d["status"]})


DETAIL_JS = r"""
async function refresh(){
  const r = await fetch(PAGE.api, {credentials:'same-origin'}); if(!r.ok) return;
  const d = await r.json();
  document.getElementById('truth').innerHTML = `<b>${d.completed_tables} of ${d.total_tables} tables, ` +
    `${d.progress_percentage.toFixed(1)} %</b> — true as of ${esc(ts(d.as_of))} UTC (counted from the progress rows)`;
  document.getElementById('s-status').innerHTML = badge(d.status);
  const lines = d.stuck_lines || [], why = lines.slice(1).map(l =>
    `<li class="${l.startsWith('fix:') ? 'fix' : 'why'}">${esc(l.replace(/^- /, ''))}</li>`).join('');
  document.getElementById('stuck-slot').innerHTML = lines.length ?
    `<div class="stuck" id="stuck"><b>${esc(lines[0])}</b>${why ? '<ul>' + why + '</ul>' : ''}</div>` : '';
  document.getElementById('s-duration').textContent = d.status === 'running' ? 'running' : hms(d.duration_seconds);
  for (const [k, v] of [['s-completed', d.completed_tables], ['s-failed', d.failed_tables],
       ['s-running', d.in_progress_tables], ['s-pending', d.pending_tables], ['s-skipped', d.skipped_tables],
       ['s-records', num(d.records_processed)]]) document.getElementById(k).textContent = v;
  for (const t of d.tables){
    const tr = document.querySelector(`tr[data-key="${CSS.escape(t.connection_name + '|' + t.table_name)}"]`);
    if(!tr) continue; tr.dataset.status = t.status;
    tr.querySelector('.st').innerHTML = badge(t.status);
    tr.querySelector('.p').textContent = num(t.records_processed);
    tr.querySelector('.k').textContent = num(t.records_skipped);
    tr.querySelector('.x').textContent = num(t.records_deleted);
    tr.querySelector('.dur').textContent = t.status === 'in_progress' ? 'running' : hms(t.duration_seconds);
    tr.querySelector('.r').textContent = t.retry_count;
    tr.querySelector('.err').textContent = t.error_message || '';
  }
  const resume = document.getElementById('resume');
  if (resume) resume.style.display = ['failed','interrupted'].includes(d.status) ? '' : 'none';
  if (d.status !== 'running' && !window.waitForRun) clearInterval(window.liveTimer);
  if (d.status === 'running') window.waitForRun = false;
}
window.startLive = (afterAction) => { window.waitForRun = !!afterAction; clearInterval(window.liveTimer);
  window.liveTimer = setInterval(refresh, 3000); if (afterAction) setTimeout(() => { window.waitForRun = false; }, 120000); };
if (PAGE.status === 'running') window.startLive();
"""


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} %"


def history(d: Mapping[str, Any], query: Mapping[str, Any]) -> str:
    slow = charts.bar_chart([(t["table_name"], t["avg_duration_seconds"]) for t in d["slowest_tables"]],
                            title="Slowest tables (average duration)", fmt=duration)
    rate = charts.bar_chart([(t["table_name"], t["success_rate"]) for t in d["success_rate"]
                             if t["success_rate"] is not None], title="Success rate per table (%)", top=100,
                            fmt=lambda v: f"{v:.0f} %", color="#16a34a")
    series = d["table_durations"].get(d["table"], []) if d["table"] else []
    table_line = charts.line_chart([(p["batch_id"][5:20], p["max_duration_seconds"]) for p in series],
                                   title=f"Duration of {d['table'] or '-'} per batch", y_label="duration",
                                   fmt=duration)
    batch_line = charts.line_chart([(p["batch_id"][5:20], p["duration_seconds"]) for p in d["batch_durations"]],
                                   title="Batch durations", y_label="duration", fmt=duration)
    slow_rows = [f'<tr><td class="mono">{esc(t["table_name"])}</td><td>{esc(t["model_name"])}</td>'
                 f'<td class="n">{duration(t["avg_duration_seconds"])}</td><td class="n">'
                 f'{duration(t["max_duration_seconds"])}</td><td class="n">{count(round(t["avg_records"] or 0))}</td></tr>'
                 for t in d["slowest_tables"]]
    pairs = {t["table_name"]: t["pairs"] for t in d["success_rate"]}
    fail_rows = [f'<tr><td class="mono">{esc(t["table_name"])}</td><td class="n">{t["fail_count"]}</td>'
                 f'<td class="n">{t["avg_retries"] or 0:.2f}</td><td class="n">{pairs.get(t["table_name"], "")}</td></tr>'
                 for t in d["most_failing_tables"]]
    rate_rows = [f'<tr><td class="mono">{esc(t["table_name"])}</td><td class="n">{t["completed"]}</td>'
                 f'<td class="n">{t["failed"]}</td><td class="n">'
                 f'{_rate(t["success_rate"])}</td></tr>'
                 for t in d["success_rate"]]
    tables = sorted({t["table_name"] for t in d["success_rate"]})
    form = (f'<form class="filters" method="get" action="{esc(url("/history"))}">Last '
            f'<input type="number" name="batches" min="1" max="500" value="{d["last"]}" style="width:70px"> batches; '
            f'table over time: <select name="table">'
            + "".join(f'<option{" selected" if t == d["table"] else ""}>{esc(t)}</option>' for t in tables)
            + '</select><button>Show</button></form>')
    body = (f'<h1>History</h1>{form}<div class="charts">'
            f'<div class="card">{slow}</div><div class="card">{rate}</div>'
            f'<div class="card">{table_line}</div><div class="card">{batch_line}</div></div>'
            f'<h2>Slowest tables by average duration</h2>'
            + table(["Table", "Model", "Average", "Longest", "Average records"], slow_rows)
            + '<h2>Most failing tables</h2>'
            + (table(["Table", "Failures", "Average retries (failed)", "Pairs"], fail_rows) if fail_rows
               else '<p class="muted">No failures in these batches.</p>')
            + f'<h2>Success rate per table over the last {d["batches"]} batches</h2>'
            + table(["Table", "Completed", "Failed", "Success rate"], rate_rows))
    return layout("History", body, "history")


# -- certificates ---------------------------------------------------------------------------------------------
def cert_list(data: Mapping[str, Any], query: Mapping[str, Any]) -> str:
    rows = [f'<tr data-batch="{esc(b["batch_id"])}"><td class="mono"><a href="{esc(url("/certificates/" + b["batch_id"]))}">'
            f'{esc(b["batch_id"])}</a></td><td>{esc(b["source_file"] or b["data_source"])}</td>'
            f'<td>{esc(b["event_name"])}</td><td>{badge(b["status"])}</td><td>{esc(when(b["started_at"]))}</td>'
            f'<td class="n">{b["total_participants"]:,}</td><td class="n">{b["generated_count"]:,}</td>'
            f'<td class="n">{b["failed_count"]:,}</td><td class="n">{b["pending_count"]:,}</td>'
            f'<td>{progress_bar(b["processed_count"], b["total_participants"], b["failed_count"])}</td></tr>'
            for b in data["batches"]]
    body = (f'<h1>Certificate batches</h1>{filter_links("/certificates", query, "status", CERT_BATCH_STATUSES, data["status"])}'
            + table(["Batch ID", "Source file", "Event", "Status", "Started (UTC)", "Total", "Generated", "Failed",
                     "Pending", "Progress"], rows)
            + pager("/certificates", query, data["page"], data["per_page"], data["total"]))
    return layout("Certificate batches", body, "certificates")


def cert_detail(d: Mapping[str, Any], query: Mapping[str, Any], can_act: bool) -> str:
    path = "/certificates/" + d["batch_id"]
    summary = "".join(f'<div><span>{label}</span><b>{value}</b></div>' for label, value in (
        ("Status", badge(d["status"])), ("Source", esc(d["source_file"] or d["data_source"])),
        ("Event", esc(d["event_name"])), ("Total", f'{d["total_participants"]:,}'),
        ("Generated", f'{d["generated_count"]:,}'), ("Failed", f'{d["failed_count"]:,}'),
        ("Pending", f'{d["pending_count"]:,}'),
        ("Progress", progress_bar(d["processed_count"], d["total_participants"], d["failed_count"]))))
    links = []
    if d.get("dag_id") and d.get("run_id"):
        links.append(f'<a href="{esc(run_link(d["dag_id"], d["run_id"]))}">Airflow run {esc(d["run_id"])}</a>')
    links.append(f'<a class="btn light" href="{esc(url(path + "/export.xlsx"))}">Download .xlsx</a>')
    links.append(f'<a class="btn light" href="{esc(url(path + "/export.csv"))}">Download CSV</a>')
    if d["failed_count"]:
        links.append(f'<button id="retry" data-url="{esc(url("/api/certificates/" + d["batch_id"] + "/retry"))}"'
                     f'{"" if can_act else " disabled"}>Retry failed participants</button>')
    base_q = {k: v for k, v in query.items() if k in ("status", "sort")}
    heads = [_sort_header("Row", "row", path, base_q, d["filter"]["sort"]),
             _sort_header("Participant", "name", path, base_q, d["filter"]["sort"]), "Certificate number",
             _sort_header("Status", "status", path, base_q, d["filter"]["sort"]), "Error", "Column",
             _sort_header("Attempts", "attempts", path, base_q, d["filter"]["sort"]), "PDF"]
    rows = [f'<tr data-row="{p["row_number"]}"><td class="n">{p["row_number"]}</td><td>{esc(p["participant_name"])}</td>'
            f'<td class="mono">{esc(p["certificate_number"])}</td><td>{badge(p["status"])}</td>'
            f'<td class="err">{esc(p["error_message"])}</td><td>{esc(p["error_column"])}</td>'
            f'<td class="n">{p["attempts"]}</td><td>'
            + (f'<a href="{esc(url(path + "/pdf/" + str(p["row_number"])))}">PDF</a>' if p["has_pdf"] else "")
            + "</td></tr>" for p in d["participants"]]
    note = "" if d["pdf_reachable"] else '<p class="muted">The output base is object storage: PDFs are not served here.</p>'
    body = (f'<p><a href="{esc(url("/certificates"))}">&larr; all certificate batches</a></p>'
            f'<h1>Certificate batch <span class="mono">{esc(d["batch_id"])}</span></h1>'
            f'<div class="summary">{summary}</div>'
            + (f'<p class="err">{esc(d["error_message"])}</p>' if d.get("error_message") else "")
            + f'<p class="filters">{" ".join(links)}</p><div id="action-result"></div>'
            + filter_links(path, base_q, "status", CERT_ROW_STATUSES, d["filter"]["status"]) + note
            + table(heads, rows) + pager(path, base_q, d["filter"]["page"], d["filter"]["per_page"], d["matching"])
            + notices_section(d.get("notifications") or []))
    return layout(f"Certificate batch {d['batch_id']}", body, "certificates", script="window.startLive = () => "
                  "setTimeout(() => location.reload(), 4000);", data={})


# -- WhatsApp ---------------------------------------------------------------------------------------------------
def said(service: Mapping[str, Any]) -> str:
    """The service's own word on the session, since when, and when it was last asked."""
    if not service.get("status"):
        return '<span class="muted">not asked yet</span>'
    return (f'{badge(service["status"])} <span class="muted" title="last asked {esc(when(service["checked_at"]))}">'
            f'since {esc(when(service["since"]))}</span>')


def whatsapp(d: Mapping[str, Any], query: Mapping[str, Any]) -> str:
    spaces = "".join(f'<div><span>workspace {esc(w)}</span><b>' + " ".join(f"{badge(s)} {n}" for s, n in c.items())
                     + "</b></div>" for w, c in d["workspaces"].items())
    rows = [f'<tr><td class="n">{esc(a["workspace_id"])}</td><td class="mono">{esc(a["session_id"])}</td>'
            f'<td>{esc(a["phone_number"])}</td><td>{badge(a["status"])}{"" if a["is_active"] else " (inactive)"}</td>'
            f'<td>{said(a["service"])}</td>'
            f'<td class="n">{a["flap_guard"]["missing_count"]} / {a["flap_guard"]["connected_count"]}</td>'
            f'<td>{esc(a["audit"]["auto_disconnected_at"] or "-")}</td><td class="err">{esc(a["audit"]["reason"] or "")}</td>'
            f'<td>{esc(a["audit"]["auto_reconnect_at"] or "-")}</td>'
            f'<td class="n">{a["reconnect"]["attempts"]} of {a["reconnect"]["max_attempts"]}</td>'
            f'<td>{esc(a["reconnect"]["next_attempt_at"] or "-")}</td><td>{esc(when(a["updated_at"]))}</td></tr>'
            for a in d["accounts"]]
    choose = filter_links("/whatsapp", query, "workspace", [str(w) for w in d["workspaces"]],
                          None if d["workspace"] is None else str(d["workspace"]))
    body = (f'<h1>WhatsApp sessions</h1>{choose}<div class="summary">{spaces or "no accounts"}</div>'
            + table(["Workspace", "Session", "Phone", "Database status", "Service says", "Flap guard (missing / seen)",
                     "Auto-disconnected at", "Reason", "Auto-reconnect at", "Reconnect attempts",
                     "Next attempt not before", "Updated (UTC)"], rows)
            + f'<p class="muted">Back-off: {duration(d["settings"]["reconnect_backoff_seconds"])} after the first attempt, '
              f'doubling after each.</p>' + pager("/whatsapp", query, d["page"], d["per_page"], d["total"]))
    return layout("WhatsApp sessions", body, "whatsapp")


def message(title: str, text: str, status: int = 200) -> str:
    return layout(title, f"<h1>{esc(title)}</h1><p>{esc(text)}</p>", "")
