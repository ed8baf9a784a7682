#!/usr/bin/env bash
# The demo on the embedded default: SQLite branch databases with generated ERP data, the
# branch_sync DAG run by `airflow dags test`, then the batch status as `sync-status` prints it.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
bash scripts/setup.sh
export AIRFLOW_HOME="$ROOT/.airflow/demo"
source scripts/airflow-env.sh
eval "$(python -m include.demo env)"
mkdir -p "$AIRFLOW_HOME"
echo "demo: preparing Airflow's metadata database in $AIRFLOW_HOME"
airflow db migrate >"$AIRFLOW_HOME/migrate.log" 2>&1 || { tail -n 30 "$AIRFLOW_HOME/migrate.log"; exit 1; }
python -m include.demo generate
echo "demo: airflow dags test branch_sync (log: $AIRFLOW_HOME/branch_sync.log)"
if ! airflow dags test branch_sync >"$AIRFLOW_HOME/branch_sync.log" 2>&1; then
  tail -n 40 "$AIRFLOW_HOME/branch_sync.log"; echo "demo: the run failed" >&2
fi
python -m include.cli sync-status --latest
