"""Request values checked against fixed rules. Every rule names the parameter and what it accepts,
so a bad request gets a 400 that says how to fix it. Identifiers (columns to sort on) are looked up
in fixed maps, never taken from the request."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from include.branch_sync.config import CONN_ID_RE, TABLE_RE
from include.branch_sync.tracking import BATCH_STATUSES, PAIR_STATUSES
from include.certificates.status import ROW_STATUSES as CERT_ROW_STATUSES
from include.certificates.status import STATUSES as CERT_BATCH_STATUSES

SYNC_BATCH_RE = re.compile(r"^sync_\d{8}_\d{6}_[A-Za-z0-9]{1,32}$")
CERT_BATCH_RE = re.compile(r"^cert_\d{8}_\d{6}_[A-Za-z0-9]{1,32}$")
VERIFY_RE = re.compile(r"^verify_\d{8}_\d{6}_[A-Za-z0-9]{8}$")
MAX_PER_PAGE = 500
MAX_PAIRS_PER_PAGE = 5000
MAX_HISTORY = 500


class BadRequest(ValueError):
    """A request value that does not follow its rule (HTTP 400)."""


class NotFound(LookupError):
    """A named thing that does not exist (HTTP 404)."""


class Forbidden(PermissionError):
    """A request this console refuses whatever the user may do (HTTP 403)."""


class Conflict(RuntimeError):
    """An action that does not apply to the thing in its current state (HTTP 409)."""


def batch_id(value: str, kind: str = "sync") -> str:
    pattern, example = {"sync": (SYNC_BATCH_RE, "sync_20251108_143052_aB3dEf9h"),
                        "verify": (VERIFY_RE, "verify_20261120_010000_Xy12Ab34")}.get(
        kind, (CERT_BATCH_RE, "cert_20261120_090000_Xy12Ab34"))
    if not isinstance(value, str) or not pattern.match(value):
        raise BadRequest(f"malformed {kind} batch id {value!r}: expected the form {example}")
    return value


def integer(query: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise BadRequest(f"parameter {name!r} must be a whole number from {low} to {high}, not {raw!r}") from None
    if not low <= value <= high:
        raise BadRequest(f"parameter {name!r} must be from {low} to {high}, not {value}")
    return value


def choice(query: Mapping[str, str], name: str, allowed: tuple[str, ...]) -> str | None:
    raw = query.get(name)
    if raw is None or raw == "":
        return None
    if raw not in allowed:
        raise BadRequest(f"parameter {name!r} must be one of {', '.join(allowed)}, not {raw!r}")
    return raw


def flag(query: Mapping[str, str], name: str) -> bool:
    raw = (query.get(name) or "").lower()
    if raw in ("", "0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    raise BadRequest(f"parameter {name!r} must be true or false, not {query.get(name)!r}")


def name(query: Mapping[str, str], param: str, pattern: re.Pattern[str], what: str) -> str | None:
    raw = query.get(param)
    if raw is None or raw == "":
        return None
    if not pattern.match(raw):
        raise BadRequest(f"parameter {param!r} is not a valid {what}: {raw!r}")
    return raw


@dataclass(frozen=True)
class Page:
    page: int
    per_page: int

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page


def page(query: Mapping[str, str], default: int = 50, high: int = MAX_PER_PAGE) -> Page:
    return Page(integer(query, "page", 1, 1, 1_000_000), integer(query, "per_page", default, 1, high))


# -- sort keys: request word -> column (fixed); "-" in front sorts descending -------------------------------
PAIR_SORTS = {
    "connection": "connection_name", "table": "table_name", "model": "model_name", "status": "status",
    "processed": "records_processed", "skipped": "records_skipped", "deleted": "records_deleted",
    "duration": "duration_seconds", "retries": "retry_count", "started": "started_at",
}
PARTICIPANT_SORTS = {"row": "row_number", "name": "participant_name", "status": "status", "attempts": "attempts"}


def sort(query: Mapping[str, str], allowed: Mapping[str, str], default: str) -> tuple[str, str, bool]:
    """(the request word, its column, descending)."""
    raw = query.get("sort") or default
    word = raw[1:] if raw.startswith("-") else raw
    if word not in allowed:
        raise BadRequest(f"parameter 'sort' must be one of {', '.join(allowed)} (with '-' for descending), "
                         f"not {raw!r}")
    return raw, allowed[word], raw.startswith("-")


@dataclass(frozen=True)
class SyncListQuery:
    status: str | None
    page: Page


def sync_list(query: Mapping[str, str]) -> SyncListQuery:
    return SyncListQuery(choice(query, "status", BATCH_STATUSES), page(query))


@dataclass(frozen=True)
class SyncDetailQuery:
    failed_only: bool
    status: str | None
    connection: str | None
    table: str | None
    sort: str
    sort_column: str
    descending: bool
    page: Page


def sync_detail(query: Mapping[str, str]) -> SyncDetailQuery:
    word, column, desc = sort(query, PAIR_SORTS, "connection")
    return SyncDetailQuery(
        failed_only=flag(query, "failed"), status=choice(query, "status", PAIR_STATUSES),
        connection=name(query, "connection", CONN_ID_RE, "connection id"),
        table=name(query, "table", TABLE_RE, "table name"), sort=word, sort_column=column, descending=desc,
        page=page(query, default=500, high=MAX_PAIRS_PER_PAGE))


@dataclass(frozen=True)
class HistoryQuery:
    batches: int
    table: str | None


def history(query: Mapping[str, str]) -> HistoryQuery:
    return HistoryQuery(integer(query, "batches", 20, 1, MAX_HISTORY),
                        name(query, "table", TABLE_RE, "table name"))


@dataclass(frozen=True)
class CertListQuery:
    status: str | None
    page: Page


def cert_list(query: Mapping[str, str]) -> CertListQuery:
    return CertListQuery(choice(query, "status", CERT_BATCH_STATUSES), page(query))


@dataclass(frozen=True)
class CertDetailQuery:
    status: str | None
    sort: str
    sort_column: str
    descending: bool
    page: Page


def cert_detail(query: Mapping[str, str]) -> CertDetailQuery:
    status = choice(query, "status", CERT_ROW_STATUSES)
    if flag(query, "failed"):
        status = "failed"
    word, column, desc = sort(query, PARTICIPANT_SORTS, "row")
    return CertDetailQuery(status, word, column, desc, page(query, default=500, high=MAX_PAIRS_PER_PAGE))


def workspace(query: Mapping[str, str]) -> int | None:
    if not query.get("workspace"):
        return None
    return integer(query, "workspace", 0, 0, 2**62)


def account_ids(body: object, limit: int) -> list[int]:
    """The ``accounts`` of a JSON body: a list of 1 to ``limit`` account ids (whole numbers)."""
    ids = body.get("accounts") if isinstance(body, Mapping) else None
    if not isinstance(ids, list) or not ids or len(ids) > limit \
            or not all(isinstance(i, int) and not isinstance(i, bool) and i > 0 for i in ids):
        raise BadRequest(f"body must be {{\"accounts\": [ids]}} with 1 to {limit} account ids (whole numbers), "
                         f"not {body!r}"[:300])
    return list(dict.fromkeys(ids))
