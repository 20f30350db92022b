"""How a Docker run's end reads in its status, against the real Docker engine
(scripts/docker-setup.sh, its offline base image used as is). A container whose
script a signal ended exits with 128 + the signal's number; the run reads "killed by
SIGKILL (exit code 137)", worded as a local run's ("killed by SIGKILL"), with the
engine's code kept; an exit code the script chose reads as before."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests import helpers
from tests.helpers import git, runyard, until

pytestmark = pytest.mark.integration

# Says it is ready, then waits to be killed (or exits 3 when told to).
WAIT = """\
import sys, time
if sys.argv[1:] == ["exit"]:
    print("giving up", flush=True)
    sys.exit(3)
print("ready to be killed", flush=True)
while True:
    time.sleep(0.2)
"""


@pytest.fixture
def engine() -> Any:
    return helpers.docker_engine()


def _show(project: Path, run_id: str) -> dict[str, Any]:
    show: dict[str, Any] = json.loads(
        runyard(project, "runs", "show", run_id, "--json", check=True).stdout
    )
    return show


def _project(project: Path) -> None:
    (project / "wait.py").write_text(WAIT)
    git(project, "add", "-A")
    git(project, "commit", "-qm", "wait")
    image = ["--image", helpers.BASE_IMAGE]
    runyard(project, "target", "add", "asis", "--type", "docker", *image, check=True)


def test_a_docker_script_killed_by_sigkill_reads_killed_by_sigkill_with_its_exit_code(
    project: Path, engine: Any
) -> None:
    _project(project)
    proc = runyard(project, "submit", "-d", "--target", "asis", "wait.py", check=True)
    run_id = proc.stdout.strip().split()[-1]
    until(
        lambda: "ready to be killed" in runyard(project, "runs", "logs", run_id).stdout,
        what="the script to start",
    )
    found = engine.containers.list(filters={"label": f"dev.runyard.run={run_id}"})
    assert len(found) == 1, found
    found[0].kill(signal="SIGKILL")  # the script is the container's init: the engine kills it
    runyard(project, "runs", "wait", run_id, timeout=300)
    show = _show(project, run_id)

    assert show["status"] == "failed", show
    assert show["exit_code"] == 137, show
    assert show["reason"].startswith("killed by SIGKILL (exit code 137)"), show["reason"]


def test_an_exit_code_a_docker_script_chose_still_reads_exited_with_code(
    project: Path, engine: Any
) -> None:
    _project(project)
    proc = runyard(project, "submit", "--target", "asis", "wait.py", "exit", timeout=300)
    assert proc.returncode != 0, proc.stdout + proc.stderr
    show = _show(project, proc.stdout.splitlines()[0].strip())

    assert show["status"] == "failed", show
    assert show["exit_code"] == 3, show
    assert show["reason"] == "exited with code 3: giving up", show["reason"]
