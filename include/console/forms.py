"""The console's form posts (a certificate batch from an uploaded file): read asynchronously, their
blocking work (reading the file, storing it, calling Airflow) in the thread pool; a post from
another origin refused; a refused upload's body drained so the browser shows the reason."""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from include.common.clock import utcnow
from include.console import actions, pages, params, upload


def same_origin(request: Request) -> None:
    """A form post from another site is refused (Airflow's cookie is SameSite=Lax; this is the
    second lock): its ``Origin``, when sent, must be this server."""
    origin = request.headers.get("origin")
    if origin and origin != "null" and urlsplit(origin).netloc != request.url.netloc:
        raise params.Forbidden(f"a form from {origin} may not post here")


async def discard_body(request: Request, most: int) -> None:
    """Read and drop a refused request's body (up to ``most`` bytes): a client still sending when
    the answer comes would see a reset connection instead of the reason. Nothing is kept."""
    seen = 0
    async for chunk in request.stream():
        seen += len(chunk)
        if seen > most:
            break


async def upload_certificates(request: Request) -> Response:
    """The upload form posted: the file checked, stored and previewed (with the Start button), or
    the form again with the reason it was refused and its HTTP status."""
    same_origin(request)
    fields: dict[str, str] = {}
    try:
        limit = upload.limit()
        try:
            upload.check_declared_size(request.headers.get("content-length"), limit)
        except upload.Refused:
            await discard_body(request, upload.DISCARD_MAX)  # so the browser reads the answer
            raise
        async with request.form(max_files=1, max_fields=10) as form:
            fields = {k: v for k, v in form.items() if isinstance(v, str)}
            start = upload.start_request(fields)
            sent = form.get("file")
            sent = sent if isinstance(sent, UploadFile) and sent.filename is not None else None
            received = await run_in_threadpool(upload.receive, sent.file if sent else None,
                                               sent.filename if sent else None, limit, utcnow())
    except params.BadRequest as exc:
        return HTMLResponse(pages.cert_upload(upload.limit(), fields, error=str(exc)), status_code=400)
    except upload.Refused as exc:
        return HTMLResponse(pages.cert_upload(upload.limit(), fields, error=str(exc)), status_code=exc.status)
    return HTMLResponse(pages.cert_upload(limit, fields, preview=received.preview, stored=received.upload.name,
                                          start=start))


async def start_certificates(request: Request, api: actions.AirflowApi, dag_id: str) -> str:
    """The preview confirmed: ``dag_id`` triggered for the stored file as the user; its run id."""
    same_origin(request)
    async with request.form(max_files=0, max_fields=10) as form:
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
    start = upload.start_request(fields)
    stored = await run_in_threadpool(upload.stored_upload, fields.get("file"))
    answer = await run_in_threadpool(actions.start_certificates, api, dag_id, start.conf(stored.name))
    return str(answer["run_id"])
