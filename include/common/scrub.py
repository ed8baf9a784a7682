"""Secrets out of text: every error message is scrubbed before it is stored, logged or sent."""

from __future__ import annotations

import re
from collections.abc import Sequence

_KEY_VALUE = re.compile(r"(password|passwd|pwd|api_key|apikey)(\s*[=:]\s*)([^\s&'\",]+)", re.I)
_URL_PASSWORD = re.compile(r"(\w+://[^:/@\s]*:)([^@\s]+)@")


def scrub(message: str, secrets: Sequence[str | None] = ()) -> str:
    """Remove passwords and credentials from an error message before it is stored or logged."""
    for secret in secrets:
        if secret and len(secret) >= 3:
            message = message.replace(secret, "***")
    message = _KEY_VALUE.sub(r"\1\2***", message)
    return _URL_PASSWORD.sub(r"\1***@", message)


def connection_secrets(*conn_ids: str | None) -> list[str | None]:
    """The passwords of the given Airflow connections (missing ones are skipped), for :func:`scrub`."""
    secrets: list[str | None] = []
    for conn_id in filter(None, conn_ids):
        try:
            from airflow.sdk import BaseHook

            secrets.append(BaseHook.get_connection(conn_id).password)
        except Exception:  # an undefined connection has no secret to hide
            pass
    return secrets


def error_text(exc: BaseException, *conn_ids: str | None, limit: int | None = None) -> str:
    """One line naming the error, with the credentials of the named connections removed."""
    text = scrub(str(exc), connection_secrets(*conn_ids)).strip() or type(exc).__name__
    return text[:limit] if limit else text


def scrub_masked(message: str, secrets: Sequence[str | None] = ()) -> str:
    """:func:`scrub`, then the secrets registered with Airflow's masker in this process (e.g. an
    API key read from a connection): for text that leaves the system (alerts, notifications)."""
    message = scrub(message, secrets)
    try:
        from airflow.sdk._shared.secrets_masker import redact

        message = str(redact(message))
    except Exception:  # the masker is an internal module; scrub() above is the first net
        pass
    return message
