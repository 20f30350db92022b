"""Model registry and serving: Runyard against MLflow's registry and a bare FastAPI app.

A plain script (no assertions): prints tables of medians and the ratios. Both sections
work on a real project (a temporary git repository, `runyard init`) with a real completed
local run whose outputs hold random-byte model files (1 MB and 50 MB by default) and a
tiny dependency-free linear model (model.json, scored by score.py). A section whose part
is missing (mlflow, the Docker engine or its base image) is skipped with the reason.

1. Registering a model, each registration a new version of the same name; median ms per
   registration for each size, the rows interleaved so noise hits them alike:

   * `runyard model register RUN PATH --name N` in a subprocess: what users type
     (interpreter start and argument parsing included).
   * in-process, what that command does: open the store, reconcile, then
     `runyard.models.registry.register` (which copies and SHA-256 hashes the file into the
     content-addressed model store and records the version).
   * MLflow on a local SQLite tracking/registry store and a local artifact store:
     - `MlflowClient.log_artifact` into a finished run, then `create_model_version` of
       that artifact: MLflow's way of getting a file copied into its store and registered,
       the like-for-like of Runyard's registration;
     - `create_model_version` alone, of a file already logged: MLflow's registration
       proper, which records the source URI and copies nothing (so a lower bound).
   * floor: copy the file and SHA-256 it, nothing else.

2. Serving on the Docker engine of scripts/docker-setup.sh (base image
   runyard/python-base:bookworm, the CA bundle /etc/ssl/certs/ca-certificates.crt when
   present). The linear model is packaged (`runyard model package`, cached by the engine
   after the first time) and deployed with `runyard deploy`. The peer is the SAME image
   started with `docker run` and `python -c` a bare FastAPI app that imports the same
   score.py and calls init/run directly: no telemetry, no lock, no thread-pool hop, no
   re-serialisation check (uvicorn's defaults, its access log included, as in Runyard).

   * p50/p95 of N sequential POST /score requests over one keep-alive connection to
     each, alternating between the two; Runyard's own /metrics figures are shown too.
   * fresh start (image cached): `runyard deploy` from the command's start to its exit
     (it returns once /health answered, polling from 50 ms up to 0.5 s apart), against `docker run -d`
     plus polling /health every 50 ms to the first 200; and, for both, the engine's view:
     the container's start to uvicorn's "Uvicorn running on" log line.

Cleans up what it creates (its containers, by label, and temporary folders); the model
image stays cached, as the other benches leave theirs.

Usage: python tests/bench/bench_models.py [--repeat 9] [--requests 500] [--cold 3]
                                          [--sizes 1,50]
(`.venv-bench/bin/python tests/bench/bench_models.py --repeat 2 --requests 50 --cold 1`
for a quick check.)
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import http.client
import json
import logging
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import warnings
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root

from tests.helpers import BASE_IMAGE, LINEAR_SCORE_PY, docker_target_options

BENCH_LABEL = "dev.runyard.bench"
BENCH_VALUE = "bench_models"
PEER = "runyard-bench-models-peer"
MODEL = "bench-lin"
PAYLOAD = json.dumps({"inputs": [[1.0, 2.0, 4.0], [0.0, 0.0, 0.0], [-1.0, 1.0, 2.0]]}).encode()

TRAIN = """\
import json, os, sys
os.makedirs("outputs", exist_ok=True)
with open("outputs/model.json", "w") as f:
    json.dump({"weights": [2.0, -1.0, 0.5], "bias": 3.0}, f)
for mb in [int(a) for a in sys.argv[1:]]:
    with open(f"outputs/model-{mb}mb.bin", "wb") as f:
        for _ in range(mb):
            f.write(os.urandom(1 << 20))
print("trained", flush=True)
"""
BARE_APP = """\
import importlib.util, json, os, sys
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
import uvicorn

spec = importlib.util.spec_from_file_location("score", os.environ["RUNYARD_SCORE"])
score = importlib.util.module_from_spec(spec)
sys.modules["score"] = score
spec.loader.exec_module(score)
score.init(os.environ["RUNYARD_MODEL_PATH"])
app = FastAPI()


@app.post("/score")
async def post_score(request: Request):
    return JSONResponse(score.run(json.loads(await request.body())))


@app.get("/health")
async def health():
    return {"status": "ok"}


uvicorn.run(app, host="0.0.0.0", port=int(os.environ.get("PORT", "8080")))
"""

ENV = dict(os.environ)
ENV.pop("PYTHONDONTWRITEBYTECODE", None)  # what users get: with bytecode caching
for _who in ("AUTHOR", "COMMITTER"):
    ENV[f"GIT_{_who}_NAME"] = "bench"
    ENV[f"GIT_{_who}_EMAIL"] = "bench@localhost"
_SCRIPT = Path(sys.executable).with_name("runyard")  # the console script users type
RUNYARD = [str(_SCRIPT)] if _SCRIPT.is_file() else [sys.executable, "-m", "runyard.cli"]


def ry(root: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [*RUNYARD, *args], cwd=root, env=ENV, capture_output=True, text=True, timeout=timeout
    )
    if proc.returncode != 0:
        raise RuntimeError(
            f"runyard {' '.join(args)} exited {proc.returncode}: {proc.stderr.strip()[-1500:]}"
        )
    return proc


def nearest_rank(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(1, -(-int(q * len(ordered)) // 100)) - 1]


def make_project(work: Path, sizes: list[int]) -> tuple[Path, str]:
    """A git repository with Runyard initialised and one completed local run (its id)."""
    root = work / "proj"
    root.mkdir()
    (root / "train.py").write_text(TRAIN)
    (root / "score.py").write_text(LINEAR_SCORE_PY)
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    ry(root, "init")
    subprocess.run(["git", "add", "-A"], cwd=root, check=True)
    subprocess.run(["git", "commit", "-qm", "bench"], cwd=root, check=True, env=ENV)
    ry(root, "submit", "train.py", *(str(mb) for mb in sizes))
    run = json.loads(ry(root, "runs", "list", "--json").stdout)[0]
    if run["status"] != "completed":
        raise SystemExit(f"bench_models: the training run ended {run['status']}")
    return root, str(run["id"])


# ---- 1. registering ------------------------------------------------------------------


class MlflowRegistry:
    """MLflow's registry on SQLite, with the model files logged in one finished run."""

    def __init__(self, work: Path, outputs: Path, rels: list[str]) -> None:
        import mlflow
        from mlflow import MlflowClient

        warnings.filterwarnings("ignore")
        for name in ("mlflow", "alembic"):
            logging.getLogger(name).setLevel(logging.ERROR)
        uri = f"sqlite:///{work / 'mlflow.db'}"
        self.version = mlflow.__version__
        self.client = MlflowClient(tracking_uri=uri, registry_uri=uri)
        experiment = self.client.create_experiment(
            "bench", artifact_location=(work / "mlartifacts").as_uri()
        )
        run = self.client.create_run(experiment)
        self.run_id = run.info.run_id
        self.artifact_uri = run.info.artifact_uri
        for rel in rels:
            self.client.log_artifact(self.run_id, str(outputs / rel))
        self.client.set_terminated(self.run_id)
        self.copies = 0
        self.names: set[str] = set()

    def _name(self, name: str) -> str:
        if name not in self.names:
            self.client.create_registered_model(name)
            self.names.add(name)
        return name

    def record(self, rel: str, name: str) -> None:
        self.client.create_model_version(
            self._name(name), f"{self.artifact_uri}/{rel}", run_id=self.run_id
        )

    def copy_and_record(self, src: Path, name: str) -> None:
        self.copies += 1
        where = f"copy{self.copies}"
        self.client.log_artifact(self.run_id, str(src), artifact_path=where)
        self.client.create_model_version(
            self._name(name), f"{self.artifact_uri}/{where}/{src.name}", run_id=self.run_id
        )


def copy_hash(src: Path, dest: Path) -> None:
    digest = hashlib.sha256()
    with src.open("rb") as fin, dest.open("xb") as fout:
        while chunk := fin.read(1 << 20):
            digest.update(chunk)
            fout.write(chunk)
    dest.unlink()


def bench_register(work: Path, root: Path, run_id: str, sizes: list[int], repeat: int) -> None:
    from runyard.core.errors import RunyardError
    from runyard.core.project import find_project
    from runyard.models import registry
    from runyard.runner import runs

    project = find_project(root)
    outputs = runs.outputs_dir(project, run_id)
    rels = {mb: f"model-{mb}mb.bin" for mb in sizes}

    def in_process(rel: str, name: str) -> None:  # cmd_model_register, minus argv
        with runs.open_store(project) as store:
            with contextlib.suppress(RunyardError):
                runs.reconcile(project, store)
            registry.register(project, store, run_id, rel, name)

    cli, lib = "runyard model register (CLI subprocess)", "runyard registry.register (in-process)"
    ml_copy = "mlflow log_artifact + create_model_version"
    ml_rec = "mlflow create_model_version (copies nothing)"
    floor = "floor: copy + SHA-256 of the file"
    rows: dict[str, Callable[[int, str], object]] = {
        cli: lambda mb, rel: ry(root, "model", "register", run_id, rel, "--name", f"cli-{mb}mb"),
        lib: lambda mb, rel: in_process(rel, f"lib-{mb}mb"),
    }
    try:
        ml = MlflowRegistry(work, outputs, list(rels.values()))
    except ImportError as exc:
        mlflow_note = f"mlflow rows skipped: mlflow not importable ({exc})"
    else:
        mlflow_note = f"mlflow {ml.version}: SQLite tracking and registry store, local artifacts"
        rows[ml_copy] = lambda mb, rel: ml.copy_and_record(outputs / rel, f"copy-{mb}mb")
        rows[ml_rec] = lambda mb, rel: ml.record(rel, f"rec-{mb}mb")
    scratch = work / "floor"
    scratch.mkdir()
    rows[floor] = lambda mb, rel: copy_hash(outputs / rel, scratch / rel)

    times: dict[tuple[str, int], list[float]] = {}
    for mb, rel in rels.items():
        for fn in rows.values():
            fn(mb, rel)  # warm: first version, bytecode and page caches, SQLite files
        for _ in range(repeat):
            for label, fn in rows.items():
                start = time.perf_counter()
                fn(mb, rel)
                times.setdefault((label, mb), []).append(time.perf_counter() - start)
    med = {key: statistics.median(values) * 1000 for key, values in times.items()}

    print(f"\n1. Registering a model: median ms per registration ({repeat} each, interleaved)")
    print(f"{'':46}" + "".join(f"{f'{mb} MB':>12}" for mb in sizes))
    print("-" * (46 + 12 * len(sizes)))
    for label in rows:
        print(f"{label:46}" + "".join(f"{med[(label, mb)]:>12.1f}" for mb in sizes))
    print()
    ratios = [("runyard CLI / runyard in-process", cli, lib)]
    if ml_copy in rows:
        ratios += [
            ("runyard in-process / mlflow copy+register", lib, ml_copy),
            ("runyard in-process / mlflow register only", lib, ml_rec),
            ("runyard CLI / mlflow copy+register", cli, ml_copy),
        ]
    for title, a, b in ratios:
        cells = "".join(f"{f'{med[(a, mb)] / med[(b, mb)]:.2f}x':>12}" for mb in sizes)
        print(f"{title:46}{cells}")
    print(mlflow_note)


# ---- 2. serving ----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ok(port: int, interval: float, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(OSError, http.client.HTTPException):
            url = f"http://127.0.0.1:{port}/health"
            with urllib.request.urlopen(url, timeout=5) as resp:
                if resp.status == 200:
                    return
        if time.monotonic() > deadline:
            raise RuntimeError(f"nothing answered /health on port {port} within {timeout:.0f}s")
        time.sleep(interval)


def docker_run_peer(image: str, name: str, port: int) -> None:
    subprocess.run(
        ["docker", "run", "-d", "--name", name, "--label", f"{BENCH_LABEL}={BENCH_VALUE}",
         "-p", f"127.0.0.1:{port}:8080", image, "python", "-c", BARE_APP],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip


def _ts(text: str) -> float:
    """Seconds since the epoch of an engine timestamp (RFC 3339, nanoseconds)."""
    main, _, frac = text.strip().rstrip("Z").partition(".")
    when = datetime.fromisoformat(main + "+00:00").timestamp()
    return when + (float("0." + frac[:9]) if frac else 0.0)


def engine_startup(container: Any) -> float | None:
    """The container's start to uvicorn's "Uvicorn running on" line, by the engine's clock."""
    container.reload()
    started = _ts(container.attrs["State"]["StartedAt"])
    for line in bytes(container.logs(timestamps=True)).decode("utf-8", "replace").splitlines():
        stamp, _, text = line.partition(" ")
        if "Uvicorn running on" in text:
            return _ts(stamp) - started
    return None


def score_latencies(ports: dict[str, int], n: int) -> dict[str, list[float]]:
    """n sequential POST /score to each port over a keep-alive connection, alternating."""
    conns = {
        who: http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        for who, port in ports.items()
    }
    headers = {"Content-Type": "application/json"}
    answers: dict[str, bytes] = {}
    out: dict[str, list[float]] = {who: [] for who in ports}
    for i in range(n + 20):  # the first 20 warm the connections and the handlers
        for who, conn in conns.items():
            start = time.perf_counter()
            conn.request("POST", "/score", PAYLOAD, headers)
            resp = conn.getresponse()
            body = resp.read()
            elapsed = time.perf_counter() - start
            if resp.status != 200:
                raise RuntimeError(f"{who} answered /score with HTTP {resp.status}: {body[:200]!r}")
            answers[who] = body
            if i >= 20:
                out[who].append(elapsed)
    for conn in conns.values():
        conn.close()
    decoded = {who: json.loads(body) for who, body in answers.items()}
    if len({json.dumps(v, sort_keys=True) for v in decoded.values()}) != 1:
        print(f"warning: the services answered differently: {decoded}", file=sys.stderr)
    return out


def serving_setup(root: Path, run_id: str) -> tuple[Any, str] | str:
    """(docker client, model image), or why the section is skipped."""
    if shutil.which("docker") is None:
        return "no docker command on PATH (the peer is started with `docker run`)"
    try:
        import docker

        client = docker.from_env(timeout=60)
        client.ping()
        client.images.get(BASE_IMAGE)
    except Exception as exc:
        return f"needs a Docker engine and {BASE_IMAGE} (bash scripts/docker-setup.sh): {exc}"
    options = docker_target_options()
    ry(root, "target", "add", "dock", "--type", "docker", *options)
    ry(root, "model", "register", run_id, "model.json", "--name", MODEL)
    started = time.perf_counter()
    try:
        packaged = json.loads(
            ry(root, "model", "package", f"{MODEL}:1", "--score", "score.py", "--target",
               "dock", "--json", timeout=900).stdout
        )  # fmt: skip
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        return f"`runyard model package` failed (is a package index reachable?): {exc}"
    how = "cached" if packaged["cached"] else "built"
    print(f"model image {packaged['image']} {how} in {time.perf_counter() - started:.1f} s")
    return client, str(packaged["image"])


def bench_serving(root: Path, run_id: str, requests: int, cold: int) -> None:
    setup = serving_setup(root, run_id)
    if isinstance(setup, str):
        print(f"\n2. Serving: skipped: {setup}")
        return
    client, image = setup
    dep = json.loads(ry(root, "deploy", f"{MODEL}:1", "--target", "dock", "--name", MODEL,
                        "--json").stdout)  # fmt: skip
    peer_port = free_port()
    docker_run_peer(image, PEER, peer_port)
    wait_ok(peer_port, 0.05)
    lat = score_latencies({"runyard": int(dep["port"]), "bare": peer_port}, requests)
    with urllib.request.urlopen(f"http://127.0.0.1:{dep['port']}/metrics", timeout=10) as resp:
        metrics = json.loads(resp.read())
    ry(root, "deployment", "stop", MODEL)
    client.containers.get(PEER).remove(force=True)

    ours_wall: list[float] = []
    peer_wall: list[float] = []
    ours_engine: list[float] = []
    peer_engine: list[float] = []
    for _ in range(cold):  # interleaved
        port = free_port()
        start = time.perf_counter()
        docker_run_peer(image, PEER, port)
        wait_ok(port, 0.05)
        peer_wall.append(time.perf_counter() - start)
        container = client.containers.get(PEER)
        if (up := engine_startup(container)) is not None:
            peer_engine.append(up)
        container.remove(force=True)

        start = time.perf_counter()
        cold_dep = json.loads(ry(root, "deploy", f"{MODEL}:1", "--target", "dock", "--name",
                                 "bench-cold", "--json").stdout)  # fmt: skip
        ours_wall.append(time.perf_counter() - start)
        if (up := engine_startup(client.containers.get(cold_dep["container_id"]))) is not None:
            ours_engine.append(up)
        ry(root, "deployment", "stop", "bench-cold")

    print(f"\n2. Serving {MODEL}:1 from {image} on the Docker engine")
    print(f"POST /score, {requests} sequential requests each over one keep-alive connection")
    print(f"{'':44}{'p50 ms':>10}{'p95 ms':>10}{'mean ms':>10}")
    print("-" * 74)
    stats = {}
    for who, label in (("runyard", "runyard deploy (serve.py, telemetry)"),
                       ("bare", "bare FastAPI app, same image (docker run)")):  # fmt: skip
        values = [v * 1000 for v in lat[who]]
        stats[who] = (nearest_rank(values, 50), nearest_rank(values, 95), statistics.fmean(values))
        print(f"{label:44}" + "".join(f"{v:>10.2f}" for v in stats[who]))
    r, b = stats["runyard"], stats["bare"]
    cells = "".join(f"{f'{x / y:.2f}x':>10}" for x, y in zip(r, b, strict=True))
    print(f"{'ratio runyard / bare':44}{cells}")
    print(
        f"runyard's own /metrics (inside the handler, last {metrics['requests']} requests "
        f"incl. warm-up): p50 {metrics['p50_ms']} ms, p95 {metrics['p95_ms']} ms"
    )
    if cold:
        print(f"\nFresh start with the image cached (median of {cold})")
        print(f"{'':44}{'to first 200':>14}{'start->uvicorn up':>20}")
        print("-" * 78)

        def cell(values: list[float], width: int) -> str:
            return f"{f'{statistics.median(values):.2f} s' if values else 'n/a':>{width}}"

        print(f"{'runyard deploy --json (CLI)':44}"
              f"{cell(ours_wall, 14)}{cell(ours_engine, 20)}")  # fmt: skip
        print(f"{'docker run -d + poll /health every 50 ms':44}"
              f"{cell(peer_wall, 14)}{cell(peer_engine, 20)}")  # fmt: skip
        print(
            f"{'difference runyard - bare':44}"
            f"{statistics.median(ours_wall) - statistics.median(peer_wall):>+13.2f}s"
            + (
                f"{statistics.median(ours_engine) - statistics.median(peer_engine):>+19.2f}s"
                if ours_engine and peer_engine
                else ""
            )
        )


def cleanup(root: Path) -> None:
    with contextlib.suppress(Exception):
        import docker

        client = docker.from_env(timeout=30)
        for label in (f"dev.runyard.project={root}", f"{BENCH_LABEL}={BENCH_VALUE}"):
            for container in client.containers.list(all=True, filters={"label": label}):
                container.remove(force=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=9, help="registrations per size and row")
    parser.add_argument("--requests", type=int, default=500, help="POST /score per service")
    parser.add_argument("--cold", type=int, default=3, help="fresh starts per service")
    parser.add_argument("--sizes", default="1,50", help="model file sizes in MB")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    print(f"Python {sys.version.split()[0]} on {sys.platform}; {os.cpu_count()} CPUs")
    work = Path(tempfile.mkdtemp(prefix="runyard-bench-models-"))
    root = work / "proj"
    try:
        root, run_id = make_project(work, sizes)
        bench_register(work, root, run_id, sizes, args.repeat)
        bench_serving(root, run_id, args.requests, args.cold)
    finally:
        cleanup(root)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
