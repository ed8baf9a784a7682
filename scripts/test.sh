#!/usr/bin/env bash
# The test command: installs what is missing, makes sure the databases answer, runs every test
# (units, whole DAG runs on real PostgreSQL and MariaDB, and a real Airflow driven over REST).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
bash scripts/setup.sh --dev
bash scripts/services.sh
export PYTHONPATH="$ROOT"
# The end-to-end tests (real Airflow deployments) run last, after the lighter ones.
exec .venv/bin/python -m pytest tests/dags tests/unit tests/integration tests/test_deployment_files.py tests/e2e \
  -p no:cacheprovider "$@"
