"""Environments shared by their lock on the docker and ssh targets: two dependency files
that resolve to the same packages share one environment image (docker: this machine's
uv resolves the second ahead for the image's interpreter and finds the image of that
set, `targets.docker._Sharing`) and one remote venv (ssh: resolved there first with
the remote uv, nothing built; with pip, built and then dropped for an alias,
`remote/build_env.py`); the second run's log says so; `runyard env prune` removes the
shared image with all its tags, and the venv with its alias and the lock index. Real
builds on this machine's Docker engine and the loopback sshd."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from runyard.core import envs
from tests import helpers
from tests.helpers import git, run_logs, runyard, submit_run, wait_run

pytestmark = pytest.mark.integration

SCRIPT = "import six\nprint('six', six.__version__, flush=True)\n"


def _run_with(
    project: Path, target: str, requirements: str, env: dict[str, str] | None = None
) -> dict[str, Any]:
    (project / "requirements.txt").write_text(requirements)
    (project / "uses_six.py").write_text(SCRIPT)
    git(project, "add", "-A")
    git(
        project,
        "commit",
        "-q",
        "--allow-empty",
        "-m",
        f"requirements: {requirements.splitlines()[0]}",
    )
    run_id = submit_run(project, "--target", target, "uses_six.py", env=env, timeout=900)
    run = wait_run(project, run_id, env, timeout=900)
    assert run["status"] == "completed", (run, run_logs(project, run_id, env))
    return run


def test_two_requirement_files_that_resolve_the_same_share_one_docker_image(
    project: Path, engine: Any
) -> None:
    if envs.find_uv() is None:
        pytest.fail("uv is a dependency of the CLI install: it must be there")
    options = helpers.docker_target_options()
    runyard(project, "target", "add", "dock", "--type", "docker", *options, check=True)
    # (comments of their own: both specs are new to the engine, whatever ran before)
    first = _run_with(project, "dock", f"six==1.16.0  # {uuid.uuid4().hex}\n")
    said_otherwise = f"six>=1.16,<1.17  # the same set, said otherwise {uuid.uuid4().hex}\n"
    second = _run_with(project, "dock", said_otherwise)
    a, b = str(first["env_hash"]), str(second["env_hash"])
    assert a != b  # two specs, two keys
    log = run_logs(project, str(second["id"]))
    assert f"environment image runyard-env:{b} resolves to the same packages as " in log, log
    assert "building environment image" not in log, log  # nothing built for the second
    assert "six 1.16.0" in log
    image_a = engine.images.get(f"runyard-env:{a}")
    image_b = engine.images.get(f"runyard-env:{b}")
    assert image_a.id == image_b.id  # one image, two specs' tags (and its set's)
    assert any(t.startswith("runyard-env:set-") for t in image_a.tags), image_a.tags
    assert first["lock"]["packages"] == second["lock"]["packages"]

    again = _run_with(project, "dock", said_otherwise)
    assert again["env_hash"] == b
    assert f"runyard-env:{b} (cached)" in run_logs(project, str(again["id"]))

    pruned = runyard(project, "env", "prune", "--target", "dock", "--json", check=True)
    removed = {r["environment"] for r in json.loads(pruned.stdout)}
    assert {f"runyard-env:{a}", f"runyard-env:{b}"} <= removed, removed
    assert not [i for i in engine.images.list() if i.id == image_a.id]


@pytest.mark.parametrize("installer", ["uv", "pip"])
def test_two_requirement_files_that_resolve_the_same_share_one_ssh_venv(
    project: Path, tmp_path: Path, installer: str
) -> None:
    """With uv there (this interpreter, whose uv package the probe finds) the second spec
    is resolved there first and nothing is built; with pip (the machine's python3, no
    uv) it is built, then dropped for an alias of the first."""
    import sys

    env = helpers.ssh_user(tmp_path / "home")
    workdir = tmp_path / "remote" / "runyard"
    python = sys.executable if installer == "uv" else "python3"
    helpers.add_ssh_target(project, env, workdir, "--python", python)
    first = _run_with(project, "vm", "six==1.16.0\n", env)
    second = _run_with(project, "vm", "six>=1.16,<1.17  # the same set, said otherwise\n", env)
    a, b = str(first["env_hash"]), str(second["env_hash"])
    assert a != b
    log = run_logs(project, str(second["id"]), env)
    if installer == "uv":
        said = (
            f"environment {b} on 127.0.0.1 resolves to the same packages as environment {a}: "
            "the two share it (nothing built)"
        )
        assert said in log, log
        assert "building environment" not in log, log
    else:
        assert f"environment {b} on 127.0.0.1 holds the same packages as environment {a}" in log
    assert "six 1.16.0" in log
    assert first["lock"]["packages"] == second["lock"]["packages"]
    envs_dir = workdir / "envs"
    assert (envs_dir / b).is_symlink() and (envs_dir / b).readlink().name == a
    assert (envs_dir / a).is_dir() and not (envs_dir / a).is_symlink()

    again = _run_with(project, "vm", "six>=1.16,<1.17  # the same set, said otherwise\n", env)
    assert again["env_hash"] == b and "(cached)" in run_logs(project, str(again["id"]), env)

    pruned = runyard(project, "env", "prune", "--target", "vm", "--json", env=env, check=True)
    removed = sorted(r["environment"] for r in json.loads(pruned.stdout) if "environment" in r)
    assert removed == sorted([a, b])
    assert not (envs_dir / a).exists() and not (envs_dir / b).is_symlink()
    assert sorted(p.name for p in envs_dir.iterdir()) == []  # (the lock index too)
