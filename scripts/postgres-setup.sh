#!/usr/bin/env bash
# Makes sure Debian's PostgreSQL server is installed for the team-store tests and
# benchmarks (tests/postgres_server.py starts its own server from it, on a free
# loopback port in a temporary folder, and stops it afterwards; nothing is left
# running here). Installs the `postgresql` package when initdb is missing (as root),
# then checks that a cluster can really be made and started: initdb and pg_ctl in a
# temporary folder, as the `postgres` user when run as root (PostgreSQL refuses root),
# started on a free port and stopped again.
# Usage: bash scripts/postgres-setup.sh
set -euo pipefail

fail() {
  echo "postgres-setup: $*" >&2
  exit 1
}

bindir() {
  local dir
  dir=$(pg_config --bindir 2>/dev/null || true)
  if [ -n "$dir" ] && [ -x "$dir/initdb" ]; then
    echo "$dir"
    return
  fi
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  if [ -n "$dir" ] && [ -x "$dir/initdb" ]; then
    echo "$dir"
  fi
}

BIN=$(bindir)
if [ -z "$BIN" ]; then
  if [ "$(id -u)" != 0 ]; then
    fail "PostgreSQL is missing; install Debian's postgresql package (apt-get install postgresql)"
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  # the package starts a cluster of its own on 5432; the tests do not use it
  BIN=$(bindir)
  [ -n "$BIN" ] || fail "postgresql was installed but initdb is nowhere to be found"
fi

DIR=$(mktemp -d /tmp/runyard-pg-check.XXXXXX)
as_server_user() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}
cleanup() {
  as_server_user "$BIN/pg_ctl" -D "$DIR/data" -m immediate -w stop >/dev/null 2>&1 || true
  rm -rf "$DIR"
}
trap cleanup EXIT
if [ "$(id -u)" = 0 ]; then
  id postgres >/dev/null 2>&1 || fail "no postgres user to run the server as (reinstall postgresql)"
  chown postgres "$DIR"
fi
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
as_server_user "$BIN/initdb" -D "$DIR/data" -U runyard --auth=trust --no-sync >"$DIR/initdb.log" 2>&1 ||
  fail "initdb failed: $(tail -n 5 "$DIR/initdb.log")"
as_server_user "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/log" -w -t 60 \
  -o "-p $PORT -k $DIR -c listen_addresses=127.0.0.1" start >/dev/null ||
  fail "the server did not start: $(tail -n 5 "$DIR/log" 2>/dev/null)"
echo "postgres-setup: PostgreSQL $("$BIN/postgres" --version | awk '{print $3}') ready ($BIN)"
