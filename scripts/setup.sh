#!/usr/bin/env bash
# Installs what Runyard needs on a fresh Debian machine (as root) and builds .venv.
# Usage: bash scripts/setup.sh [--dev]
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v git >/dev/null || need+=(git)
command -v python3 >/dev/null || need+=(python3)
python3 -c 'import venv, ensurepip' 2>/dev/null || need+=(python3-venv)
if [ "${1:-}" = "--dev" ]; then
  # the extension's build, linters and unit tests
  command -v node >/dev/null || need+=(nodejs)
  command -v npm >/dev/null || need+=(npm)
fi
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "setup: missing ${need[*]}; install them (apt-get install ${need[*]}) and rerun" >&2
    exit 1
  fi
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' || {
  echo "setup: Runyard needs Python 3.11 or newer (found $(python3 --version))" >&2; exit 1; }

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
if [ "${1:-}" = "--dev" ]; then
  .venv/bin/python -m pip install -q --disable-pip-version-check -e '.[dev]'
else
  .venv/bin/python -m pip install -q --disable-pip-version-check -e .
fi
# run environments are built with uv, a dependency of Runyard's (pip where it cannot run)
if ! .venv/bin/python -c 'import subprocess, uv
subprocess.run([uv.find_uv_bin(), "--version"], check=True, stdout=subprocess.DEVNULL)'; then
  echo "setup: uv does not run here; run environments will be built with pip" >&2
fi
# sweeps use Optuna (a dependency of Runyard's); say so now if it cannot be imported
.venv/bin/python -c 'import optuna' || {
  echo "setup: optuna did not install; runyard sweep will not work" >&2; exit 1; }
if [ "${1:-}" = "--dev" ]; then
  # node_modules follows package-lock.json; a stamp saves the reinstall when nothing changed
  stamp=node_modules/.runyard-lock
  if [ ! -f "$stamp" ] || ! cmp -s package-lock.json "$stamp"; then
    npm ci --no-audit --no-fund --loglevel=error >/dev/null
    cp package-lock.json "$stamp"
  fi
fi
# runs snapshot with git; make sure commits can be written even without a user config
echo "setup: ready (.venv/bin/runyard)" >&2
