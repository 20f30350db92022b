"""A run's lock as the faces show it: `runyard runs show` prints the interpreter, who
built the environment, every pin and the host facts; `--json` carries the same as
`lock`. A real local run with a real environment build (the lock and the host facts are
read inside that environment)."""

from __future__ import annotations

import os
import platform
import shutil
import sys
from pathlib import Path

import pytest

from tests.helpers import commit_all, runyard, submit_run, wait_run
from tests.integration.lsp_session import Session

pytestmark = pytest.mark.integration


def test_runs_show_prints_the_lock_of_a_run_whose_environment_runyard_built(
    project: Path,
) -> None:
    (project / "requirements.txt").write_text("six\n")
    (project / "train.py").write_text("import six\nprint('six', six.__version__)\n")
    commit_all(project, "a script with a dependency")
    run_id = submit_run(project, "train.py")
    data = wait_run(project, run_id)
    assert data["status"] == "completed", data
    lock = data["lock"]
    assert lock is not None, data
    version = lock["packages"]["six"]
    assert version and version[0].isdigit(), lock
    assert lock["python"].count(".") == 2 and lock["installer"] in ("uv", "pip"), lock

    shown = runyard(project, "runs", "show", run_id, check=True).stdout
    assert f"built by {lock['installer']}" in shown, shown
    assert f"python {lock['python']}" in shown, shown
    assert f"six=={version}" in shown, shown

    host = lock["host"]  # this machine, as the run's environment saw it
    assert host["os"] == platform.system() and host["release"] == platform.release(), host
    assert host["machine"] == platform.machine(), host
    assert host["cpus"] == len(os.sched_getaffinity(0)), host
    assert host["cpu"], host  # the model, from /proc/cpuinfo
    if shutil.which("nvidia-smi") is None:
        assert host["gpus"] == [], host
    line = next(li for li in shown.splitlines() if li.strip().startswith("host:"))
    assert f"{platform.system()} {platform.release()}" in line, line
    assert f"{host['cpus']} x {host['cpu']}" in line, line
    assert ("no GPU" in line) == (not host["gpus"]), line


def test_a_run_on_a_user_managed_interpreter_shows_what_that_interpreter_held(
    project: Path,
) -> None:
    runyard(
        project, "target", "add", "mine", "--type", "local", "--python", sys.executable, check=True
    )
    (project / "train.py").write_text("print('hello')\n")
    commit_all(project, "a script")
    run_id = submit_run(project, "--target", "mine", "train.py")
    data = wait_run(project, run_id)
    assert data["status"] == "completed", data
    lock = data["lock"]
    # Runyard did not build this interpreter's environment, but still records what it held
    assert lock is not None and lock["installer"] is None, lock
    assert lock["python"] == ".".join(map(str, sys.version_info[:3])), lock
    assert "pytest" in lock["packages"], sorted(lock["packages"])
    shown = runyard(project, "runs", "show", run_id, check=True).stdout
    assert f"python {lock['python']}, not built by Runyard" in shown, shown
    assert f"pytest=={lock['packages']['pytest']}" in shown, shown


async def test_the_run_details_request_carries_the_same_lock_as_the_cli(project: Path) -> None:
    (project / "requirements.txt").write_text("six\n")
    (project / "train.py").write_text("import six\n")
    commit_all(project, "a script with a dependency")
    run_id = submit_run(project, "train.py")
    cli = wait_run(project, run_id)["lock"]
    session = Session(project)
    await session.start()
    try:
        details = await session.request("runyard/runs/get", {"runId": run_id})
    finally:
        await session.stop()
    lock = details["lock"]
    assert lock["python"] == cli["python"] and lock["installer"] == cli["installer"]
    assert lock["packages"] == [f"{n}=={v}" for n, v in sorted(cli["packages"].items())]
    assert f"six=={cli['packages']['six']}" in lock["packages"]
    host = lock["host"]
    assert {k: host[k] for k in cli["host"]} == cli["host"], host
    shown = runyard(project, "runs", "show", run_id, check=True).stdout
    assert f"host:       {host['summary']}" in shown, shown
