#!/usr/bin/env bash
# Sets up everything the tests need and runs all of them: linters, unit and
# integration tests (real git repositories, real subprocesses and virtual
# environments, a real read-only mount and a full file system).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --dev
bash scripts/lint.sh
exec .venv/bin/python -m pytest -q -p no:cacheprovider "$@"
