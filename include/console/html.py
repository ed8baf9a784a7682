"""The pages' HTML: Jinja2 templates under ``templates/`` (one per page over ``base.html``; shared
pieces in ``macros.html``, the SVG charts in ``charts.html``, the scripts and the stylesheet beside
them), rendered with autoescape on, so every value from the database is escaped by construction.
The page functions (``pages``) pass data only. Also the console's URL prefix, the seed's badge
colours and the helpers templates call (``url``, ``when``, ``duration``, ``count``, Airflow links)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from include.common.task_states import ui_run_path as run_link
from include.common.task_states import ui_task_path as ti_link
from include.common.text import SECONDS_SHOWN_WITH_FRACTIONS, format_count, format_duration, format_ts
from include.console import charts

PREFIX = "/backoffice"
TEMPLATES = Path(__file__).resolve().parent / "templates"

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
OTHER_BADGE = ("#f3f4f6", "#374151")

NAV = (("sync", "Sync batches"), ("history", "History"), ("verify", "Verification"), ("certificates", "Certificates"),
       ("whatsapp", "WhatsApp sessions"))


def url(path: str, query: Mapping[str, Any] | None = None, changes: Mapping[str, Any] | None = None) -> str:
    """``/backoffice<path>?<query with changes>``; empty values (None, "", False) are left out."""
    merged = {**(query or {}), **(changes or {})}
    clean = {k: v for k, v in merged.items() if v not in (None, "", False)}
    return f"{PREFIX}{path}" + (f"?{urlencode(clean)}" if clean else "")


def when(value: Any) -> str:
    """An ISO timestamp from the JSON as ``YYYY-mm-dd HH:MM:SS`` UTC."""
    return format_ts(value.replace("Z", "+00:00") if isinstance(value, str) else value)


def badge_colors(status: Any) -> tuple[str, str]:
    return BADGES.get(str(status or ""), OTHER_BADGE)


def _blank_none(value: Any) -> Any:
    """A missing value (SQL NULL) prints as nothing, not ``None``."""
    return "" if value is None else value


environment = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True, undefined=StrictUndefined,
                   finalize=_blank_none, trim_blocks=True, lstrip_blocks=True, auto_reload=False)
environment.globals.update(url=url, when=when, duration=format_duration, count=format_count, run_link=run_link,
                           ti_link=ti_link, badge_colors=badge_colors, prefix=PREFIX, nav=NAV, badges=BADGES,
                           svg=charts, fraction_limit=SECONDS_SHOWN_WITH_FRACTIONS)


def key_text(key: Any) -> str:
    """A row's key as JSON text (the template escapes it)."""
    return json.dumps(key, ensure_ascii=False)


environment.filters["key_text"] = key_text


def render(template: str, **context: Any) -> str:
    """The page ``template`` with ``context`` (autoescaped; a missing name is an error, not blank)."""
    return environment.get_template(template).render(**context)
