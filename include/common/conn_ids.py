"""Airflow connection ids of the contract (``shared/design.md``) that more than one job uses."""

APP_DB = "app_db"  # the web application's database: employees, certificate tracking, WhatsApp accounts
WHATSAPP_SERVICE = "whatsapp_service"  # the WhatsApp session service (HTTP)
AIRFLOW_API = "airflow_api"  # Airflow's own REST API, for the command line
