"""The operator's console ("Back office") in the Airflow 3 UI: a nav entry, a tab on the runs of
branch_sync and certificate_dispatch, and the pages + JSON API at /backoffice. Thin: the logic
lives in ``include/console/`` (see its ``__init__``)."""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from include.console.app import create_app
from include.console.plugin import EXTERNAL_VIEWS, NAME, URL_PREFIX


class BackofficePlugin(AirflowPlugin):
    name = NAME
    fastapi_apps = [{"app": create_app(), "url_prefix": URL_PREFIX, "name": "Back office"}]
    external_views = EXTERNAL_VIEWS
