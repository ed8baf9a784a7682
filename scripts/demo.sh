#!/usr/bin/env bash
# The demo on the embedded default (no servers to install): SQLite databases with generated data
# and the stand-in WhatsApp service on 127.0.0.1. Runs branch_sync, certificate_dispatch and
# health_reconcile with `airflow dags test`, and prints what each one did.
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

# 1. branch_sync: three SQLite branch databases -> the central one
python -m include.demo generate
echo "demo: airflow dags test branch_sync (log: $AIRFLOW_HOME/branch_sync.log)"
if ! airflow dags test branch_sync >"$AIRFLOW_HOME/branch_sync.log" 2>&1; then
  tail -n 40 "$AIRFLOW_HOME/branch_sync.log"; echo "demo: the branch_sync run failed" >&2
fi
python -m include.cli sync-status --latest

# 2. certificate_dispatch for the sample upload data/uploads/sample/peserta.csv (PDFs under data/output/)
echo "demo: airflow dags test certificate_dispatch (log: $AIRFLOW_HOME/certificate_dispatch.log)"
airflow dags test certificate_dispatch \
  -c '{"data_source": "file", "file": "sample/peserta.csv", "event_name": "Pelatihan K3 2026", "event_date": "2026-11-20"}' \
  >"$AIRFLOW_HOME/certificate_dispatch.log" 2>&1 \
  || { tail -n 40 "$AIRFLOW_HOME/certificate_dispatch.log"; echo "demo: the certificate_dispatch run failed" >&2; }
python -m include.demo certificates

# 3. health_reconcile against the stand-in WhatsApp service, which lost two of three sessions
port=$(python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
python -m tools.whatsapp_standin --port "$port" --api-key demo-key --quiet \
  --session webjs_1_1763300356_ot6RUaMF:1:connected >"$AIRFLOW_HOME/standin.log" 2>&1 &
standin=$!
trap 'kill $standin 2>/dev/null || true' EXIT
export AIRFLOW_CONN_WHATSAPP_SERVICE="{\"conn_type\": \"http\", \"host\": \"127.0.0.1\", \"port\": $port, \"password\": \"demo-key\"}"
python -m include.demo accounts
for check in 1 2; do  # the flap guard flips a session only after two reads agree
  echo "demo: airflow dags test health_reconcile, check $check (log: $AIRFLOW_HOME/health_reconcile_$check.log)"
  airflow dags test health_reconcile -c '{"auto_reconnect": true}' >"$AIRFLOW_HOME/health_reconcile_$check.log" 2>&1 \
    || { tail -n 40 "$AIRFLOW_HOME/health_reconcile_$check.log"; echo "demo: the health_reconcile run failed" >&2; }
done
awk '/Starting WhatsApp session synchronization/ {on = 1} on {print} on && /^={60}/ && ++bars == 2 {exit}' \
  "$AIRFLOW_HOME/health_reconcile_2.log" | sed -E 's/^[0-9T:.-]+Z \[[a-z]+ *\] //; s/ +\[include\.health[a-z._]*\].*$//'

echo
echo "demo: open the Back office console on this data (a local Airflow UI on the demo's SQLite databases):"
echo "        bash scripts/console.sh     # prints the URL and the login; Ctrl-C stops it"
