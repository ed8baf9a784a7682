"""Certificate batches in ``app_db``: one ``certificate_batches`` row per run, one ``certificates``
row per participant, PDFs under the output base.

Progress is exact by construction: each participant's row is written idempotently (keyed by
``(batch_id, row_number)``, conditional on its status), and the batch counts are derived from
those rows, never incremented. No database connection is held while PDFs render, and every write
goes through :meth:`include.db.Database.run`, which reconnects and retries after "MySQL server
has gone away" (2006/2013) or a dropped PostgreSQL connection.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import secrets
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path, PurePosixPath
from typing import Any

from include.config import REPO_ROOT
from include.db import Cursor, Database, scrub
from include.tracking import ERROR_MAX, TERMINAL_RUN_STATES, batch_id_for_run, delete_batch_rows, utcnow

log = logging.getLogger(__name__)

APP_DB = "app_db"
BATCHES = "certificate_batches"
ITEMS = "certificates"
EMPLOYEES = "employees"
BATCH_PREFIX = "cert"  # batch ids: cert_YYYYmmdd_HHMMSS_xxxxxxxx
UPLOAD_SUFFIXES = (".csv", ".xlsx")

_SCHEMA: dict[str, list[tuple[str, str, bool]]] = {
    BATCHES: [("batch_id", "id", True), ("dag_id", "name", False), ("run_id", "name", False),
              ("data_source", "status", True), ("source_file", "text", False), ("event_name", "name", False),
              ("event_date", "status", False), ("total_participants", "int", True), ("processed_count", "int", True),
              ("success_count", "int", True), ("failed_count", "int", True), ("progress_percentage", "float", True),
              ("status", "status", True), ("error_message", "text", False), ("started_at", "ts", False),
              ("completed_at", "ts", False), ("updated_at", "ts", False)],
    ITEMS: [("batch_id", "id", True), ("row_number", "int", True), ("chunk_index", "int", True),
            ("participant_name", "name", False), ("email", "name", False), ("phone", "status", False),
            ("organization", "name", False), ("position", "name", False), ("certificate_number", "id", True),
            ("verification_token", "id", True), ("file_path", "text", False), ("status", "status", True),
            ("error_message", "text", False), ("attempts", "int", True), ("generated_at", "ts", False),
            ("updated_at", "ts", False)],
}
_DEFAULTS = {"total_participants": "0", "processed_count": "0", "success_count": "0", "failed_count": "0",
             "progress_percentage": "0", "attempts": "0"}
_SCHEMA[EMPLOYEES] = [("id", "bigint", True), ("name", "name", True), ("email", "name", False),
                      ("phone", "status", False), ("position", "name", False), ("department", "name", False),
                      ("is_active", "bool", True)]
_KEYS = {BATCHES: ("batch_id",), ITEMS: ("batch_id", "row_number"), EMPLOYEES: ("id",)}


class DispatchError(ValueError):
    """A request the DAG refuses before writing anything (bad param, file outside the upload base)."""


def ensure_schema(db: Database) -> None:
    def create(cur: Cursor) -> None:
        for table, columns in _SCHEMA.items():
            cur.execute(db.create_table_sql(table, columns, _KEYS[table], {**_DEFAULTS, "is_active": _true(db)},
                                            unique=("certificate_number",) if table == ITEMS else ()))

    db.run(create, what="create certificate tables")


def _true(db: Database) -> str:
    return "TRUE" if db.dialect == "postgresql" else "1"


# -- the request ----------------------------------------------------------------------------------------
def upload_base() -> str:
    """Where uploads live: a local folder, or an object-storage URI such as
    ``s3://aws_default@bucket/uploads`` (the connection id before the ``@``)."""
    return os.environ.get("CERTIFICATE_UPLOAD_BASE") or str(REPO_ROOT / "data" / "uploads")


def output_base() -> str:
    """Where PDFs are written: a local folder or an object-storage URI (as :func:`upload_base`)."""
    return os.environ.get("CERTIFICATE_OUTPUT_BASE") or str(REPO_ROOT / "data" / "output" / "certificates")


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

    from include.spreadsheet import UploadError, check_upload_name

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


@dataclass(frozen=True)
class Participant:
    row_number: int
    name: str | None
    email: str | None = None
    phone: str | None = None
    organization: str | None = None
    position: str | None = None
    error: str | None = None  # a bad row: reported, never generated


def participants_from_file(upload: Upload) -> Iterator[Participant]:
    """Participants of an upload; a bad row becomes one failed participant carrying all its errors.
    An object-storage upload is copied to a local temporary file first (one download, then the
    reader seeks locally)."""
    import itertools
    import shutil
    import tempfile

    from include.spreadsheet import RowError, read_participants

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


def create_batch(db: Database, batch_id: str, *, dag_id: str, run_id: str, data_source: str,
                 source_file: str | None, event_name: str, event_date: str,
                 participants: Iterable[Participant], chunk_size: int) -> dict[str, int]:
    """Write the batch and one row per participant (idempotent: a retried task adds nothing)."""
    now = db.ts(utcnow())
    cols = ["batch_id", "row_number", "chunk_index", "participant_name", "email", "phone", "organization", "position",
            "certificate_number", "verification_token", "status", "error_message", "updated_at"]
    insert = db.insert_ignore(ITEMS, cols)
    db.run(lambda cur: cur.execute(
        db.insert_ignore(BATCHES, ["batch_id", "dag_id", "run_id", "data_source", "source_file", "event_name",
                                   "event_date", "status", "started_at", "updated_at"]),
        (batch_id, dag_id, run_id, data_source, source_file, event_name, event_date, "pending", now, now)),
        what="create certificate batch")
    ordinal, good, bad, pending_rows = 0, 0, 0, []

    def flush() -> None:
        rows = list(pending_rows)
        db.run(lambda cur: cur.executemany(insert, rows), what="create certificate rows")
        pending_rows.clear()

    for p in participants:
        number = f"CERT-{event_date.replace('-', '')}-{batch_id[-8:]}-{p.row_number:06d}"
        status = "failed" if p.error else "pending"
        pending_rows.append((batch_id, p.row_number, ordinal // chunk_size if not p.error else -1, p.name, p.email,
                             p.phone, p.organization, p.position, number, secrets.token_urlsafe(24), status,
                             p.error and p.error[:ERROR_MAX], now))
        if p.error:
            bad += 1
        else:
            good += 1
            ordinal += 1
        if len(pending_rows) >= 500:
            flush()
    if pending_rows:
        flush()
    counts = refresh_counts(db, batch_id)
    return {"valid": good, "invalid": bad, "chunks": -(-good // chunk_size) if good else 0, **counts}


# -- generation -----------------------------------------------------------------------------------------
def generate_chunk(db: Database, batch_id: str, chunk_index: int, verify_url_base: str) -> dict[str, int]:
    """Render this chunk's certificates that are not generated yet; one participant's failure never
    stops the others. Re-running it (a cleared task) regenerates only missing or failed ones."""
    from airflow.sdk import ObjectStoragePath

    from include.certificate_pdf import UnrenderableName, render_certificate

    batch = db.fetchone(f"SELECT event_name, event_date FROM {db.quote(BATCHES)} WHERE batch_id = %s", (batch_id,))
    if batch is None:
        raise DispatchError(f"certificate batch {batch_id!r} does not exist")
    rows = db.fetchall(f"SELECT * FROM {db.quote(ITEMS)} WHERE batch_id = %s AND chunk_index = %s "
                       f"AND status <> 'generated' ORDER BY {db.quote('row_number')}", (batch_id, chunk_index))
    db.close()  # no connection is held while PDFs render
    target_dir = ObjectStoragePath(output_base().rstrip("/") + f"/{batch_id}")
    target_dir.mkdir(parents=True, exist_ok=True)
    generated = failed = 0
    for row in rows:
        try:
            buffer = io.BytesIO()
            render_certificate(buffer, name=row["participant_name"], event_name=batch["event_name"],
                               event_date=_display_date(batch["event_date"]),
                               certificate_number=row["certificate_number"],
                               verification_url=f"{verify_url_base.rstrip('/')}/{row['verification_token']}",
                               organization=row["organization"])
            path = target_dir / f"{row['certificate_number']}.pdf"
            path.write_bytes(buffer.getvalue())
            record_result(db, batch_id, row["row_number"], "generated", file_path=str(path))
            generated += 1
        except UnrenderableName as exc:
            record_result(db, batch_id, row["row_number"], "failed", error=str(exc))
            failed += 1
        except Exception as exc:  # one participant's failure never fails the others
            log.exception("certificate of row %s failed", row["row_number"])
            record_result(db, batch_id, row["row_number"], "failed", error=f"{type(exc).__name__}: {exc}")
            failed += 1
        db.close()
    return {"generated": generated, "failed": failed}


def _display_date(value: str) -> date | str:
    """A date object (the renderer prints it the Indonesian way), or the text as given."""
    try:
        return date.fromisoformat(value)
    except (TypeError, ValueError):
        return str(value)


def record_result(db: Database, batch_id: str, row_number: int, status: str, *, file_path: str | None = None,
                  error: str | None = None) -> None:
    """One participant's outcome, idempotent: a generated certificate is never overwritten."""
    now = db.ts(utcnow())
    db.execute(
        f"UPDATE {db.quote(ITEMS)} SET status = %s, file_path = %s, error_message = %s, attempts = attempts + 1, "
        f"generated_at = %s, updated_at = %s WHERE batch_id = %s AND {db.quote('row_number')} = %s "
        f"AND status <> 'generated'",
        (status, file_path, error and scrub(error)[:ERROR_MAX], now if status == "generated" else None, now,
         batch_id, row_number),
        what="record certificate result",
    )


def refresh_counts(db: Database, batch_id: str, final: bool = False) -> dict[str, Any]:
    """Derive the batch's counts and status from its rows (exact under any concurrency)."""
    return db.run(lambda cur: _derive_counts(cur, batch_id, final), what="derive certificate batch counts")


def _derive_counts(cur: Cursor, batch_id: str, final: bool, reason: str | None = None) -> dict[str, Any]:
    """Counts from the rows; with ``reason`` the batch is ``failed`` with it, whatever the rows say."""
    db = cur.db
    rows = cur.fetch(f"SELECT status, COUNT(*) AS n FROM {db.quote(ITEMS)} WHERE batch_id = %s GROUP BY status",
                     (batch_id,))
    counts = {r["status"]: int(r["n"]) for r in rows}
    total = sum(counts.values())
    success, failed = counts.get("generated", 0), counts.get("failed", 0)
    processed = success + failed
    percentage = round(100.0 * processed / total, 2) if total else 0.0
    if reason is not None:
        status = "failed"
    elif total and processed == total:
        status = "completed" if not failed else ("completed_with_errors" if success else "failed")
    elif final:
        status = "failed"
    else:
        status = "processing" if processed else "pending"
    done = status in ("completed", "completed_with_errors", "failed")
    now = db.ts(utcnow())
    error = reason
    if status == "failed" and error is None:
        error = "no usable participants" if not total or not success else f"all {failed} certificates failed"
    cur.execute(
        f"UPDATE {db.quote(BATCHES)} SET total_participants = %s, processed_count = %s, success_count = %s, "
        f"failed_count = %s, progress_percentage = %s, status = %s, error_message = %s, completed_at = %s, "
        f"updated_at = %s WHERE batch_id = %s",
        (total, processed, success, failed, percentage, status, error, now if done else None, now, batch_id))
    return {"total": total, "processed": processed, "success": success, "failed": failed,
            "progress_percentage": percentage, "status": status}


def fail_batch(db: Database, batch_id: str, reason: str) -> dict[str, Any]:
    """The batch cannot finish: every participant still pending is failed with the reason (each row
    tells its final state, and a cleared chunk regenerates it), then the batch is ``failed`` with
    the reason and counts derived from the rows, in one transaction."""
    return db.run(lambda cur: _fail_pending(cur, batch_id, reason), what="fail certificate batch")


def finalize_ended_batch(db: Database, batch_id: str, run: str) -> dict[str, Any]:
    """The batch's DAG run ended (``run`` says how): its final counts and status from its rows, and
    when participants were left pending, the batch failed as by ``fail_batch``. One transaction,
    so that no reader sees the batch final without its reason."""

    def work(cur: Cursor) -> dict[str, Any]:
        pending = cur.fetch(f"SELECT COUNT(*) AS n FROM {db.quote(ITEMS)} WHERE batch_id = %s AND status = 'pending'",
                            (batch_id,))[0]["n"]
        if not pending:
            return _derive_counts(cur, batch_id, final=True)
        return _fail_pending(cur, batch_id, f"interrupted: the DAG run {run} with {int(pending)} "
                                            "participant(s) not generated")

    return db.run(work, what="finalize certificate batch")


def _fail_pending(cur: Cursor, batch_id: str, reason: str) -> dict[str, Any]:
    db = cur.db
    text = scrub(reason)[:ERROR_MAX]
    cur.execute(f"UPDATE {db.quote(ITEMS)} SET status = 'failed', error_message = %s, updated_at = %s "
                f"WHERE batch_id = %s AND status = 'pending'",
                (f"not generated: {text}"[:ERROR_MAX], db.ts(utcnow()), batch_id))
    return _derive_counts(cur, batch_id, final=True, reason=text)


def params_summary(params: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={params.get(k)!r}" for k in ("data_source", "file", "event_name", "event_date"))


def get_batch(db: Database, batch_id: str) -> dict[str, Any] | None:
    return db.fetchone(f"SELECT * FROM {db.quote(BATCHES)} WHERE batch_id = %s", (batch_id,))


def regroup_chunks(db: Database, batch_id: str, factor: int) -> None:
    """Merge every ``factor`` chunks into one (integer division keeps the order)."""
    divide = "DIV" if db.dialect == "mysql" else "/"  # integer division in every dialect
    db.execute(f"UPDATE {db.quote(ITEMS)} SET chunk_index = chunk_index {divide} %s "
               f"WHERE batch_id = %s AND chunk_index >= 0", (factor, batch_id), what="regroup certificate chunks")


def reconcile_batches(db: Database, run_state_of: Any, dry_run: bool = False,
                      batch_ids: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """Re-derive unfinished certificate batches (every one, or those of ``batch_ids``) from their
    rows; a batch whose DAG run ended or vanished is finalized, ``failed`` with the reason when
    participants were left pending. A given batch that is already finished is reported as it is
    (its counts were derived from its rows when it finished). ``run_state_of(dag_id, run_id)``
    returns the run's state, or None when the run no longer exists."""
    columns = (f"SELECT batch_id, dag_id, run_id, status, total_participants, processed_count, success_count, "
               f"failed_count FROM {db.quote(BATCHES)}")
    ids = list(dict.fromkeys(batch_ids or []))
    if ids:
        batches = db.fetchall(f"{columns} WHERE batch_id IN ({', '.join(['%s'] * len(ids))}) ORDER BY started_at", ids)
        missing = set(ids) - {b["batch_id"] for b in batches}
        if missing:
            raise LookupError(f"unknown certificate batch id(s): {', '.join(sorted(missing))}")
    else:
        batches = db.fetchall(f"{columns} WHERE status IN ('pending', 'processing') ORDER BY started_at")
    results = []
    for batch in batches:
        state = run_state_of(batch["dag_id"], batch["run_id"]) if batch["dag_id"] and batch["run_id"] else None
        if batch["status"] not in ("pending", "processing"):
            results.append({"batch_id": batch["batch_id"], "run_state": state, "status": batch["status"],
                            "total": batch["total_participants"], "processed": batch["processed_count"],
                            "success": batch["success_count"], "failed": batch["failed_count"], "unchanged": True})
            continue
        ended = state is None or state in TERMINAL_RUN_STATES
        if dry_run:
            results.append({"batch_id": batch["batch_id"], "run_state": state, "would_finalize": ended})
            continue
        if ended:
            run = "no longer exists" if state is None else f"ended ({state})"
            counts = finalize_ended_batch(db, batch["batch_id"], run)
        else:
            counts = refresh_counts(db, batch["batch_id"])
        results.append({"batch_id": batch["batch_id"], "run_state": state, **counts})
    return results


def delete_old_batches(db: Database, cutoff: Any, dry_run: bool = False) -> dict[str, int]:
    """Delete certificate tracking rows of finished batches started before ``cutoff`` (the PDFs stay)."""

    def work(cur: Cursor) -> dict[str, int]:
        ids = [r["batch_id"] for r in cur.fetch(
            f"SELECT batch_id FROM {db.quote(BATCHES)} WHERE started_at < %s AND status NOT IN ('pending', 'processing')",
            (db.ts(cutoff),))]
        return {"certificate_batches": len(ids), "certificates": delete_batch_rows(cur, BATCHES, ITEMS, ids, dry_run)}

    return db.run(work, what="delete old certificate rows")
