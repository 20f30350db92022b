#!/usr/bin/env bash
# Starts a Docker engine on this machine (as root) and makes the offline base image
# Runyard's docker tests use, runyard/python-base:bookworm (a minimal Debian root file
# system with python3, venv and pip, imported without a registry). Idempotent: an
# engine already answering and an image already present are kept.
# Usage: bash scripts/docker-setup.sh
set -euo pipefail
IMAGE=${RUNYARD_BASE_IMAGE:-runyard/python-base:bookworm}

need=()
command -v dockerd >/dev/null || need+=(docker.io)
command -v debootstrap >/dev/null || need+=(debootstrap)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "docker-setup: missing ${need[*]}; install them (apt-get install ${need[*]})" >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

if ! docker info >/dev/null 2>&1; then
  echo "docker-setup: starting dockerd (log: /var/log/runyard-dockerd.log)" >&2
  nohup dockerd >/var/log/runyard-dockerd.log 2>&1 &
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && break
    sleep 1
  done
  docker info >/dev/null 2>&1 || {
    echo "docker-setup: dockerd did not come up; see /var/log/runyard-dockerd.log" >&2
    tail -20 /var/log/runyard-dockerd.log >&2
    exit 1
  }
fi

if ! docker image inspect "$IMAGE" >/dev/null 2>&1; then
  echo "docker-setup: building $IMAGE with debootstrap (about a minute)" >&2
  rootfs=$(mktemp -d)
  trap 'rm -rf "$rootfs"' EXIT
  debootstrap --variant=minbase --include=python3,python3-venv,python3-pip,ca-certificates \
    bookworm "$rootfs" >/var/log/runyard-debootstrap.log 2>&1 || {
    echo "docker-setup: debootstrap failed; see /var/log/runyard-debootstrap.log" >&2
    tail -20 /var/log/runyard-debootstrap.log >&2
    exit 1
  }
  tar -C "$rootfs" -c . | docker import -c 'CMD ["python3"]' - "$IMAGE" >/dev/null
fi
echo "docker-setup: engine $(docker version --format '{{.Server.Version}}') ready, image $IMAGE" >&2
