#!/usr/bin/env bash
# Sets up everything the tests need and runs all of them: linters, unit and
# integration tests (real git repositories, real subprocesses and virtual
# environments, a real read-only mount and a full file system, a real Docker engine
# with an offline base image, a real sshd on loopback in front of it), the
# extension's unit tests, and its end-to-end tests in a real VS Code (code-server)
# driven by Playwright in Debian's Chromium.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --dev
# The tests build many environments with uv; on a machine that keeps its caches between
# runs, uv's cache keeps what no build can reach any more (a source distribution built
# again, say) and grows by gigabytes. Drop only that before each run.
.venv/bin/python -c 'import subprocess, uv
subprocess.run([uv.find_uv_bin(), "cache", "prune", "--quiet"], check=False)' || true
in_ci=false
case "${CI:-}" in 1 | true | TRUE | yes) in_ci=true ;; esac
for part in docker-setup sshd-setup spark-setup ray-setup postgres-setup vscode-setup; do
  if ! bash "scripts/$part.sh"; then
    if $in_ci; then
      echo "test: scripts/$part.sh failed; CI needs it" >&2
      exit 1
    fi
    echo "test: scripts/$part.sh failed; the tests that need it will be skipped" >&2
  fi
done
bash scripts/lint.sh
# the extension: its unit tests, then the .vsix the packaging and end-to-end tests install
node extension/build.mjs --tests
node --test dist/test/
bash scripts/build-vsix.sh
RUNYARD_VSIX="$PWD/runyard-$(node -p 'require("./package.json").version').vsix"
export RUNYARD_VSIX
exec .venv/bin/python -m pytest -q -p no:cacheprovider --durations=30 "$@"
