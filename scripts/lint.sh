#!/usr/bin/env bash
# Every linter and type checker, in one command.
set -euo pipefail
cd "$(dirname "$0")/.."
py=.venv/bin
"$py/ruff" format --check server tests templates
"$py/ruff" check server tests templates
"$py/mypy"
# Layer contracts ([tool.importlinter] in pyproject.toml; docs/architecture.md).
"$py/lint-imports" --no-cache --no-logo
npx --no-install tsc -p extension --noEmit
npx --no-install eslint --max-warnings 0 extension
echo "lint: clean" >&2
