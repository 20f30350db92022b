"""An `ssh` run's outputs that hold links out of them, against the real sshd on
loopback (scripts/sshd-setup.sh): like a Docker run's (test_docker_output_links.py),
only the offending entries (an absolute link, links climbing out with `..`, a pipe)
are left behind, the rest comes back, and the run's log names each one. Nothing is
followed or written through a link out of the run's working copy."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests import helpers
from tests.helpers import git
from tests.integration import test_docker_output_links as docker_output_links

pytestmark = pytest.mark.integration

# The Docker test's outputs (real files, a link inside them, an absolute link, links
# climbing out of outputs/), and a named pipe.
WRITE = docker_output_links.WRITE + 'os.mkfifo("outputs/pipe")\n'


def test_links_out_of_an_ssh_runs_outputs_are_skipped_and_the_rest_kept(
    project: Path, tmp_path: Path
) -> None:
    env = helpers.ssh_user(tmp_path / "home")
    (project / "write.py").write_text(WRITE)
    git(project, "add", "-A")
    git(project, "commit", "-qm", "write")
    helpers.add_ssh_target(project, env, tmp_path / "remote" / "runyard")

    run_id = helpers.submit_run(project, "--target", "vm", "write.py", env=env)
    show = helpers.wait_run(project, run_id, env)
    log = helpers.run_logs(project, run_id, env)

    assert show["status"] == "completed", show
    outputs = Path(show["outputs_dir"])
    assert (outputs / "a.txt").read_text() == "a\n", log
    assert (outputs / "sub" / "b.txt").read_text() == "b\n"
    assert os.readlink(outputs / "near") == "sub/b.txt"  # a link inside the outputs stays
    for name in ("bad", "sub/climbs", "beside", "pipe"):
        assert not os.path.lexists(outputs / name), name
    assert "[runyard] outputs/bad was not copied back: it is a link to /etc/passwd" in log, log
    assert "[runyard] outputs/sub/climbs was not copied back: it is a link to ../../etc" in log
    assert "[runyard] outputs/beside was not copied back: it is a link to ../secret.txt" in log
    assert "[runyard] outputs/pipe was not copied back: it is a device, pipe or other" in log
    paths = sorted(a["path"] for a in show["artifacts"])
    assert paths == ["a.txt", "near", "sub/b.txt"], paths
