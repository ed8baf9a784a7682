"""Airflow connection ids of the contract (``shared/design.md``) that more than one job uses, and
whether a deployment defines one."""

APP_DB = "app_db"  # the web application's database: employees, certificate tracking, WhatsApp accounts
WHATSAPP_SERVICE = "whatsapp_service"  # the WhatsApp session service (HTTP)
AIRFLOW_API = "airflow_api"  # Airflow's own REST API, for the command line


def connection_defined(conn_id: str) -> bool:
    """Whether the deployment defines ``conn_id`` (environment, secrets backend or metadata DB).
    Only "not defined" answers False: any other failure to read it is raised, so a connection that
    exists but is broken still fails its task loudly."""
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        return False
    return True
