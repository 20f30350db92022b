"""The typed run spec (`runyard.targets.spec`) and the ssh target's remote programs
(`runyard.targets.remote`): the spec is stored as the same options JSON as before it
existed (no migration), rows of older versions read back with their defaults, and
each remote program is Python 3.8 source that needs only the standard library."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from runyard.core.project import Project
from runyard.runner.runs import SubmitRequest, resolve_request
from runyard.targets import remote
from runyard.targets.base import RunContext
from runyard.targets.spec import (
    DockerOptions,
    LocalOptions,
    RunSpec,
    SparkOptions,
    SshOptions,
    backend_options,
)


@pytest.fixture
def project(project: Project) -> Project:
    """The unit tier's project (tests/unit/conftest.py) with train.py, a docker target
    `box` and a job `train` that runs train.py there."""
    (project.root / "train.py").write_text("print('hi')\n")
    (project.targets_dir / "box.yml").write_text(
        textwrap.dedent(
            """\
            type: docker
            base_image: python:3.11-slim
            python: python3.11
            env:
              OMP_NUM_THREADS: "4"
            volumes: [/data:/data:ro]
            gpus: all
            cancel_grace_seconds: 3
            """
        )
    )
    (project.root / ".runyard" / "jobs" / "train.yml").write_text(
        "script: train.py\nargs: ['--lr', '0.1']\ntarget: box\nenv:\n  SEED: '7'\n"
        "outputs: out\nexperiment: exp1\n"
    )
    return project


def test_a_run_spec_is_stored_as_the_options_dict_runs_always_had(project: Project) -> None:
    spec = resolve_request(project, SubmitRequest(job="train", args=["--epochs", "2"]))
    assert spec.experiment == "exp1"
    assert spec.to_options() == {
        "script": "train.py",
        "module": None,
        "args": ["--lr", "0.1", "--epochs", "2"],
        "env": {"SEED": "7"},
        "requirements": None,
        "outputs": "out",
        "tensorboard_dir": "logs",
        "job": "train",
        "target": "box",
        "target_type": "docker",
        "python": "python3.11",
        "target_env": {"OMP_NUM_THREADS": "4"},
        "system_site_packages": False,
        "index_url": None,
        "cancel_grace_seconds": 3.0,
        "target_options": {
            "type": "docker",
            "base_image": "python:3.11-slim",
            "python": "python3.11",
            "env": {"OMP_NUM_THREADS": "4"},
            "volumes": ["/data:/data:ro"],
            "gpus": "all",
            "cancel_grace_seconds": 3,
        },
    }
    assert RunSpec.from_options(spec.to_options(), "exp1") == spec
    assert spec.argv("python") == ["python", "train.py", "--lr", "0.1", "--epochs", "2"]
    assert spec.user_env() == {"OMP_NUM_THREADS": "4", "SEED": "7"}
    docker = backend_options(spec)
    assert isinstance(docker, DockerOptions)
    assert (docker.python, docker.gpus, docker.volumes) == ("python3.11", "all", ["/data:/data:ro"])
    assert docker.raw == spec.target_options


def test_a_row_written_before_some_options_existed_reads_with_their_defaults() -> None:
    old = {"script": "train.py", "args": ["-v"], "target": "local", "target_type": "local"}
    spec = RunSpec.from_options(old)
    assert (spec.outputs, spec.tensorboard_dir, spec.cancel_grace_seconds) == (
        "outputs",
        "logs",
        10.0,
    )
    assert spec.env == {} and spec.target_options == {} and spec.python is None
    assert isinstance(backend_options(spec), LocalOptions)
    module = RunSpec.from_options({"module": "pkg.train", "tensorboard_dir": None})
    assert module.argv("/env/bin/python") == ["/env/bin/python", "-m", "pkg.train"]
    assert module.tensorboard_dir == "logs"


def test_backends_get_the_spec_and_their_typed_options_through_the_run_context(
    tmp_path: Path,
) -> None:
    ctx = RunContext(
        run_id="r1",
        project_root=tmp_path,
        run_dir=tmp_path / "run",
        workdir=tmp_path / "run" / "work",
        outputs="outputs",
        options={
            "module": "pkg.train",
            "target": "vm",
            "target_type": "ssh",
            "target_options": {"type": "ssh", "host": "h", "workdir": "/scratch"},
        },
        env={},
        log=print,
        log_fd=-1,
        envs_dir=tmp_path / "envs",
    )
    ssh = backend_options(ctx.spec)
    assert isinstance(ssh, SshOptions)
    assert (ssh.name, ssh.python, ssh.workdir, ssh.raw["name"]) == (
        "vm",
        "python3",
        "/scratch",
        "vm",
    )
    spark = SparkOptions.from_target({"master": "local[2]", "conf": {"a": 1}})
    assert (spark.deploy_mode, spark.deploy_mode_given, spark.conf) == ("client", False, {"a": 1})


@pytest.mark.parametrize("name", remote.PROGRAMS)
def test_each_remote_program_is_a_module_that_runs_only_as_a_program(name: str) -> None:
    # (that they are Python 3.8 with the standard library alone:
    # tests/unit/test_shipped_code_runs_on_python_3_8.py)
    source = remote.source(name)
    assert 'if __name__ == "__main__":\n    main()' in source  # importing it runs nothing
    with pytest.raises(ValueError, match="no remote program"):
        remote.source("../ssh")
