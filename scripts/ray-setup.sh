#!/usr/bin/env bash
# Installs Ray (`ray[default]`: the head with its dashboard, which serves the job
# submission API) into a virtual environment of its own in $DIR, for Runyard's `ray`
# target tests. Runyard itself never imports ray: it talks to a cluster's dashboard over
# HTTP. The tests start and stop their own head (`ray start --head`) from this
# environment; this script starts nothing.
# Idempotent: an environment whose Ray is in the wanted range and imports its dashboard
# is kept.
# Usage: bash scripts/ray-setup.sh [DIR]   (default /var/tmp/runyard-ray; the tests read
#        RUNYARD_RAY_HOME, else that folder)
set -euo pipefail
DIR=${1:-/var/tmp/runyard-ray}
PYTHON=${PYTHON:-python3}
RAY_SPEC=${RAY_SPEC:-'ray[default]>=2.9,<3'}
VENV="$DIR/venv"

ready() {
  [ -x "$VENV/bin/ray" ] && "$VENV/bin/python" - "$RAY_SPEC" <<'PY' 2>/dev/null
import sys
from importlib.metadata import version
import ray, aiohttp, ray.dashboard  # noqa: F401  (the head's dashboard needs them)
from packaging.requirements import Requirement
sys.exit(0 if Requirement(sys.argv[1]).specifier.contains(version("ray")) else 1)
PY
}

mkdir -p "$DIR"
if ! ready; then
  rm -rf "$VENV.tmp"
  "$PYTHON" -m venv "$VENV.tmp"
  "$VENV.tmp/bin/python" -m pip install -q --progress-bar off "$RAY_SPEC" packaging
  rm -rf "$VENV"
  mv "$VENV.tmp" "$VENV"
  # venv scripts name their folder: point them at the final one.
  grep -rlF "$VENV.tmp" "$VENV/bin" "$VENV/pyvenv.cfg" 2>/dev/null |
    xargs -r sed -i "s#$VENV.tmp#$VENV#g"
  if ! ready; then
    echo "ray-setup: Ray was installed in $VENV but does not import with its dashboard" >&2
    exit 1
  fi
fi
echo "ray-setup: Ray $("$VENV/bin/python" -c 'import ray; print(ray.__version__)') in $VENV" >&2
