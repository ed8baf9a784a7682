"""What a notification says, built from neutral fields, and rendered once for every channel:
an email subject and HTML body, a plain text, and a webhook JSON body that Slack (``text``) and
Discord (``content``) incoming webhooks accept as it is, with the structured fields beside it.

Every text that goes out is scrubbed (:func:`include.common.scrub.scrub_masked`, with the secrets
the job names, e.g. the passwords of its connections)."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from include.common.scrub import scrub_masked
from include.common.text import format_count, format_duration

ITEMS_SHOWN = 20  # failed items listed; the rest are counted ("and N more")
REASON_MAX = 300
DISCORD_MAX = 2000  # Discord refuses a longer ``content``
DEFAULT_BASE_URL = "http://localhost:8080"


@dataclass(frozen=True)
class Notice:
    """One notification. ``key`` is what it is about (a batch id, an alert episode), ``event`` the
    outcome (``completed``, ``failed``, ``alert`` ...), ``source`` the DAG id. ``facts`` are shown
    in order; ``items`` are the failed items (name, reason); ``links`` label -> URL; ``data`` the
    structured fields for webhook receivers."""

    source: str
    key: str
    event: str
    title: str
    facts: tuple[tuple[str, str], ...] = ()
    items: tuple[tuple[str, str], ...] = ()
    item_count: int | None = None  # the number of failed items, when ``items`` is only the first ones
    links: Mapping[str, str] = field(default_factory=dict)
    data: Mapping[str, Any] = field(default_factory=dict)
    secrets: tuple[str | None, ...] = ()


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str
    payload: dict[str, Any]


def airflow_url(path: str) -> str:
    """``[api] base_url`` (else http://localhost:8080) joined with ``path``."""
    base = None
    try:
        from airflow.configuration import conf

        base = conf.get("api", "base_url", fallback=None)
    except Exception:
        pass
    return (base or DEFAULT_BASE_URL).rstrip("/") + "/" + path.lstrip("/")


def run_url(dag_id: str, run_id: str) -> str:
    """The Airflow UI page of a DAG run."""
    return airflow_url(f"dags/{quote(dag_id, safe='')}/runs/{quote(run_id, safe='')}")


def batch_notice(*, source: str, batch_id: str, status: str, label: str, run_id: str | None, unit: str,
                 counts: Mapping[str, int], records: Mapping[str, int] | None, duration_seconds: float | None,
                 error: str | None, failed_items: Sequence[tuple[str, str | None]], failed_total: int,
                 console_path: str, secrets: Sequence[str | None] = ()) -> Notice:
    """The notice of a finished batch. ``counts``: total, completed, failed, skipped (of ``unit``:
    tables, participants); ``records``: processed, skipped, deleted (None where there are none);
    ``failed_items``: (name, reason), at least the first :data:`ITEMS_SHOWN`."""
    count_text = f"{format_count(counts.get('total', 0))} total, " + ", ".join(
        f"{format_count(counts.get(k, 0))} {k}" for k in ("completed", "failed", "skipped"))
    facts = [("Batch", batch_id), ("DAG run", f"{source} / {run_id or '-'}"), ("Status", status),
             (unit.capitalize(), count_text)]
    if records is not None:
        facts.append(("Records", ", ".join(f"{format_count(records.get(k, 0))} {k}"
                                           for k in ("processed", "skipped", "deleted"))))
    facts.append(("Duration", format_duration(duration_seconds)))
    if error:
        facts.append(("Error", error))
    links = {"Batch in the console": airflow_url(console_path)}
    if run_id:
        links["Airflow run"] = run_url(source, run_id)
    items = tuple((name, reason or "") for name, reason in failed_items[:ITEMS_SHOWN])
    data = {"batch_id": batch_id, "dag_id": source, "run_id": run_id, "status": status, "unit": unit,
            "counts": {k: int(counts.get(k, 0)) for k in ("total", "completed", "failed", "skipped")},
            "records": None if records is None else {k: int(records.get(k, 0) or 0)
                                                      for k in ("processed", "skipped", "deleted")},
            "duration_seconds": duration_seconds, "error": error}
    done = counts.get("completed", 0)
    title = f"{label} {batch_id} {status.replace('_', ' ')}: {done} of {counts.get('total', 0)} {unit} completed"
    if counts.get("failed"):
        title += f", {counts['failed']} failed"
    return Notice(source=source, key=batch_id, event=status, title=title, facts=tuple(facts), items=items,
                  item_count=failed_total, links=links, data=data, secrets=tuple(secrets))


def render(notice: Notice) -> Rendered:
    """Subject, text, HTML and webhook body; every string scrubbed."""

    def clean(value: Any) -> str:
        return scrub_masked(str(value), notice.secrets)

    items = [(clean(name), clean(reason)[:REASON_MAX]) for name, reason in notice.items]
    more = max((notice.item_count if notice.item_count is not None else len(items)) - len(items), 0)
    facts = [(label, clean(value)) for label, value in notice.facts]
    title = clean(notice.title)
    total = len(items) + more

    def as_text(shown: int, reason_max: int) -> str:
        lines = [title, ""] + [f"{label}: {value}" for label, value in facts]
        if items:
            lines += ["", f"Failed ({total}):"] + [f"- {n}: {r[:reason_max]}" if r else f"- {n}"
                                                    for n, r in items[:shown]]
            if total > shown:
                lines.append(f"... and {total - shown} more")
        lines += [""] + [f"{label}: {url}" for label, url in notice.links.items()]
        return "\n".join(lines)

    text = as_text(len(items), REASON_MAX)
    # Discord's limit: fewer and shorter reasons first, so the links stay in
    content = next((t for shown, width in ((len(items), REASON_MAX), (len(items), 80), (10, 80), (5, 60), (0, 0))
                    if len(t := as_text(shown, width)) <= DISCORD_MAX), None)
    if content is None:
        content = text[:DISCORD_MAX - 2] + " …"
    rows = "".join(f"<tr><th align='left'>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in facts)
    body = [f"<p><b>{html.escape(title)}</b></p><table>{rows}</table>"]
    if items:
        body.append(f"<p>Failed ({len(items) + more}):</p><ul>" + "".join(
            f"<li>{html.escape(n)}" + (f": {html.escape(r)}" if r else "") + "</li>" for n, r in items)
            + (f"<li>... and {more} more</li>" if more else "") + "</ul>")
    body.append("<p>" + " · ".join(f"<a href='{html.escape(url)}'>{html.escape(label)}</a>"
                                   for label, url in notice.links.items()) + "</p>")
    data = {k: (clean(v) if isinstance(v, str) else v) for k, v in notice.data.items()}
    payload = {"text": text, "content": content, "event": notice.event, "source": notice.source,
               "key": notice.key, "title": title, **data,
               "failed_items": [{"name": n, "reason": r} for n, r in items], "failed_more": more,
               "links": dict(notice.links)}
    return Rendered(subject=f"[Airflow] {title}"[:250], text=text, html="".join(body), payload=payload)
