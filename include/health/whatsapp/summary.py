"""The seed's summary of a reconcile run (mismatches found, reconnected, statuses updated), as
text for the log and as a dict for XCom."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from include.health.whatsapp.decide import TRANSITIONAL


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
    left_for_person: int = 0  # held sessions only a person can bring back (logged out, banned): left
    capped: int = 0
    backing_off: int = 0
    deferred: int = 0
    conflicts: int = 0
    not_checked: int = 0  # sessions the service was not asked about within its time budget
    invalid_metadata: list[str] = field(default_factory=list)  # sessions whose metadata is not a JSON object
    service_error: str | None = None  # set when the service failed during reconnects (after the read)
    actions: list[SessionAction] = field(default_factory=list)

    @property
    def statuses_updated(self) -> int:
        return self.marked_disconnected + self.marked_connected

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "statuses_updated": self.statuses_updated,
                "invalid_metadata_count": len(self.invalid_metadata)}

    def render(self) -> str:
        """The seed's console report, as plain text for the task log."""
        would = "would be " if self.dry_run else ""
        lines = ["Starting WhatsApp session synchronization"
                 + (" (dry run: nothing is written, nothing is re-created)..." if self.dry_run else "..."),
                 "WhatsApp service is healthy"
                 + (f" (uptime: {self.service_uptime}s)" if self.service_uptime is not None else ""),
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
                  f"   Left for a person (logged out, banned; scan the QR code again): {self.left_for_person}",
                  f"   Reconnects failed: {self.reconnect_failed}, capped: {self.capped}, "
                  f"backing off: {self.backing_off}, deferred: {self.deferred}",
                  f"   Skipped after a concurrent change: {self.conflicts}",
                  f"   Not checked (service time budget used up): {self.not_checked}",
                  f"   Metadata not valid JSON (kept): {len(self.invalid_metadata)}"
                  + (f" ({', '.join(self.invalid_metadata[:20])}"
                     + (", ..." if len(self.invalid_metadata) > 20 else "") + ")" if self.invalid_metadata else "")]
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
        logged_out = first.database_status == "connected" and first.service_status == "qr_required"
        return (first.database_status == "connected") != (first.service_status == "connected") \
            and (first.service_status not in TRANSITIONAL or logged_out)
