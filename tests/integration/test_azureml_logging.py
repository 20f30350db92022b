"""Azure ML Workbench's logging captured: a script written for Workbench (`from
azureml.logging import get_azureml_logger`), in a project shaped like a Workbench one,
submitted unchanged with the real CLI on the local and Docker targets; the shim the
runner ships into every run (runyard/tracking/azureml) records what it logs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests import helpers
from tests.helpers import commit_all, run_logs, runyard, submit_run, wait_run

pytestmark = pytest.mark.integration

# In the shape of Workbench's iris sample: a regularization rate from the command line,
# scalars, a list per run (one point a step), text for the run history.
IRIS = """\
import sys
import numpy as np
from azureml.logging import get_azureml_logger

run_logger = get_azureml_logger()
run_logger.log("Cell", "Set up run")
reg = float(sys.argv[1]) if len(sys.argv) > 1 else 0.01
print("Regularization rate is {}".format(reg))
run_logger.log("Regularization Rate", 1 / reg)
losses = np.array([0.9, 0.6, 0.45, 0.4])
run_logger.log("Loss", losses)
run_logger.log("Accuracy", np.float64(0.875))
run_logger.log("Accuracy", 0.9)
run_logger.log("Recalls", [0.8, 0.9, 1.0])
run_logger.log("Cell", "Trained")
print("accuracy logged", flush=True)
"""

RUNCONFIG = """\
ArgumentVector:
  - "$file"
  - "10"
Target: "local"
EnvironmentVariables:
  "EXAMPLE_ENV_VAR": "Example Value"
Framework: "Python"
CondaDependenciesFile: "aml_config/conda_dependencies.yml"
SparkDependenciesFile: "aml_config/spark_dependencies.yml"
PrepareEnvironment: true
TrackedRun: true
"""


@pytest.fixture
def workbench(project: Path) -> Path:
    (project / "iris_sklearn.py").write_text(IRIS)
    (project / "requirements.txt").write_text("numpy\n")
    (project / "aml_config").mkdir()
    (project / "aml_config" / "local.runconfig").write_text(RUNCONFIG)
    (project / "aml_config" / "local.compute").write_text('type: "local"\n')
    commit_all(project, "a Workbench project")
    return project


def _check_captured(project: Path, run_id: str) -> None:
    show = wait_run(project, run_id, timeout=900)
    log = run_logs(project, run_id)
    assert show["status"] == "completed", log[-4000:]
    assert "accuracy logged" in log
    proc = runyard(project, "runs", "metrics", run_id, "--json", check=True)
    by_key: dict[str, list[tuple[int, float]]] = {}
    for point in json.loads(proc.stdout):
        by_key.setdefault(point["key"], []).append((point["step"], point["value"]))
    assert by_key == {
        "Regularization Rate": [(0, 0.1)],
        "Loss": [(0, 0.9), (1, 0.6), (2, 0.45), (3, 0.4)],
        "Accuracy": [(0, 0.875), (1, 0.9)],
        "Recalls": [(0, 0.8), (1, 0.9), (2, 1.0)],
    }
    assert show["tags"]["Cell"] == "Trained"


def test_a_workbench_script_logs_into_the_runyard_run_unchanged(workbench: Path) -> None:
    run_id = submit_run(workbench, "iris_sklearn.py", "10", timeout=900)
    _check_captured(workbench, run_id)


def test_a_workbench_script_logs_into_the_runyard_run_on_a_docker_target(
    workbench: Path, engine: Any
) -> None:
    options = helpers.docker_target_options()
    runyard(workbench, "target", "add", "dock", "--type", "docker", *options, check=True)
    run_id = submit_run(workbench, "--target", "dock", "iris_sklearn.py", "10", timeout=900)
    _check_captured(workbench, run_id)
