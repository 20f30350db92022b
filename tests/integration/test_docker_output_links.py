"""A Docker run's outputs that hold links out of them, against the real Docker engine
(scripts/docker-setup.sh, its offline base image used as is): only the offending
entries are left behind, the rest comes back, and the run's log names each one."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from tests import helpers
from tests.helpers import commit_all, runyard

pytestmark = pytest.mark.integration

# Real files, a folder, a link inside the outputs (kept), an absolute link and links
# that climb out of outputs/ (left behind).
WRITE = """\
import os
os.makedirs("outputs/sub", exist_ok=True)
open("outputs/a.txt", "w").write("a\\n")
open("outputs/sub/b.txt", "w").write("b\\n")
open("secret.txt", "w").write("not an output\\n")
os.symlink("/etc/passwd", "outputs/bad")
os.symlink("../../etc/passwd", "outputs/sub/climbs")
os.symlink("../secret.txt", "outputs/beside")
os.symlink("sub/b.txt", "outputs/near")
print("wrote outputs", flush=True)
"""


def test_links_out_of_a_docker_runs_outputs_are_skipped_and_the_rest_kept(
    project: Path, engine: Any
) -> None:
    (project / "write.py").write_text(WRITE)
    commit_all(project, "write")
    image = ["--image", helpers.BASE_IMAGE]
    runyard(project, "target", "add", "asis", "--type", "docker", *image, check=True)
    proc = runyard(project, "submit", "--target", "asis", "write.py", timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    run_id = proc.stdout.splitlines()[0].strip()
    show = json.loads(runyard(project, "runs", "show", run_id, "--json", check=True).stdout)
    log = runyard(project, "runs", "logs", run_id, check=True).stdout

    assert show["status"] == "completed", show
    outputs = Path(show["outputs_dir"])
    assert (outputs / "a.txt").read_text() == "a\n"
    assert (outputs / "sub" / "b.txt").read_text() == "b\n"
    assert os.readlink(outputs / "near") == "sub/b.txt"  # a link inside the outputs stays
    for name in ("bad", "sub/climbs", "beside"):
        assert not os.path.lexists(outputs / name), name
    assert "[runyard] outputs/bad was not copied back: it is a link to /etc/passwd" in log, log
    assert "[runyard] outputs/sub/climbs was not copied back: it is a link to ../../etc" in log
    assert "[runyard] outputs/beside was not copied back: it is a link to ../secret.txt" in log
    paths = sorted(a["path"] for a in show["artifacts"])
    assert paths == ["a.txt", "near", "sub/b.txt"], paths
