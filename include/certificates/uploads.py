"""What a certificate request reads: the uploaded file (confined to the upload base, local or on
object storage) or the employees table, as participants."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from include.certificates.batches import EMPLOYEES, DispatchError, Participant
from include.certificates.spreadsheet import RowError, UploadError, check_upload_name, read_participants
from include.common.db import Database
from include.common.paths import DATA_DIR
from include.common.scrub import scrub

UPLOAD_SUFFIXES = (".csv", ".xlsx")


def upload_base() -> str:
    """Where uploads live: a local folder, or an object-storage URI such as
    ``s3://aws_default@bucket/uploads`` (the connection id before the ``@``)."""
    return os.environ.get("CERTIFICATE_UPLOAD_BASE") or str(DATA_DIR / "uploads")


def output_base() -> str:
    """Where PDFs are written: a local folder or an object-storage URI (as :func:`upload_base`)."""
    return os.environ.get("CERTIFICATE_OUTPUT_BASE") or str(DATA_DIR / "output" / "certificates")


def is_object_storage(uri: str) -> bool:
    return "://" in uri and not uri.startswith("file://")


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
