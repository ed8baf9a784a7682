"""Sending a notice once per channel, never failing the caller.

:func:`announce` claims each channel's row, delivers, and records ``sent`` or ``failed`` (with the
scrubbed reason); a failure is logged and left for the next sighting. :func:`sweep_batches` is that
next sighting for recently finished batches; :func:`observe` counts bad checks of a watched
subject and sends one ``alert`` per episode and one ``recovered`` when it ends.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from include.common.clock import utcnow
from include.common.db import Database
from include.common.notify import store
from include.common.notify.channels import deliver, failure_text
from include.common.notify.notice import Notice, render
from include.common.notify.settings import NotifySettings, load_settings
from include.common.scrub import scrub_masked

log = logging.getLogger(__name__)


def announce(db: Database, notice: Notice | None, settings: NotifySettings | None = None, *,
             supersede: bool = True) -> dict[str, str]:
    """Send ``notice`` on every channel that has not had it; returns ``{channel: outcome}``
    (``sent``, ``failed``, ``skipped``: sent before or being sent by another sighting). Never
    raises: a notification must not change what the batch did."""
    outcomes: dict[str, str] = {}
    if notice is None:
        return outcomes
    try:
        settings = settings or load_settings()
        channels = settings.channels_for(notice.source, notice.event)
        if not channels:
            return outcomes
        store.ensure_schema(db)
        rendered = None
        for name, channel in channels.items():
            if not store.claim(db, notice.key, notice.event, name, notice.source, supersede=supersede):
                outcomes[name] = "skipped"
                continue
            error = None
            try:
                rendered = rendered or render(notice)
                deliver(channel, rendered)
            except Exception as exc:
                error = failure_text(channel, exc)
                log.warning("notice %s %s via %s failed (retried at the next sighting): %s", notice.key,
                            notice.event, name, error)
            store.record(db, notice.key, notice.event, name, error)
            outcomes[name] = "failed" if error else "sent"
            if not error:
                log.info("notice %s %s sent via %s", notice.key, notice.event, name)
    except Exception as exc:
        log.error("notice %s %s not sent: %s", notice.key, notice.event,
                  scrub_masked(f"{type(exc).__name__}: {exc}", notice.secrets))
    return outcomes


def announce_batch(db: Database, batch_id: str, build: Callable[[Database, str], Notice | None],
                   settings: NotifySettings | None = None) -> dict[str, str]:
    """Build a batch's notice with the job's ``build`` and send it where it has not gone yet;
    never raises (a notice must never fail the batch)."""
    try:
        notice = build(db, batch_id)
    except Exception as exc:
        log.error("notice of %s not built: %s", batch_id, type(exc).__name__)
        return {}
    return announce(db, notice, settings)


def sweep_batches(db: Database, batches_table: str, final_statuses: Sequence[str], settings: NotifySettings,
                  build: Callable[[Database, str], Notice | None], now: datetime | None = None) -> list[str]:
    """The next sighting: every batch of ``batches_table`` finished within ``settings.retry_window``
    whose notice is unsent on some channel is announced again. Returns the batch ids tried."""
    if not settings.channels:
        return []
    store.ensure_schema(db)
    recent = store.recent_final_batches(db, batches_table, final_statuses, (now or utcnow()) - settings.retry_window)
    sent = store.sent_channels(db, [r["batch_id"] for r in recent])
    tried = []
    for row in recent:
        wanted = set(settings.channels_for(row["dag_id"] or "", row["status"]))
        if wanted - sent.get((row["batch_id"], row["status"]), set()):
            tried.append(row["batch_id"])
            announce(db, build(db, row["batch_id"]), settings)
    return tried


def observe(db: Database, subject: str, *, bad: bool | None, threshold: int, settings: NotifySettings,
            make: Callable[[str, str], Notice], detail: str | None = None,
            check_id: str | None = None) -> dict[str, Any]:
    """One check of a watched subject (the WhatsApp service, one session): ``bad`` True, False, or
    None (not known this time: nothing changes). After ``threshold`` bad checks in a row an episode
    opens and ``make(episode_id, "alert")`` is announced; at the next good check
    ``make(episode_id, "recovered")``. A notice that could not be delivered is tried again at the
    next check of the same kind. A check with the ``check_id`` of the previous one (a retried
    task of the same run) is not counted again. Never raises."""
    try:
        return _observe(db, subject, bad, threshold, settings, make, detail, check_id)
    except Exception as exc:
        log.error("alert state of %s not updated: %s", subject, scrub_masked(f"{type(exc).__name__}: {exc}"))
        return {"subject": subject, "error": type(exc).__name__}


def _observe(db: Database, subject: str, bad: bool | None, threshold: int, settings: NotifySettings,
             make: Callable[[str, str], Notice], detail: str | None, check_id: str | None) -> dict[str, Any]:
    if bad is None:
        return {"subject": subject, "phase": None}
    store.ensure_schema(db)
    row = store.get_episode(db, subject)
    phase = row["phase"] if row else "counting"
    consecutive = int(row["consecutive"]) if row else 0
    episode = row["episode"] if row else None
    source = subject.split(":", 1)[0]
    now = utcnow()
    if bad:
        if not (check_id and row and row["last_check"] == check_id):
            consecutive += 1
        if phase == "counting" and consecutive >= threshold:
            phase, episode = "open", f"{subject}@{now:%Y%m%dT%H%M%S}"
        elif phase == "recovering":
            phase = "open"  # down again before the recovery was told: the same episode goes on
        store.save_episode(db, subject, source, phase, consecutive, episode, check_id, detail,
                           db.parse_ts(row["opened_at"]) if row and row["opened_at"] else now)
        sent = announce(db, make(episode, "alert"), settings, supersede=False) if phase == "open" else {}
        return {"subject": subject, "phase": phase, "consecutive": consecutive, "episode": episode, "sent": sent}
    if phase == "counting":
        if row:
            store.delete_episode(db, subject)
        return {"subject": subject, "phase": None}
    store.save_episode(db, subject, source, "recovering", 0, episode, check_id, detail,
                       db.parse_ts(row["opened_at"]))
    sent = announce(db, make(episode, "recovered"), settings, supersede=False)
    if "failed" not in sent.values():
        store.delete_episode(db, subject)
    return {"subject": subject, "phase": "recovered", "episode": episode, "sent": sent}
