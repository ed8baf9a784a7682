"""A person's Reconnect (seed 003's "Reconnect button with one-click", the console's WhatsApp
page): ask the service to bring back the chosen sessions through the same adapter code the
reconcile uses (:func:`include.health.whatsapp.reconcile.revive`: re-create a session the service
does not hold, restart one it holds but cannot run), and record who asked in the account's
metadata (``reconnect_requested_at``, ``reconnect_requested_by``, ``reconnect_requested_outcome``,
``reconnect_triggered_by`` = ``console:<user>``), merged as the reconcile merges its audit keys.

Refused, with nothing sent and nothing written: when the service is down (:class:`ServiceUnavailable`
from its health or its read, raised to the caller), and per session when the service says it is
already connected, is starting it (``initializing``, or waiting for a QR scan), or holds it in a
state no call of its can cure (logged out, banned: a person must scan the QR code again).
:func:`refusal` is that decision, pure.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from include.common.batches import ERROR_MAX
from include.common.clock import iso_z, utcnow
from include.common.db import Database
from include.health.whatsapp.accounts import Account, load_accounts, write_account
from include.health.whatsapp.client import Session, SessionRejected, WhatsAppAdapter
from include.health.whatsapp.decide import TRANSITIONAL, needs_person
from include.health.whatsapp.metadata import (
    RECONNECT_REQUESTED_AT, RECONNECT_REQUESTED_BY, RECONNECT_REQUESTED_OUTCOME, RECONNECT_TRIGGERED_BY,
)
from include.health.whatsapp.reconcile import OUTCOMES, revive

MAX_AT_ONCE = 50  # the most sessions one request may reconnect (the service is asked one by one)


@dataclass(frozen=True)
class Result:
    """One session's answer: ``status`` as HTTP would say it (200 asked, 404 no such active
    account, 409 refused or rejected by the service), and a sentence for the person."""

    account_id: int
    session_id: str | None
    status: int
    message: str
    outcome: str | None = None  # what the service did: created, started, restarted, exists

    def as_dict(self) -> dict[str, Any]:
        return {"account_id": self.account_id, "session_id": self.session_id, "status": self.status,
                "ok": self.status == 200, "message": self.message, "outcome": self.outcome}


def refusal(session_id: str, remote: Session | None) -> str | None:
    """Why not to ask the service about this session now (pure), or None to go ahead."""
    if remote is None:
        return None  # not held: it is created again
    if remote.status == "connected":
        return f"session {session_id} is already connected at the service: nothing to reconnect"
    if remote.status in TRANSITIONAL:
        return (f"the service is already starting session {session_id} ({remote.status}): wait for it"
                + (", or scan its QR code" if remote.status == "qr_required" else ""))
    person = needs_person(remote)
    if person is not None:
        return f"the service holds session {session_id} {remote.status!r} and cannot restart it: {person}"
    return None


def reconnect(db: Database, service: WhatsAppAdapter, account_ids: list[int], user: str,
              now: datetime | None = None) -> list[Result]:
    """Reconnect these accounts' sessions as ``user``; one :class:`Result` per id, in the order
    given. Raises :class:`ServiceUnavailable` before anything is sent when the service is down or
    cannot be read (nothing changed); a failure of the service in the middle stops the rest."""
    if not account_ids or len(account_ids) > MAX_AT_ONCE:
        raise ValueError(f"choose between 1 and {MAX_AT_ONCE} sessions to reconnect, not {len(account_ids)}")
    now = now or utcnow()
    ids = list(dict.fromkeys(int(i) for i in account_ids))
    accounts = {a.id: a for a in load_accounts(db, ids=ids)}
    service.health()
    read = service.read_sessions([a.session_id for a in accounts.values()])
    remote = {s.session_id: s for s in read.sessions}
    unread = set(read.unchecked)
    results = []
    for account_id in ids:
        account = accounts.get(account_id)
        if account is None:
            results.append(Result(account_id, None, 404, f"no active WhatsApp account with id {account_id}"))
        elif account.session_id in unread:
            results.append(Result(account_id, account.session_id, 409, f"the service's time budget ran out before "
                                  f"session {account.session_id} was read: try again"))
        else:
            results.append(_one(db, service, account, remote.get(account.session_id), user, now))
    return results


def _one(db: Database, service: WhatsAppAdapter, account: Account, remote: Session | None, user: str,
         now: datetime) -> Result:
    refused = refusal(account.session_id, remote)
    if refused is not None:
        return Result(account.id, account.session_id, 409, refused)
    try:
        outcome = revive(service, account.session_id, account.workspace_id, remote)
    except SessionRejected as exc:
        _audit(db, account, user, now, f"rejected: {exc}"[:ERROR_MAX])
        return Result(account.id, account.session_id, 409, f"the service refused: {exc}")
    _audit(db, account, user, now, outcome)
    verb = OUTCOMES.get(outcome, outcome)
    return Result(account.id, account.session_id, 200,
                  f"session {account.session_id} {verb} in the service (asked by {user}); the reconcile marks it "
                  "connected once the service says so", outcome)


def _audit(db: Database, account: Account, user: str, now: datetime, outcome: str) -> None:
    """Merge who asked into the account's metadata; the web app may have changed the row's status
    meanwhile, so the write follows the status it finds (one retry)."""
    meta = {RECONNECT_REQUESTED_AT: iso_z(now), RECONNECT_REQUESTED_BY: user, RECONNECT_REQUESTED_OUTCOME: outcome,
            RECONNECT_TRIGGERED_BY: f"console:{user}"}
    status = account.status
    for _ in range(2):
        if write_account(db, account.id, status, None, meta, (), now):
            return
        fresh = load_accounts(db, ids=[account.id])
        if not fresh:
            return
        status = fresh[0].status
