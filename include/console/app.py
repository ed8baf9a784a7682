"""The console's FastAPI app, mounted by ``plugins/backoffice.py`` at ``/backoffice``.

Every route carries one of Airflow's own authorization dependencies, for the DAG whose data it
shows: sync pages need ``GET`` on the runs of ``branch_sync``, certificate pages on those of
``certificate_dispatch``, WhatsApp sessions on those of ``health_reconcile``; Resume and Retry need
``PUT`` on task instances (what Airflow asks to clear them), a new certificate batch from an upload
``POST`` on the runs of ``certificate_dispatch`` (what Airflow asks to trigger it); all call the REST
API with the user's own token. Reconnect of a WhatsApp session needs ``PUT`` on the task instances of
``health_reconcile`` (the DAG that reconnects sessions) and asks the service itself, through the
job's adapter, as that user (named in the account's audit metadata). No token: 401; a bad one: 403 (Airflow's answers). Database reads are
blocking, so the routes are plain ``def`` (FastAPI runs them in its thread pool); the upload routes
read their form asynchronously and do their blocking work in the thread pool too.
"""

from __future__ import annotations

import os
from dataclasses import replace
from collections.abc import Callable
from typing import Any

from urllib.parse import quote

from fastapi import Body, Depends, FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response

from airflow.api_fastapi.app import get_auth_manager
from airflow.api_fastapi.auth.managers.base_auth_manager import COOKIE_NAME_JWT_TOKEN
from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity, DagDetails
from airflow.api_fastapi.core_api.security import GetUserDep, requires_access_dag

from include.branch_sync.spec import DAG_ID as SYNC_DAG
from include.certificates.spec import DAG_ID as CERT_DAG
from include.common.conn_ids import APP_DB
from include.common.db import Database
from include.console import actions, certs, downloads, forms, pages, params, sync, upload, verify, whatsapp
from include.console.html import PREFIX, run_link
from include.console.reader import read
from include.health.spec import DAG_ID as HEALTH_DAG
from include.health.whatsapp.status import whatsapp_status
from include.sync_verify.spec import DAG_ID as VERIFY_DAG

READ_SYNC = [Depends(requires_access_dag("GET", DagAccessEntity.RUN, SYNC_DAG))]
READ_CERT = [Depends(requires_access_dag("GET", DagAccessEntity.RUN, CERT_DAG))]
READ_VERIFY = [Depends(requires_access_dag("GET", DagAccessEntity.RUN, VERIFY_DAG))]
READ_HEALTH = [Depends(requires_access_dag("GET", DagAccessEntity.RUN, HEALTH_DAG))]
ACT_SYNC = [Depends(requires_access_dag("PUT", DagAccessEntity.TASK_INSTANCE, SYNC_DAG))]
ACT_CERT = [Depends(requires_access_dag("PUT", DagAccessEntity.TASK_INSTANCE, CERT_DAG))]
ACT_HEALTH = [Depends(requires_access_dag("PUT", DagAccessEntity.TASK_INSTANCE, HEALTH_DAG))]
START_CERT = [Depends(requires_access_dag("POST", DagAccessEntity.RUN, CERT_DAG))]
STUCK_API_TIMEOUT = 5.0
_ensured: set[str] = set()


def sync_conn() -> str:
    from include.branch_sync.config import load_config

    return load_config().target


def _open(conn_id: str, ensure: Callable[[Database], None]) -> Database:
    db = Database(conn_id, retries=2)
    if conn_id + ensure.__module__ not in _ensured:  # tables are created on first use, as the jobs do
        ensure(db)
        _ensured.add(conn_id + ensure.__module__)
    return db


def _sync_db() -> Database:
    from include.branch_sync.tracking import ensure_schema

    return _open(sync_conn(), ensure_schema)


def _verify_db() -> Database:
    from include.sync_verify.tracking import ensure_schema

    return _open(sync_conn(), ensure_schema)


def _app_db() -> Database:
    from include.certificates.batches import ensure_schema

    return _open(APP_DB, ensure_schema)


def _accounts_db() -> Database:
    from include.health.whatsapp.accounts import ensure_accounts_table

    return _open(APP_DB, ensure_accounts_table)


def query_of(request: Request) -> dict[str, str]:
    return dict(request.query_params)


def can_read(user: Any, dag_id: str) -> bool:
    return get_auth_manager().is_authorized_dag(method="GET", access_entity=DagAccessEntity.RUN,
                                                details=DagDetails(id=dag_id), user=user)


def problem_page(status: int, text: str) -> HTMLResponse:
    return HTMLResponse(pages.message(f"Error {status}", text), status_code=status)


def can_act(user: Any, dag_id: str) -> bool:
    return get_auth_manager().is_authorized_dag(method="PUT", access_entity=DagAccessEntity.TASK_INSTANCE,
                                                details=DagDetails(id=dag_id), user=user)


def can_start(user: Any, dag_id: str) -> bool:
    return get_auth_manager().is_authorized_dag(method="POST", access_entity=DagAccessEntity.RUN,
                                                details=DagDetails(id=dag_id), user=user)


def user_token(request: Request) -> str:
    auth = request.headers.get("authorization") or ""
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return request.cookies.get(COOKIE_NAME_JWT_TOKEN, "")


def airflow_api(request: Request) -> actions.AirflowApi:
    base = os.environ.get("BACKOFFICE_AIRFLOW_URL") or f"{request.url.scheme}://{request.url.netloc}"
    return actions.AirflowApi(base, user_token(request))


def stuck_api(request: Request) -> actions.AirflowApi:
    """The API server itself, as the logged-in user, with a short timeout (the stuck diagnosis
    reads pools and task states; a slow or refused answer makes it unavailable, not the page)."""
    return replace(airflow_api(request), timeout=STUCK_API_TIMEOUT)


def _json(data: dict[str, Any], statements: int) -> JSONResponse:
    return JSONResponse({**data, "sql_statements": statements})


def create_app() -> FastAPI:
    app = FastAPI(title="Back office", docs_url=None, redoc_url=None, openapi_url=None)

    def problem(request: Request, status: int, text: str) -> Response:
        if "/api/" in request.url.path:
            return JSONResponse({"detail": text}, status_code=status)
        return problem_page(status, text)

    def not_found(request: Request, exc: LookupError) -> Response:
        # the jobs' "no such batch" is a plain LookupError; a KeyError or IndexError is a bug (500)
        if not isinstance(exc, params.NotFound) and type(exc) is not LookupError:
            raise exc
        return problem(request, 404, str(exc))

    for kind, status in ((params.BadRequest, 400), (params.Forbidden, 403), (params.Conflict, 409)):
        app.add_exception_handler(kind, lambda request, exc, status=status: problem(request, status, str(exc)))
    app.add_exception_handler(LookupError, not_found)
    app.add_exception_handler(actions.ApiRefused, lambda request, exc: problem(request, exc.status, str(exc)))

    # -- sync ------------------------------------------------------------------------------------------------
    def sync_list(request: Request) -> tuple[dict[str, Any], int]:
        q = params.sync_list(query_of(request))
        with _sync_db() as db:
            return read(db, lambda r: sync.list_batches(r, q))

    def sync_detail(request: Request, batch_id: str) -> tuple[dict[str, Any], int]:
        q = params.sync_detail(query_of(request))
        params.batch_id(batch_id, "sync")
        with _sync_db() as db:
            return read(db, lambda r: sync.batch_detail(r, batch_id, q, stuck_api(request)))

    @app.get("/")
    def home(user: GetUserDep) -> Response:
        """The first section whose DAG the user may read: a user granted only some DAGs lands on
        theirs, not on a 403."""
        for dag_id, section in ((SYNC_DAG, "sync"), (CERT_DAG, "certificates"), (HEALTH_DAG, "whatsapp")):
            if can_read(user, dag_id):
                return RedirectResponse(f"{PREFIX}/{section}")
        return problem_page(403, "You may read none of the back office DAGs "
                                 f"({SYNC_DAG}, {CERT_DAG}, {HEALTH_DAG}); ask an admin for access.")

    @app.get("/api/sync/batches", dependencies=READ_SYNC)
    def api_sync_list(request: Request) -> JSONResponse:
        return _json(*sync_list(request))

    @app.get("/sync", dependencies=READ_SYNC, response_class=HTMLResponse)
    def page_sync_list(request: Request) -> str:
        return pages.sync_list(sync_list(request)[0], query_of(request))

    @app.get("/api/sync/batches/{batch_id}", dependencies=READ_SYNC)
    def api_sync_detail(request: Request, batch_id: str) -> JSONResponse:
        return _json(*sync_detail(request, batch_id))

    @app.get("/sync/{batch_id}", dependencies=READ_SYNC, response_class=HTMLResponse)
    def page_sync_detail(request: Request, batch_id: str, user: GetUserDep) -> str:
        return pages.sync_detail(sync_detail(request, batch_id)[0], query_of(request), can_act(user, SYNC_DAG))

    @app.post("/api/sync/batches/{batch_id}/resume", dependencies=ACT_SYNC)
    def api_sync_resume(request: Request, batch_id: str) -> JSONResponse:
        params.batch_id(batch_id, "sync")
        with _sync_db() as db:
            batch, _ = read(db, lambda r: sync.find_batch(r, batch_id))
        return JSONResponse(actions.resume_sync(airflow_api(request), batch, SYNC_DAG))

    @app.get("/sync/{batch_id}/export.{fmt}", dependencies=READ_SYNC)
    def sync_export(batch_id: str, fmt: str) -> Response:
        fmt = downloads.export_format(fmt)
        params.batch_id(batch_id, "sync")
        with _sync_db() as db:
            content = downloads.export_batch(db, "sync", batch_id, fmt)
        return downloads.response(content, f"{batch_id}.{fmt}", fmt)

    @app.get("/api/sync/history", dependencies=READ_SYNC)
    def api_history(request: Request) -> JSONResponse:
        return _json(*history(request))

    @app.get("/history", dependencies=READ_SYNC, response_class=HTMLResponse)
    def page_history(request: Request) -> str:
        return pages.history(history(request)[0], query_of(request))

    def history(request: Request) -> tuple[dict[str, Any], int]:
        q = params.history(query_of(request))
        with _sync_db() as db:
            return read(db, lambda r: sync.history(r, q))

    # -- verification ----------------------------------------------------------------------------------------
    def verify_overview() -> tuple[dict[str, Any], int]:
        with _verify_db() as db:
            return read(db, verify.overview)

    def verify_run(verification_id: str) -> tuple[dict[str, Any], int]:
        params.batch_id(verification_id, "verify")
        with _verify_db() as db:
            return read(db, lambda r: verify.run_detail(r, verification_id))

    @app.get("/api/verify", dependencies=READ_VERIFY)
    def api_verify() -> JSONResponse:
        return _json(*verify_overview())

    @app.get("/verify", dependencies=READ_VERIFY, response_class=HTMLResponse)
    def page_verify() -> str:
        return verify.overview_page(verify_overview()[0])

    @app.get("/api/verify/{verification_id}", dependencies=READ_VERIFY)
    def api_verify_run(verification_id: str) -> JSONResponse:
        return _json(*verify_run(verification_id))

    @app.get("/verify/{verification_id}", dependencies=READ_VERIFY, response_class=HTMLResponse)
    def page_verify_run(verification_id: str) -> str:
        return verify.run_page(verify_run(verification_id)[0])

    @app.get("/verify/{verification_id}/export.{fmt}", dependencies=READ_VERIFY)
    def verify_export(verification_id: str, fmt: str) -> Response:
        fmt = downloads.export_format(fmt, downloads.SHEET_FORMATS)
        params.batch_id(verification_id, "verify")
        with _verify_db() as db:
            sheets, _ = read(db, lambda r: verify.sheets(r, verification_id))
        return downloads.response(downloads.write_sheets(sheets, fmt, csv_sheet=0), f"{verification_id}.{fmt}", fmt)

    # -- certificates ----------------------------------------------------------------------------------------
    def cert_list(request: Request) -> tuple[dict[str, Any], int]:
        q = params.cert_list(query_of(request))
        with _app_db() as db:
            return read(db, lambda r: certs.list_batches(r, q))

    def cert_detail(request: Request, batch_id: str) -> tuple[dict[str, Any], int]:
        q = params.cert_detail(query_of(request))
        params.batch_id(batch_id, "cert")
        with _app_db() as db:
            return read(db, lambda r: certs.batch_detail(r, batch_id, q))

    @app.get("/api/certificates", dependencies=READ_CERT)
    def api_cert_list(request: Request) -> JSONResponse:
        return _json(*cert_list(request))

    @app.get("/certificates", dependencies=READ_CERT, response_class=HTMLResponse)
    def page_cert_list(request: Request, user: GetUserDep) -> str:
        return pages.cert_list(cert_list(request)[0], query_of(request), can_start(user, CERT_DAG))

    @app.get("/certificates/new", dependencies=START_CERT, response_class=HTMLResponse)
    def page_cert_new() -> str:
        return pages.cert_upload(upload.limit())

    @app.post("/certificates/new", dependencies=START_CERT)
    async def cert_upload(request: Request) -> Response:
        """The file checked, stored and previewed, or refused with the reason (the form again)."""
        return await forms.upload_certificates(request)

    @app.post("/certificates/new/start", dependencies=START_CERT)
    async def cert_start(request: Request) -> Response:
        """Trigger certificate_dispatch for the previewed file as the user; then its run's tab,
        which opens the batch's page as soon as its first task has created the batch."""
        run_id = await forms.start_certificates(request, airflow_api(request), CERT_DAG)
        return RedirectResponse(f"{PREFIX}/run/{CERT_DAG}/{quote(run_id, safe='')}", status_code=303)

    @app.get("/api/certificates/{batch_id}", dependencies=READ_CERT)
    def api_cert_detail(request: Request, batch_id: str) -> JSONResponse:
        return _json(*cert_detail(request, batch_id))

    @app.get("/certificates/{batch_id}", dependencies=READ_CERT, response_class=HTMLResponse)
    def page_cert_detail(request: Request, batch_id: str, user: GetUserDep) -> str:
        return pages.cert_detail(cert_detail(request, batch_id)[0], query_of(request), can_act(user, CERT_DAG))

    @app.post("/api/certificates/{batch_id}/retry", dependencies=ACT_CERT)
    def api_cert_retry(request: Request, batch_id: str) -> JSONResponse:
        params.batch_id(batch_id, "cert")
        with _app_db() as db:
            (batch, (chunks, bad)), _ = read(db, lambda r: (certs.find_batch(r, batch_id),
                                                             certs.retryable_chunks(r, batch_id)))
        return JSONResponse(actions.retry_certificates(airflow_api(request), batch, chunks, bad))

    @app.get("/certificates/{batch_id}/export.{fmt}", dependencies=READ_CERT)
    def cert_export(batch_id: str, fmt: str) -> Response:
        fmt = downloads.export_format(fmt)
        params.batch_id(batch_id, "cert")
        with _app_db() as db:
            content = downloads.export_batch(db, "certificates", batch_id, fmt)
        return downloads.response(content, f"{batch_id}.{fmt}", fmt)

    @app.get("/certificates/{batch_id}/pdf/{row_number}", dependencies=READ_CERT)
    def cert_pdf(batch_id: str, row_number: int) -> FileResponse:
        params.batch_id(batch_id, "cert")
        with _app_db() as db:
            path, _ = read(db, lambda r: certs.pdf_path(r, batch_id, row_number))
        return FileResponse(path, media_type="application/pdf", filename=path.name)

    # -- WhatsApp ---------------------------------------------------------------------------------------------
    def accounts(request: Request) -> tuple[dict[str, Any], int]:
        query = query_of(request)
        workspace, page = params.workspace(query), params.page(query, default=100)
        with _accounts_db() as db:
            data, statements = read(db, lambda r: whatsapp_status(r, workspace, limit=page.per_page,
                                                                   offset=page.offset))
        return {**data, "page": page.page, "per_page": page.per_page}, statements

    @app.get("/api/whatsapp", dependencies=READ_HEALTH)
    def api_whatsapp(request: Request) -> JSONResponse:
        return _json(*accounts(request))

    @app.get("/whatsapp", dependencies=READ_HEALTH, response_class=HTMLResponse)
    def page_whatsapp(request: Request, user: GetUserDep) -> str:
        return pages.whatsapp(accounts(request)[0], query_of(request), can_act(user, HEALTH_DAG))

    def reconnect(ids: list[int], user: Any) -> tuple[dict[str, Any], int]:
        with _accounts_db() as db:
            return whatsapp.reconnect(db, ids, user.get_name())

    @app.post("/api/whatsapp/reconnect", dependencies=ACT_HEALTH)
    def api_whatsapp_reconnect(user: GetUserDep, body: Any = Body(None)) -> JSONResponse:
        answer, status = reconnect(params.account_ids(body, whatsapp.MAX_AT_ONCE), user)
        return JSONResponse(answer, status_code=status)

    @app.post("/api/whatsapp/{account_id}/reconnect", dependencies=ACT_HEALTH)
    def api_whatsapp_reconnect_one(account_id: int, user: GetUserDep) -> JSONResponse:
        answer, status = reconnect([account_id], user)
        if status == 200:  # one session: its own answer and status (409 refused, 404 unknown)
            (result,) = answer["results"]
            answer, status = (result if result["ok"] else {"detail": result["message"]}), result["status"]
        return JSONResponse(answer, status_code=status)

    # -- the DAG-run tab: the batch of the run being looked at ------------------------------------------------
    @app.get("/run/{dag_id}/{run_id:path}", dependencies=[Depends(requires_access_dag("GET", DagAccessEntity.RUN))])
    def run_tab(request: Request, dag_id: str, run_id: str) -> Response:
        if dag_id == SYNC_DAG:
            with _sync_db() as db:
                batch_id, _ = read(db, lambda r: sync.batch_for_run(r, dag_id, run_id))
            where = "/sync/"
        elif dag_id == CERT_DAG:
            with _app_db() as db:
                batch_id, _ = read(db, lambda r: certs.batch_for_run(r, dag_id, run_id))
            where = "/certificates/"
        else:
            return HTMLResponse(pages.message("No batch", f"Runs of {dag_id} have no back-office batch."))
        if batch_id is None:
            return HTMLResponse(no_batch_yet(stuck_api(request), dag_id, run_id))
        return RedirectResponse(f"{PREFIX}{where}{batch_id}")

    @app.get("/icon.svg")
    def icon() -> Response:
        return Response(ICON, media_type="image/svg+xml")

    return app


def no_batch_yet(api: actions.AirflowApi, dag_id: str, run_id: str) -> str:
    """A run whose first task has not created its batch: the page looks again every 3 s while the
    run may still create it, and says so when it ended without one."""
    try:
        state = api.run_state(dag_id, run_id)
    except Exception:  # the page waits whatever the API says; the state only words it
        state = "unknown"
    link = (run_link(dag_id, run_id), f"Airflow run {run_id}")
    if state in ("success", "failed") or state is None:
        ended = "no longer exists" if state is None else f"ended ({state})"
        return pages.message("No batch", f"The run {run_id} of {dag_id} {ended} without creating a batch: its "
                                         "first task refused the request (see its log).", link=link)
    return pages.message("No batch yet", f"The run {run_id} of {dag_id} has no batch (yet): its first task creates "
                                         f"it (run {state or 'queued'}).", link=link, refresh=3)


ICON = ('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" fill="none" stroke="#64748b" stroke-width="2">'
        '<rect x="3" y="4" width="18" height="16" rx="2"/><path d="M7 15v-3M12 15V8M17 15v-5"/></svg>')
