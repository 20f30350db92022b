#!/usr/bin/env bash
# Starts an sshd on loopback for Runyard's remote-engine tests: a "remote machine"
# reachable as ssh://root@127.0.0.1:$PORT whose Docker engine is this machine's.
# Keys live in $DIR: host_key (the server's), user_key (the client's, authorized).
# Idempotent: an sshd already on the port is kept when a real `ssh -o BatchMode=yes`
# login with user_key works there. When something else holds the port (another sshd
# that refuses the key, another service), a free port is picked instead. The port in
# use is written to $DIR/port, where the tests read it (tests/helpers.py); success is
# reported only once a login with the key works, otherwise it fails saying why.
# Usage: bash scripts/sshd-setup.sh [DIR] [PORT]   (default /var/tmp/runyard-sshd 2222)
set -euo pipefail
DIR=${1:-/var/tmp/runyard-sshd}
PORT=${2:-2222}

fail() {
  echo "sshd-setup: $*" >&2
  exit 1
}

if ! command -v sshd >/dev/null && [ ! -x /usr/sbin/sshd ] || ! command -v ssh >/dev/null; then
  if [ "$(id -u)" != 0 ]; then
    fail "sshd or ssh missing; install openssh-server and openssh-client"
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssh-server openssh-client >/dev/null
fi
mkdir -p "$DIR" /run/sshd
chmod 700 "$DIR"
rm -f "$DIR/port"
[ -f "$DIR/host_key" ] || ssh-keygen -q -t ed25519 -N '' -f "$DIR/host_key"
[ -f "$DIR/user_key" ] || ssh-keygen -q -t ed25519 -N '' -f "$DIR/user_key"
cp "$DIR/user_key.pub" "$DIR/authorized_keys"
chmod 600 "$DIR/authorized_keys"

answers() { (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null; }

# A real login with the key, as the tests make it; its error output is kept in $DIR.
logs_in() {
  ssh -F /dev/null -o BatchMode=yes -o IdentitiesOnly=yes -o IdentityAgent=none \
    -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR \
    -o ConnectTimeout=10 -i "$DIR/user_key" -p "$1" root@127.0.0.1 true \
    </dev/null >/dev/null 2>"$DIR/login.err"
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start_sshd() {
  cat >"$DIR/sshd_config" <<CONF
Port $1
ListenAddress 127.0.0.1
HostKey $DIR/host_key
PidFile $DIR/sshd.pid
AuthorizedKeysFile $DIR/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
SetEnv PATH=/usr/local/bin:/usr/bin:/bin
CONF
  /usr/sbin/sshd -f "$DIR/sshd_config" -E "$DIR/sshd.log" ||
    fail "sshd did not start on 127.0.0.1:$1 (see $DIR/sshd.log)"
  for _ in $(seq 1 40); do
    answers "$1" && return 0
    sleep 0.25
  done
  fail "sshd started but nothing answers on 127.0.0.1:$1 (see $DIR/sshd.log)"
}

if answers "$PORT"; then
  if ! logs_in "$PORT"; then
    why=$(tail -n 1 "$DIR/login.err" 2>/dev/null || true)
    echo "sshd-setup: what answers on 127.0.0.1:$PORT refuses the key $DIR/user_key" \
      "(${why:-no reason given}); using a free port instead" >&2
    PORT=$(free_port) || fail "no free port found (python3 is needed to pick one)"
    start_sshd "$PORT"
  fi
else
  start_sshd "$PORT"
fi
if ! logs_in "$PORT"; then
  fail "the sshd on 127.0.0.1:$PORT refuses the key $DIR/user_key:" \
    "$(tail -n 1 "$DIR/login.err" 2>/dev/null || true) (see $DIR/sshd.log)"
fi
echo "$PORT" >"$DIR/port"
echo "sshd-setup: sshd on 127.0.0.1:$PORT, keys in $DIR (port in $DIR/port)" >&2
