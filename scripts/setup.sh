#!/usr/bin/env bash
# Installs what the bundle needs on a Debian machine (run as root for the system packages) and
# creates .venv/ from the pinned requirements. Safe to run again: it skips what is already there.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

PYTHON=${PYTHON:-python3}
packages=()
command -v "$PYTHON" >/dev/null 2>&1 || packages+=(python3 python3-venv python3-dev)
command -v pkg-config >/dev/null 2>&1 || packages+=(pkg-config)
command -v gcc >/dev/null 2>&1 || packages+=(gcc)
dpkg -s libmariadb-dev >/dev/null 2>&1 || packages+=(libmariadb-dev)    # mysqlclient builds against it
command -v chromium >/dev/null 2>&1 || packages+=(chromium)                # the console's browser test (headless)
command -v chromedriver >/dev/null 2>&1 || packages+=(chromium-driver)
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
stamp=.venv/.requirements.sha256
want=$(sha256sum requirements.txt | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "setup: installing requirements.txt into .venv (takes a minute the first time)"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -r requirements.txt
  echo "$want" > "$stamp"
fi
