"""Environments shared by their lock: two dependency files that resolve to the same
packages share one environment (`runyard.core.envs`: uv resolves ahead and builds
nothing; pip builds, then its environment is dropped for an alias of the first), and
`runyard env prune` removes both. Real builds on the local target."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from runyard.core import envs
from tests.helpers import git, run_logs, runyard, submit_run, wait_run

pytestmark = pytest.mark.integration

SCRIPT = "import six\nprint('six', six.__version__, flush=True)\n"


def _run_with(project: Path, requirements: str, env: dict[str, str]) -> dict[str, object]:
    (project / "requirements.txt").write_text(requirements)
    (project / "uses_six.py").write_text(SCRIPT)
    git(project, "add", "-A")
    git(project, "commit", "-qm", f"requirements: {requirements.strip()}")
    run = wait_run(project, submit_run(project, "uses_six.py", env=env), env)
    assert run["status"] == "completed", run
    return run


@pytest.mark.parametrize("installer", ["uv", "pip"])
def test_two_requirement_files_that_resolve_the_same_share_one_environment(
    project: Path, installer: str
) -> None:
    env = {**os.environ, envs.INSTALLER_VAR: installer}
    first = _run_with(project, "six==1.16.0\n", env)
    second = _run_with(project, "six>=1.16,<1.17  # the same set, said otherwise\n", env)
    a, b = str(first["env_hash"]), str(second["env_hash"])
    assert a != b  # two specs, two keys
    log = run_logs(project, str(second["id"]), env)
    assert f"environment {b} resolves to the same packages as environment {a}" in log, log
    # uv resolves ahead and builds nothing; pip builds first, then drops its copy
    assert ("building environment" in log) == (installer == "pip"), log
    lock_a, lock_b = first["lock"], second["lock"]
    assert isinstance(lock_a, dict) and isinstance(lock_b, dict)
    assert lock_a["packages"] == lock_b["packages"] and lock_a["packages"]["six"] == "1.16.0"
    assert lock_b["installer"] == installer
    envs_dir = project / ".runyard" / "state" / "envs"
    assert (envs_dir / b).is_symlink() and os.readlink(envs_dir / b) == a
    assert (envs_dir / a).is_dir() and not (envs_dir / a).is_symlink()
    assert not [p for p in envs_dir.iterdir() if p.name.startswith((".build-", ".alias-"))]

    # a third run of the second file finds its alias at once
    again = wait_run(project, submit_run(project, "uses_six.py", env=env), env)
    assert again["env_hash"] == b and "(cached)" in run_logs(project, str(again["id"]), env)

    removed = json.loads(runyard(project, "env", "prune", "--json", env=env, check=True).stdout)
    assert sorted(r["environment"] for r in removed) == sorted([a, b])
    assert not (envs_dir / a).exists() and not (envs_dir / b).is_symlink()
    assert not list((envs_dir / envs.BY_LOCK).iterdir())  # the index is cleaned too
