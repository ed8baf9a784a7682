"""
### certificate_dispatch: one certificate per participant, per uploaded file

Triggered once per upload (REST `POST /api/v2/dags/certificate_dispatch/dagRuns` with a `conf`, or
the trigger form):

* **prepare** validates the params (the `file` must be a `.csv`/`.xlsx` under
  `CERTIFICATE_UPLOAD_BASE`; `employee_ids` must be active employees), reads the participants
  (bad rows are recorded with their row number and column, the good ones go on), writes the
  `certificate_batches` row and one `certificates` row per participant in `app_db`, and returns the
  chunks to generate.
* **generate** is mapped over chunks of `chunk_size` participants: one PDF each (name, event,
  date, certificate number, QR code of the verification URL) under `CERTIFICATE_OUTPUT_BASE`.
  One participant's failure never fails the others; clearing a chunk regenerates only its missing
  or failed certificates.
* **finalize** derives the batch counts from the rows: `completed`, `completed_with_errors` or
  `failed` (the run fails only then), with `progress_percentage` 100 when every participant is final.

Every write to `app_db` survives a dropped connection ("MySQL server has gone away") by
reconnecting and retrying the idempotent statement; no connection is held while PDFs render.
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import Param, dag, get_current_context, task

from include.certificates.callbacks import refresh_counts
from include.certificates.spec import DAG_ID, TEMPLATES

@dag(
    dag_id=DAG_ID,
    schedule=None,
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc),
    catchup=False,
    doc_md=__doc__,
    tags=["certificates", "app_db"],
    default_args={"retries": 2, "retry_delay": dt.timedelta(seconds=20), "retry_exponential_backoff": 2.0},
    params={
        "data_source": Param("file", enum=["file", "database"], title="Data source",
                             description="An uploaded CSV/XLSX file, or the employees table of app_db."),
        "file": Param(None, type=["null", "string"], title="Uploaded file",
                      description="Path relative to CERTIFICATE_UPLOAD_BASE (or a file:// URI under it)."),
        "employee_ids": Param([], type="array", items={"type": "integer"}, title="Employee ids",
                              description="For data_source=database; empty means all active employees."),
        "event_name": Param(type="string", minLength=1, maxLength=200, title="Event name"),
        "event_date": Param(type="string", format="date", title="Event date", description="YYYY-MM-DD"),
        "template": Param(None, type=["null", "string"], enum=[None, *TEMPLATES], title="Template"),
        "chunk_size": Param(100, type="integer", minimum=1, maximum=5000, title="Participants per task",
                            description="1 gives one task per participant."),
    },
)
def certificate_dispatch():
    @task
    def prepare() -> list:
        from include.certificates.tasks import prepare as prepare_batch

        return prepare_batch(get_current_context())

    # multiple_outputs=False: one XCom per chunk, not one more per key of the returned dict.
    @task(map_index_template="{{ label }}", multiple_outputs=False, on_success_callback=refresh_counts,
          on_failure_callback=refresh_counts)
    def generate(job: dict) -> dict:
        from include.certificates.tasks import generate as generate_chunk

        return generate_chunk(job, get_current_context())

    @task(trigger_rule="all_done", multiple_outputs=False)
    def finalize() -> dict:
        from include.certificates.tasks import finalize as finalize_batch

        return finalize_batch(get_current_context())

    jobs = prepare()
    generate.expand(job=jobs) >> finalize()


certificate_dispatch()
