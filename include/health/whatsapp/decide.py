"""What to do with one account given what the service says: a pure decision (no I/O), beside its
write side in ``reconcile.py``."""

from __future__ import annotations

from dataclasses import dataclass, field
from collections.abc import Mapping
from typing import Any

from include.health.whatsapp.accounts import Account
from include.health.whatsapp.client import Session
from include.health.whatsapp.metadata import (
    AUTO_CONNECTED_AT, AUTO_DISCONNECTED_AT, CONNECTED_COUNT, LAST_RECONNECT_ERROR, MISSING_COUNT, REASON,
    RECONNECT_ATTEMPTS, RECONNECT_PENDING, count_value, present_keys,
)
from include.health.whatsapp.settings import ReconcileSettings

# Statuses of a session that is starting up: the service is working on it, so wait.
TRANSITIONAL = frozenset({"initializing", "qr_required", "starting", "opening", "connecting"})
# Statuses of a session the service holds but that is not working.
BROKEN = frozenset({"disconnected", "failed"})

REASON_MISSING = "Session not found in WhatsApp service during health reconcile"
# Why only a person can bring a held session back, where the adapter does not say more.
NEEDS_SCAN = "logged out: the service waits for a QR code scan; a person must scan the QR code again"
NO_RESTART = "the service has no call that restarts it; a person must reconnect it and scan the QR code again"


@dataclass(frozen=True)
class Decision:
    """The status/metadata change one observation calls for (pure; nothing written yet)."""

    action: str  # in_sync, awaiting_confirmation, mark_disconnected, mark_connected, skipped_initializing,
    #              left_for_person
    detail: str
    new_status: str | None = None
    set_meta: Mapping[str, Any] = field(default_factory=dict)
    drop_meta: tuple[str, ...] = ()
    mismatch: bool = False
    reconnect: bool = False  # a candidate for re-creation or restart (if auto-reconnect is on and the gates allow)
    person: str | None = None  # only a person can bring it back, and why (the session is left)


def decide(account: Account, remote: Session | None, settings: ReconcileSettings, stamp: str) -> Decision:
    """What one observation of one account calls for. Pure, so tests and dry runs share it."""
    # A QR code on a session the database calls connected: its login is gone (logged out).
    logged_out = remote is not None and remote.status == "qr_required" and account.status == "connected"
    if remote is not None and remote.status in TRANSITIONAL and not logged_out:
        if remote.status == "qr_required" and _restarted_by_us(account):
            return _left(account, remote)  # this job's (re)start ended at a QR code: the login is gone
        # Starting sessions are the service's business; a miss streak is broken by seeing it.
        return Decision("skipped_initializing", f"service reports {remote.status!r}; left alone while it starts",
                        drop_meta=present_keys(account.metadata, MISSING_COUNT, CONNECTED_COUNT))
    if remote is not None and remote.status == "connected":
        return _seen_connected(account, settings, stamp)
    if remote is not None and remote.status not in BROKEN and not logged_out:
        return Decision("skipped_initializing", f"service reports unknown status {remote.status!r}; left alone",
                        drop_meta=present_keys(account.metadata, MISSING_COUNT, CONNECTED_COUNT))
    return _seen_gone(account, remote, settings, stamp)


def needs_person(remote: Session | None) -> str | None:
    """Why only a person can bring back a session the service holds, or None when the service can
    (re-created when it does not hold it, restarted when its adapter says ``restartable``)."""
    if remote is None or remote.restartable:
        return None
    if remote.needs_person:
        return remote.needs_person
    return NEEDS_SCAN if remote.status == "qr_required" else NO_RESTART


def service_reason(remote: Session | None, person: str | None = None) -> str:
    """The audit ``reason`` for what the service said (its own word beside ours where it differs)."""
    if remote is None:
        return REASON_MISSING
    native = f" ({remote.native_status})" if remote.native_status and \
        remote.native_status.lower() != remote.status else ""
    return f"WhatsApp service reports session {remote.status!r}{native} during health reconcile" + \
        (f"; {person}" if person else "")


def _restarted_by_us(account: Account) -> bool:
    return account.status == "disconnected" and account.metadata.get(RECONNECT_PENDING) is True \
        and count_value(account.metadata.get(RECONNECT_ATTEMPTS)) > 0


def _left(account: Account, remote: Session) -> Decision:
    """A session this job disconnected and meant to bring back, which only a person can now."""
    person = needs_person(remote) or NO_RESTART
    return Decision("left_for_person", f"service reports {remote.status!r}; {person}",
                    set_meta={REASON: service_reason(remote, person), RECONNECT_PENDING: False},
                    drop_meta=present_keys(account.metadata, MISSING_COUNT, CONNECTED_COUNT), person=person)


def _seen_connected(account: Account, settings: ReconcileSettings, stamp: str) -> Decision:
    meta = account.metadata
    if account.status == "connected":
        return Decision("in_sync", "connected in both",
                        drop_meta=present_keys(meta, MISSING_COUNT, CONNECTED_COUNT, RECONNECT_PENDING,
                                           RECONNECT_ATTEMPTS, LAST_RECONNECT_ERROR))
    seen = count_value(meta.get(CONNECTED_COUNT)) + 1
    needed = settings.connected_checks_before_connect
    if seen < needed:
        return Decision("awaiting_confirmation",
                        f"service reports connected, database {account.status!r}; seen {seen} of {needed} times",
                        set_meta={CONNECTED_COUNT: seen}, drop_meta=present_keys(meta, MISSING_COUNT), mismatch=True)
    return Decision("mark_connected", f"service reports connected; database said {account.status!r}",
                    new_status="connected", set_meta={AUTO_CONNECTED_AT: stamp},
                    drop_meta=present_keys(meta, MISSING_COUNT, CONNECTED_COUNT, RECONNECT_PENDING, RECONNECT_ATTEMPTS,
                                       LAST_RECONNECT_ERROR),
                    mismatch=True)


def _seen_gone(account: Account, remote: Session | None, settings: ReconcileSettings, stamp: str) -> Decision:
    """The service lacks the session (``remote is None``), holds it ``disconnected``/``failed``, or
    shows a QR code for a session the database calls connected (logged out)."""
    meta = account.metadata
    # A missing session can be created again; one the service holds only if its adapter can
    # restart it (WAHA STOPPED/FAILED, wwebjs-api with a closed tab, Evolution close); the others
    # (logged out, banned, the seed's service without a restart call) are left for a person.
    person = needs_person(remote)
    revivable = person is None
    where = "not found in service" if remote is None else f"service reports {remote.status!r}"
    if account.status != "connected":
        # In agreement. A session this module disconnected (pending) and the service still lacks
        # is retried; one the user disconnected is never re-created behind their back.
        pending = account.status == "disconnected" and meta.get(RECONNECT_PENDING) is True
        if pending and not revivable and remote is not None:
            return _left(account, remote)
        return Decision("in_sync", f"{where}; database {account.status!r}", reconnect=revivable and pending,
                        drop_meta=present_keys(meta, CONNECTED_COUNT))
    missed = count_value(meta.get(MISSING_COUNT)) + 1
    needed = settings.missing_checks_before_disconnect
    if missed < needed:
        return Decision("awaiting_confirmation", f"{where}; miss {missed} of {needed} before marking disconnected",
                        set_meta={MISSING_COUNT: missed}, drop_meta=present_keys(meta, CONNECTED_COUNT), mismatch=True)
    return Decision("mark_disconnected", f"{where} on {missed} consecutive checks; database said 'connected'",
                    new_status="disconnected",
                    set_meta={AUTO_DISCONNECTED_AT: stamp, REASON: service_reason(remote, person),
                              RECONNECT_PENDING: revivable},
                    drop_meta=present_keys(meta, MISSING_COUNT, CONNECTED_COUNT), mismatch=True,
                    reconnect=revivable, person=person)
