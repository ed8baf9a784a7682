"""What the ``certificate_dispatch`` DAG's tasks do, over the Airflow context."""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping
from typing import Any

from include.certificates import batches, notify, uploads
from include.certificates.batches import BATCH_PREFIX, DispatchError
from include.certificates.generate import generate_chunk
from include.certificates.pdf import unsupported_characters
from include.common.batches import batch_id_for_run
from include.common.clock import utcnow
from include.common.conn_ids import APP_DB
from include.common.db import Database
from include.common.db.errors import fail_unless_transient
from include.common.run_conf import refuse_unknown_conf

log = logging.getLogger(__name__)

VERIFY_URL_ENV = "CERTIFICATE_VERIFY_URL"
DEFAULT_VERIFY_URL = "http://localhost:8000/certificates/verify"


def prepare(context: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Validate, read the participants, write the batch and its rows; return the chunks."""
    from airflow.configuration import conf
    from airflow.sdk.exceptions import AirflowFailException

    refuse_unknown_conf(context)
    params = context["params"]
    dag_run = context["dag_run"]
    source = params["data_source"]
    chunk_size = int(params.get("chunk_size") or 100)
    try:
        upload = uploads.resolve_upload(params.get("file")) if source == "file" else None
    except DispatchError as exc:
        raise AirflowFailException(str(exc)) from None

    missing = unsupported_characters(params["event_name"])
    if missing:  # every certificate would fail: refuse the request instead
        raise AirflowFailException(f"param 'event_name': the certificate font cannot print {''.join(missing)!r}")
    batch_id = batch_id_for_run(BATCH_PREFIX, dag_run.dag_id, dag_run.run_id, dag_run.run_after or utcnow())
    with Database(APP_DB) as db:
        with fail_unless_transient("prepare", APP_DB):
            batches.ensure_schema(db)
        try:
            if upload is not None:
                participants: Any = uploads.participants_from_file(upload)
                source_file = upload.name
            else:
                participants = uploads.participants_from_employees(db, params.get("employee_ids") or [])
                source_file = None
            counts = batches.create_batch(db, batch_id, dag_id=dag_run.dag_id, run_id=dag_run.run_id,
                                       data_source=source, source_file=source_file, event_name=params["event_name"],
                                       event_date=params["event_date"], participants=participants,
                                       chunk_size=chunk_size)
        except (DispatchError, ValueError) as exc:  # UploadError is a ValueError naming the file
            if batches.get_batch(db, batch_id):
                batches.finalize_batch(db, batch_id, reason=str(exc))
                notify.announce(db, batch_id)
            raise AirflowFailException(str(exc)) from None
        if not counts["valid"]:
            batches.finalize_batch(db, batch_id)
            notify.announce(db, batch_id)
            raise AirflowFailException(f"batch {batch_id}: no usable participants ({counts['invalid']} bad rows)")
        chunks = counts["chunks"]
        limit = conf.getint("core", "max_map_length")
        if chunks > limit:  # regroup so the mapped task stays under max_map_length
            factor = math.ceil(chunks / limit)
            batches.regroup_chunks(db, batch_id, factor)
            chunks = math.ceil(chunks / factor)
    log.info("certificate batch %s: %d participants (%d bad rows) in %d chunks", batch_id, counts["valid"],
             counts["invalid"], chunks)
    return [{"batch_id": batch_id, "chunk": i} for i in range(chunks)]


def generate(job: Mapping[str, Any], context: Mapping[str, Any]) -> dict[str, int]:
    context["label"] = f"{job['batch_id']} chunk {job['chunk']}"  # type: ignore[index]

    with Database(APP_DB) as db:
        result = generate_chunk(db, job["batch_id"], int(job["chunk"]),
                                     os.environ.get(VERIFY_URL_ENV, DEFAULT_VERIFY_URL))
    log.info("chunk %s of %s: %s", job["chunk"], job["batch_id"], result)
    return result


def finalize(context: Mapping[str, Any]) -> dict[str, Any]:
    from airflow.sdk.exceptions import AirflowFailException

    jobs = context["ti"].xcom_pull(task_ids="prepare", key="return_value")
    if not jobs:
        raise AirflowFailException("prepare did not produce a batch (see the 'prepare' task)")
    batch_id = jobs[0]["batch_id"]
    with Database(APP_DB) as db:
        result = batches.finalize_batch(db, batch_id)
        notify.announce(db, batch_id)  # never raises: a channel that fails is retried by health_reconcile
    log.info("certificate batch %s: %s", batch_id, result)
    if result["status"] == "failed":
        raise AirflowFailException(f"certificate batch {batch_id} failed: {result}")
    return {"batch_id": batch_id, **result}
