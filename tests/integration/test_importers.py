"""`runyard import aml-workbench` and `runyard import mlflow-project` on fixture projects
in the shape of real ones (Workbench's iris sample with its aml_config/; an MLflow
project with MLproject and python_env.yaml): the files written load with the project's
loaders, and the imported jobs run end to end with `runyard submit --job` on the local
target and on Docker, their metrics arriving. Bad input: unknown keys named with their
file, no file replaced without --force, a password never copied."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import BASE_IMAGE, CA_BUNDLE, commit_all, git, run_logs, runyard, wait_run

pytestmark = pytest.mark.integration

IRIS = """\
import os, sys
import numpy as np
from azureml.logging import get_azureml_logger

run_logger = get_azureml_logger()
reg = float(sys.argv[1]) if len(sys.argv) > 1 else 0.01
print("Regularization rate is {}".format(reg))
run_logger.log("Regularization Rate", 1 / reg)
run_logger.log("Loss", np.array([0.9, 0.6, 0.45]))
run_logger.log("Accuracy", np.float64(0.875))
print("env", os.environ.get("EXAMPLE_ENV_VAR"), flush=True)
"""

CONDA = """\
# Conda environment specification. The dependencies defined in this file will be
# automatically provisioned for runs against docker, VM, and HDI cluster targets.
name: project_environment
channels:
  - conda-forge
dependencies:
  - python=3.5.2
  - numpy
  - pip:
    # Required packages for AzureML execution, history, and data preparation.
    - --index-url https://azuremldownloads.azureedge.net/python-repository/preview
    - --extra-index-url https://pypi.python.org/simple
    - azureml-requirements
    - azureml-logging
"""

SPARK = """\
configuration: {}
repositories:
  - "https://mmlspark.azureedge.net/maven"
packages:
  - group: "com.microsoft.ml.spark"
    artifact: "mmlspark_2.11"
    version: "0.9.9"
"""


def _runconfig(target: str, framework: str = "Python") -> str:
    return f"""\
ArgumentVector:
  - "$file"
  - "10"
Target: "{target}"
EnvironmentVariables:
  "EXAMPLE_ENV_VAR": "Example Value"
Framework: "{framework}"
CondaDependenciesFile: "aml_config/conda_dependencies.yml"
SparkDependenciesFile: "aml_config/spark_dependencies.yml"
PrepareEnvironment: true
TrackedRun: true
UseSampling: true
"""


COMPUTES = {
    "local.compute": 'type: "local"\npythonLocation: "python"\n'
    'nativeSharedDirectory: "~/.azureml/share/"\n',
    "docker.compute": f'type: "localdocker"\nbaseDockerImage: "{BASE_IMAGE}"\n'
    "sharedVolumes: true\nnvidiaDocker: false\n",
    "myvm.compute": 'type: "remotedocker"\nbaseDockerImage: "microsoft/mmlspark:plus-0.9.9"\n'
    'address: "10.0.0.4:2200"\nusername: "azureuser"\npassword: "s3cret-Passw0rd"\n',
    "hdi.compute": 'type: "cluster"\naddress: "myhdi-ssh.azurehdinsight.net"\n'
    'username: "sshuser"\npassword: "s3cret-Passw0rd"\nyarnDeployMode: "cluster"\n',
}


def _workbench(root: Path) -> Path:
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    (root / "iris_sklearn.py").write_text(IRIS)
    config = root / "aml_config"
    config.mkdir()
    for name, text in COMPUTES.items():
        (config / name).write_text(text)
    (config / "local.runconfig").write_text(_runconfig("local"))
    (config / "docker.runconfig").write_text(_runconfig("docker"))
    (config / "hdi.runconfig").write_text(_runconfig("hdi", "PySpark"))
    (config / "conda_dependencies.yml").write_text(CONDA)
    (config / "spark_dependencies.yml").write_text(SPARK)
    commit_all(root, "a Workbench project")
    return root


def _import(root: Path, *args: str) -> tuple[int, dict[str, Any]]:
    proc = runyard(root, "import", *args, "--json")
    return proc.returncode, json.loads(proc.stdout)


def _messages(report: dict[str, Any], what: str) -> list[str]:
    return [f"{n['source']} {n['key']}: {n['message']}" for n in report[what]]


def _metrics(root: Path, run_id: str) -> dict[str, list[tuple[int, float]]]:
    proc = runyard(root, "runs", "metrics", run_id, "--json", check=True)
    out: dict[str, list[tuple[int, float]]] = {}
    for point in json.loads(proc.stdout):
        out.setdefault(point["key"], []).append((point["step"], point["value"]))
    return out


def _run_job(root: Path, job: str) -> str:
    proc = runyard(root, "submit", "-d", "--job", job, check=True)
    run_id = proc.stdout.strip().split()[0]
    show = wait_run(root, run_id, timeout=900)
    log = run_logs(root, run_id)
    assert show["status"] == "completed", log[-4000:]
    assert "env Example Value" in log
    assert _metrics(root, run_id) == {
        "Regularization Rate": [(0, 0.1)],
        "Loss": [(0, 0.9), (1, 0.6), (2, 0.45)],
        "Accuracy": [(0, 0.875)],
    }
    return run_id


def _load(root: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """Every target and job of the project, through the project's own loaders."""
    from runyard.core.config import list_jobs, list_targets
    from runyard.core.project import Project

    project = Project(root)
    targets = list_targets(project)
    jobs = list_jobs(project)
    for item in [*targets, *jobs]:
        assert not isinstance(item, Exception), str(item)
    return (
        {t.name: t.raw for t in targets},  # type: ignore[union-attr]
        {j.name: j for j in jobs},  # type: ignore[union-attr]
    )


@pytest.fixture
def imported(tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    root = _workbench(tmp_path / "iris")
    code, report = _import(root, "aml-workbench")
    assert code == 0, report
    return root, report


def test_a_workbench_project_is_imported_into_files_that_load(
    imported: tuple[Path, dict[str, Any]],
) -> None:
    root, report = imported
    assert sorted(w["path"] for w in report["written"]) == [
        ".runyard/dependencies/conda_dependencies.yml",
        ".runyard/jobs/docker.yml",
        ".runyard/jobs/hdi.yml",
        ".runyard/jobs/local.yml",
        ".runyard/targets/docker.yml",
        ".runyard/targets/hdi.yml",
        ".runyard/targets/local.yml",
        ".runyard/targets/myvm.yml",
    ]
    targets, jobs = _load(root)
    assert targets["local"] == {"type": "local"}
    assert targets["docker"] == {"type": "docker", "base_image": BASE_IMAGE}
    assert targets["myvm"] == {
        "type": "docker",
        "address": "ssh://azureuser@10.0.0.4:2200",
        "base_image": "microsoft/mmlspark:plus-0.9.9",
    }
    assert targets["hdi"] == {
        "type": "spark",
        "master": "yarn",
        "deploy_mode": "cluster",
        "packages": ["com.microsoft.ml.spark:mmlspark_2.11:0.9.9"],
        "conf": {"spark.jars.repositories": "https://mmlspark.azureedge.net/maven"},
    }
    local = jobs["local"]
    assert (local.script, local.args, local.target) == ("iris_sklearn.py", ["10"], "local")
    assert local.env == {"EXAMPLE_ENV_VAR": "Example Value"}
    assert local.requirements == ".runyard/dependencies/conda_dependencies.yml"
    assert (jobs["hdi"].framework, jobs["hdi"].target) == ("pyspark", "hdi")
    # the Workbench SDK is gone from the copy the jobs use; the rest is as it was
    copy = (root / ".runyard/dependencies/conda_dependencies.yml").read_text()
    assert "azureml" not in copy.split("\n", 2)[2] and "numpy" in copy
    assert "python=3.5.2" in copy
    # a password is never written anywhere
    for path in (root / ".runyard").rglob("*.yml"):
        assert "s3cret" not in path.read_text(), path
    notes = "\n".join(_messages(report, "notes"))
    assert "aml_config/myvm.compute password: the password was not copied" in notes
    assert "ssh-copy-id azureuser@10.0.0.4" in notes
    assert "Workbench SDK packages dropped (azureml-requirements, azureml-logging" in notes
    assert "$file (the script given at submit time) taken as iris_sklearn.py" in notes
    assert "Spark packages (com.microsoft.ml.spark:mmlspark_2.11:0.9.9)" in notes  # local job
    assert report["problems"] == []


def test_an_imported_workbench_job_runs_on_the_local_target(
    imported: tuple[Path, dict[str, Any]],
) -> None:
    root, _report = imported
    commit_all(root, "imported")
    _run_job(root, "local")


def test_an_imported_workbench_job_runs_on_docker(
    imported: tuple[Path, dict[str, Any]], engine: Any
) -> None:
    root, _report = imported
    if Path(CA_BUNDLE).is_file():  # (what a reviewer adds behind a TLS-intercepting proxy)
        target = root / ".runyard/targets/docker.yml"
        target.write_text(target.read_text() + f"ca_bundle: {CA_BUNDLE}\n")
    commit_all(root, "imported")
    _run_job(root, "docker")


def test_existing_files_are_kept_unless_forced_and_unknown_keys_are_named(
    tmp_path: Path,
) -> None:
    root = _workbench(tmp_path / "iris")
    (root / "aml_config" / "local.compute").write_text('type: "local"\nfancyOption: 3\n')
    code, report = _import(root, "aml-workbench")
    assert code == 1
    assert _messages(report, "problems") == [
        "aml_config/local.compute fancyOption: unknown key 'fancyOption': not imported "
        "(known keys: type, baseDockerImage, address, username, password, sharedVolumes, "
        "nativeSharedDirectory, nvidiaDocker, pythonLocation, yarnDeployMode)"
    ]
    assert (root / ".runyard/targets/local.yml").is_file()  # the rest was imported
    job = root / ".runyard/jobs/local.yml"
    job.write_text("script: mine.py\n")
    code, report = _import(root, "aml-workbench")
    assert code == 1
    assert report["written"] == []
    assert (
        "aml_config/local.runconfig None: .runyard/jobs/local.yml is there already and was "
        "left as it is (--force replaces it)" in _messages(report, "problems")
    )
    assert job.read_text() == "script: mine.py\n"
    code, report = _import(root, "aml-workbench", "--force")
    assert ".runyard/jobs/local.yml" in [w["path"] for w in report["written"]]
    assert "iris_sklearn.py" in job.read_text()
    # the human form names the same things
    text = runyard(root, "import", "aml-workbench").stdout
    assert "not done:" in text and "aml_config/local.compute (fancyOption)" in text


MLPROJECT = """\
name: tutorial

python_env: python_env.yaml

entry_points:
  main:
    parameters:
      alpha: {type: float, default: 0.5}
      l1_ratio: {type: float, default: 0.1}
    command: "python train.py {alpha} {l1_ratio}"
  validate:
    parameters:
      data_file: path
    command: "python -u validate.py --data {data_file}"
"""

TRAIN = """\
import sys
import mlflow

alpha, l1_ratio = float(sys.argv[1]), float(sys.argv[2])
with mlflow.start_run():
    mlflow.log_param("alpha", alpha)
    mlflow.log_param("l1_ratio", l1_ratio)
    for step in range(3):
        mlflow.log_metric("rmse", alpha * (3 - step), step=step)
print("trained", flush=True)
"""


def _mlflow_project(root: Path, mlproject: str = MLPROJECT) -> Path:
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    (root / "MLproject").write_text(mlproject)
    (root / "python_env.yaml").write_text(
        'python: "3.11"\nbuild_dependencies:\n  - pip\ndependencies:\n  - mlflow-skinny\n'
    )
    (root / "train.py").write_text(TRAIN)
    (root / "validate.py").write_text("print('validated')\n")
    commit_all(root, "an MLflow project")
    return root


def test_an_mlflow_project_is_imported_and_its_entry_point_runs(tmp_path: Path) -> None:
    root = _mlflow_project(tmp_path / "wine")
    code, report = _import(root, "mlflow-project")
    assert code == 1  # validate's data_file has no default
    assert _messages(report, "problems") == [
        "MLproject entry_points.validate.parameters.data_file: data_file has no default: "
        "the job passes {data_file} as it is; give it a value in the job's args"
    ]
    _targets, jobs = _load(root)
    main = jobs["main"]
    assert (main.script, main.args, main.requirements) == (
        "train.py",
        ["0.5", "0.1"],
        "python_env.yaml",
    )
    assert "alpha (float, default 0.5)" in (main.description or "")
    assert (jobs["validate"].script, jobs["validate"].args) == (
        "validate.py",
        ["--data", "{data_file}"],
    )
    commit_all(root, "imported")
    proc = runyard(root, "submit", "-d", "--job", "main", check=True)
    run_id = proc.stdout.strip().split()[0]
    show = wait_run(root, run_id, timeout=900)
    assert show["status"] == "completed", run_logs(root, run_id)[-4000:]
    assert _metrics(root, run_id) == {"rmse": [(0, 1.5), (1, 1.0), (2, 0.5)]}
    assert show["params"] == {"alpha": "0.5", "l1_ratio": "0.1"}


def test_docker_env_becomes_a_docker_target_and_bad_keys_are_named(tmp_path: Path) -> None:
    text = MLPROJECT.replace(
        "python_env: python_env.yaml\n",
        "docker_env:\n  image: mlflow-docker-example\n"
        '  volumes: ["/data:/data:ro"]\n'
        '  environment: [["NEW_ENV_VAR", "new_var_value"], "VAR_TO_COPY_FROM_HOST"]\n'
        "conda_env: nope.yaml\nsecret_sauce: 1\n",
    ).replace("{type: float, default: 0.5}", "{type: float, default: lots}")
    root = _mlflow_project(tmp_path / "dockerized", text)
    code, report = _import(root, "mlflow-project")
    assert code == 1
    problems = _messages(report, "problems")
    assert "MLproject secret_sauce: unknown key 'secret_sauce': not imported" in problems[0]
    assert "MLproject conda_env: nope.yaml: no such file in the project" in problems
    assert (
        "MLproject entry_points.main.parameters.alpha.default: default 'lots' is not a float"
        in problems
    )
    targets, jobs = _load(root)
    assert targets["docker"] == {
        "type": "docker",
        "image": "mlflow-docker-example",
        "volumes": ["/data:/data:ro"],
        "env": {"NEW_ENV_VAR": "new_var_value"},
    }
    assert jobs["main"].target == "docker"
    assert any("VAR_TO_COPY_FROM_HOST" in n for n in _messages(report, "notes"))
