"""What a certificate request reads: the uploaded file (confined to the upload base, local or on
object storage) or the employees table, as participants; and how an upload made through the
console gets there (``plain_file_name``, ``max_upload_bytes``, ``store_upload``)."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from datetime import datetime
from typing import Any, BinaryIO

from include.certificates.batches import EMPLOYEES, DispatchError, Participant
from include.certificates.spreadsheet import RowError, UploadError, check_upload_name, read_participants
from include.certificates.spreadsheet.types import CONTROL_RE
from include.common.db import Database
from include.common.paths import DATA_DIR
from include.common.scrub import scrub

UPLOAD_SUFFIXES = (".csv", ".xlsx")
MAX_UPLOAD_ENV = "CERTIFICATE_UPLOAD_MAX_BYTES"
DEFAULT_MAX_UPLOAD_BYTES = 50 * 1024 * 1024   # a 100,000-participant XLSX is about 6 MB, as CSV about 9 MB
CONSOLE_FOLDER = "console"   # uploads made through the console: one folder each under it
FILE_NAME_MAX_CHARS = 120


def upload_base() -> str:
    """Where uploads live: a local folder, or an object-storage URI such as
    ``s3://aws_default@bucket/uploads`` (the connection id before the ``@``)."""
    return os.environ.get("CERTIFICATE_UPLOAD_BASE") or str(DATA_DIR / "uploads")


def output_base() -> str:
    """Where PDFs are written: a local folder or an object-storage URI (as :func:`upload_base`)."""
    return os.environ.get("CERTIFICATE_OUTPUT_BASE") or str(DATA_DIR / "output" / "certificates")


def is_object_storage(uri: str) -> bool:
    return "://" in uri and not uri.startswith("file://")


def max_upload_bytes() -> int:
    """The largest upload the console accepts (``CERTIFICATE_UPLOAD_MAX_BYTES``, default 50 MiB)."""
    raw = os.environ.get(MAX_UPLOAD_ENV, "").strip()
    if not raw:
        return DEFAULT_MAX_UPLOAD_BYTES
    if not raw.isdigit() or int(raw) < 1:
        raise DispatchError(f"{MAX_UPLOAD_ENV}={raw!r} is not a positive whole number of bytes")
    return int(raw)


def plain_file_name(raw: str | None) -> str:
    """The name an upload came with, when it is a plain file name; ``UploadError`` naming the trick
    otherwise (a folder or ``..`` in it, a drive or stream ``:``, control characters, a hidden
    ``.name``, an overlong name). Refused, never cleaned up: the user sees what was wrong."""
    if raw is None or not raw.strip():
        raise UploadError("the upload has no file name")
    shown = raw if len(raw) <= 80 else raw[:80] + "..."
    if CONTROL_RE.search(raw) or "\n" in raw or "\r" in raw:
        raise UploadError(f"{shown!r}: the file name contains control characters")
    if "/" in raw or "\\" in raw or ".." in raw.split("/"):
        raise UploadError(f"{shown!r}: the file name holds a path ('/', '\\' or '..'); upload the file under "
                          "its own plain name")
    if ":" in raw:
        raise UploadError(f"{shown!r}: ':' (a drive or a stream) is not allowed in the file name")
    name = raw.strip()
    if name.startswith("."):
        raise UploadError(f"{shown!r}: the file name starts with '.' (a hidden file or a path)")
    if len(name) > FILE_NAME_MAX_CHARS:
        raise UploadError(f"{shown!r}: the file name is longer than {FILE_NAME_MAX_CHARS} characters")
    return name


def store_upload(source: BinaryIO, filename: str, now: datetime) -> Upload:
    """Copy a checked upload under the upload base as ``console/<when>_<random>/<filename>`` (its
    own folder: no upload ever replaces another) and return it as the ``file`` param resolves it.
    A local file is written beside its name and renamed, an object written whole on close: a
    failure leaves no half file under the name."""
    relative = check_upload_name(f"{CONSOLE_FOLDER}/{now:%Y%m%d_%H%M%S}_{secrets.token_hex(4)}/{filename}")
    base_uri = upload_base()
    source.seek(0)
    if is_object_storage(base_uri):
        from airflow.sdk import ObjectStoragePath

        target = ObjectStoragePath(base_uri.rstrip("/") + "/" + relative)
        with target.open("wb") as out:
            shutil.copyfileobj(source, out, 1 << 20)
    else:
        base = Path(base_uri.removeprefix("file://")).resolve()
        path = base / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.parent.resolve().is_relative_to(base):  # a symlinked console/ pointing elsewhere
            raise DispatchError(f"{CONSOLE_FOLDER}/ under the upload base {base} leads outside it")
        part = path.with_name(f".{path.name}.part")
        try:
            with open(part, "xb") as out:
                shutil.copyfileobj(source, out, 1 << 20)
            os.replace(part, path)
        except BaseException:
            part.unlink(missing_ok=True)
            raise
    return resolve_upload(relative)


@dataclass(frozen=True)
class Upload:
    """An uploaded file confined to the upload base: ``path`` to read, ``name`` relative to the base."""

    path: Any  # pathlib.Path, or airflow.sdk.ObjectStoragePath under an object-storage base
    name: str


def resolve_upload(file_param: Any) -> Upload:
    """The uploaded file named by the ``file`` param, confined to the upload base."""
    if not isinstance(file_param, str) or not file_param.strip():
        raise DispatchError("param 'file' is required when data_source is 'file'")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in file_param):  # NUL would raise deep in os.path
        raise DispatchError(f"param 'file': {file_param!r} contains a control character (NUL, newline, ...)")
    raw = file_param.strip()
    base_uri = upload_base()
    if is_object_storage(base_uri):
        return _resolve_object_upload(file_param, raw, base_uri)
    base = Path(base_uri.removeprefix("file://")).resolve()
    if raw.startswith("file://"):
        raw = raw[len("file://"):]
    candidate = Path(raw)
    path = (candidate if candidate.is_absolute() else base / candidate).resolve()
    if path != base and base not in path.parents:
        raise DispatchError(f"param 'file': {file_param!r} is outside the upload base {base}")
    if path.suffix.lower() not in UPLOAD_SUFFIXES:
        raise DispatchError(f"param 'file': {file_param!r} is not a .csv or .xlsx upload")
    if not path.is_file():
        raise DispatchError(f"param 'file': {file_param!r} does not exist under the upload base {base}")
    return Upload(path, str(path.relative_to(base)))


def _resolve_object_upload(file_param: str, raw: str, base_uri: str) -> Upload:
    """Object storage has no symlinks to resolve: the name itself must stay inside the base."""
    from airflow.sdk import ObjectStoragePath

    shown_base = scrub(base_uri)
    try:
        name = check_upload_name(raw, check_extension=False)
    except UploadError as exc:
        raise DispatchError(f"param 'file': {file_param!r} is outside the upload base {shown_base} ({exc})") from None
    if PurePosixPath(name).suffix.lower() not in UPLOAD_SUFFIXES:
        raise DispatchError(f"param 'file': {file_param!r} is not a .csv or .xlsx upload")
    path = ObjectStoragePath(base_uri.rstrip("/") + "/" + name)
    try:
        exists = path.is_file()
    except Exception as exc:  # unreachable endpoint, refused credentials: may pass, so the task retries
        raise RuntimeError(f"cannot read the upload base {shown_base}: {type(exc).__name__}: {scrub(str(exc))}") \
            from None
    if not exists:
        raise DispatchError(f"param 'file': {file_param!r} does not exist under the upload base {shown_base}")
    return Upload(path, name)


def participants_from_file(upload: Upload) -> Iterator[Participant]:
    """Participants of an upload; a bad row becomes one failed participant carrying all its errors.
    An object-storage upload is copied to a local temporary file first (one download, then the
    reader seeks locally)."""
    import itertools
    import shutil
    import tempfile

    with contextlib.ExitStack() as stack:
        source: Any = upload.path
        if not isinstance(source, Path):
            local = stack.enter_context(tempfile.TemporaryFile())
            with source.open("rb") as remote:
                shutil.copyfileobj(remote, local, 1 << 20)
            source = local
        items = read_participants(source, filename=PurePosixPath(upload.name).name)
        for row_number, group in itertools.groupby(items, key=lambda item: item.row_number):
            entries = list(group)
            errors = [e for e in entries if isinstance(e, RowError)]
            if errors:
                yield Participant(row_number, None, error="; ".join(str(e) for e in errors))
            else:
                item = entries[0]
                yield Participant(item.row_number, item.name, item.email, item.phone, item.organization,
                                  item.position)


def participants_from_employees(db: Database, employee_ids: Iterable[int]) -> list[Participant]:
    """Active employees (all, or the given ids; an unknown or inactive id is refused)."""
    ids = [int(i) for i in employee_ids]
    rows = db.fetchall(f"SELECT id, name, email, phone, position, department, is_active FROM {db.quote(EMPLOYEES)} "
                       f"ORDER BY id")
    by_id = {int(r["id"]): r for r in rows}
    if ids:
        unknown = [i for i in ids if i not in by_id or not by_id[i]["is_active"]]
        if unknown:
            raise DispatchError(f"param 'employee_ids': unknown or inactive employee id(s) {unknown}")
        chosen = [by_id[i] for i in dict.fromkeys(ids)]
    else:
        chosen = [r for r in rows if r["is_active"]]
    return [Participant(int(r["id"]), r["name"], r["email"], r["phone"], r["department"], r["position"])
            for r in chosen]
