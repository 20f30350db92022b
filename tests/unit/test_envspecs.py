"""Dependency files a project already has, read as PyPI requirements
(`runyard.core.envspecs`): conda env files, MLflow's python_env.yaml, uv.lock (read by
the real uv)."""

from __future__ import annotations

from pathlib import Path

import pytest

from runyard.core import envspecs
from runyard.core.errors import UsageError

# An Azure ML Workbench project's aml_config/conda_dependencies.yml, as the
# Workbench wrote it (comments shortened).
WORKBENCH = """\
# Conda environment specification. The dependencies defined in this file will
# be automatically provisioned for runs against docker, VM, and HDI cluster targets.

name: project_environment
dependencies:
  - python=3.5.2
  - scikit-learn
  - pip:
    # The API for Azure Machine Learning Model Management Service.
    - azure-ml-api-sdk==0.1.0a11
"""

ENVIRONMENT = """\
name: vision
channels:
  - pytorch
  - conda-forge
dependencies:
  - python=3.11
  - pytorch=2.1
  - conda-forge::numpy 1.26.4 py311h64a7726_0
  - py-xgboost>=1.7
  - pandas=2.1=py311h_0
  - cudatoolkit=11.8
  - mkl
  - pip
  - pip:
      - requests>=2.31
      - -r extra-requirements.txt
"""


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("numpy", ("numpy", None)),
        ("numpy=1.26", ("numpy", "==1.26.*")),
        ("numpy==1.26.4", ("numpy", "==1.26.4")),
        ("numpy 1.26.4 py311_0", ("numpy", "==1.26.4")),
        ("numpy=1.26=py311h_0", ("numpy", "==1.26.*")),
        ("numpy=1.26.*", ("numpy", "==1.26.*")),
        ("numpy 1.26.*", ("numpy", "==1.26.*")),
        ("pandas=1.5*", ("pandas", "==1.5.*")),
        ("numpy >=1.2", ("numpy", ">=1.2")),
        ("conda-forge::numpy>=1.2,<2", ("numpy", ">=1.2,<2")),
        ("numpy[version='>=1.2']", ("numpy", ">=1.2")),
        ("pytorch", ("torch", None)),
        ("py-xgboost=1.7", ("xgboost", "==1.7.*")),
        ("tensorflow-gpu==2.15.0", ("tensorflow", "==2.15.0")),
    ],
)
def test_a_conda_match_spec_becomes_a_pypi_name_and_pip_version(
    spec: str, expected: tuple[str, str | None]
) -> None:
    name, version, _conda = envspecs.conda_to_pip(spec)
    assert (name, version) == expected


def test_alternatives_in_a_conda_spec_are_refused_as_having_no_pip_equivalent() -> None:
    with pytest.raises(ValueError, match=r"\|"):
        envspecs.conda_to_pip("numpy 1.25|1.26")


def test_an_azure_ml_workbench_conda_file_gives_its_packages_and_python() -> None:
    spec = envspecs.read_conda(WORKBENCH, "aml_config/conda_dependencies.yml")
    assert spec.kind == "conda" and spec.python == "3.5"
    assert spec.lines() == ("scikit-learn", "azure-ml-api-sdk==0.1.0a11")
    # each requirement keeps the line it came from, for errors that name it
    assert [r.line for r in spec.requirements] == [7, 10]


def test_a_conda_env_file_is_read_from_pypi_with_channels_builds_and_non_python_packages_dropped() -> (
    None
):
    spec = envspecs.read_conda(ENVIRONMENT, "environment.yml")
    assert spec.python == "3.11"
    assert spec.lines() == (
        "torch==2.1.*",
        "numpy==1.26.4",
        "xgboost>=1.7",
        "pandas==2.1.*",
        "requests>=2.31",
        "-r extra-requirements.txt",
    )
    assert spec.requirements[0].source == "pytorch=2.1"
    notes = " ".join(spec.notes)
    assert "cudatoolkit, mkl, pip" in notes and "channels are not used" in notes


def test_conda_packages_with_no_pypi_counterpart_fail_with_each_line_and_the_fix() -> None:
    text = "dependencies:\n  - numpy\n  - r-base=4.3\n  - r-ggplot2\n"
    with pytest.raises(UsageError) as err:
        envspecs.read_conda(text, "environment.yml")
    message = str(err.value)
    assert "environment.yml:3: 'r-base=4.3'" in message
    assert "environment.yml:4: 'r-ggplot2'" in message
    assert "numpy" not in message
    assert "PyPI name under `- pip:`" in (err.value.hint or "")


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("dependencies: numpy\n", "environment.yml:1: field 'dependencies' must be a list"),
        ("dependencies:\n  - {numpy: 1}\n", "environment.yml:2: a dependency must be"),
        ("dependencies:\n  - pip: requests\n", "environment.yml:2: 'pip' must be a list"),
        ("dependencies: [numpy\n", "environment.yml:"),
        ("- numpy\n", "environment.yml: the top level is not a mapping"),
    ],
)
def test_a_malformed_conda_file_gets_an_error_naming_the_file_and_line(
    text: str, where: str
) -> None:
    with pytest.raises(UsageError) as err:
        envspecs.read_conda(text, "environment.yml")
    assert str(err.value).startswith(where), str(err.value)


def test_python_ranges_ask_for_no_particular_interpreter() -> None:
    assert envspecs.read_conda("dependencies:\n  - python>=3.9\n", "conda.yaml").python is None
    spec = envspecs.read_conda("dependencies:\n  - python=3.10.12\n", "conda.yaml")
    assert spec.python == "3.10"


def test_mlflow_python_env_gives_its_python_and_pip_lines() -> None:
    text = (
        'python: "3.10.13"\nbuild_dependencies:\n  - pip\n  - setuptools\n'
        "dependencies:\n  - -r requirements.txt\n  - mlflow==2.9.2\n"
    )
    spec = envspecs.read_python_env(text, "python_env.yaml")
    assert (spec.kind, spec.python) == ("python_env", "3.10")
    assert spec.lines() == ("-r requirements.txt", "mlflow==2.9.2")
    assert [r.line for r in spec.requirements] == [6, 7]


def test_a_python_env_with_a_bad_dependencies_field_names_the_line() -> None:
    with pytest.raises(UsageError, match=r"^python_env.yaml:2: field 'dependencies'"):
        envspecs.read_python_env("python: '3.11'\ndependencies: mlflow\n", "python_env.yaml")


UV_PROJECT = """\
[project]
name = "demo"
version = "0.1.0"
requires-python = ">=3.8"
dependencies = ["six>=1.16"]
"""

UV_LOCK = """\
version = 1
revision = 2
requires-python = ">=3.8"

[[package]]
name = "demo"
version = "0.1.0"
source = { virtual = "." }
dependencies = [
    { name = "six" },
]

[package.metadata]
requires-dist = [{ name = "six", specifier = ">=1.16" }]

[[package]]
name = "six"
version = "1.17.0"
source = { registry = "https://packages.example.invalid/simple" }
"""


def test_a_uv_lock_is_read_by_uv_as_this_platforms_pins(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(UV_PROJECT)
    (tmp_path / "uv.lock").write_text(UV_LOCK)
    spec = envspecs.read(tmp_path, "uv.lock")
    assert spec.kind == "uv.lock"
    assert spec.lines() == ("six==1.17.0",)


def test_a_uv_lock_that_does_not_match_its_project_says_to_lock_again(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(UV_PROJECT.replace("six>=1.16", "six>=1.17"))
    (tmp_path / "uv.lock").write_text(UV_LOCK.replace("version = 1\n", 'version = "x"\n', 1))
    with pytest.raises(UsageError) as err:
        envspecs.read(tmp_path, "uv.lock")
    assert str(err.value).startswith("uv.lock: uv could not read the lock")
    assert "uv lock" in (err.value.hint or "")


def test_the_files_are_found_in_order_and_recognised_when_a_job_names_them(
    tmp_path: Path,
) -> None:
    assert envspecs.find(tmp_path) is None
    (tmp_path / "aml_config").mkdir()
    (tmp_path / "aml_config" / "conda_dependencies.yml").write_text(WORKBENCH)
    assert envspecs.find(tmp_path) == "aml_config/conda_dependencies.yml"
    (tmp_path / "environment.yml").write_text(ENVIRONMENT)
    assert envspecs.find(tmp_path) == "environment.yml"
    assert envspecs.handles("envs/my-conda.yml") and envspecs.handles("python_env.yaml")
    assert not envspecs.handles("requirements.txt") and not envspecs.handles("pyproject.toml")
    assert envspecs.handles("envs/gpu.yaml") and envspecs.handles("sub/uv.lock")
