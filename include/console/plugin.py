"""What the Airflow plugin declares: its prefix (fixed: notifications link to
``/backoffice/sync/{batch_id}`` and ``/backoffice/certificates/{batch_id}``), the nav entry and the
DAG-run tab. An external view is an iframe inside Airflow's UI, authenticated by its ``_token``
cookie; ``{DAG_ID}``/``{RUN_ID}`` are filled in by the UI."""

from __future__ import annotations

from include.console.html import PREFIX

NAME = "backoffice"
URL_PREFIX = PREFIX
EXTERNAL_VIEWS = [
    {"name": "Back office", "href": f"{PREFIX}/sync", "destination": "nav", "url_route": "backoffice",
     "icon": f"{PREFIX}/icon.svg"},
    {"name": "Batch", "href": f"{PREFIX}/run/{{DAG_ID}}/{{RUN_ID}}", "destination": "dag_run",
     "url_route": "backoffice-batch", "icon": f"{PREFIX}/icon.svg"},
]
