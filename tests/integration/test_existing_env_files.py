"""Projects that describe their environment the way other tools do run unchanged: a
conda env file (Azure ML Workbench's aml_config/conda_dependencies.yml, an
environment.yml) or MLflow's python_env.yaml is read as PyPI requirements and the run's
environment built from it (conda itself is never used). Real runs, real builds."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests import helpers
from tests.helpers import commit_all, run_logs, submit_run, wait_run

pytestmark = pytest.mark.integration

TRAIN = """\
import idna, six
import runyard
runyard.log_metric("ok", 1.0)
print("six", six.__version__, "idna", idna.__version__)
"""

WORKBENCH = """\
# Conda environment specification, as Azure ML Workbench wrote it.
name: project_environment
dependencies:
  - python=3.5.2
  - six
  - pip:
    - idna
"""


def _run(project: Path, *args: str, env: dict[str, str] | None = None) -> tuple[dict, str]:
    run_id = submit_run(project, *args, env=env)
    show = wait_run(project, run_id, env=env)
    return show, run_logs(project, run_id, env=env)


def test_an_azure_ml_workbench_project_runs_from_its_conda_dependencies(project: Path) -> None:
    (project / "aml_config").mkdir()
    (project / "aml_config" / "conda_dependencies.yml").write_text(WORKBENCH)
    (project / "train.py").write_text(TRAIN)
    commit_all(project, "a workbench project")
    show, log = _run(project, "train.py")
    assert show["status"] == "completed", log[-3000:]
    assert show["metrics"] == {"ok": 1.0}
    assert {"six", "idna"} <= set(show["lock"]["packages"]), show["lock"]
    # Python 3.5 is not here: the run says which interpreter it used instead
    here = f"{sys.version_info[0]}.{sys.version_info[1]}"
    assert "aml_config/conda_dependencies.yml asks for Python 3.5," in log, log[-3000:]
    assert f"the environment uses Python {here}" in log


def test_an_environment_yml_drops_what_is_not_python_and_says_so(project: Path) -> None:
    (project / "environment.yml").write_text(
        "name: demo\nchannels:\n  - conda-forge\ndependencies:\n"
        "  - conda-forge::six=1.17\n  - cudatoolkit=11.8\n  - pip\n  - pip:\n    - idna\n"
    )
    (project / "train.py").write_text(TRAIN)
    commit_all(project, "an environment.yml project")
    show, log = _run(project, "train.py")
    assert show["status"] == "completed", log[-3000:]
    assert show["lock"]["packages"]["six"].startswith("1.17"), show["lock"]
    assert "environment.yml: left out cudatoolkit, pip" in log, log[-3000:]
    assert "conda channels are not used" in log


def test_mlflow_python_env_with_its_requirements_file_builds_the_run_environment(
    project: Path,
) -> None:
    (project / "python_env.yaml").write_text(
        'python: "3.11"\nbuild_dependencies:\n  - pip\ndependencies:\n  - -r requirements-mlflow.txt\n'
    )
    (project / "requirements-mlflow.txt").write_text("# pinned by hand\nsix\nidna\n")
    (project / "train.py").write_text(TRAIN)
    commit_all(project, "an MLflow project's environment")
    show, log = _run(project, "train.py")
    assert show["status"] == "completed", log[-3000:]
    assert {"six", "idna"} <= set(show["lock"]["packages"])


def test_a_conda_package_with_no_pypi_counterpart_fails_the_run_naming_file_and_line(
    project: Path,
) -> None:
    (project / "environment.yml").write_text("dependencies:\n  - six\n  - r-base=4.3\n")
    (project / "train.py").write_text(TRAIN)
    commit_all(project, "an R dependency")
    show, log = _run(project, "train.py")
    assert show["status"] == "failed", show
    assert "environment.yml:3: 'r-base=4.3'" in show["reason"], show["reason"]
    assert "Traceback" not in log
    envs = project / ".runyard" / "state" / "envs"
    assert not [p for p in envs.glob("*") if p.is_dir() and not p.name.startswith(".")], list(
        envs.glob("*")
    )


def test_a_docker_run_builds_its_image_from_a_conda_env_file(project: Path) -> None:
    helpers.docker_engine()
    helpers.runyard(
        project, "target", "add", "dock", "--type", "docker", *helpers.docker_target_options(),
        check=True,
    )  # fmt: skip
    (project / "environment.yml").write_text("dependencies:\n  - six\n  - pip:\n    - idna\n")
    (project / "train.py").write_text(TRAIN)
    commit_all(project, "conda env for docker")
    show, log = _run(project, "--target", "dock", "train.py")
    assert show["status"] == "completed", log[-4000:]
    assert {"six", "idna"} <= set(show["lock"]["packages"]), show["lock"]
