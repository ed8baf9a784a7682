#!/usr/bin/env bash
# Source this to run the DAGs with plain `airflow` commands from the repo:
#   source scripts/airflow-env.sh && airflow dags test branch_sync
# AIRFLOW_HOME defaults to .airflow/ in the repo; connections come from AIRFLOW_CONN_* variables
# (or Airflow's own connection store) and the sync config from SYNC_CONFIG.
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export AIRFLOW_HOME="${AIRFLOW_HOME:-$ROOT/.airflow}"
export AIRFLOW__CORE__DAGS_FOLDER="$ROOT/dags"
export AIRFLOW__CORE__PLUGINS_FOLDER="$ROOT/plugins"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
export PATH="$ROOT/.venv/bin:$PATH"
