"""The page layout, badges in the seed's colours, progress bars, tables and the small scripts
(live refresh, actions). Pure text; every value from the database goes through :func:`esc`."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from html import escape
from typing import Any
from urllib.parse import urlencode

from include.common.text import format_count, format_duration, format_ts

PREFIX = "/backoffice"

# seed 002: green completed, yellow running/in_progress, red failed, magenta interrupted, gray pending,
# cyan skipped; certificates and sessions use the nearest meaning. (background, text)
BADGES: dict[str, tuple[str, str]] = {
    "completed": ("#dcfce7", "#166534"), "generated": ("#dcfce7", "#166534"), "connected": ("#dcfce7", "#166534"),
    "running": ("#fef9c3", "#854d0e"), "in_progress": ("#fef9c3", "#854d0e"), "processing": ("#fef9c3", "#854d0e"),
    "initializing": ("#fef9c3", "#854d0e"), "qr_required": ("#fef9c3", "#854d0e"),
    "failed": ("#fee2e2", "#991b1b"), "disconnected": ("#fee2e2", "#991b1b"),
    "interrupted": ("#fae8ff", "#86198f"), "completed_with_errors": ("#fae8ff", "#86198f"),
    "pending": ("#f3f4f6", "#4b5563"),
    "skipped": ("#cffafe", "#155e75"),
    "clean": ("#dcfce7", "#166534"), "drift": ("#fee2e2", "#991b1b"), "repaired": ("#cffafe", "#155e75"),
}

CSS = """
*{box-sizing:border-box}body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;
color:#111827;background:#f9fafb}header{background:#0f172a;color:#fff;padding:10px 20px;display:flex;gap:18px;
align-items:center}header b{font-size:16px;margin-right:12px}header a{color:#cbd5e1;text-decoration:none;
padding:4px 8px;border-radius:4px}header a.on{background:#334155;color:#fff}main{padding:16px 20px;max-width:1400px}
h1{font-size:20px;margin:4px 0 12px}h2{font-size:16px;margin:22px 0 8px}table{border-collapse:collapse;width:100%;
background:#fff;border:1px solid #e5e7eb}th,td{padding:6px 9px;border-bottom:1px solid #e5e7eb;text-align:left;
vertical-align:top}th{background:#f3f4f6;font-weight:600;white-space:nowrap}th a{color:#111827}
td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}.mono{font-family:ui-monospace,
SFMono-Regular,Menlo,monospace;font-size:13px}.badge{display:inline-block;padding:1px 8px;border-radius:10px;
font-size:12px;font-weight:600}.bar{width:160px;height:12px;background:#e5e7eb;border-radius:6px;overflow:hidden;
display:inline-block;vertical-align:middle;margin-right:6px}.bar i{display:block;height:100%;background:#16a34a}
.bar i.f{background:#dc2626;float:left}.err{color:#991b1b;max-width:420px;word-break:break-word}
.filters{display:flex;gap:10px;flex-wrap:wrap;align-items:center;margin:8px 0 12px}.filters a{padding:3px 10px;
border:1px solid #d1d5db;border-radius:14px;color:#111827;text-decoration:none;background:#fff}
.filters a.on{background:#1e40af;border-color:#1e40af;color:#fff}.summary{display:flex;gap:26px;flex-wrap:wrap;
background:#fff;border:1px solid #e5e7eb;padding:12px 16px;margin-bottom:12px}.summary div span{display:block;
color:#6b7280;font-size:12px}.summary div b{font-size:18px}.truth{font-size:15px;margin:6px 0 12px}
.stuck{background:#fef3c7;border:1px solid #f59e0b;color:#78350f;padding:10px 14px;margin:0 0 12px;border-radius:5px}
.stuck ul{margin:6px 0 0;padding-left:20px}.stuck li.fix{list-style:none;color:#92400e;font-family:ui-monospace,monospace}
button,.btn{background:#1e40af;color:#fff;border:0;border-radius:5px;padding:6px 14px;font:inherit;cursor:pointer;
text-decoration:none;display:inline-block}.btn.light{background:#fff;color:#1e40af;border:1px solid #1e40af}
button[disabled]{opacity:.5}#action-result{margin:10px 0;padding:8px 12px;border-radius:5px;display:none}
#action-result.ok{display:block;background:#dcfce7;color:#166534}#action-result.no{display:block;
background:#fee2e2;color:#991b1b}.pager{margin:10px 0;display:flex;gap:12px;align-items:center}
.muted{color:#6b7280}.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(520px,1fr));gap:14px}
.card{background:#fff;border:1px solid #e5e7eb;padding:10px 12px}svg.chart{max-width:100%;height:auto}
a{color:#1d4ed8}.chart-title{font-weight:600;margin:0 0 4px}form.inline{display:inline}select,input{font:inherit;padding:3px 6px}
"""

NAV = (("sync", "Sync batches"), ("history", "History"), ("verify", "Verification"), ("certificates", "Certificates"),
       ("whatsapp", "WhatsApp sessions"))


def esc(value: Any) -> str:
    return escape("" if value is None else str(value))


def url(path: str, query: Mapping[str, Any] | None = None) -> str:
    clean = {k: v for k, v in (query or {}).items() if v not in (None, "", False)}
    return f"{PREFIX}{path}" + (f"?{urlencode(clean)}" if clean else "")


def badge(status: Any) -> str:
    text = str(status or "")
    bg, fg = BADGES.get(text, ("#f3f4f6", "#374151"))
    return f'<span class="badge" style="background:{bg};color:{fg}" data-status="{esc(text)}">{esc(text)}</span>'


def progress_bar(done: int, total: int, failed: int = 0) -> str:
    pct = 100.0 * done / total if total else 0.0
    bad = 100.0 * failed / total if total else 0.0
    return (f'<span class="bar"><i class="f" style="width:{bad:.1f}%"></i><i style="width:{pct:.1f}%"></i></span>'
            f'<span class="prog-text">{done}/{total} ({pct:.0f}%)</span>')


def count(value: Any) -> str:
    return format_count(value)


def duration(value: Any) -> str:
    return format_duration(value)


def when(value: Any) -> str:
    """An ISO timestamp from the JSON as ``YYYY-mm-dd HH:MM:SS`` UTC."""
    return format_ts(value.replace("Z", "+00:00") if isinstance(value, str) else value)


def table(headers: Sequence[str], rows: Iterable[str], *, body_id: str = "") -> str:
    head = "".join(f"<th>{h}</th>" for h in headers)  # headers are markup made here (sort links)
    body = "".join(rows)
    return f'<table><thead><tr>{head}</tr></thead><tbody{f" id={body_id!r}" if body_id else ""}>{body}</tbody></table>'


def filter_links(path: str, query: Mapping[str, Any], name: str, values: Sequence[str], current: str | None) -> str:
    links = [f'<a class="{"on" if not current else ""}" href="{esc(url(path, {**query, name: None, "page": None}))}">'
             f'all</a>']
    for value in values:
        links.append(f'<a class="{"on" if current == value else ""}" '
                     f'href="{esc(url(path, {**query, name: value, "page": None}))}">{esc(value)}</a>')
    return '<div class="filters">' + "".join(links) + "</div>"


def pager(path: str, query: Mapping[str, Any], page: int, per_page: int, total: int) -> str:
    pages = max(1, -(-total // per_page))
    prev = (f'<a href="{esc(url(path, {**query, "page": page - 1}))}">&larr; newer</a>' if page > 1 else "")
    nxt = (f'<a href="{esc(url(path, {**query, "page": page + 1}))}">older &rarr;</a>' if page < pages else "")
    return f'<div class="pager">{prev}<span class="muted">page {page} of {pages} · {total:,} in all</span>{nxt}</div>'


def layout(title: str, body: str, active: str, *, script: str = "", data: Mapping[str, Any] | None = None) -> str:
    nav = "".join(f'<a class="{"on" if key == active else ""}" href="{PREFIX}/{key}">{label}</a>' for key, label in NAV)
    payload = json.dumps(data or {}).replace("</", "<\\/")
    config = f'<script id="page-data" type="application/json">{payload}</script>' if data is not None else ""
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{esc(title)} · Back office</title>'
            f'<meta name="viewport" content="width=device-width,initial-scale=1"><style>{CSS}</style></head>'
            f'<body><header><b>Back office</b>{nav}</header><main>{body}</main>{config}'
            f'{f"<script>{COMMON_JS}{script}</script>" if script else ""}</body></html>')


COMMON_JS = r"""
const PAGE = JSON.parse((document.getElementById('page-data') || {}).textContent || '{}');
const BADGES = %s;
function esc(s){return String(s ?? '').replace(/[&<>"']/g, c => ({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;',"'":'&#39;'}[c]));}
function badge(s){const c = BADGES[s] || ['#f3f4f6','#374151'];
  return `<span class="badge" style="background:${c[0]};color:${c[1]}" data-status="${esc(s)}">${esc(s)}</span>`;}
function hms(sec){if(sec === null || sec === undefined) return '-'; sec = Math.round(sec);
  const h = Math.floor(sec/3600), m = Math.floor(sec%%3600/60), s = sec%%60;
  return String(h).padStart(2,'0')+':'+String(m).padStart(2,'0')+':'+String(s).padStart(2,'0');}
function num(n){return n === null || n === undefined ? '-' : Number(n).toLocaleString('en-US');}
function ts(iso){return iso ? iso.replace('T',' ').replace(/\.\d+Z$/,'') : '-';}
function bar(done,total,failed){const p = total ? 100*done/total : 0, f = total ? 100*failed/total : 0;
  return `<span class="bar"><i class="f" style="width:${f.toFixed(1)}%%"></i><i style="width:${p.toFixed(1)}%%"></i></span>`+
         `<span class="prog-text">${done}/${total} (${Math.round(p)}%%)</span>`;}
async function act(button){
  const out = document.getElementById('action-result');
  button.disabled = true; out.className = ''; out.textContent = '';
  try {
    const r = await fetch(button.dataset.url, {method:'POST', credentials:'same-origin',
                          headers:{'Content-Type':'application/json'}, body:'{}'});
    const d = await r.json().catch(() => ({detail: r.statusText}));
    out.className = r.ok ? 'ok' : 'no';
    out.textContent = r.ok ? d.message : `${r.status}: ${typeof d.detail === 'string' ? d.detail : JSON.stringify(d.detail)}`;
    if (r.ok && window.startLive) window.startLive(true);
  } catch (e) { out.className = 'no'; out.textContent = String(e); }
  button.disabled = false;
}
document.querySelectorAll('button[data-url]').forEach(b => b.addEventListener('click', () => act(b)));
""" % json.dumps({k: list(v) for k, v in BADGES.items()})
