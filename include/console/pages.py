"""One render function per page, from the JSON the API serves (so the page and the API never
disagree). Pure: data in, HTML out. Each passes data only to its template
(``templates/<page>.html``); the markup, and the escaping of every value, is the template's."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from include.branch_sync.tracking import BATCH_STATUSES
from include.console import charts
from include.console.html import render, url
from include.console.params import CERT_BATCH_STATUSES, CERT_ROW_STATUSES
from include.common.text import format_duration

RESUMABLE = ("failed", "interrupted")
SYNC_DETAIL_QUERY = ("failed", "status", "connection", "table", "sort")
CERT_DETAIL_QUERY = ("status", "sort")


def _kept(query: Mapping[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    """The request values a detail page's links carry on (filters and sort; not the page)."""
    return {k: v for k, v in query.items() if k in names}


# -- sync ----------------------------------------------------------------------------------------------------
def sync_list(data: Mapping[str, Any], query: Mapping[str, Any]) -> str:
    return render("sync_list.html", title="Sync batches", active="sync", query=query, statuses=BATCH_STATUSES,
                  status=data["status"], batches=data["batches"], page=data["page"], per_page=data["per_page"],
                  total=data["total"], page_data={"api": url("/api/sync/batches", query)})


def sync_detail(d: Mapping[str, Any], query: Mapping[str, Any], can_act: bool) -> str:
    return render("sync_detail.html", title=f"Sync batch {d['batch_id']}", active="sync", d=d, can_act=can_act,
                  resumable=d["status"] in RESUMABLE, base_query=_kept(query, SYNC_DETAIL_QUERY),
                  page_data={"api": url(f"/api/sync/batches/{d['batch_id']}", query), "status": d["status"]})


def history(d: Mapping[str, Any], query: Mapping[str, Any]) -> str:
    series = d["table_durations"].get(d["table"], []) if d["table"] else []
    shown = [
        charts.bar_chart([(t["table_name"], t["avg_duration_seconds"]) for t in d["slowest_tables"]],
                         title="Slowest tables (average duration)", fmt=format_duration),
        charts.bar_chart([(t["table_name"], t["success_rate"]) for t in d["success_rate"]
                          if t["success_rate"] is not None], title="Success rate per table (%)", top=100,
                         fmt=lambda v: f"{v:.0f} %", color="#16a34a"),
        charts.line_chart([(p["batch_id"][5:20], p["max_duration_seconds"]) for p in series],
                          title=f"Duration of {d['table'] or '-'} per batch", y_label="duration", fmt=format_duration),
        charts.line_chart([(p["batch_id"][5:20], p["duration_seconds"]) for p in d["batch_durations"]],
                          title="Batch durations", y_label="duration", fmt=format_duration),
    ]
    return render("history.html", title="History", active="history", d=d, charts=shown,
                  tables=sorted({t["table_name"] for t in d["success_rate"]}),
                  pairs={t["table_name"]: t["pairs"] for t in d["success_rate"]})


# -- certificates ---------------------------------------------------------------------------------------------
def cert_list(data: Mapping[str, Any], query: Mapping[str, Any], can_start: bool = False) -> str:
    return render("cert_list.html", title="Certificate batches", active="certificates", query=query,
                  statuses=CERT_BATCH_STATUSES, status=data["status"], batches=data["batches"], page=data["page"],
                  per_page=data["per_page"], total=data["total"], can_start=can_start)


def cert_upload(limit: int, form: Mapping[str, Any] | None = None, *, error: str | None = None,
                preview: Any = None, stored: str | None = None, start: Any = None) -> str:
    """The upload form (with ``error`` when a file was refused), or what the reader found in the
    stored file (``preview``) with the button that starts the batch."""
    from include.console.upload import size_text

    return render("cert_upload.html", title="New certificate batch", active="certificates", limit_text=size_text(limit),
                  form=form or {}, error=error, preview=preview, stored=stored, start=start, size_text=size_text)


def cert_detail(d: Mapping[str, Any], query: Mapping[str, Any], can_act: bool) -> str:
    return render("cert_detail.html", title=f"Certificate batch {d['batch_id']}", active="certificates", d=d,
                  can_act=can_act, statuses=CERT_ROW_STATUSES, base_query=_kept(query, CERT_DETAIL_QUERY),
                  page_data={})


# -- WhatsApp ---------------------------------------------------------------------------------------------------
def whatsapp(d: Mapping[str, Any], query: Mapping[str, Any], can_act: bool = False) -> str:
    """Every session; with ``can_act`` (PUT on health_reconcile's task instances) the Reconnect
    buttons, which a viewer does not see."""
    return render("whatsapp.html", title="WhatsApp sessions", active="whatsapp", d=d, query=query,
                  workspace_ids=[str(w) for w in d["workspaces"]], can_act=can_act,
                  current_workspace=None if d["workspace"] is None else str(d["workspace"]),
                  page_data={"reconnect": url("/api/whatsapp/reconnect")})


def message(title: str, text: str, *, link: tuple[str, str] | None = None, refresh: int | None = None) -> str:
    """A page of one message; ``link`` (href, text) under it; ``refresh`` reloads it every so many seconds."""
    return render("message.html", title=title, active="", text=text, link=link, refresh=refresh)
