#!/usr/bin/env bash
# Run every benchmark script under tests/bench/ (bench_*.py) in a dedicated
# virtual environment, .venv-bench at the repository root, that has mlflow
# installed next to an editable install of Runyard (the comparison baseline).
#
# Usage: scripts/bench.sh [--no-install]
#   --no-install   reuse .venv-bench as it is (skip pip install)
# Environment: PYTHON (default python3) picks the interpreter for the venv.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv-bench"
PYTHON="${PYTHON:-python3}"
INSTALL=1
for arg in "$@"; do
  case "$arg" in
    --no-install) INSTALL=0 ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "bench.sh: unknown argument: $arg" >&2; exit 2 ;;
  esac
done

if [ ! -x "$VENV/bin/python" ]; then
  echo "bench.sh: creating $VENV" >&2
  "$PYTHON" -m venv "$VENV"
  INSTALL=1
fi

if [ "$INSTALL" = 1 ]; then
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
  "$VENV/bin/python" -m pip install --quiet mlflow playwright
  "$VENV/bin/python" -m pip install --quiet -e "$ROOT"
fi

shopt -s nullglob
scripts=("$ROOT"/tests/bench/bench_*.py)
if [ ${#scripts[@]} -eq 0 ]; then
  echo "bench.sh: no tests/bench/bench_*.py found" >&2
  exit 1
fi

status=0
for script in "${scripts[@]}"; do
  echo "== ${script#"$ROOT"/} =="
  if ! (cd "$ROOT" && "$VENV/bin/python" "$script"); then
    echo "bench.sh: $script failed" >&2
    status=1
  fi
  echo
done
exit "$status"
