#!/usr/bin/env bash
# Installs what the bundle needs on a Debian machine (run as root for the system packages) and
# creates .venv/ from the pinned requirements (`--dev`: plus the test tools of requirements-dev.txt).
# Safe to run again: it skips what is already there.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

PYTHON=${PYTHON:-python3}
packages=()
command -v "$PYTHON" >/dev/null 2>&1 || packages+=(python3 python3-venv python3-dev)
command -v pkg-config >/dev/null 2>&1 || packages+=(pkg-config)
command -v gcc >/dev/null 2>&1 || packages+=(gcc)
dpkg -s libmariadb-dev >/dev/null 2>&1 || packages+=(libmariadb-dev)    # mysqlclient builds against it
if [ "${1:-}" = "--dev" ]; then  # the console's browser test drives Debian's headless Chromium
  command -v chromium >/dev/null 2>&1 || packages+=(chromium)
  command -v chromedriver >/dev/null 2>&1 || packages+=(chromium-driver)
  # `docker-compose config` validates docker-compose.yaml (tests/test_deployment_files.py) where
  # Docker's compose plugin is missing; it needs no Docker engine
  { docker compose version || command -v docker-compose; } >/dev/null 2>&1 || packages+=(docker-compose)
fi
if command -v "$PYTHON" >/dev/null 2>&1; then
  "$PYTHON" -c 'import ensurepip' >/dev/null 2>&1 || packages+=(python3-venv)
  "$PYTHON" -c 'import os, sysconfig; raise SystemExit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' \
    || packages+=(python3-dev)
fi
if [ ${#packages[@]} -gt 0 ]; then
  echo "setup: installing system packages: ${packages[*]}"
  if [ "$(id -u)" -ne 0 ]; then echo "setup: run as root (or install them yourself): ${packages[*]}" >&2; exit 1; fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${packages[@]}" >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  "$PYTHON" -m venv .venv
fi
# requirements.txt is what a deployment needs; requirements-dev.txt adds the test and benchmark
# tools (`setup.sh --dev`, as scripts/test.sh does). The stamp holds the hash of what was installed:
# a dev install covers the deployment's set too.
stamp=.venv/.requirements.sha256
prod_hash=$(cat requirements.txt | sha256sum | cut -d' ' -f1)
dev_hash=$(cat requirements.txt requirements-dev.txt | sha256sum | cut -d' ' -f1)
have=$(cat "$stamp" 2>/dev/null || true)
if [ "${1:-}" = "--dev" ]; then
  file=requirements-dev.txt want=$dev_hash
  [ "$have" = "$dev_hash" ] && want=""
else
  file=requirements.txt want=$prod_hash
  { [ "$have" = "$prod_hash" ] || [ "$have" = "$dev_hash" ]; } && want=""
fi
if [ -n "$want" ]; then
  echo "setup: installing $file into .venv (takes a minute the first time)"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -r "$file"
  echo "$want" > "$stamp"
fi
