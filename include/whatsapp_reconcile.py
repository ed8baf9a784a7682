"""Reconcile the app database's WhatsApp accounts with what the WhatsApp service really holds.

The replacement of seed 003's ``php artisan whatsapp:sync-sessions [--auto-reconnect]``, made safe
for a 5-minute schedule:

- the service is read completely (``/health`` and ``/api/sessions``) *before* the database is
  touched; if that read fails in any way, nothing is written and :class:`ServiceUnavailable` is
  raised, because a half-read would mark healthy sessions disconnected;
- a status flips only after N consecutive reads agree (flap guard): one bad read changes nothing;
- sessions the service reports as starting (``initializing``, ``qr_required``) are left alone;
- a lost session is re-created at most ``max_reconnect_attempts`` times, with doubling back-off
  between attempts and at most ``max_reconnects_per_run`` per run, so a restarted service is not
  stampeded by every session at once;
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

import json
import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timedelta, timezone
from typing import Any

from include.db import Cursor, Database
from include.whatsapp import ServiceUnavailable, Session, SessionRejected, WhatsAppAdapter

log = logging.getLogger(__name__)

ACCOUNTS = "whatsapp_accounts"

# Audit keys named by the design (seed 003's metadata example).
AUTO_DISCONNECTED_AT = "auto_disconnected_at"
REASON = "reason"
AUTO_RECONNECT_AT = "auto_reconnect_at"
RECONNECT_TRIGGERED_BY = "reconnect_triggered_by"
# Keys of this module: the audit of the other direction, the flap guard, the reconnect budget.
AUTO_CONNECTED_AT = "auto_connected_at"
MISSING_COUNT = "health_missing_count"
CONNECTED_COUNT = "health_connected_count"
RECONNECT_PENDING = "reconnect_pending"
RECONNECT_ATTEMPTS = "reconnect_attempts"
LAST_RECONNECT_AT = "last_reconnect_at"
LAST_RECONNECT_ERROR = "last_reconnect_error"
PREVIOUS_METADATA = "previous_metadata"
OWN_KEYS = (AUTO_DISCONNECTED_AT, REASON, AUTO_RECONNECT_AT, RECONNECT_TRIGGERED_BY, AUTO_CONNECTED_AT,
            MISSING_COUNT, CONNECTED_COUNT, RECONNECT_PENDING, RECONNECT_ATTEMPTS, LAST_RECONNECT_AT,
            LAST_RECONNECT_ERROR, PREVIOUS_METADATA)

# Statuses of a session that is starting up: the service is working on it, so wait.
TRANSITIONAL = frozenset({"initializing", "qr_required", "starting", "opening", "connecting"})
# Statuses of a session the service holds but that is not working.
BROKEN = frozenset({"disconnected", "failed"})

REASON_MISSING = "Session not found in WhatsApp service during health reconcile"
ERROR_MAX = 500


@dataclass(frozen=True)
class ReconcileSettings:
    """Tuning of the reconciliation; :meth:`from_mapping` builds it from a DAG param or Variable."""

    missing_checks_before_disconnect: int = 2
    connected_checks_before_connect: int = 2
    max_reconnect_attempts: int = 3
    max_reconnects_per_run: int = 5
    reconnect_backoff_seconds: float = 600.0
    triggered_by: str = "health_reconcile"

    def __post_init__(self) -> None:
        for name in ("missing_checks_before_disconnect", "connected_checks_before_connect"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be at least 1, not {getattr(self, name)!r}")
        for name in ("max_reconnect_attempts", "max_reconnects_per_run", "reconnect_backoff_seconds"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative, not {getattr(self, name)!r}")

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any] | None) -> ReconcileSettings:
        """Settings from e.g. a JSON Variable; unknown keys are refused (a typo must not be ignored)."""
        values = dict(values or {})
        known = {f.name: f.type for f in fields(cls)}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ValueError(f"unknown WhatsApp reconcile setting(s) {', '.join(unknown)}; known: {', '.join(known)}")
        converted: dict[str, Any] = {}
        for name, value in values.items():
            converted[name] = (str(value) if name == "triggered_by"
                               else float(value) if name == "reconnect_backoff_seconds" else int(value))
        return cls(**converted)

    def backoff_after(self, attempts: int) -> timedelta:
        """Wait before the next attempt once ``attempts`` were made: base, then doubling."""
        return timedelta(seconds=self.reconnect_backoff_seconds * 2 ** max(attempts - 1, 0))


@dataclass(frozen=True)
class Account:
    """One active account row, metadata decoded."""

    id: int
    session_id: str
    workspace_id: Any
    phone_number: str | None
    status: str
    metadata: dict[str, Any]


@dataclass
class SessionAction:
    """What was done (or, in a dry run, would be done) to one session."""

    session_id: str
    action: str
    detail: str
    workspace_id: Any = None
    phone_number: str | None = None
    database_status: str | None = None
    service_status: str | None = None  # None: the service does not hold the session


@dataclass
class ReconcileSummary:
    dry_run: bool
    auto_reconnect: bool
    workspace: int | None
    checked_at: str
    service_uptime: Any = None
    service_sessions: int = 0
    service_connected: int = 0
    checked: int = 0
    mismatches: int = 0
    awaiting_confirmation: int = 0
    marked_disconnected: int = 0
    marked_connected: int = 0
    reconnected: int = 0
    reconnect_failed: int = 0
    skipped_initializing: int = 0
    capped: int = 0
    backing_off: int = 0
    deferred: int = 0
    conflicts: int = 0
    service_error: str | None = None  # set when the service failed during reconnects (after the read)
    actions: list[SessionAction] = field(default_factory=list)

    @property
    def statuses_updated(self) -> int:
        return self.marked_disconnected + self.marked_connected

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "statuses_updated": self.statuses_updated}

    def render(self) -> str:
        """The seed's console report, as plain text for the task log."""
        would = "would be " if self.dry_run else ""
        lines = ["Starting WhatsApp session synchronization"
                 + (" (dry run: nothing is written, nothing is re-created)..." if self.dry_run else "..."),
                 f"WhatsApp service is healthy (uptime: {self.service_uptime}s)",
                 f"   Sessions in service: {self.service_sessions} total, {self.service_connected} connected",
                 "", "Database analysis:",
                 f"   Sessions in database: {self.checked} active"
                 + (f" (workspace {self.workspace})" if self.workspace is not None else "")]
        for session_id, entries in self._by_session().items():
            first = entries[0]
            lines += ["", "Mismatch found:" if self._is_mismatch(entries) else "Session:",
                      f"   Session ID: {session_id}",
                      f"   Phone: {first.phone_number or '-'}",
                      f"   Database status: {first.database_status}",
                      f"   Service status: {first.service_status or 'not found'}"]
            lines += [f"   -> {entry.action}: {entry.detail}" for entry in entries]
        lines += ["", "=" * 60, "Synchronization Summary:" + (" (dry run)" if self.dry_run else ""),
                  f"   Mismatches found: {self.mismatches}",
                  f"   Sessions {would}reconnected: {self.reconnected}",
                  f"   Statuses {would}updated: {self.statuses_updated} "
                  f"({self.marked_disconnected} disconnected, {self.marked_connected} connected)",
                  f"   Awaiting confirmation (flap guard): {self.awaiting_confirmation}",
                  f"   Left alone while starting: {self.skipped_initializing}",
                  f"   Reconnects failed: {self.reconnect_failed}, capped: {self.capped}, "
                  f"backing off: {self.backing_off}, deferred: {self.deferred}",
                  f"   Skipped after a concurrent change: {self.conflicts}"]
        if self.service_error:
            lines.append(f"   Service error during reconnects: {self.service_error}")
        lines.append("=" * 60)
        return "\n".join(lines)

    def _by_session(self) -> dict[str, list[SessionAction]]:
        grouped: dict[str, list[SessionAction]] = {}
        for entry in self.actions:
            grouped.setdefault(entry.session_id, []).append(entry)
        return grouped

    @staticmethod
    def _is_mismatch(entries: list[SessionAction]) -> bool:
        first = entries[0]
        return (first.database_status == "connected") != (first.service_status == "connected") \
            and first.service_status not in TRANSITIONAL


@dataclass(frozen=True)
class Decision:
    """The status/metadata change one observation calls for (pure; nothing written yet)."""

    action: str  # in_sync, awaiting_confirmation, mark_disconnected, mark_connected, skipped_initializing
    detail: str
    new_status: str | None = None
    set_meta: Mapping[str, Any] = field(default_factory=dict)
    drop_meta: tuple[str, ...] = ()
    mismatch: bool = False
    reconnect: bool = False  # a candidate for re-creation (if auto-reconnect is on and the gates allow)


# -- schema ----------------------------------------------------------------------------------------
def ensure_accounts_table(db: Database) -> None:
    """Create ``whatsapp_accounts`` where it is missing (the web app owns it; an existing table,
    whatever its exact columns, is left as it is)."""
    identity = {"mysql": "BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY",
                "postgresql": "BIGSERIAL PRIMARY KEY",
                "sqlite": "INTEGER PRIMARY KEY AUTOINCREMENT"}[db.dialect]
    true = "TRUE" if db.dialect == "postgresql" else "1"
    columns = [
        f"{db.quote('id')} {identity}",
        f"{db.quote('uuid')} {db.column_type('id')} NOT NULL UNIQUE",
        f"{db.quote('workspace_id')} {db.column_type('bigint')} NOT NULL",
        f"{db.quote('session_id')} {db.column_type('name')}",
        f"{db.quote('phone_number')} {db.column_type('status')}",
        f"{db.quote('status')} {db.column_type('status')} NOT NULL DEFAULT 'disconnected'",
        f"{db.quote('is_active')} {db.column_type('bool')} NOT NULL DEFAULT {true}",
        f"{db.quote('metadata')} {db.column_type('text')}",
        f"{db.quote('updated_at')} {db.column_type('ts')}",
    ]
    db.execute(f"CREATE TABLE IF NOT EXISTS {db.quote(ACCOUNTS)} ({', '.join(columns)})",
               what="create whatsapp_accounts")


def add_account(db: Database, session_id: str, workspace_id: int, *, status: str = "connected",
                phone_number: str | None = None, metadata: Mapping[str, Any] | None = None,
                is_active: bool = True, uuid: str | None = None) -> str:
    """Insert an account (demo data and tests; the web app creates real ones). Returns its uuid."""
    import uuid as uuid_module

    account_uuid = uuid or str(uuid_module.uuid4())
    db.execute(
        f"INSERT INTO {db.quote(ACCOUNTS)} (uuid, workspace_id, session_id, phone_number, status, is_active, "
        f"metadata, updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
        (account_uuid, workspace_id, session_id, phone_number, status, is_active,
         None if metadata is None else _dump(dict(metadata)), db.ts(_utcnow())),
        what="insert whatsapp account",
    )
    return account_uuid


# -- the reconciliation ----------------------------------------------------------------------------
def reconcile(db: Database, service: WhatsAppAdapter, *, workspace: int | str | None = None,
              auto_reconnect: bool = False, dry_run: bool = False,
              settings: ReconcileSettings = ReconcileSettings(), now: datetime | None = None) -> ReconcileSummary:
    """Compare active accounts with the service, fix statuses, optionally re-create lost sessions.

    Raises :class:`ServiceUnavailable` (before any write) when the service cannot be read.
    In a dry run the same decisions are computed and reported as ``would_...``; nothing is written
    and nothing that changes state is sent to the service.
    """
    now = (now or _utcnow()).astimezone(timezone.utc)
    workspace_id = _workspace_id(workspace)
    # The service first: if it cannot be read completely, the database must not change at all.
    health = service.health()
    remote = {session.session_id: session for session in service.sessions()}
    accounts = load_accounts(db, workspace_id)

    summary = ReconcileSummary(dry_run=dry_run, auto_reconnect=auto_reconnect, workspace=workspace_id,
                               checked_at=iso_z(now), checked=len(accounts), **_service_counts(health, remote))
    run = _Run(db, service, settings, summary, now, dry_run, auto_reconnect)
    for account in accounts:
        run.account(account, remote.get(account.session_id))
    would = "would be " if dry_run else ""
    log.info("WhatsApp reconcile%s: %d checked, %d mismatches, %d %smarked disconnected, %d %smarked connected, "
             "%d %sreconnected, %d reconnects failed", " (dry run)" if dry_run else "", summary.checked,
             summary.mismatches, summary.marked_disconnected, would, summary.marked_connected, would,
             summary.reconnected, would, summary.reconnect_failed)
    return summary


def load_accounts(db: Database, workspace_id: int | None = None) -> list[Account]:
    """Active accounts that have a session id, optionally of one workspace, in id order."""
    sql = (f"SELECT id, workspace_id, session_id, phone_number, status, metadata FROM {db.quote(ACCOUNTS)} "
           f"WHERE is_active = %s AND session_id IS NOT NULL AND session_id <> ''")
    params: list[Any] = [True]
    if workspace_id is not None:
        sql += " AND workspace_id = %s"
        params.append(workspace_id)
    rows = db.fetchall(sql + " ORDER BY id", params)
    return [Account(id=int(r["id"]), session_id=str(r["session_id"]), workspace_id=r["workspace_id"],
                    phone_number=r["phone_number"], status=str(r["status"] or "").lower(),
                    metadata=parse_metadata(r["metadata"])[0]) for r in rows]


def decide(account: Account, remote: Session | None, settings: ReconcileSettings, stamp: str) -> Decision:
    """What one observation of one account calls for. Pure, so tests and dry runs share it."""
    if remote is not None and remote.status in TRANSITIONAL:
        # Starting sessions are the service's business; a miss streak is broken by seeing it.
        return Decision("skipped_initializing", f"service reports {remote.status!r}; left alone while it starts",
                        drop_meta=_present(account.metadata, MISSING_COUNT, CONNECTED_COUNT))
    if remote is not None and remote.status == "connected":
        return _seen_connected(account, settings, stamp)
    if remote is not None and remote.status not in BROKEN:
        return Decision("skipped_initializing", f"service reports unknown status {remote.status!r}; left alone",
                        drop_meta=_present(account.metadata, MISSING_COUNT, CONNECTED_COUNT))
    return _seen_gone(account, remote, settings, stamp)


def _seen_connected(account: Account, settings: ReconcileSettings, stamp: str) -> Decision:
    meta = account.metadata
    if account.status == "connected":
        return Decision("in_sync", "connected in both",
                        drop_meta=_present(meta, MISSING_COUNT, CONNECTED_COUNT, RECONNECT_PENDING,
                                           RECONNECT_ATTEMPTS, LAST_RECONNECT_ERROR))
    seen = _int(meta.get(CONNECTED_COUNT)) + 1
    needed = settings.connected_checks_before_connect
    if seen < needed:
        return Decision("awaiting_confirmation",
                        f"service reports connected, database {account.status!r}; seen {seen} of {needed} times",
                        set_meta={CONNECTED_COUNT: seen}, drop_meta=_present(meta, MISSING_COUNT), mismatch=True)
    return Decision("mark_connected", f"service reports connected; database said {account.status!r}",
                    new_status="connected", set_meta={AUTO_CONNECTED_AT: stamp},
                    drop_meta=_present(meta, MISSING_COUNT, CONNECTED_COUNT, RECONNECT_PENDING, RECONNECT_ATTEMPTS,
                                       LAST_RECONNECT_ERROR),
                    mismatch=True)


def _seen_gone(account: Account, remote: Session | None, settings: ReconcileSettings, stamp: str) -> Decision:
    """The service lacks the session (``remote is None``) or holds it ``disconnected``/``failed``."""
    meta = account.metadata
    where = "not found in service" if remote is None else f"service reports {remote.status!r}"
    if account.status != "connected":
        # In agreement. A session this module disconnected (pending) and the service still lacks
        # is retried; one the user disconnected is never re-created behind their back.
        retry = remote is None and account.status == "disconnected" and meta.get(RECONNECT_PENDING) is True
        return Decision("in_sync", f"{where}; database {account.status!r}", reconnect=retry,
                        drop_meta=_present(meta, CONNECTED_COUNT))
    missed = _int(meta.get(MISSING_COUNT)) + 1
    needed = settings.missing_checks_before_disconnect
    if missed < needed:
        return Decision("awaiting_confirmation", f"{where}; miss {missed} of {needed} before marking disconnected",
                        set_meta={MISSING_COUNT: missed}, drop_meta=_present(meta, CONNECTED_COUNT), mismatch=True)
    reason = REASON_MISSING if remote is None else \
        f"WhatsApp service reports session {remote.status!r} during health reconcile"
    return Decision("mark_disconnected", f"{where} on {missed} consecutive checks; database said 'connected'",
                    new_status="disconnected",
                    # Only a missing session can be re-created; one the service holds would answer 409.
                    set_meta={AUTO_DISCONNECTED_AT: stamp, REASON: reason, RECONNECT_PENDING: remote is None},
                    drop_meta=_present(meta, MISSING_COUNT, CONNECTED_COUNT), mismatch=True,
                    reconnect=remote is None)


class _Run:
    """The write side of one reconcile run: per-account transactions and the reconnect budget."""

    def __init__(self, db: Database, service: WhatsAppAdapter, settings: ReconcileSettings,
                 summary: ReconcileSummary, now: datetime, dry_run: bool, auto_reconnect: bool):
        self.db, self.service, self.settings, self.summary = db, service, settings, summary
        self.now, self.stamp = now, iso_z(now)
        self.dry_run, self.auto_reconnect = dry_run, auto_reconnect
        self.budget = settings.max_reconnects_per_run

    def account(self, account: Account, remote: Session | None) -> None:
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
        if decision.reconnect and self.auto_reconnect:
            self._reconnect(account, remote, status_after)

    # Decision -> (summary counter, action reported, action reported in a dry run).
    _REPORTED = {
        "awaiting_confirmation": ("awaiting_confirmation", "awaiting_confirmation", "would_count_check"),
        "mark_disconnected": ("marked_disconnected", "marked_disconnected", "would_mark_disconnected"),
        "mark_connected": ("marked_connected", "marked_connected", "would_mark_connected"),
        "skipped_initializing": ("skipped_initializing", "skipped_initializing", "skipped_initializing"),
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
        if self.dry_run:
            self.summary.reconnected += 1
            self._record(account, remote, "would_reconnect", "would ask the service to create the session again")
            return
        attempts = _int(account.metadata.get(RECONNECT_ATTEMPTS)) + 1
        outcome, error = self._create(account)
        set_meta: dict[str, Any] = {RECONNECT_ATTEMPTS: attempts, LAST_RECONNECT_AT: self.stamp}
        if error is None:
            self.summary.reconnected += 1
            set_meta |= {AUTO_RECONNECT_AT: self.stamp, RECONNECT_TRIGGERED_BY: self.settings.triggered_by}
            drop: tuple[str, ...] = (LAST_RECONNECT_ERROR,)
            self._record(account, remote, "reconnected",
                         f"attempt {attempts}: session {'already exists' if outcome == 'exists' else 'created'} "
                         f"in service")
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
        attempts = _int(meta.get(RECONNECT_ATTEMPTS))
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

    def _create(self, account: Account) -> tuple[str | None, str | None]:
        """POST the session; returns (outcome, error message)."""
        try:
            return self.service.create_session(account.session_id, account.workspace_id), None
        except SessionRejected as exc:
            return None, str(exc)
        except ServiceUnavailable as exc:
            # The service broke mid-run: stop asking it this run, keep what was already fixed.
            self.summary.service_error = str(exc)
            return None, str(exc)


def write_account(db: Database, account_id: int, expected_status: str, new_status: str | None,
                  set_meta: Mapping[str, Any], drop_meta: tuple[str, ...], now: datetime) -> bool:
    """Apply one account's change in one short transaction, only if its status is still the one
    read (the web app may have changed it meanwhile). Metadata is merged into the row's *current*
    metadata, read under a row lock, so keys written concurrently by the web app survive.
    Returns False when the row changed (or vanished) and nothing was written."""
    table = db.quote(ACCOUNTS)
    lock = "" if db.dialect == "sqlite" else " FOR UPDATE"  # SQLite serializes writers itself
    target = new_status or expected_status

    def work(cur: Cursor) -> bool:
        rows = cur.fetch(f"SELECT status, metadata FROM {table} WHERE id = %s{lock}", (account_id,))
        if not rows:
            return False
        current_status = str(rows[0]["status"] or "").lower()
        current_meta, unparsed = parse_metadata(rows[0]["metadata"])
        if current_status != expected_status:
            # A retry after a commit whose acknowledgement was lost finds its own write: success.
            return current_status == target and all(current_meta.get(k) == v for k, v in set_meta.items())
        merged = merge_metadata(current_meta, unparsed, set_meta, drop_meta)
        cur.execute(f"UPDATE {table} SET status = %s, metadata = %s, updated_at = %s WHERE id = %s AND status = %s",
                    (target, _dump(merged), db.ts(now), account_id, rows[0]["status"]))
        return True

    return db.run(work, what=f"update whatsapp account {account_id}")


# -- metadata --------------------------------------------------------------------------------------
def parse_metadata(value: Any) -> tuple[dict[str, Any], str | None]:
    """The stored metadata as a dict, plus its raw text when it was not a JSON object (so a merge
    can keep it instead of overwriting it)."""
    if value is None:
        return {}, None
    if isinstance(value, Mapping):
        return dict(value), None
    if isinstance(value, (bytes, bytearray, memoryview)):
        value = bytes(value).decode("utf-8", "replace")
    text = str(value)
    if not text.strip():
        return {}, None
    try:
        parsed = json.loads(text)
    except ValueError:
        return {}, text
    if parsed is None:
        return {}, None
    return (parsed, None) if isinstance(parsed, dict) else ({}, text)


def merge_metadata(current: Mapping[str, Any], unparsed: str | None, set_meta: Mapping[str, Any],
                   drop_meta: tuple[str, ...] = ()) -> dict[str, Any]:
    """``current`` with ``set_meta`` merged in and this module's ``drop_meta`` keys removed; every
    other key is kept as it was."""
    own_drops = [key for key in drop_meta if key in OWN_KEYS]  # never remove a key of the web app
    merged = {k: v for k, v in current.items() if k not in own_drops}
    if unparsed is not None and PREVIOUS_METADATA not in merged:
        merged[PREVIOUS_METADATA] = unparsed
    merged.update(set_meta)
    return merged


def _dump(metadata: Mapping[str, Any]) -> str:
    return json.dumps(metadata, separators=(",", ":"), default=str)


# -- small helpers ---------------------------------------------------------------------------------
def iso_z(value: datetime) -> str:
    """``2025-11-20T02:13:52.907Z``: ISO-8601 UTC with milliseconds, as in the seed's metadata."""
    return value.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_iso(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.replace(tzinfo=timezone.utc) if parsed.tzinfo is None else parsed.astimezone(timezone.utc)


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _int(value: Any) -> int:
    try:
        return max(int(value), 0)
    except (TypeError, ValueError):
        return 0


def _present(meta: Mapping[str, Any], *keys: str) -> tuple[str, ...]:
    """The keys among ``keys`` that the metadata holds: dropping only those avoids no-op writes."""
    return tuple(key for key in keys if key in meta)


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


__all__ = [
    "ACCOUNTS", "OWN_KEYS", "Account", "Decision", "ReconcileSettings", "ReconcileSummary", "SessionAction",
    "ServiceUnavailable", "add_account", "decide", "ensure_accounts_table", "iso_z", "load_accounts",
    "merge_metadata", "parse_iso", "parse_metadata", "reconcile", "write_account",
]
