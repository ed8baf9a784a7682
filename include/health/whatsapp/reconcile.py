"""Reconcile the app database's WhatsApp accounts with what the WhatsApp service really holds.

The replacement of seed 003's ``php artisan whatsapp:sync-sessions [--auto-reconnect]``, made safe
for a 5-minute schedule:

- the service is read completely (``/health`` and the sessions of the active accounts) *before*
  the database is written; if that read fails in any way, nothing is written and
  :class:`ServiceUnavailable` is raised, because a half-read would mark healthy sessions
  disconnected; services asked one session at a time stop at their time budget, and the accounts
  whose session was not read are left untouched (reported as ``not_checked``);
- a status flips only after N consecutive reads agree (flap guard): one bad read changes nothing;
- sessions the service reports as starting (``initializing``, ``qr_required``) are left alone;
- a lost session is re-created, and one the service holds but cannot run is restarted with the
  service's own restart call (:func:`revive`), both at most ``max_reconnect_attempts`` times, with
  doubling back-off between attempts and at most ``max_reconnects_per_run`` per run, so a restarted
  service is not stampeded by every session at once;
- a session only a person can bring back (logged out: the service shows a QR code; banned; a
  service without a restart call) is marked and left, its ``reason`` saying what the person must
  do (``left_for_person``; an alert episode per session, see ``health.notices``);
- each account is written in its own short transaction whose UPDATE is conditional on the status
  read, so a concurrent change by the web app wins; audit entries are merged into ``metadata``
  without touching keys this module does not own.

Metadata keys written here (see :data:`OWN_KEYS`): the design's audit keys ``auto_disconnected_at``,
``reason``, ``auto_reconnect_at``, ``reconnect_triggered_by``, plus ``auto_connected_at``,
``health_missing_count``, ``health_connected_count``, ``reconnect_pending``, ``reconnect_attempts``,
``last_reconnect_at``, ``last_reconnect_error`` (and ``previous_metadata`` when the stored metadata
was not a JSON object, so its text is kept rather than overwritten).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from include.common.batches import ERROR_MAX
from include.common.clock import iso_z, parse_iso, utcnow
from include.common.db import Database
from include.health.whatsapp.accounts import Account, load_accounts, write_account
from include.health.whatsapp.client import ServiceUnavailable, Session, SessionRejected, WhatsAppAdapter
from include.health.whatsapp.decide import decide
from include.health.whatsapp.metadata import (
    AUTO_RECONNECT_AT, LAST_RECONNECT_AT, LAST_RECONNECT_ERROR, RECONNECT_ATTEMPTS, RECONNECT_TRIGGERED_BY,
    count_value,
)
from include.health.whatsapp.settings import ReconcileSettings
from include.health.whatsapp.sightings import record_sightings
from include.health.whatsapp.summary import ReconcileSummary, SessionAction

log = logging.getLogger(__name__)


def reconcile(db: Database, service: WhatsAppAdapter, *, workspace: int | str | None = None,
              auto_reconnect: bool = False, dry_run: bool = False,
              settings: ReconcileSettings = ReconcileSettings(), now: datetime | None = None) -> ReconcileSummary:
    """Compare active accounts with the service, fix statuses, optionally re-create lost sessions.

    Raises :class:`ServiceUnavailable` (before any write) when the service cannot be read.
    In a dry run the same decisions are computed and reported as ``would_...``; nothing is written
    and nothing that changes state is sent to the service.
    """
    now = (now or utcnow()).astimezone(timezone.utc)
    workspace_id = _workspace_id(workspace)
    # The service before any write: if it cannot be read completely, the database must not change.
    # The accounts are read first because services asked one session at a time need their ids.
    accounts = load_accounts(db, workspace_id)
    health = service.health()
    read = service.read_sessions([account.session_id for account in accounts])
    remote = {session.session_id: session for session in read.sessions}
    unchecked = set(read.unchecked)

    summary = ReconcileSummary(dry_run=dry_run, auto_reconnect=auto_reconnect, workspace=workspace_id,
                               checked_at=iso_z(now), checked=len(accounts) - len(unchecked),
                               **_service_counts(health, remote))
    run = _Run(db, service, settings, summary, now, dry_run, auto_reconnect)
    for account in accounts:
        if account.session_id in unchecked:
            run.not_checked(account)
        else:
            run.account(account, remote.get(account.session_id))
    if not dry_run:  # what the service said, beside the (flap-guarded) database status
        record_sightings(db, [(a.id, a.session_id) for a in accounts], remote, unchecked, now)
    would = "would be " if dry_run else ""
    log.info("WhatsApp reconcile%s: %d checked, %d mismatches, %d %smarked disconnected, %d %smarked connected, "
             "%d %sreconnected, %d reconnects failed", " (dry run)" if dry_run else "", summary.checked,
             summary.mismatches, summary.marked_disconnected, would, summary.marked_connected, would,
             summary.reconnected, would, summary.reconnect_failed)
    return summary


class _Run:
    """The write side of one reconcile run: per-account transactions and the reconnect budget."""

    def __init__(self, db: Database, service: WhatsAppAdapter, settings: ReconcileSettings,
                 summary: ReconcileSummary, now: datetime, dry_run: bool, auto_reconnect: bool):
        self.db, self.service, self.settings, self.summary = db, service, settings, summary
        self.now, self.stamp = now, iso_z(now)
        self.dry_run, self.auto_reconnect = dry_run, auto_reconnect
        self.budget = settings.max_reconnects_per_run

    def account(self, account: Account, remote: Session | None) -> None:
        if account.metadata_invalid:  # handled (kept under previous_metadata on a write), and reported
            self.summary.invalid_metadata.append(account.session_id)
            self._record(account, remote, "invalid_metadata",
                         "metadata is not a JSON object; kept as it is (under previous_metadata when this job "
                         "writes the row)", logging.WARNING)
        decision = decide(account, remote, self.settings, self.stamp)
        status_after = decision.new_status or account.status
        if decision.mismatch:
            self.summary.mismatches += 1
        if decision.action != "in_sync":
            self._note(account, remote, decision.action, decision.detail)
        if not self.dry_run and (decision.new_status or decision.set_meta or decision.drop_meta):
            if not write_account(self.db, account.id, account.status, decision.new_status, decision.set_meta,
                                 decision.drop_meta, self.now):
                self.summary.conflicts += 1
                self._record(account, remote, "skipped_concurrent_change",
                             "the row changed since it was read; left to the next run")
                return
        if decision.person and decision.action == "mark_disconnected":
            self.summary.left_for_person += 1
            self._record(account, remote, "would_leave_for_person" if self.dry_run else "left_for_person",
                         decision.person, logging.WARNING)
        if decision.reconnect and self.auto_reconnect:
            self._reconnect(account, remote, status_after)

    def not_checked(self, account: Account) -> None:
        """The service's time budget ran out before this session was read: leave it untouched."""
        self.summary.not_checked += 1
        self._record(account, None, "not_checked",
                     "the service's time budget was used up before this session was read; left untouched",
                     logging.WARNING)

    # Decision -> (summary counter, action reported, action reported in a dry run).
    _REPORTED = {
        "awaiting_confirmation": ("awaiting_confirmation", "awaiting_confirmation", "would_count_check"),
        "mark_disconnected": ("marked_disconnected", "marked_disconnected", "would_mark_disconnected"),
        "mark_connected": ("marked_connected", "marked_connected", "would_mark_connected"),
        "skipped_initializing": ("skipped_initializing", "skipped_initializing", "skipped_initializing"),
        "left_for_person": ("left_for_person", "left_for_person", "would_leave_for_person"),
    }

    def _note(self, account: Account, remote: Session | None, decision: str, detail: str) -> None:
        counter, action, dry_action = self._REPORTED[decision]
        setattr(self.summary, counter, getattr(self.summary, counter) + 1)
        self._record(account, remote, dry_action if self.dry_run else action, detail)

    def _record(self, account: Account, remote: Session | None, action: str, detail: str,
                level: int = logging.INFO) -> None:
        self.summary.actions.append(SessionAction(
            session_id=account.session_id, action=action, detail=detail, workspace_id=account.workspace_id,
            phone_number=account.phone_number, database_status=account.status,
            service_status=None if remote is None else remote.status))
        log.log(level, "session %s (account %s): %s - %s", account.session_id, account.id, action, detail)

    def _reconnect(self, account: Account, remote: Session | None, status_after: str) -> None:
        refusal = self._gate(account.metadata)
        if refusal is not None:
            counter, action, detail, level = refusal
            setattr(self.summary, counter, getattr(self.summary, counter) + 1)
            self._record(account, remote, action, detail, level)
            return
        self.budget -= 1
        restart = remote is not None
        if self.dry_run:
            self.summary.reconnected += 1
            self._record(account, remote, "would_reconnect",
                         "would ask the service to restart the session" if restart
                         else "would ask the service to create the session again")
            return
        attempts = count_value(account.metadata.get(RECONNECT_ATTEMPTS)) + 1
        outcome, error = self._revive(account, remote)
        set_meta: dict[str, Any] = {RECONNECT_ATTEMPTS: attempts, LAST_RECONNECT_AT: self.stamp}
        if error is None:
            self.summary.reconnected += 1
            set_meta |= {AUTO_RECONNECT_AT: self.stamp, RECONNECT_TRIGGERED_BY: self.settings.triggered_by}
            drop: tuple[str, ...] = (LAST_RECONNECT_ERROR,)
            self._record(account, remote, "reconnected",
                         f"attempt {attempts}: session {OUTCOMES.get(outcome or '', 'created')} in service")
        else:
            self.summary.reconnect_failed += 1
            set_meta[LAST_RECONNECT_ERROR] = error[:ERROR_MAX]
            drop = ()
            self._record(account, remote, "reconnect_failed", f"attempt {attempts}: {error}", logging.WARNING)
        if not write_account(self.db, account.id, status_after, None, set_meta, drop, self.now):
            self.summary.conflicts += 1
            self._record(account, remote, "skipped_concurrent_change",
                         "the row changed during the reconnect; attempt not recorded")

    def _gate(self, meta: Mapping[str, Any]) -> tuple[str, str, str, int] | None:
        """Why not to re-create now (summary counter, action, detail, log level), or None to go ahead."""
        attempts = count_value(meta.get(RECONNECT_ATTEMPTS))
        cap = self.settings.max_reconnect_attempts
        if attempts >= cap:
            return ("capped", "reconnect_capped",
                    f"{attempts} of {cap} attempts used; needs a manual reconnect (scan the QR code again)",
                    logging.WARNING)
        last = parse_iso(meta.get(LAST_RECONNECT_AT))
        if attempts and last is not None:
            due = last + self.settings.backoff_after(attempts)
            if self.now < due:
                return ("backing_off", "reconnect_backoff", f"attempt {attempts + 1} of {cap} not before {iso_z(due)}",
                        logging.INFO)
        if self.summary.service_error is not None:
            return ("deferred", "reconnect_deferred", "the service failed earlier in this run; next run retries",
                    logging.INFO)
        if self.budget <= 0:
            return ("deferred", "reconnect_deferred",
                    f"{self.settings.max_reconnects_per_run} reconnects per run already used; next run continues",
                    logging.INFO)
        return None

    def _revive(self, account: Account, remote: Session | None) -> tuple[str | None, str | None]:
        """Re-create or restart the session; returns (outcome, error message)."""
        try:
            return revive(self.service, account.session_id, account.workspace_id, remote), None
        except SessionRejected as exc:
            return None, str(exc)
        except ServiceUnavailable as exc:
            # The service broke mid-run: stop asking it this run, keep what was already fixed.
            self.summary.service_error = str(exc)
            return None, str(exc)


# What the service did, as the audit detail says it.
OUTCOMES = {"exists": "already exists", "started": "started again", "restarted": "restarted", "created": "created"}


def revive(service: WhatsAppAdapter, session_id: str, workspace_id: int | str | None, remote: Session | None) -> str:
    """Bring a session back the way its service can: re-create one the service does not hold
    (``remote`` None), restart one it holds but cannot run with the service's own restart call.
    The reconcile and the console's Reconnect both come here. Raises :class:`SessionRejected`
    (that session only) or :class:`ServiceUnavailable` (the service as a whole)."""
    if remote is None:
        return service.create_session(session_id, workspace_id)
    return service.restart_session(remote)


def _workspace_id(value: int | str | None) -> int | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise ValueError(f"workspace must be a workspace id (an integer), not {value!r}")
    try:
        return int(str(value).strip())
    except ValueError:
        raise ValueError(f"workspace must be a workspace id (an integer), not {value!r}") from None


def _service_counts(health: Mapping[str, Any], remote: Mapping[str, Session]) -> dict[str, Any]:
    """Uptime from /health; session counts from the list actually read (the health counts are a
    summary the service may compute differently)."""
    return {"service_uptime": health.get("uptime"), "service_sessions": len(remote),
            "service_connected": sum(1 for s in remote.values() if s.status == "connected")}
