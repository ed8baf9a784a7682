"""The notification settings: the Airflow Variable ``backoffice_notifications`` (JSON), validated;
an unknown key or a bad value is refused with its name (a typo must not silently drop alerts)::

    {"email": {"to": ["ops@example.com"], "smtp_conn_id": "smtp_default", "from_email": null},
     "webhook": {"http_conn_id": "ops_webhook", "endpoint": "", "timeout_seconds": 10},
     "notify_on": {"certificate_dispatch": ["failed", "completed_with_errors"]},
     "whatsapp_unreachable_checks": 3,
     "retry_hours": 24}

No channel configured: nothing is sent (and nothing is recorded). ``notify_on`` maps a DAG id to
the events that notify; a DAG not named there notifies every event. ``retry_hours``: how far back
the 5-minute reconcile looks for finished batches whose notice is still unsent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

VARIABLE = "backoffice_notifications"
# Every event a notice can be about: the final batch statuses, and an alert episode's two ends.
BATCH_EVENTS = ("completed", "completed_with_errors", "failed", "interrupted")
EPISODE_EVENTS = ("alert", "recovered")
CHECK_EVENTS = ("drift", "repaired")  # a check of data found differences, or found and repaired them
ACTION_EVENTS = ("resumed",)  # something a job did on its own: an interrupted batch resumed automatically
EVENTS = BATCH_EVENTS + EPISODE_EVENTS + CHECK_EVENTS + ACTION_EVENTS
DEFAULT_SMTP_CONN_ID = "smtp_default"
DEFAULT_TIMEOUT_SECONDS = 10.0
DEFAULT_UNREACHABLE_CHECKS = 3
DEFAULT_RETRY_HOURS = 24.0

_TOP = ("email", "webhook", "notify_on", "whatsapp_unreachable_checks", "retry_hours")
_EMAIL = ("to", "smtp_conn_id", "from_email")
_WEBHOOK = ("http_conn_id", "endpoint", "timeout_seconds")


class NotifyConfigError(ValueError):
    """The Variable is unusable; the message names the Variable and the key."""


@dataclass(frozen=True)
class EmailChannel:
    to: tuple[str, ...]
    smtp_conn_id: str = DEFAULT_SMTP_CONN_ID
    from_email: str | None = None
    name: str = "email"


@dataclass(frozen=True)
class WebhookChannel:
    http_conn_id: str
    endpoint: str = ""
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
    name: str = "webhook"


@dataclass(frozen=True)
class NotifySettings:
    email: EmailChannel | None = None
    webhook: WebhookChannel | None = None
    notify_on: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    unreachable_checks: int = DEFAULT_UNREACHABLE_CHECKS
    retry_window: timedelta = timedelta(hours=DEFAULT_RETRY_HOURS)

    @property
    def channels(self) -> dict[str, EmailChannel | WebhookChannel]:
        return {c.name: c for c in (self.email, self.webhook) if c is not None}

    def channels_for(self, source: str, event: str) -> dict[str, EmailChannel | WebhookChannel]:
        """The channels a notice of ``source`` (a DAG id) about ``event`` goes to."""
        events = self.notify_on.get(source)
        if events is not None and event not in events:
            return {}
        return self.channels

    def check_sources(self, known: Mapping[str, Sequence[str]]) -> None:
        """Refuse a ``notify_on`` DAG id not in ``known`` (DAG id -> its events), or an event that
        DAG never has. The caller that sees every source (the 5-minute reconcile) checks this."""
        for source, events in self.notify_on.items():
            if source not in known:
                raise NotifyConfigError(f"Variable {VARIABLE!r}: notify_on names unknown DAG {source!r}; "
                                        f"known: {', '.join(sorted(known))}")
            wrong = [e for e in events if e not in known[source]]
            if wrong:
                raise NotifyConfigError(f"Variable {VARIABLE!r}: notify_on.{source}: {', '.join(wrong)} never "
                                        f"happens there; its events: {', '.join(known[source])}")


def _unknown(raw: Mapping[str, Any], known: Sequence[str], where: str) -> None:
    unknown = sorted(set(raw) - set(known))
    if unknown:
        raise NotifyConfigError(f"Variable {VARIABLE!r}: unknown key(s) {', '.join(f'{where}{k}' for k in unknown)}; "
                                f"known: {', '.join(known)}")


def _object(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise NotifyConfigError(f"Variable {VARIABLE!r}: {where} must be a JSON object, got {type(value).__name__}")
    return value


def _text(value: Any, where: str, *, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str) or (not value.strip() and not optional):
        raise NotifyConfigError(f"Variable {VARIABLE!r}: {where} must be a non-empty string, got {value!r}")
    return value.strip()


def _number(value: Any, where: str, minimum: float) -> float:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or value < minimum:
        raise NotifyConfigError(f"Variable {VARIABLE!r}: {where} must be a number >= {minimum:g}, got {value!r}")
    return float(value)


def parse_settings(raw: Any) -> NotifySettings:
    """Validate the Variable's JSON value (None: nothing configured)."""
    if raw is None:
        return NotifySettings()
    raw = _object(raw, "the value")
    _unknown(raw, _TOP, "")
    email = webhook = None
    if raw.get("email") is not None:
        spec = _object(raw["email"], "email")
        _unknown(spec, _EMAIL, "email.")
        to = spec.get("to")
        if isinstance(to, str):
            to = [t.strip() for t in to.replace(";", ",").split(",") if t.strip()]
        if not isinstance(to, list) or not to or not all(isinstance(t, str) and "@" in t for t in to):
            raise NotifyConfigError(f"Variable {VARIABLE!r}: email.to must be a list of email addresses, got {to!r}")
        email = EmailChannel(tuple(to), _text(spec.get("smtp_conn_id", DEFAULT_SMTP_CONN_ID), "email.smtp_conn_id"),
                             _text(spec.get("from_email"), "email.from_email", optional=True))
    if raw.get("webhook") is not None:
        spec = _object(raw["webhook"], "webhook")
        _unknown(spec, _WEBHOOK, "webhook.")
        webhook = WebhookChannel(_text(spec.get("http_conn_id"), "webhook.http_conn_id"),
                                 _text(spec.get("endpoint", ""), "webhook.endpoint", optional=True) or "",
                                 _number(spec.get("timeout_seconds", DEFAULT_TIMEOUT_SECONDS),
                                         "webhook.timeout_seconds", 0.1))
    notify_on: dict[str, tuple[str, ...]] = {}
    for source, events in _object(raw.get("notify_on") or {}, "notify_on").items():
        if isinstance(events, str):
            events = [events]
        if not isinstance(events, list) or not all(e in EVENTS for e in events):
            raise NotifyConfigError(f"Variable {VARIABLE!r}: notify_on.{source} must be a list of "
                                    f"{', '.join(EVENTS)}; got {events!r}")
        notify_on[str(source)] = tuple(events)
    checks = _number(raw.get("whatsapp_unreachable_checks", DEFAULT_UNREACHABLE_CHECKS),
                     "whatsapp_unreachable_checks", 1)
    if checks != int(checks):
        raise NotifyConfigError(f"Variable {VARIABLE!r}: whatsapp_unreachable_checks must be an integer, got {checks!r}")
    hours = _number(raw.get("retry_hours", DEFAULT_RETRY_HOURS), "retry_hours", 0.1)
    return NotifySettings(email, webhook, notify_on, int(checks), timedelta(hours=hours))


def load_settings() -> NotifySettings:
    """The Variable, read now (not at parse time), validated."""
    from airflow.sdk import Variable

    return parse_settings(Variable.get(VARIABLE, default=None, deserialize_json=True))
