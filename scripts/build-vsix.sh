#!/usr/bin/env bash
# Packages the extension as runyard-<version>.vsix: the bundled TypeScript (dist/), and
# in bundled/ the server's bootstrap, the runyard package with its pure-Python
# dependencies and their metadata (bundled/libs), the gallery and its templates.
# Installing the .vsix needs nothing but Python 3.11+ and git on the machine.
#
# Usage: bash scripts/build-vsix.sh                build bundled/ and the .vsix
#        bash scripts/build-vsix.sh --bundle-only  build bundled/ only (a development
#                                                  checkout then starts the server from it)
set -euo pipefail
cd "$(dirname "$0")/.."

bundle_only=false
case "${1:-}" in
  "") ;;
  --bundle-only) bundle_only=true ;;
  *) echo "usage: bash scripts/build-vsix.sh [--bundle-only]" >&2; exit 2 ;;
esac

py=.venv/bin/python
if [ ! -x "$py" ]; then
  echo "build-vsix: .venv is missing; run scripts/setup.sh first" >&2
  exit 1
fi
version=$(node -p 'require("./package.json").version')
vsix="runyard-$version.vsix"

if ! $bundle_only; then
  [ -d node_modules ] || npm ci
  rm -rf dist/extension.js dist/webview
  node extension/build.mjs
fi

# ---------------------------------------------------------------- bundled/
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
out="$work/bundled"
libs="$out/libs"
mkdir -p "$libs"
pip_install() {
  "$py" -m pip install --quiet --disable-pip-version-check --no-compile --no-deps \
    --target "$libs" "$@"
  # console scripts: their first line names this machine's interpreter
  rm -rf "$libs/bin"
}

# runyard itself, built from a copy of the sources so no build/ or egg-info of an
# earlier build can leak into the wheel
mkdir "$work/src"
cp -R pyproject.toml README.md server $(compgen -G 'LICEN[CS]E*' || true) "$work/src/"
find "$work/src" \( -name __pycache__ -o -name '*.egg-info' \) -prune -exec rm -rf {} +
pip_install "$work/src"
# its dependencies: pure-Python wheels only (platform "any"), for the oldest Python the
# server supports
pip_install --only-binary :all: --platform any --implementation py --abi none \
  --python-version 3.11 -r extension/python/requirements.txt
# those whose compiled part is optional: the platform wheel, compiled part removed below
pip_install --only-binary :all: -r extension/python/requirements-fallback.txt

# Remove what must not travel, and keep each RECORD true to what is left: compiled
# files, PyYAML's `_yaml` stub (it only re-exports the compiled module), the console
# scripts removed above, and direct_url.json (the folder runyard was installed from).
"$py" - "$libs" <<'PY'
import shutil
import sys
from pathlib import Path

libs = Path(sys.argv[1])
compiled = (".so", ".pyd", ".dylib")


def drop(rel: str) -> bool:
    top = rel.split("/", 1)[0]
    return (
        rel.endswith(compiled)
        or top in ("_yaml", "..")
        or rel.endswith(".dist-info/direct_url.json")
    )


for record in libs.glob("*.dist-info/RECORD"):
    kept = []
    for line in record.read_text(encoding="utf-8").splitlines():
        rel = line.rsplit(",", 2)[0]
        if drop(rel):
            if not rel.startswith(".."):
                (libs / rel).unlink(missing_ok=True)
        else:
            kept.append(line)
    record.write_text("".join(f"{line}\n" for line in kept), encoding="utf-8")
    top_level = record.with_name("top_level.txt")
    if top_level.is_file():
        names = [n for n in top_level.read_text(encoding="utf-8").split() if n != "_yaml"]
        top_level.write_text("".join(f"{n}\n" for n in names), encoding="utf-8")
shutil.rmtree(libs / "_yaml", ignore_errors=True)
PY
find "$libs" -name __pycache__ -prune -exec rm -rf {} +

left=$(find "$libs" -type f \( -name '*.so' -o -name '*.pyd' -o -name '*.dylib' \))
if [ -n "$left" ]; then
  echo "build-vsix: compiled files left in bundled/libs (the extension must be pure Python):" >&2
  echo "$left" >&2
  exit 1
fi

cp extension/python/runyard_server.py "$out/"
# gallery/list and gallery/create find these beside libs/ (runyard.gallery.catalog)
cp -R gallery templates "$out/"
find "$out/gallery" "$out/templates" \( -name __pycache__ -o -path '*/.runyard/state' \) \
  -prune -exec rm -rf {} +
rm -rf bundled
mv -T "$out" bundled
echo "build-vsix: bundled/ holds:" >&2
for meta in bundled/libs/*.dist-info/METADATA; do
  sed -n '/^$/q; s/^Name: //p; s/^Version: //p' "$meta" | paste -sd' ' -
done | sort -f | sed 's/^/  /' >&2

if $bundle_only; then
  exit 0
fi

# ---------------------------------------------------------------- the .vsix
skip_license=()
compgen -G 'LICEN[CS]E*' >/dev/null || skip_license=(--skip-license)
rm -f "$vsix"
npx --no-install vsce package --no-dependencies --allow-missing-repository \
  "${skip_license[@]}" -o "$vsix"
size=$(wc -c <"$vsix")
echo "build-vsix: $vsix, $((size / 1024)) KiB" >&2
if [ "$size" -gt $((15 * 1024 * 1024)) ]; then
  echo "build-vsix: $vsix is over 15 MiB; check .vscodeignore" >&2
  exit 1
fi
