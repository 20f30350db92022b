"""Notebooks as runs on `spark` targets, against real Spark: the notebook runner is the
application's driver program, and a cell's `SparkSession.builder.getOrCreate()` attaches
to spark-submit's own JVM, so it gets the target's master (a standalone master and worker
on loopback from scripts/spark-setup.sh, or `local[2]`). Parameters are injected, cells'
`runyard.log_*` calls recorded, the executed notebook kept in outputs; a failing cell
fails the run with its number, and a cancel ends the kernel and the application. The
run's environment (pyspark with the kernel's packages) is built once for the module.
Under CI=true a missing Java, pyspark or master fails these tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import git, run_logs, runyard, submit_run, until, wait_run
from tests.integration import test_spark_target as spark_target
from tests.integration.test_notebooks import _texts
from tests.integration.test_spark_target import MASTER, MEMORY, _master_state

pytestmark = pytest.mark.integration
cluster = spark_target.cluster  # the same master's fixture: under CI=true, no master fails


def _cell(source: str, tags: list[str] | None = None) -> dict[str, Any]:
    return {
        "cell_type": "code",
        "metadata": {"tags": tags or []},
        "source": source,
        "execution_count": None,
        "outputs": [],
    }


def _notebook(*cells: dict[str, Any]) -> str:
    spec = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return json.dumps(
        {"cells": list(cells), "metadata": {"kernelspec": spec}, "nbformat": 4, "nbformat_minor": 4}
    )


SESSION = "from pyspark.sql import SparkSession\nspark = SparkSession.builder.getOrCreate()\n"
SUMS = _notebook(
    _cell("n = 10\nlabel = 'default'", ["parameters"]),
    _cell(
        SESSION + "import runyard\nfrom helpers import square\nsc = spark.sparkContext\n"
        "print('master', sc.master, 'app', sc.applicationId, 'label', label, flush=True)\n"
        "runyard.log_params({'master': sc.master, 'app': sc.applicationId})"
    ),
    _cell(
        "total = sc.parallelize(range(n), 2).map(square).sum()  # square runs on executors\n"
        "count = spark.range(n).filter('id % 2 = 0').count()\n"
        "runyard.log_metric('total', total)\n"
        "runyard.log_metric('evens', count)\n"
        "print('total', total, 'evens', count)\n"
        "total"
    ),
)
FAILING = _notebook(
    _cell(SESSION + "import runyard\nrunyard.log_metric('rows', spark.range(5).count())"),
    _cell("spark.sparkContext.parallelize([1, 0], 2).map(lambda x: 1 // x).collect()"),
    _cell("print('never printed')"),
)
SLOW = _notebook(
    _cell(SESSION + "import os, time, runyard\nprint('kernel pid', os.getpid(), flush=True)"),
    _cell(
        "for step in range(600):\n"
        "    runyard.log_metric('n', spark.range(step + 1).count(), step=step)\n"
        "    print('tick', step, flush=True)\n"
        "    time.sleep(0.5)"
    ),
)
HELPERS = "def square(x):\n    return x * x\n"


@pytest.fixture(scope="module")
def proj(
    tmp_path_factory: pytest.TempPathFactory, cluster: str, pyspark_from_a_wheel: None
) -> Path:
    """One project for the module, so the notebooks' environment is built once (from
    pyspark's wheel: conftest's `pyspark_from_a_wheel`)."""
    root = tmp_path_factory.mktemp("spark-notebooks") / "proj"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    (root / "sums.ipynb").write_text(SUMS)
    (root / "failing.ipynb").write_text(FAILING)
    (root / "slow.ipynb").write_text(SLOW)
    (root / "helpers.py").write_text(HELPERS)
    (root / "requirements.txt").write_text("pyspark>=4,<5\n")
    runyard(root, "init", check=True)
    add = ("target", "add")
    runyard(root, *add, "local2", "--type", "spark", "--master", "local[2]", *MEMORY, check=True)
    runyard(root, *add, "cluster", "--type", "spark", "--master", cluster, *MEMORY, check=True)
    git(root, "add", "-A")
    git(root, "-c", "user.name=Runyard Tests", "-c", "user.email=tests@localhost", "commit",
        "-qm", "pyspark notebooks")  # fmt: skip
    return root


def _executed(run: dict[str, Any], name: str) -> dict[str, Any]:
    data = json.loads(Path(run["outputs_dir"], name).read_text())
    assert isinstance(data, dict)
    return data


def test_a_notebook_on_a_standalone_master_gets_its_spark_session_and_records_metrics(
    proj: Path,
) -> None:
    run_id = submit_run(proj, "--target", "cluster", "sums.ipynb", "-p", "n=100", "-r", "label=x")
    run = wait_run(proj, run_id, timeout=900)
    log = run_logs(proj, run_id)
    assert run["status"] == "completed", (run["reason"], log[-4000:])
    assert run["command"][1:] == ["-m", "runyard_notebook_runner", "sums.ipynb", "-p", "n=100",
                                  "-r", "label=x"]  # fmt: skip
    assert "[parameters] n = 100, label = 'x' (injected)" in log
    assert "[cell 3/3] total = sc.parallelize(range(n), 2)" in log
    # The kernel's SparkSession is the application spark-submit started on the target's
    # master: the id the cell printed is the one read from the driver's log.
    app_id = run["tags"]["spark.app_id"]
    assert app_id.startswith("app-"), run["tags"]
    assert f"master {MASTER} app {app_id} label x" in log
    assert run["params"] == {"n": "100", "label": "x", "master": MASTER, "app": app_id}
    assert run["tags"]["spark.master"] == MASTER
    # the job ran, with the project's helpers on the executors, and was recorded
    total = sum(x * x for x in range(100))
    assert run["metrics"] == {"total": float(total), "evens": 50.0}
    assert f"total {total} evens 50" in log
    # the master ran it as one application, finished when the notebook ended
    completed = {a["id"]: a for a in _master_state()["completedapps"]}
    assert completed[app_id]["state"] == "FINISHED"
    run_dir = proj / ".runyard/state/runs" / run_id
    assert any(app_id in p.name for p in (run_dir / "spark-events").iterdir())
    # the executed notebook is kept in outputs, with the injected cell and the outputs
    assert {a["path"] for a in run["artifacts"]} == {"sums.ipynb"}
    cells = _executed(run, "sums.ipynb")["cells"]
    assert cells[1]["metadata"]["tags"] == ["injected-parameters"]
    assert f"master {MASTER} app {app_id}" in _texts(cells[2])
    assert str(total) in _texts(cells[3])
    assert [c["execution_count"] for c in cells] == [1, 2, 3, 4]
    packages = run["lock"]["packages"]
    assert {"pyspark", "nbclient", "ipykernel"} <= set(packages), packages


def test_a_failing_spark_job_in_a_cell_fails_the_run_with_the_cell_s_number(proj: Path) -> None:
    run_id = submit_run(proj, "--target", "local2", "failing.ipynb")
    run = wait_run(proj, run_id, timeout=900)
    log = run_logs(proj, run_id)
    assert run["status"] == "failed", log[-4000:]
    assert run["exit_code"] == 1
    assert "failed at cell 2 of 3 (spark.sparkContext.parallelize" in run["reason"], run
    assert "ZeroDivisionError" in log  # the executor's error, in the cell's traceback
    assert "never printed" not in log
    assert run["metrics"] == {"rows": 5.0}  # what the cells before it logged
    assert run["tags"]["spark.app_id"].startswith("local-")
    cells = _executed(run, "failing.ipynb")["cells"]
    assert [o["output_type"] for o in cells[1]["outputs"]][-1:] == ["error"]
    assert cells[2]["execution_count"] is None


def test_a_canceled_notebook_on_spark_stops_its_kernel_and_its_application(proj: Path) -> None:
    run_id = submit_run(proj, "--target", "cluster", "slow.ipynb")

    def ticking() -> str | None:
        log = run_logs(proj, run_id)
        status = json.loads(runyard(proj, "runs", "show", run_id, "--json", check=True).stdout)
        assert status["status"] in ("queued", "preparing", "running"), (status, log[-4000:])
        return log if "tick 2" in log and "spark.app_id" in status["tags"] else None

    log = until(ticking, timeout=900, what="the slow cell ticking")
    kernel_pid = int(log.split("kernel pid ")[1].split()[0])
    app_id = json.loads(runyard(proj, "runs", "show", run_id, "--json").stdout)["tags"][
        "spark.app_id"
    ]
    assert app_id in {a["id"] for a in _master_state()["activeapps"]}

    runyard(proj, "runs", "cancel", run_id, check=True)
    run = wait_run(proj, run_id, timeout=300)
    assert run["status"] == "canceled", run
    assert "stopped at cell 2 of 2" in run_logs(proj, run_id)
    until(lambda: not Path(f"/proc/{kernel_pid}").exists(), timeout=60, what="the kernel gone")

    def ended() -> bool:
        state = _master_state()
        return app_id not in {a["id"] for a in state["activeapps"]} and app_id in {
            a["id"] for a in state["completedapps"]
        }

    until(ended, timeout=60, what="the application's end on the master")
    assert 0 < run["metrics_summary"][0]["count"] < 600
    assert "tick 2" in _texts(_executed(run, "slow.ipynb")["cells"][1])
