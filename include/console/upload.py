"""A certificate batch from the console: the upload form's checks around the job's own reader
(``certificates.preview``) and upload base (``certificates.uploads``).

Order matters, so a bad file is refused before anything is stored or run: the request's declared
size (before its body is read), the file's own name (no path tricks), its size, its type (from the
bytes, not the name), then the whole file read as ``prepare`` will read it (no name column, no
usable row: refused). Only then is it stored under the upload base, in a folder of its own, and
previewed; ``certificate_dispatch`` is triggered later, when the user confirms the preview."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, BinaryIO

from include.certificates.batches import DispatchError
from include.certificates.pdf import unsupported_characters
from include.certificates.preview import UploadPreview, preview_upload, renamed_for_content
from include.certificates.spreadsheet import UploadError, detect_format
from include.certificates.uploads import Upload, max_upload_bytes, plain_file_name, resolve_upload, store_upload
from include.console.params import BadRequest

FORM_OVERHEAD = 64 * 1024    # the multipart envelope and the form's other fields
DISCARD_MAX = 512 * 1024 * 1024   # a refused upload's body read and dropped, so the reason reaches the browser
EVENT_NAME_MAX = 200         # as the DAG's param
CHUNK_SIZE_DEFAULT, CHUNK_SIZE_MAX = 100, 5000


class Refused(ValueError):
    """An upload refused before anything was stored or run; ``status`` is the HTTP answer."""

    def __init__(self, status: int, text: str):
        self.status = status
        super().__init__(text)


@dataclass(frozen=True)
class StartRequest:
    """What ``certificate_dispatch`` is triggered with, besides the file."""

    event_name: str
    event_date: str
    chunk_size: int

    def conf(self, file: str) -> dict[str, Any]:
        return {"data_source": "file", "file": file, "event_name": self.event_name, "event_date": self.event_date,
                "chunk_size": self.chunk_size}


@dataclass(frozen=True)
class Received:
    upload: Upload
    preview: UploadPreview


def size_text(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MiB" if size >= 1024 * 1024 else f"{size:,} bytes"


def start_request(form: Mapping[str, Any]) -> StartRequest:
    """The event fields, checked as the DAG's params are (and the event name against the font, as
    ``prepare`` does); :class:`BadRequest` naming the field."""
    name = " ".join(str(form.get("event_name") or "").split())
    if not name or len(name) > EVENT_NAME_MAX:
        raise BadRequest(f"event name: 1 to {EVENT_NAME_MAX} characters, not {len(name)}")
    missing = unsupported_characters(name)
    if missing:
        raise BadRequest(f"event name: the certificate font cannot print {''.join(missing)!r}")
    raw_date = str(form.get("event_date") or "").strip()
    try:
        event_date = date.fromisoformat(raw_date).isoformat() if len(raw_date) == 10 else None
    except ValueError:
        event_date = None
    if event_date is None:
        raise BadRequest(f"event date: a date as YYYY-MM-DD, not {raw_date!r}")
    raw_chunk = str(form.get("chunk_size") or CHUNK_SIZE_DEFAULT).strip()
    if not raw_chunk.isdigit() or not 1 <= int(raw_chunk) <= CHUNK_SIZE_MAX:
        raise BadRequest(f"participants per task: a whole number from 1 to {CHUNK_SIZE_MAX}, not {raw_chunk!r}")
    return StartRequest(name, event_date, int(raw_chunk))


def check_declared_size(content_length: str | None, limit: int) -> None:
    """Refuse a request too large for the limit before its body is read."""
    if content_length is None or not content_length.strip().isdigit():
        raise Refused(411, "the upload must say its size (Content-Length)")
    if int(content_length) > limit + FORM_OVERHEAD:
        raise Refused(413, f"the file is larger than the limit of {size_text(limit)} "
                           f"(request of {size_text(int(content_length))})")


def receive(file: BinaryIO | None, raw_name: str | None, limit: int, now: datetime) -> Received:
    """Check the uploaded file (a seekable binary stream and the name it came with), store it and
    say what the reader found; :class:`Refused` with the reason before anything is stored."""
    if file is None:
        raise Refused(400, "choose a CSV or XLSX file to upload")
    try:
        name = plain_file_name(raw_name)
    except UploadError as exc:
        raise Refused(400, str(exc)) from None
    file.seek(0, 2)
    size = file.tell()
    file.seek(0)
    if size > limit:
        raise Refused(413, f"{name}: {size_text(size)} is larger than the limit of {size_text(limit)}")
    try:
        detect_format(file, name)
    except UploadError as exc:
        raise Refused(415, f"{exc}; upload a CSV or XLSX file") from None
    try:
        preview = preview_upload(file, name)
    except UploadError as exc:  # no name column, no usable row, damaged: nothing will run
        raise Refused(422, str(exc)) from None
    try:
        upload = store_upload(file, renamed_for_content(name, preview.format), now)
    except (OSError, DispatchError, UploadError) as exc:
        raise Refused(500, f"the file could not be stored under the upload base: {exc}") from None
    return Received(upload, preview)


def stored_upload(file: str | None) -> Upload:
    """The stored file a confirmation names, confined to the upload base as the DAG confines it."""
    try:
        return resolve_upload(file)
    except DispatchError as exc:
        raise BadRequest(str(exc).replace("param 'file'", "file")) from None


def limit() -> int:
    try:
        return max_upload_bytes()
    except DispatchError as exc:
        raise Refused(500, str(exc)) from None
