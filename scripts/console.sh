#!/usr/bin/env bash
# The Back office console on the demo's data: starts a local Airflow api-server (with the plugin
# plugins/backoffice.py) on the demo's AIRFLOW_HOME and SQLite databases, and prints the URL and
# the login. Run `bash scripts/demo.sh` first. Ctrl-C stops it. PORT=8080 by default.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
export AIRFLOW_HOME="$ROOT/.airflow/demo"
[ -f "$AIRFLOW_HOME/airflow.db" ] || { echo "console: no demo yet; run: bash scripts/demo.sh" >&2; exit 1; }
source scripts/airflow-env.sh
eval "$(python -m include.demo env)"
PORT=${PORT:-8080}
passwords="$AIRFLOW_HOME/console_passwords.json"
[ -f "$passwords" ] || python -c 'import json, secrets; print(json.dumps({"admin": secrets.token_urlsafe(12), "viewer": secrets.token_urlsafe(12)}))' > "$passwords"
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS="admin:admin,viewer:viewer"
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE="$passwords"
export AIRFLOW__API__BASE_URL="http://127.0.0.1:$PORT"
export AIRFLOW__API__PORT="$PORT"
python - "$passwords" "$PORT" <<'PY'
import json, sys
pw = json.load(open(sys.argv[1]))
print(f"console: http://127.0.0.1:{sys.argv[2]}/backoffice/sync  (in the Airflow UI: http://127.0.0.1:{sys.argv[2]}/ -> 'Back office')")
print(f"console: log in as admin / {pw['admin']}  (or viewer / {pw['viewer']}, who may look but not resume)")
PY
echo "console: starting airflow api-server (log: $AIRFLOW_HOME/console.log); Ctrl-C stops it"
exec airflow api-server --host 127.0.0.1 --port "$PORT" >>"$AIRFLOW_HOME/console.log" 2>&1
