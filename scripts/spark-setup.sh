#!/usr/bin/env bash
# Starts a Spark standalone cluster on loopback for Runyard's `spark` target tests: a
# master on spark://127.0.0.1:$PORT (web UI and its JSON on $WEBUI_PORT) and one worker
# with one core and 1 GB, both from the pyspark package in a virtual environment in $DIR
# and this machine's Java (17 or later). Logs and pid files go to $DIR.
# Idempotent: a master already answering on the port is kept (and its worker).
# Usage: bash scripts/spark-setup.sh [DIR] [PORT] [WEBUI_PORT]
#        (default /var/tmp/runyard-spark 7077 8080)
set -euo pipefail
DIR=${1:-/var/tmp/runyard-spark}
PORT=${2:-7077}
WEBUI_PORT=${3:-8080}
WORKER_WEBUI_PORT=$((WEBUI_PORT + 1))
PYTHON=${PYTHON:-python3}

answers() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

if ! command -v java >/dev/null; then
  if [ "$(id -u)" != 0 ]; then
    echo "spark-setup: java missing; install a Java 17 runtime (openjdk-17-jre-headless)" >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless >/dev/null
fi

mkdir -p "$DIR"
VENV="$DIR/venv"
if [ ! -x "$VENV/bin/spark-class" ]; then
  rm -rf "$VENV.tmp"
  "$PYTHON" -m venv "$VENV.tmp"
  "$VENV.tmp/bin/python" -m pip install -q --progress-bar off 'pyspark>=4,<5'
  rm -rf "$VENV"
  mv "$VENV.tmp" "$VENV"
  # venv scripts name their folder: point them at the final one.
  grep -rlF "$VENV.tmp" "$VENV/bin" "$VENV/pyvenv.cfg" 2>/dev/null |
    xargs -r sed -i "s#$VENV.tmp#$VENV#g"
fi
SPARK_HOME=$("$VENV/bin/python" -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))')
export SPARK_HOME
export SPARK_DAEMON_MEMORY=${SPARK_DAEMON_MEMORY:-256m}  # the master's and worker's JVMs
export PYSPARK_PYTHON="$VENV/bin/python"

if ! answers "$PORT"; then
  nohup "$SPARK_HOME/bin/spark-class" org.apache.spark.deploy.master.Master \
    --host 127.0.0.1 --port "$PORT" --webui-port "$WEBUI_PORT" \
    >"$DIR/master.log" 2>&1 </dev/null &
  echo $! >"$DIR/master.pid"
  for _ in $(seq 1 120); do
    answers "$PORT" && answers "$WEBUI_PORT" && break
    sleep 0.5
  done
  if ! answers "$PORT"; then
    echo "spark-setup: the master did not start; see $DIR/master.log" >&2
    tail -n 20 "$DIR/master.log" >&2 || true
    exit 1
  fi
fi

if ! answers "$WORKER_WEBUI_PORT"; then
  nohup "$SPARK_HOME/bin/spark-class" org.apache.spark.deploy.worker.Worker \
    "spark://127.0.0.1:$PORT" --host 127.0.0.1 --cores 1 --memory 1g \
    --webui-port "$WORKER_WEBUI_PORT" --work-dir "$DIR/work" \
    >"$DIR/worker.log" 2>&1 </dev/null &
  echo $! >"$DIR/worker.pid"
fi
# Wait until the master lists an alive worker, so the first application gets executors.
for _ in $(seq 1 120); do
  if "$VENV/bin/python" - "$WEBUI_PORT" <<'PY' 2>/dev/null; then
import json, sys, urllib.request
with urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/json/", timeout=2) as r:
    state = json.load(r)
sys.exit(0 if any(w.get("state") == "ALIVE" for w in state.get("workers", [])) else 1)
PY
    echo "spark-setup: Spark master on spark://127.0.0.1:$PORT (UI :$WEBUI_PORT), worker ready; files in $DIR" >&2
    exit 0
  fi
  sleep 0.5
done
echo "spark-setup: no worker registered with the master; see $DIR/worker.log" >&2
tail -n 20 "$DIR/worker.log" >&2 || true
exit 1
