#!/usr/bin/env bash
# The test command: installs what is missing, makes sure the databases answer, runs every test
# (units, whole DAG runs on real PostgreSQL and MariaDB, and a real Airflow driven over REST).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
bash scripts/setup.sh
bash scripts/services.sh
export PYTHONPATH="$ROOT"
exec .venv/bin/python -m pytest tests -p no:cacheprovider "$@"
