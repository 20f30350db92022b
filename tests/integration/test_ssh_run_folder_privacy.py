"""An `ssh` target's run folder on the remote machine is private (issue 15, item 7): its
spec.json holds the run's environment variables, secrets among them, so the folder is
0700 and the files Runyard puts there 0600 from the moment they exist. Checked on a real
run against the loopback sshd (scripts/sshd-setup.sh) while the run is live."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from tests import helpers
from tests.helpers import git, runyard, until

pytestmark = pytest.mark.integration

TRAIN = """\
import os, time
import runyard

for step in range(int(os.environ["STEPS"])):
    runyard.log_metric("loss", 1.0 / (step + 1), step=step)
    print(f"step {step}", flush=True)
    time.sleep(0.5)
os.makedirs("outputs", exist_ok=True)
with open("outputs/result.txt", "w") as f:
    f.write("done\\n")
"""


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_the_remote_run_folder_is_0700_and_its_files_0600_while_the_run_is_live(
    project: Path, tmp_path: Path
) -> None:
    workdir = tmp_path / "remote" / "runyard"
    env = helpers.ssh_user(tmp_path / "home")
    (project / "train.py").write_text(TRAIN)
    (project / ".runyard/jobs/secret.yml").write_text(
        "script: train.py\ntarget: vm\nenv:\n  STEPS: '40'\n  API_TOKEN: 'hunter2-secret'\n"
    )
    git(project, "add", "-A")
    git(project, "commit", "-qm", "train")
    helpers.add_ssh_target(project, env, workdir)

    proc = runyard(project, "submit", "-d", "--job", "secret", env=env, check=True)
    run_id = proc.stdout.strip().split()[-1]
    folder = workdir / "runs" / run_id

    def live() -> bool:
        shown = runyard(project, "runs", "show", run_id, "--json", env=env, check=True)
        return json.loads(shown.stdout)["status"] == "running" and (folder / "pid").is_file()

    until(live, what="the run running with its remote folder")
    until(lambda: (folder / "tracking.jsonl").stat().st_size > 0, what="a tracking record")
    assert "hunter2-secret" in (folder / "spec.json").read_text()  # the file that matters
    assert _mode(folder) == 0o700
    assert _mode(folder / "spec.json") == 0o600
    checked = []
    for path in [folder, *folder.rglob("*")]:
        rel = path.relative_to(folder).as_posix()
        if "__pycache__" in rel or rel.startswith("work/outputs"):
            continue  # what the script itself writes, with the login's umask, in there
        want = 0o700 if path.is_dir() else 0o600
        assert _mode(path) & 0o077 == 0, f"{rel} is {oct(_mode(path))}"
        if path.is_dir() or rel in ("spec.json", "work/train.py", "output.log", "pid"):
            assert _mode(path) == want, f"{rel} is {oct(_mode(path))}, not {oct(want)}"
        checked.append(rel)
    for name in ("spec.json", "monitor.py", "output.log", "tracking.jsonl", "pid", "work"):
        assert name in checked

    runyard(project, "runs", "wait", run_id, env=env, timeout=300)
    done = json.loads(runyard(project, "runs", "show", run_id, "--json", env=env).stdout)
    assert done["status"] == "completed", done
    result = Path(done["outputs_dir"], "result.txt")
    assert result.read_text() == "done\n"
    assert _mode(result) == 0o644  # the script's own files keep the usual umask
