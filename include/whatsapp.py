"""Client for the WhatsApp session service, reached through an Airflow HTTP connection.

The default adapter speaks the Node.js service of seed 003 (``GET /health``, ``GET /api/sessions``,
``POST /api/sessions``, API key as query parameter ``api_key``). Other services (WAHA, wwebjs-api,
Evolution API) can be added behind :class:`WhatsAppAdapter`; :func:`get_adapter` picks one from the
connection's extra ``adapter``.

The API key must never reach a log line, an exception message or a repr. It lives only in a
private attribute and in the outgoing request; every error message is built from the request's
path (never its full URL) and passed through :func:`include.db.scrub`; exceptions are raised
``from None`` so a traceback does not carry the requests exception (whose text holds the full URL);
and urllib3's debug line that prints the request line gets the key redacted.
"""

from __future__ import annotations

import json
import logging
from contextlib import suppress
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

import requests

from include.db import scrub

DEFAULT_CONN_ID = "whatsapp_service"
DEFAULT_TIMEOUT_SECONDS = 10.0

SESSION_STATUSES = ("connected", "initializing", "qr_required", "disconnected", "failed")

FailureReason = Literal["unreachable", "timeout", "server_error", "auth", "malformed", "bad_shape",
                        "unexpected_status", "unhealthy"]


class ServiceUnavailable(Exception):
    """The service cannot be trusted for this run: unreachable, slow, failing, or answering nonsense.

    ``reason`` is a short machine-readable code (see :data:`FailureReason`); the message names the
    problem for a human. Neither ever contains the API key.
    """

    def __init__(self, message: str, reason: FailureReason = "unreachable"):
        super().__init__(message)
        self.reason: FailureReason = reason


class SessionRejected(Exception):
    """The service is up but refused to create one session (a 4xx other than 401/403/409, or
    ``"success": false``). Only that session is affected; the run can go on."""


@dataclass(frozen=True)
class Session:
    """One session as the service reports it."""

    session_id: str
    status: str
    phone_number: str | None = None
    workspace_id: int | str | None = None


@runtime_checkable
class WhatsAppAdapter(Protocol):
    """What the reconciliation needs from a WhatsApp session service."""

    def health(self) -> dict[str, Any]:
        """The service's health document; raises :class:`ServiceUnavailable` unless it is healthy."""
        ...

    def sessions(self) -> list[Session]:
        """Every session the service holds; raises :class:`ServiceUnavailable` on any doubt."""
        ...

    def create_session(self, session_id: str, workspace_id: int | str | None) -> str:
        """Ask the service to (re)create a session: ``"created"`` or ``"exists"``."""
        ...


class _RedactApiKey(logging.Filter):
    """Redacts ``api_key=...`` from urllib3's DEBUG line ``"GET /api/sessions?api_key=... HTTP/1.1"``."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "api_key" in message.lower():
            record.msg, record.args = scrub(message), None
        return True


def _install_log_redaction() -> None:
    # A filter on the logger that emits the record runs before any handler sees it, whatever
    # handlers Airflow or pytest attach further up.
    target = logging.getLogger("urllib3.connectionpool")
    if not any(isinstance(f, _RedactApiKey) for f in target.filters):
        target.addFilter(_RedactApiKey())


_install_log_redaction()


def _base_url(host: str, schema: str | None, port: int | None) -> str:
    """The HTTP provider's convention: a host may carry its own scheme; else ``schema`` (default
    ``http``) is the scheme; a port is appended when set."""
    host = host.strip().rstrip("/")
    url = host if "://" in host else f"{(schema or 'http').strip() or 'http'}://{host}"
    if port:
        url = f"{url}:{port}"
    return url


class WhatsAppService:
    """The Node.js service of seed 003, configured by an Airflow HTTP connection.

    Connection fields: host (optionally with scheme), schema (scheme, default ``http``), port,
    password or extra ``api_key`` (the API key; the password wins when both are set), extra
    ``timeout`` (seconds for connect and for read, default 10).
    """

    def __init__(self, conn_id: str = DEFAULT_CONN_ID, *, timeout: float | None = None):
        from airflow.sdk import BaseHook

        connection = BaseHook.get_connection(conn_id)
        extra = connection.extra_dejson or {}
        if not connection.host:
            raise ValueError(f"connection {conn_id!r} has no host; set the WhatsApp service's host (and port)")
        self.conn_id = conn_id
        self.base_url = scrub(_base_url(connection.host, connection.schema, connection.port))
        self.timeout = float(timeout if timeout is not None else extra.get("timeout") or DEFAULT_TIMEOUT_SECONDS)
        self.__api_key: str = str(connection.password or extra.get("api_key") or "")
        if not self.__api_key:
            raise ValueError(f"connection {conn_id!r} has no API key; set its password or extra 'api_key'")
        self._mask(self.__api_key)
        self._http = requests.Session()

    def __repr__(self) -> str:
        return f"WhatsAppService(conn_id={self.conn_id!r}, base_url={self.base_url!r}, timeout={self.timeout})"

    @staticmethod
    def _mask(secret: str) -> None:
        """Register the key with Airflow's secrets masker too (a second net under task logs)."""
        with suppress(Exception):
            from airflow.sdk.log import mask_secret

            mask_secret(secret, "api_key")

    # -- the three calls -------------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        body = self._request("GET", "/health", authenticated=False)
        if not isinstance(body, dict) or not isinstance(body.get("status"), str):
            raise self._fail("GET /health", "answered with an unexpected shape (expected an object with "
                             "a 'status' string)", "bad_shape")
        if body["status"].lower() != "ok":
            raise self._fail("GET /health", f"reports status {body['status']!r}, not 'ok'", "unhealthy")
        return body

    def sessions(self) -> list[Session]:
        body = self._request("GET", "/api/sessions")
        items = body.get("sessions") if isinstance(body, dict) else None
        if not isinstance(items, list):
            raise self._fail("GET /api/sessions", "answered with an unexpected shape (expected an object with "
                             "a 'sessions' list)", "bad_shape")
        return [self._session(item, index) for index, item in enumerate(items)]

    def create_session(self, session_id: str, workspace_id: int | str | None) -> str:
        what = f"POST /api/sessions for {session_id!r}"
        response = self._send("POST", "/api/sessions", {"session_id": session_id, "workspace_id": workspace_id})
        if response.status_code == 409:
            return "exists"  # a session is started once; "already exists" is the outcome we wanted
        self._raise_for_service_status(what, response)
        if 200 <= response.status_code < 300:
            body = self._json_or_none(response)
            if isinstance(body, dict) and body.get("success") is False:
                raise SessionRejected(scrub(f"WhatsApp service refused {what}: {self._snippet(response)}",
                                            [self.__api_key]))
            return "created"
        raise SessionRejected(scrub(f"WhatsApp service refused {what} with HTTP {response.status_code}: "
                                    f"{self._snippet(response)}", [self.__api_key]))

    # -- plumbing ----------------------------------------------------------------------------------
    def _session(self, item: Any, index: int) -> Session:
        """One list entry; anything but an object with string ``session_id`` and ``status`` fails
        the whole read, because a half-understood list would flip the sessions it dropped."""
        if not isinstance(item, dict) or not isinstance(item.get("session_id"), str) \
                or not isinstance(item.get("status"), str):
            raise self._fail("GET /api/sessions", f"answered with an unexpected shape (entry {index} lacks a "
                             "'session_id' or 'status' string)", "bad_shape")
        phone = item.get("phone_number")
        return Session(
            session_id=item["session_id"],
            status=item["status"].strip().lower(),
            phone_number=None if phone is None else str(phone),
            workspace_id=item.get("workspace_id"),
        )

    def _send(self, method: str, path: str, payload: dict[str, Any] | None = None, *,
              authenticated: bool = True) -> requests.Response:
        what = f"{method} {path}"
        params = {"api_key": self.__api_key} if authenticated else None
        try:
            return self._http.request(method, self.base_url + path, params=params, json=payload,
                                      timeout=(self.timeout, self.timeout), allow_redirects=False)
        except requests.Timeout:
            # ``from None``: the requests exception's text holds the full URL, key included.
            raise self._fail(what, f"did not answer within {self.timeout:g}s (timeout)", "timeout") from None
        except requests.ConnectionError as exc:
            raise self._fail(what, f"is unreachable ({self._connection_problem(exc)})", "unreachable") from None
        except requests.RequestException as exc:
            raise self._fail(what, f"request failed ({type(exc).__name__})", "unreachable") from None

    def _request(self, method: str, path: str, *, authenticated: bool = True) -> Any:
        """Send a request whose only good answer is 2xx JSON; return the decoded body."""
        what = f"{method} {path}"
        response = self._send(method, path, authenticated=authenticated)
        self._raise_for_service_status(what, response)
        if not 200 <= response.status_code < 300:
            raise self._fail(what, f"answered unexpected HTTP {response.status_code}: {self._snippet(response)}",
                             "unexpected_status")
        try:
            return json.loads(response.content)
        except ValueError:
            raise self._fail(what, f"answered with malformed JSON: {self._snippet(response)}", "malformed") from None

    def _raise_for_service_status(self, what: str, response: requests.Response) -> None:
        """Statuses that mean "the service as a whole cannot be used": wrong key, server error."""
        code = response.status_code
        if code in (401, 403):
            raise self._fail(what, f"API key rejected (HTTP {code}); check the password or extra 'api_key' of "
                             f"connection {self.conn_id!r}", "auth")
        if code >= 500:
            raise self._fail(what, f"answered HTTP {code} (server error): {self._snippet(response)}", "server_error")

    def _fail(self, what: str, problem: str, reason: FailureReason) -> ServiceUnavailable:
        message = f"WhatsApp service at {self.base_url} ({what}) {problem}"
        return ServiceUnavailable(scrub(message, [self.__api_key]), reason)

    @staticmethod
    def _json_or_none(response: requests.Response) -> Any:
        try:
            return json.loads(response.content)
        except ValueError:
            return None

    def _snippet(self, response: requests.Response, limit: int = 200) -> str:
        text = response.content[:limit].decode("utf-8", "replace").strip() or "(empty body)"
        return scrub(text, [self.__api_key])

    @staticmethod
    def _connection_problem(exc: requests.ConnectionError) -> str:
        """A short cause without the URL: requests nests the socket error several levels deep."""
        text = str(exc).lower()
        if "refused" in text:
            return "connection refused"
        if "reset" in text or "aborted" in text or "remotedisconnected" in text or "without response" in text:
            return "connection closed without an answer"
        if "name or service not known" in text or "nodename nor servname" in text or "resolution" in text:
            return "host name does not resolve"
        return "connection failed"


def get_adapter(conn_id: str = DEFAULT_CONN_ID, *, timeout: float | None = None) -> WhatsAppAdapter:
    """The adapter named by the connection's extra ``adapter`` (default ``nodejs``)."""
    from airflow.sdk import BaseHook

    name = str((BaseHook.get_connection(conn_id).extra_dejson or {}).get("adapter") or "nodejs").lower()
    adapters: dict[str, type[WhatsAppService]] = {"nodejs": WhatsAppService}
    if name not in adapters:
        raise ValueError(f"connection {conn_id!r} names adapter {name!r}; available: {', '.join(sorted(adapters))}")
    return adapters[name](conn_id, timeout=timeout)
