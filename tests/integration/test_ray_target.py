"""`ray` targets against a real Ray head on loopback: `ray start --head` from the Ray
that scripts/ray-setup.sh installs into a virtual environment of its own (Runyard
itself never imports ray), started by the `cluster` fixture in a temporary folder on
free ports with 2 CPUs, and stopped at the end (only the processes it started: the
head's process group and what descends from it). Under CI=true a missing Ray fails
these tests.

The project's requirements.txt names a small package that the cluster's Python lacks,
so the first run builds Ray's runtime env (pip) and later runs reuse it. Where a test
must act while a run runs, the script waits for a gate file the test makes."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import textwrap
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import git, missing, run_logs, runyard, show_run, submit_run, until, wait_run

pytestmark = pytest.mark.integration

RAY_HOME = Path(os.environ.get("RUNYARD_RAY_HOME", "/var/tmp/runyard-ray"))
RAY = RAY_HOME / "venv" / "bin" / "ray"
PACKAGE = "colorama"  # on the package index, not in the cluster's Python

TRAIN = """\
import argparse, os, time
import colorama
import runyard

p = argparse.ArgumentParser()
p.add_argument("--gate", required=True)
a = p.parse_args()
print("colorama", colorama.__version__, flush=True)
runyard.log_params({"gate": os.path.basename(a.gate)})
runyard.log_metric("loss", 1.0, step=0)
runyard.flush()
for _ in range(1200):
    if os.path.exists(a.gate):
        break
    time.sleep(0.05)
for step in (1, 2):
    runyard.log_metric("loss", 1.0 / (step + 1), step=step)
with open(os.path.join(os.environ["RUNYARD_OUTPUTS"], "result.txt"), "w") as f:
    f.write("trained on " + os.environ.get("RUNYARD_RUN_ID", "?"))
os.makedirs("outputs/deep", exist_ok=True)
with open("outputs/deep/model.bin", "wb") as f:
    f.write(bytes(range(256)) * 64)
print("done training", flush=True)
"""

NOTEBOOK = json.dumps(
    {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
        "cells": [
            {"cell_type": "code", "id": "p", "metadata": {"tags": ["parameters"]}, "outputs": [],
             "execution_count": None, "source": "lr = 0.5"},
            {"cell_type": "code", "id": "t", "metadata": {}, "outputs": [], "execution_count": None,
             "source": "import runyard\nfor step in range(3):\n"
                       "    runyard.log_metric('loss', lr / (step + 1), step=step)\n"
                       "print('trained', lr)"},
        ],
    }
)  # fmt: skip
FAIL = """\
import sys
sys.stdout.buffer.write(b"not UTF-8: caf\\xe9\\n")  # (Ray serves its logs as UTF-8)
sys.stdout.flush()
print("about to fail", flush=True)
sys.exit(3)
"""

LONG = """\
import os, time
import runyard

with open("outputs/partial.txt", "w") as f:
    f.write("written before the cancel")
print("long pid", os.getpid(), flush=True)
for step in range(3000):
    runyard.log_metric("tick", step, step=step)
    time.sleep(0.1)
"""

QUAD = """\
import argparse
import runyard

p = argparse.ArgumentParser()
p.add_argument("--lr", type=float, required=True)
a = p.parse_args()
for step in range(3):
    runyard.log_metric("loss", (a.lr - 0.03) ** 2 + 1.0 / (step + 1), step=step)
print("trained", a.lr)
"""


def _free_ports(n: int) -> list[int]:
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _children() -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        out.setdefault(int(fields[1]), []).append(int(entry))
    return out


def _group_and_descendants(pgid: int) -> set[int]:
    """The processes of the head's group and everything they started (workers, the
    jobs' processes, which lead sessions of their own)."""
    found: set[int] = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError, IndexError):
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
                if int(fields[2]) == pgid:
                    found.add(int(entry))
    children = _children()
    todo = list(found)
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _stop(pids: set[int]) -> None:
    for sig, wait in ((signal.SIGTERM, 4.0), (signal.SIGKILL, 5.0)):
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and any(_alive(p) for p in pids):
            time.sleep(0.2)
        pids = {p for p in pids if _alive(p)}
        if not pids:
            return


def _api(address: str, path: str) -> Any:
    with urllib.request.urlopen(address + path, timeout=10) as response:
        return json.load(response)


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    """A Ray head on loopback, with its dashboard (the job API), 2 CPUs, no workers."""
    if not RAY.is_file():
        missing(f"Ray in {RAY_HOME / 'venv'}", "run scripts/ray-setup.sh")
    folder = tempfile.mkdtemp(prefix="ry", dir="/tmp")  # (short: Ray's socket paths)
    gcs, dashboard, client, agent = _free_ports(4)
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    env.pop("RAY_ADDRESS", None)
    cmd = [
        str(RAY), "start", "--head", "--node-ip-address", "127.0.0.1",
        "--port", str(gcs), "--dashboard-host", "127.0.0.1", "--dashboard-port", str(dashboard),
        "--include-dashboard", "true", "--ray-client-server-port", str(client),
        "--dashboard-agent-listen-port", str(agent), "--num-cpus", "2", "--num-gpus", "0",
        "--object-store-memory", str(100 * 1024 * 1024), "--temp-dir", folder,
        "--disable-usage-stats",
    ]  # fmt: skip
    proc = subprocess.Popen(
        cmd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,  # the head's processes share this group: stopped below
        text=True,
    )
    address = f"http://127.0.0.1:{dashboard}"
    try:
        out, _ = proc.communicate(timeout=120)
        if proc.returncode != 0:
            pytest.fail(f"ray start --head failed:\n{out[-3000:]}")

        def answers() -> bool:
            try:
                return bool(_api(address, "/api/version").get("ray_version"))
            except OSError:
                return False

        until(answers, timeout=90, what="the Ray dashboard's job API")
        yield address
    finally:
        _stop(_group_and_descendants(proc.pid))
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def proj(tmp_path_factory: pytest.TempPathFactory, cluster: str) -> Path:
    root = tmp_path_factory.mktemp("ray") / "proj"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    (root / "train.py").write_text(TRAIN)
    (root / "fail.py").write_text(FAIL)
    (root / "long.py").write_text(LONG)
    (root / "quad.py").write_text(QUAD)
    (root / "requirements.txt").write_text(f"{PACKAGE}\n")
    (root / "analysis.ipynb").write_text(NOTEBOOK)
    runyard(root, "init", check=True)
    (root / ".runyard/targets/ray.yml").write_text(
        f"type: ray\naddress: {cluster}\nnum_cpus: 1\ncancel_grace_seconds: 5\n"
    )
    git(root, "add", "-A")
    git(root, "-c", "user.name=Runyard Tests", "-c", "user.email=tests@localhost", "commit",
        "-qm", "scripts for the Ray cluster")  # fmt: skip
    return root


def test_a_notebook_runs_on_the_cluster_with_its_parameters_and_metrics(
    proj: Path, cluster: str
) -> None:
    """A notebook is a run on Ray too: the kernel's packages join the runtime env, the
    parameters are injected, the cells' metrics come back, and the executed notebook is
    kept in the outputs."""
    run_id = submit_run(proj, "--target", "ray", "analysis.ipynb", "-p", "lr=0.2", timeout=600)
    run = wait_run(proj, run_id, timeout=600)
    log = run_logs(proj, run_id)
    assert run["status"] == "completed", (run["reason"], log[-3000:])
    assert "[parameters] lr = 0.2 (injected)" in log and "[cell 2/2]" in log
    assert run["params"] == {"lr": "0.2"}
    summary = {m["key"]: m for m in run["metrics_summary"]}
    assert summary["loss"]["count"] == 3 and summary["loss"]["last"] == pytest.approx(0.2 / 3)
    executed = json.loads((Path(run["outputs_dir"]) / "analysis.ipynb").read_text())
    sources = ["".join(c["source"]) for c in executed["cells"]]
    assert any("lr = 0.2" in text for text in sources[1:2])
    assert all(c.get("execution_count") for c in executed["cells"])


def _job(address: str, run: dict[str, Any]) -> dict[str, Any]:
    job: dict[str, Any] = _api(address, f"/api/jobs/{run['tags']['ray.submission_id']}")
    return job


def test_a_run_on_ray_completes_with_live_metrics_logs_and_outputs(
    proj: Path, cluster: str, tmp_path: Path
) -> None:
    gate = tmp_path / "go"
    run_id = submit_run(proj, "--target", "ray", "train.py", "--gate", str(gate))

    def live() -> dict[str, Any] | None:
        run = show_run(proj, run_id)
        assert run["status"] in ("queued", "preparing", "running"), (run, run_logs(proj, run_id))
        return run if run["status"] == "running" and run["metrics"] else None

    # The first point arrives while the script still waits for the gate: live.
    run = until(live, timeout=120, what="a live metric from the Ray job")
    assert run["metrics"] == {"loss": 1.0} and run["params"] == {"gate": "go"}
    gate.touch()
    run = wait_run(proj, run_id, timeout=120)
    log = run_logs(proj, run_id)
    assert run["status"] == "completed", (run, log[-3000:])
    assert run["exit_code"] == 0
    assert {m["key"]: m["count"] for m in run["metrics_summary"]} == {"loss": 3}
    assert run["metrics"]["loss"] == pytest.approx(1 / 3)
    # logs: the script's, Runyard's and the environment Ray built from requirements.txt
    assert "done training" in log and f"{PACKAGE} " in log
    assert "1 pip requirement" in log and f"Ray job runyard-{run_id}" in log
    assert "\x1e" not in log  # the tracking records and the outputs' lines stay out of it
    # outputs: written on the worker, back in the run's folder
    outputs = Path(run["outputs_dir"])
    assert (outputs / "result.txt").read_text() == f"trained on {run_id}"
    assert (outputs / "deep" / "model.bin").read_bytes() == bytes(range(256)) * 64
    assert {a["path"] for a in run["artifacts"]} == {"result.txt", "deep/model.bin"}
    assert run["tags"]["ray.address"] == cluster
    assert _job(cluster, run)["status"] == "SUCCEEDED"


def test_a_failing_script_fails_the_run_with_its_exit_code(proj: Path, cluster: str) -> None:
    run = wait_run(proj, submit_run(proj, "--target", "ray", "fail.py"), timeout=120)
    assert run["status"] == "failed" and run["exit_code"] == 3, run
    assert run["reason"] == "exited with code 3: about to fail"
    assert "not UTF-8: caf\\xe9\nabout to fail\n" in run_logs(proj, run["id"])
    job = _job(cluster, run)
    assert job["status"] == "FAILED" and job["driver_exit_code"] == 3


def test_cancel_stops_the_job_and_keeps_what_it_wrote(proj: Path, cluster: str) -> None:
    run_id = submit_run(proj, "--target", "ray", "long.py")

    def ticking() -> dict[str, Any] | None:
        run = show_run(proj, run_id)
        assert run["status"] in ("queued", "preparing", "running"), run
        return run if run["status"] == "running" and run["metrics"] else None

    run = until(ticking, timeout=120, what="a live metric from the Ray job")
    pid = int(run_logs(proj, run_id).split("long pid ")[1].split()[0])
    assert _alive(pid)
    runyard(proj, "runs", "cancel", run_id, check=True)
    run = wait_run(proj, run_id, timeout=60)
    assert run["status"] == "canceled", run
    assert _job(cluster, run)["status"] == "STOPPED"
    until(lambda: not _alive(pid), timeout=15, what="the script's end on the worker")
    assert run["metrics_summary"][0]["count"] < 3000
    assert (Path(run["outputs_dir"]) / "partial.txt").read_text() == "written before the cancel"
    assert "asked the Ray cluster" in run_logs(proj, run_id)


def test_target_test_reports_the_ray_version_and_resources(proj: Path, cluster: str) -> None:
    proc = runyard(proj, "target", "test", "ray", "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(proc.stdout)
    checks = {c["name"]: c for c in report["checks"]}
    assert report["ok"] and set(checks) == {"cluster", "resources"}
    version = _api(cluster, "/api/version")["ray_version"]
    assert checks["cluster"]["detail"] == f"{cluster} (Ray {version})"
    assert checks["resources"]["detail"].startswith("1 live node: 2 CPUs, ")
    assert checks["resources"]["detail"].endswith("a run asks for 1 CPU")

    (port,) = _free_ports(1)
    (proj / ".runyard/targets/gone.yml").write_text(
        f"type: ray\naddress: http://127.0.0.1:{port}\n"
    )
    (proj / ".runyard/targets/gpus.yml").write_text(f"type: ray\naddress: {cluster}\nnum_gpus: 2\n")
    proc = runyard(proj, "target", "test", "gone", "--json")
    assert proc.returncode != 0
    checks = {c["name"]: c for c in json.loads(proc.stdout)["checks"]}
    assert not checks["cluster"]["ok"]
    assert (
        f"The Ray cluster at http://127.0.0.1:{port} did not answer" in checks["cluster"]["detail"]
    )
    assert "ray start --head" in checks["cluster"]["fix"]
    proc = runyard(proj, "target", "test", "gpus", "--json")
    assert proc.returncode != 0
    checks = {c["name"]: c for c in json.loads(proc.stdout)["checks"]}
    assert checks["cluster"]["ok"] and not checks["resources"]["ok"]
    assert "a run asks for 2 GPUs: the most any node has is 0 GPUs" in checks["resources"]["detail"]


def test_an_unreachable_cluster_or_a_job_it_cannot_hold_fails_clearly(
    proj: Path, cluster: str
) -> None:
    from runyard.targets.ray import ClusterRefused, RayCluster

    (port,) = _free_ports(1)
    (proj / ".runyard/targets/down.yml").write_text(
        f"type: ray\naddress: http://127.0.0.1:{port}\n"
    )
    (proj / ".runyard/targets/big.yml").write_text(f"type: ray\naddress: {cluster}\nnum_gpus: 1\n")
    down = wait_run(proj, submit_run(proj, "--target", "down", "fail.py"), timeout=60)
    assert down["status"] == "failed"
    assert down["reason"].startswith(f"The Ray cluster at http://127.0.0.1:{port} did not answer")
    assert "fix `address:` in the target file" in run_logs(proj, down["id"])
    big = wait_run(proj, submit_run(proj, "--target", "big", "fail.py"), timeout=60)
    assert big["status"] == "failed"
    assert big["reason"] == (
        f"The Ray cluster at {cluster} cannot run this job: it asks for 1 GPU: the most any "
        "node has is 0 GPUs."
    )
    # The cluster's own refusal (a submission id it already has) reads in one line.
    client = RayCluster(cluster)
    payload = {"entrypoint": "true", "submission_id": "runyard-refused-twice"}
    client.submit(payload)
    with pytest.raises(ClusterRefused) as refused:
        client.submit(payload)
    assert refused.value.status in (400, 500)
    assert refused.value.message.endswith(
        "ValueError: Job with submission_id runyard-refused-twice already exists. Please use a "
        "different submission_id."
    )


def test_a_sweep_runs_four_trials_two_at_a_time_on_the_cluster(proj: Path, cluster: str) -> None:
    folder = proj / ".runyard" / "sweeps"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "lr.yml").write_text(
        textwrap.dedent(
            """\
            script: quad.py
            space:
              lr: {choice: [0.01, 0.03, 0.1, 0.3]}
            sampler: grid
            objective: {metric: loss}
            max_trials: 4
            parallel: {ray: 2}
            """
        )
    )
    sweep_id = runyard(proj, "sweep", "start", "lr", "--detach", check=True).stdout.split()[0]

    def ended() -> dict[str, Any] | None:
        proc = runyard(proj, "sweep", "show", sweep_id, "--json", check=True)
        data: dict[str, Any] = json.loads(proc.stdout)
        return data if data["status"] in ("completed", "canceled", "failed") else None

    data = until(ended, timeout=150, what=f"the end of sweep {sweep_id}")
    assert data["status"] == "completed" and data["counts"] == {"completed": 4}, data
    assert sorted(t["params"]["lr"] for t in data["trials"]) == [0.01, 0.03, 0.1, 0.3]
    assert data["trials"][0]["params"]["lr"] == 0.03  # the best first
    spans = []
    for trial in data["trials"]:
        run = show_run(proj, trial["run_id"])
        assert run["target_type"] == "ray" and run["tags"]["ray.submission_id"], run
        assert _job(cluster, run)["status"] == "SUCCEEDED"
        spans.append((run["history"][0]["time"], run["ended"]))
    for begin, _end in spans:  # never more than two at once
        assert sum(1 for b, e in spans if b <= begin < e) <= 2
