"""Client for the WhatsApp session service, reached through an Airflow HTTP connection.

The default adapter (flavor ``seed``) speaks the Node.js service of seed 003 (``GET /health``,
``GET /api/sessions``, ``POST /api/sessions``, API key as query parameter ``api_key``). Other
services (WAHA, wwebjs-api, Evolution API) live in :mod:`include.health.whatsapp.adapters`, built on
:class:`HttpSessionService`; :func:`get_adapter` picks one from the connection's extra ``flavor``
(the older extra ``adapter`` is still read).

The API key must never reach a log line, an exception message or a repr. It lives only in a
private attribute of :class:`HttpSessionService` and in the outgoing request (query parameter or
header); every error message is built from the request's path (never its full URL) and passed
through :func:`include.common.scrub.scrub` and the key itself is replaced; exceptions are raised ``from None``
so a traceback does not carry the requests exception (whose text holds the full URL); urllib3's
debug line that prints the request line gets the key redacted; and the connections this client
opens ignore ``http.client``'s ``debuglevel``, whose output would print every request header.

Kept whole: the key's way through a request, an error message and a log line is one concern, and
a reader checking it for leaks should find every piece in one file.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from include.common.conn_ids import WHATSAPP_SERVICE
from include.common.scrub import scrub

log = logging.getLogger(__name__)

DEFAULT_CONN_ID = WHATSAPP_SERVICE
DEFAULT_TIMEOUT_SECONDS = 10.0
DEFAULT_FLAVOR = "seed"

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
    """One session as the service reports it, its status in the reconcile's vocabulary.

    What the service can do about a session it holds but cannot run (``disconnected``/``failed``):

    - ``restartable``: its own restart call brings it back (:meth:`WhatsAppAdapter.restart_session`:
      WAHA ``STOPPED`` start, WAHA ``FAILED`` restart, wwebjs-api restart of a closed browser tab,
      Evolution ``close`` connect); the seed's service has no such call;
    - ``needs_person``: why no call can (logged out, banned, QR code limit): a person must act,
      usually scan the QR code again. Set only where the adapter can tell; never with ``restartable``.

    ``native_status`` is the service's own word for the state (``FAILED``, ``browser tab closed``),
    None where it is the status itself (the seed's service).
    """

    session_id: str
    status: str
    phone_number: str | None = None
    workspace_id: int | str | None = None
    restartable: bool = False
    native_status: str | None = None
    needs_person: str | None = None

    def __post_init__(self) -> None:
        if self.restartable and self.needs_person:
            raise ValueError(f"session {self.session_id!r}: restartable and needs a person at once")


@dataclass(frozen=True)
class SessionRead:
    """What one read of the service found: the sessions it holds among those asked about (all of
    them for services that list everything), and the ids it did not get to (time budget)."""

    sessions: tuple[Session, ...]
    unchecked: tuple[str, ...] = ()


@runtime_checkable
class WhatsAppAdapter(Protocol):
    """What the reconciliation needs from a WhatsApp session service."""

    def health(self) -> dict[str, Any]:
        """The service's health document; raises :class:`ServiceUnavailable` unless it is healthy."""
        ...

    def read_sessions(self, session_ids: Sequence[str]) -> SessionRead:
        """The sessions the service holds among ``session_ids`` (the ids the database knows);
        services that list every session may return more. Raises :class:`ServiceUnavailable` on
        any doubt; ids not read within the adapter's time budget are returned as ``unchecked``."""
        ...

    def create_session(self, session_id: str, workspace_id: int | str | None) -> str:
        """Ask the service to create a session it does not hold (or start one it holds stopped):
        ``"created"``, ``"started"`` or ``"exists"``."""
        ...

    def restart_session(self, session: Session) -> str:
        """Ask the service to bring back a session it holds but cannot run (``session.restartable``)
        with its own restart call: ``"restarted"`` or ``"started"`` (or the outcome of
        :meth:`create_session` when the session vanished meanwhile). Raises :class:`SessionRejected`
        when the service has no such call or refuses it."""
        ...


# -- keeping the key out of logs -------------------------------------------------------------------
_SECRETS: set[str] = set()  # every adapter's key, so the log filter can replace it wherever it shows


class _RedactApiKey(logging.Filter):
    """Redacts ``api_key=...`` and any registered key from urllib3's DEBUG lines (e.g. the request
    line ``"GET /api/sessions?api_key=... HTTP/1.1"``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        secrets = sorted(_SECRETS)
        if "api_key" in message.lower() or any(secret in message for secret in secrets):
            record.msg, record.args = scrub(message, secrets), None
        return True


def _install_log_redaction() -> None:
    # A filter on the logger that emits the record runs before any handler sees it, whatever
    # handlers Airflow or pytest attach further up.
    for name in ("urllib3.connectionpool", "urllib3.connection", "urllib3.util.retry", "requests"):
        target = logging.getLogger(name)
        if not any(isinstance(f, _RedactApiKey) for f in target.filters):
            target.addFilter(_RedactApiKey())


_install_log_redaction()


class _NoDebugMixin:
    """``http.client`` prints every request header (the key among them) to stdout when its class
    attribute ``debuglevel`` is raised, e.g. by ``HTTPConnection.debuglevel = 1`` in a debugging
    session. These connections always report 0 and ignore ``set_debuglevel``."""

    @property
    def debuglevel(self) -> int:
        return 0

    @debuglevel.setter
    def debuglevel(self, value: int) -> None:
        pass


class _QuietHTTPConnection(_NoDebugMixin, HTTPConnection):
    pass


class _QuietHTTPSConnection(_NoDebugMixin, HTTPSConnection):
    pass


class _QuietHTTPPool(HTTPConnectionPool):
    ConnectionCls = _QuietHTTPConnection


class _QuietHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _QuietHTTPSConnection


class _QuietAdapter(HTTPAdapter):
    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _QuietHTTPPool, "https": _QuietHTTPSPool}


def _base_url(host: str, schema: str | None, port: int | None) -> str:
    """The HTTP provider's convention: a host may carry its own scheme; else ``schema`` (default
    ``http``) is the scheme; a port is appended when set."""
    host = host.strip().rstrip("/")
    url = host if "://" in host else f"{(schema or 'http').strip() or 'http'}://{host}"
    if port:
        url = f"{url}:{port}"
    return url


class HttpSessionService:
    """The HTTP, key and error handling every adapter shares, configured by an Airflow HTTP
    connection: host (optionally with scheme), schema (scheme, default ``http``), port, password or
    extra ``api_key`` (the API key; the password wins when both are set), extra ``timeout`` (seconds
    for connect and for read, default 10). Services that are asked one session at a time also read
    extra ``concurrency`` (parallel requests, default 8) and ``budget_seconds`` (per run, default 60).

    Subclasses set :attr:`API_KEY_HEADER` (``None``: the key goes as query parameter ``api_key``)
    and implement the calls of :class:`WhatsAppAdapter` (``restart_session`` where the service has one).
    """

    FLAVOR = ""
    LABEL = "WhatsApp service"
    API_KEY_HEADER: str | None = None
    DEFAULT_CONCURRENCY = 8
    DEFAULT_BUDGET_SECONDS = 60.0

    def __init__(self, conn_id: str = DEFAULT_CONN_ID, *, timeout: float | None = None):
        from airflow.sdk import BaseHook

        connection = BaseHook.get_connection(conn_id)
        extra = connection.extra_dejson or {}
        if not connection.host:
            raise ValueError(f"connection {conn_id!r} has no host; set the WhatsApp service's host (and port)")
        self.conn_id = conn_id
        self.base_url = scrub(_base_url(connection.host, connection.schema, connection.port))
        self.timeout = float(timeout if timeout is not None else extra.get("timeout") or DEFAULT_TIMEOUT_SECONDS)
        self.concurrency = int(self._extra_number(extra, "concurrency", self.DEFAULT_CONCURRENCY, 1))
        self.budget_seconds = self._extra_number(extra, "budget_seconds", self.DEFAULT_BUDGET_SECONDS, 0.001)
        self.__api_key: str = str(connection.password or extra.get("api_key") or "")
        if not self.__api_key:
            raise ValueError(f"connection {conn_id!r} has no API key; set its password or extra 'api_key'")
        self._mask(self.__api_key)
        self._http = requests.Session()
        adapter = _QuietAdapter(pool_maxsize=max(10, self.concurrency))
        self._http.mount("http://", adapter)
        self._http.mount("https://", adapter)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(conn_id={self.conn_id!r}, base_url={self.base_url!r}, timeout={self.timeout})"

    @staticmethod
    def _mask(secret: str) -> None:
        """Register the key with the log filter and with Airflow's secrets masker (a second net
        under task logs)."""
        if len(secret) >= 3:
            _SECRETS.add(secret)
        with suppress(Exception):
            from airflow.sdk.log import mask_secret

            mask_secret(secret, "api_key")

    def _extra_number(self, extra: dict[str, Any], name: str, default: float, minimum: float) -> float:
        value = extra.get(name)
        if value is None or value == "":
            return float(default)
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = minimum - 1
        if number < minimum:
            raise ValueError(f"connection {getattr(self, 'conn_id', '?')!r}: extra {name!r} must be a number of at "
                             f"least {minimum:g}, not {value!r}")
        return number

    # -- the default read: one call that lists every session ----------------------------------------
    def read_sessions(self, session_ids: Sequence[str]) -> SessionRead:
        """Services that list every session answer in one call; the ids are not needed."""
        return SessionRead(tuple(self.sessions()))

    def sessions(self) -> list[Session]:
        raise NotImplementedError(f"{self.LABEL} has no call that lists every session; use read_sessions(ids)")

    def restart_session(self, session: Session) -> str:
        """Services without a restart call (the seed's) refuse; their held sessions are never
        ``restartable``, so only a person's explicit request gets here."""
        raise SessionRejected(f"{self.LABEL} has no call that restarts a session it holds "
                              f"({session.session_id!r} is {session.status!r}); a person must reconnect it")

    # -- services asked one session at a time -------------------------------------------------------
    def _read_each(self, session_ids: Sequence[str], read_one: Callable[[str], Session | None]) -> SessionRead:
        """Ask ``read_one`` about each id with at most :attr:`concurrency` requests in flight and
        no new request started after :attr:`budget_seconds`; ids not read are ``unchecked``. The
        first failure stops the read and is raised (nothing half-read is returned)."""
        ids = list(dict.fromkeys(session_ids))
        deadline = time.monotonic() + self.budget_seconds
        pending = iter(ids)
        lock = threading.Lock()
        stop = threading.Event()
        found: dict[str, Session] = {}
        read: set[str] = set()
        failures: list[BaseException] = []

        def worker() -> None:
            while not stop.is_set():
                with lock:
                    session_id = next(pending, None)
                if session_id is None:
                    return
                if time.monotonic() >= deadline:
                    stop.set()  # requests under way finish; no new one starts
                    return
                try:
                    session = read_one(session_id)
                except BaseException as exc:  # noqa: BLE001 - re-raised below, in the caller's thread
                    with lock:
                        failures.append(exc)
                    stop.set()
                    return
                with lock:
                    read.add(session_id)
                    if session is not None:
                        found[session_id] = session

        workers = max(1, min(self.concurrency, len(ids)))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"wa-{self.FLAVOR or 'read'}") as pool:
            for future in [pool.submit(worker) for _ in range(workers)]:
                future.result()
        if failures:
            raise failures[0]
        unchecked = tuple(session_id for session_id in ids if session_id not in read)
        if unchecked:
            log.warning("%s: time budget of %gs used up; %d of %d session(s) not checked this run",
                        self.LABEL, self.budget_seconds, len(unchecked), len(ids))
        return SessionRead(tuple(found[session_id] for session_id in ids if session_id in found), unchecked)

    # -- plumbing ----------------------------------------------------------------------------------
    def _send(self, method: str, path: str, payload: dict[str, Any] | None = None, *,
              authenticated: bool = True, params: dict[str, str] | None = None) -> requests.Response:
        what = f"{method} {path}"
        params = dict(params or {})
        headers: dict[str, str] = {}
        if authenticated and self.API_KEY_HEADER:
            headers[self.API_KEY_HEADER] = self.__api_key
        elif authenticated:
            params["api_key"] = self.__api_key
        try:
            return self._http.request(method, self.base_url + path, params=params or None, json=payload,
                                      headers=headers, timeout=(self.timeout, self.timeout), allow_redirects=False)
        except requests.Timeout:
            # ``from None``: the requests exception's text holds the full URL, key included.
            raise self._fail(what, f"did not answer within {self.timeout:g}s (timeout)", "timeout") from None
        except requests.ConnectionError as exc:
            raise self._fail(what, f"is unreachable ({self._connection_problem(exc)})", "unreachable") from None
        except requests.RequestException as exc:
            raise self._fail(what, f"request failed ({type(exc).__name__})", "unreachable") from None

    def _request(self, method: str, path: str, payload: dict[str, Any] | None = None, *,
                 authenticated: bool = True, params: dict[str, str] | None = None) -> Any:
        """Send a request whose only good answer is 2xx JSON; return the decoded body."""
        response = self._send(method, path, payload, authenticated=authenticated, params=params)
        return self._decode(f"{method} {path}", response)

    def _decode(self, what: str, response: requests.Response) -> Any:
        """The JSON body of a 2xx answer; anything else raises :class:`ServiceUnavailable`."""
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
        message = f"{self.LABEL} at {self.base_url} ({what}) {problem}"
        return ServiceUnavailable(scrub(message, [self.__api_key]), reason)

    def _shape(self, what: str, expected: str) -> ServiceUnavailable:
        return self._fail(what, f"answered with an unexpected shape (expected {expected})", "bad_shape")

    def _rejected(self, what: str, response: requests.Response, problem: str | None = None) -> SessionRejected:
        problem = f"with HTTP {response.status_code}" if problem is None else problem
        return SessionRejected(scrub(f"{self.LABEL} refused {what}{' ' if problem else ''}{problem}: "
                                     f"{self._snippet(response)}", [self.__api_key]))

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
