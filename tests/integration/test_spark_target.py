"""`spark` targets against real Spark: `local[2]` in the driver's JVM, and a standalone
master and worker on loopback (scripts/spark-setup.sh: spark://127.0.0.1:7077, web UI
and its JSON on :8080) started from the pyspark package with this machine's Java.
The runs' spark-submit is the one pyspark installs into the run's environment, built
once from requirements.txt for the whole module. Under CI=true a missing Java, pyspark
or master fails these tests."""

from __future__ import annotations

import json
import os
import platform
import shutil
import socket
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import git, missing, run_logs, runyard, show_run, submit_run, until, wait_run

pytestmark = pytest.mark.integration

SPARK_DIR = Path(os.environ.get("RUNYARD_SPARK_DIR", "/var/tmp/runyard-spark"))
MASTER = os.environ.get("RUNYARD_SPARK_MASTER", "spark://127.0.0.1:7077")
MASTER_UI = os.environ.get("RUNYARD_SPARK_MASTER_UI", "http://127.0.0.1:8080")
SPARK_SUBMIT = SPARK_DIR / "venv" / "bin" / "spark-submit"
# Small: the machine is shared and has two cores.
MEMORY = ("--conf", "spark.driver.memory=512m", "--conf", "spark.executor.memory=512m")

TRAIN = """\
import os, time
from pyspark import SparkContext
import runyard
from helpers import square

sc = SparkContext.getOrCreate()
print(f"driver pid {os.getpid()}", flush=True)
steps = int(os.environ.get("STEPS", "3"))
runyard.log_params({"steps": steps, "master": sc.master})
for step in range(steps):
    total = sc.parallelize(range(100), 2).map(square).sum()  # square runs on executors
    runyard.log_metric("total", total, step=step)
    print(f"step {step} total {total}", flush=True)
    time.sleep(float(os.environ.get("PAUSE", "0")))
os.makedirs("outputs", exist_ok=True)
with open("outputs/app.txt", "w") as f:
    f.write(sc.applicationId)
sc.stop()
"""
HELPERS = "def square(x):\n    return x * x\n"
TOTAL = str(sum(x * x for x in range(100)))


def _master_state() -> dict[str, Any]:
    with urllib.request.urlopen(f"{MASTER_UI}/json/", timeout=5) as response:
        data: dict[str, Any] = json.load(response)
    return data


@pytest.fixture(scope="module")
def cluster() -> str:
    if shutil.which("java") is None:
        missing("java", "install openjdk-17-jre-headless, or run scripts/spark-setup.sh as root")
    if not SPARK_SUBMIT.is_file():
        missing(f"pyspark in {SPARK_DIR / 'venv'}", "run scripts/spark-setup.sh")
    host, port = MASTER.removeprefix("spark://").rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
        state = _master_state()
    except OSError:
        missing(f"a Spark master at {MASTER}", "run scripts/spark-setup.sh")
    if not any(w.get("state") == "ALIVE" for w in state.get("workers", [])):
        missing(f"a live worker on {MASTER}", "run scripts/spark-setup.sh")
    return MASTER


@pytest.fixture(scope="module")
def proj(
    tmp_path_factory: pytest.TempPathFactory, cluster: str, pyspark_from_a_wheel: None
) -> Path:
    """One project for the module, so the run environment (pyspark) is built once (from
    pyspark's wheel: conftest's `pyspark_from_a_wheel`)."""
    root = tmp_path_factory.mktemp("spark") / "proj"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    (root / "train.py").write_text(TRAIN)
    (root / "helpers.py").write_text(HELPERS)
    (root / "requirements.txt").write_text("pyspark>=4,<5\n")
    runyard(root, "init", check=True)
    add = ("target", "add")
    runyard(root, *add, "local2", "--type", "spark", "--master", "local[2]", *MEMORY, check=True)
    runyard(root, *add, "cluster", "--type", "spark", "--master", cluster, *MEMORY, check=True)
    (root / ".runyard/jobs/long.yml").write_text(
        "script: train.py\ntarget: cluster\nframework: pyspark\n"
        "env:\n  STEPS: '600'\n  PAUSE: '0.5'\n"
    )
    git(root, "add", "-A")
    git(root, "-c", "user.name=Runyard Tests", "-c", "user.email=tests@localhost", "commit",
        "-qm", "a pyspark job")  # fmt: skip
    return root


def _gone(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except OSError:
        return True


def _check_completed(project: Path, run: dict[str, Any]) -> str:
    assert run["status"] == "completed", (run, run_logs(project, run["id"])[-3000:])
    summary = {m["key"]: m for m in run["metrics_summary"]}
    assert summary["total"]["count"] == 3
    assert run["metrics"]["total"] == float(TOTAL)
    tags = run["tags"]
    app_id: str = tags["spark.app_id"]
    assert Path(run["outputs_dir"], "app.txt").read_text() == app_id  # the driver's outputs/
    assert tags["spark.ui_url"].startswith("http://")
    log = run_logs(project, run["id"])
    assert f"step 2 total {TOTAL}" in log and f"Spark application {app_id}" in log
    assert "--py-files" in log  # the project's Python files went to the executors
    return app_id


def test_a_pyspark_job_runs_on_local_and_on_a_standalone_cluster(proj: Path) -> None:
    local_id = submit_run(proj, "--target", "local2", "train.py")
    local = wait_run(proj, local_id, timeout=400)
    app_id = _check_completed(proj, local)
    assert app_id.startswith("local-")
    assert local["params"]["master"] == "local[2]"
    assert local["tags"]["spark.master"] == "local[2]"
    assert "building environment" in run_logs(proj, local_id)
    # the driver's environment is the executors' too here (local[2]): a whole lock
    lock = local["lock"]
    assert lock is not None and lock["installer"] in ("uv", "pip"), local
    assert lock["packages"]["pyspark"].startswith("4."), lock
    assert lock["host"]["os"] == platform.system() and "spark.lock" not in local["tags"]

    cluster_run = wait_run(proj, submit_run(proj, "--target", "cluster", "train.py"), timeout=400)
    app_id = _check_completed(proj, cluster_run)
    assert app_id.startswith("app-")
    assert cluster_run["params"]["master"] == MASTER
    assert cluster_run["env_hash"] == local["env_hash"]  # one environment, reused
    assert "(cached)" in run_logs(proj, cluster_run["id"])
    # a master on loopback: its worker runs the same interpreter, so the same whole lock
    assert cluster_run["lock"]["packages"] == lock["packages"], cluster_run["lock"]
    assert "spark.lock" not in cluster_run["tags"]
    # The master ran it: the application is listed, finished, in its state.
    completed = {a["id"]: a for a in _master_state()["completedapps"]}
    assert completed[app_id]["state"] == "FINISHED"
    # The event log, for Spark's history server, stays with the run.
    run_dir = proj / ".runyard/state/runs" / cluster_run["id"]
    assert any(app_id in p.name for p in (run_dir / "spark-events").iterdir())


def test_cancel_kills_the_application_and_the_driver(proj: Path) -> None:
    from runyard.core.store import Store

    run_id = submit_run(proj, "--job", "long")

    def running_with_metrics() -> dict[str, Any] | None:
        run = show_run(proj, run_id)
        assert run["status"] in ("queued", "preparing", "running"), run
        live = run["status"] == "running" and run["metrics"] and "spark.app_id" in run["tags"]
        return run if live else None

    run = until(running_with_metrics, timeout=240, what="a live metric from the driver")
    app_id = run["tags"]["spark.app_id"]
    assert app_id in {a["id"] for a in _master_state()["activeapps"]}
    driver_pid = int(run_logs(proj, run_id).split("driver pid ")[1].split()[0])
    with Store(proj / ".runyard/state/runyard.db") as store:
        submit_pid = store.get_run(run_id).pid
    assert submit_pid and not _gone(submit_pid) and not _gone(driver_pid)

    runyard(proj, "runs", "cancel", run_id, check=True)
    run = wait_run(proj, run_id, timeout=400)
    assert run["status"] == "canceled", run
    until(lambda: _gone(driver_pid) and _gone(submit_pid), timeout=30, what="the driver's end")

    def not_active() -> bool:
        state = _master_state()
        return app_id not in {a["id"] for a in state["activeapps"]} and app_id in {
            a["id"] for a in state["completedapps"]
        }

    until(not_active, timeout=60, what="the application's end on the master")
    assert run["metrics_summary"][0]["count"] < 600


def test_target_test_reports_versions_and_an_unreachable_master(proj: Path) -> None:
    runyard(
        proj, "target", "add", "managed", "--type", "spark", "--master", MASTER,
        "--spark-submit", str(SPARK_SUBMIT), check=True,
    )  # fmt: skip
    proc = runyard(proj, "target", "test", "managed", "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(proc.stdout)
    checks = {c["name"]: c for c in report["checks"]}
    assert report["ok"] and set(checks) == {"java", "spark-submit", "master", "workers"}
    assert "(Java 17" in checks["java"]["detail"] or "(Java 2" in checks["java"]["detail"]
    assert "(Spark 4." in checks["spark-submit"]["detail"]
    assert "127.0.0.1:7077 reachable" in checks["master"]["detail"]
    assert "1 alive" in checks["workers"]["detail"]

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    runyard(
        proj, "target", "add", "down", "--type", "spark", "--master", f"spark://127.0.0.1:{port}",
        "--spark-submit", str(proj / "no-such-spark-submit"), check=True,
    )  # fmt: skip
    proc = runyard(proj, "target", "test", "down")
    assert proc.returncode == 1
    out = proc.stdout
    assert "✓ java" in out
    assert "✗ spark-submit: The target's spark-submit" in out and "fix `spark_submit:`" in out
    assert f"✗ master: 127.0.0.1:{port} not reachable" in out
    assert "fix: start the master" in out


def test_executors_on_another_interpreter_leave_the_driver_s_lock_said_so(proj: Path) -> None:
    other = SPARK_DIR / "venv" / "bin" / "python"  # has pyspark, not the run's environment
    runyard(
        proj, "target", "add", "split", "--type", "spark", "--master", "local[2]", *MEMORY,
        "--conf", f"spark.pyspark.python={other}", check=True,
    )  # fmt: skip
    run = wait_run(proj, submit_run(proj, "--target", "split", "train.py"), timeout=400)
    _check_completed(proj, run)
    lock = run["lock"]
    assert lock is not None and "pyspark" in lock["packages"], run  # the driver's
    note = run["tags"]["spark.lock"]
    assert note == (
        f"the driver's environment only: executors run {other}, whose packages are not recorded"
    )
    shown = runyard(proj, "runs", "show", run["id"], check=True).stdout
    assert f"    ({note})" in shown, shown
    assert f"the run's lock is {note}" in run_logs(proj, run["id"])
