#!/usr/bin/env bash
# Starts an sshd on loopback for Runyard's remote-engine tests: a "remote machine"
# reachable as ssh://root@127.0.0.1:$PORT whose Docker engine is this machine's.
# Keys live in $DIR: host_key (the server's), user_key (the client's, authorized).
# Idempotent: an sshd already answering on the port is kept.
# Usage: bash scripts/sshd-setup.sh [DIR] [PORT]   (default /var/tmp/runyard-sshd 2222)
set -euo pipefail
DIR=${1:-/var/tmp/runyard-sshd}
PORT=${2:-2222}

if ! command -v sshd >/dev/null && [ ! -x /usr/sbin/sshd ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "sshd-setup: sshd missing; install openssh-server" >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssh-server openssh-client >/dev/null
fi
mkdir -p "$DIR" /run/sshd
chmod 700 "$DIR"
[ -f "$DIR/host_key" ] || ssh-keygen -q -t ed25519 -N '' -f "$DIR/host_key"
[ -f "$DIR/user_key" ] || ssh-keygen -q -t ed25519 -N '' -f "$DIR/user_key"
cp "$DIR/user_key.pub" "$DIR/authorized_keys"
chmod 600 "$DIR/authorized_keys"
cat >"$DIR/sshd_config" <<CONF
Port $PORT
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
if ! (exec 3<>/dev/tcp/127.0.0.1/"$PORT") 2>/dev/null; then
  /usr/sbin/sshd -f "$DIR/sshd_config" -E "$DIR/sshd.log"
  for _ in $(seq 1 20); do
    (exec 3<>/dev/tcp/127.0.0.1/"$PORT") 2>/dev/null && break
    sleep 0.25
  done
fi
echo "sshd-setup: sshd on 127.0.0.1:$PORT, keys in $DIR" >&2
