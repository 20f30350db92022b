"""Sharing runs with a team: two clones of one git repository (two machines) on one real
PostgreSQL store (`tests.postgres_server`), with a bare repository as the team's remote.

Shared snapshots: a run submitted in clone A has its snapshot pushed to
`refs/runyard/runs/<id>` on the remote in the background; clone B restores and diffs it
(fetched on demand). A push that fails is said in the run's log and left pending, and
`runyard runs push` sends it once the remote works; a snapshot nobody pushed is a clear
error in B naming the remote and the fix.

A shared artifact root (`artifact_root:`, here a folder standing for a network mount):
A's run keeps its outputs there, B's `runs show` names them, B registers a model from
A's run and A downloads it; a root that is not there keeps the outputs in the run folder.

Who cancels: only the user who ran a run (git email) unless `cancel: anyone`; from
another clone the cancel is a request in the store that the run's supervisor reads.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from runyard.core.project import Project
from tests.postgres_server import pg_server, pg_url

pytestmark = pytest.mark.integration

__all__ = ["pg_server", "pg_url"]

CLI = [sys.executable, "-m", "runyard.cli"]


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"git {args}: {done.stderr}"
    return done.stdout


def cli(cwd: Path, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "RUNYARD_STORE_URL"}
    done = subprocess.run(
        [*CLI, *args], cwd=cwd, env={**env, "CI": "true"}, capture_output=True, text=True
    )
    if ok:
        assert done.returncode == 0, f"runyard {args}: {done.stdout}\n{done.stderr}"
    return done


def clone(remote: Path, dest: Path, email: str) -> Path:
    git(remote.parent, "clone", "-q", str(remote), str(dest))
    git(dest, "config", "user.name", email.split("@")[0])
    git(dest, "config", "user.email", email)
    return dest


@pytest.fixture
def team(tmp_path: Path, pg_url: str) -> tuple[Path, Path, Path]:
    """(the bare remote, clone A of ada, clone B of bob): one project, one store."""
    remote = tmp_path / "team.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    seed = tmp_path / "seed"
    seed.mkdir()
    git(seed, "init", "-q")
    git(seed, "config", "user.name", "seed")
    git(seed, "config", "user.email", "seed@example.com")
    cli(seed, "init")
    (seed / ".runyard" / "config.yml").write_text(f"store: {pg_url}\nsnapshots_remote: origin\n")
    (seed / "train.py").write_text("print('lr', 0.1)\n")
    git(seed, "add", "-A")
    git(seed, "commit", "-q", "-m", "seed")
    git(seed, "push", "-q", str(remote), "HEAD:refs/heads/main")
    git(remote, "symbolic-ref", "HEAD", "refs/heads/main")
    a = clone(remote, tmp_path / "a", "ada@example.com")
    b = clone(remote, tmp_path / "b", "bob@example.com")
    return remote, a, b


def submit(root: Path) -> str:
    done = cli(root, "submit", "-d", "train.py")
    return done.stdout.split()[-1]


def wait_ended(root: Path, run_id: str) -> None:
    cli(root, "runs", "wait", run_id, ok=False)


def remote_refs(remote: Path) -> set[str]:
    out = git(remote, "for-each-ref", "--format=%(refname)", "refs/runyard/runs/")
    return set(out.split())


def wait_for_refs(remote: Path, refs: set[str], timeout: float = 30) -> set[str]:
    deadline = time.monotonic() + timeout
    while not refs <= (found := remote_refs(remote)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return found


def test_a_run_submitted_in_one_clone_is_restored_and_diffed_in_another(
    team: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    remote, a, b = team
    first = submit(a)
    (a / "train.py").write_text("print('lr', 0.2)\n")  # not committed: only the snapshot has it
    second = submit(a)
    for run_id in (first, second):
        wait_ended(a, run_id)
    found = wait_for_refs(remote, {f"refs/runyard/runs/{first}", f"refs/runyard/runs/{second}"})
    assert {f"refs/runyard/runs/{first}", f"refs/runyard/runs/{second}"} <= found
    assert not (Project(a).state_dir / "snapshot-push" / second).exists()  # nothing pending

    # B has neither snapshot: restore and diff fetch them from the team's remote.
    assert "refs/runyard/runs/" not in git(b, "for-each-ref")
    out = tmp_path / "restored"
    cli(b, "runs", "restore", second, "--to", str(out))
    assert (out / "train.py").read_text() == "print('lr', 0.2)\n"
    diff = cli(b, "runs", "diff", first, second).stdout
    assert "-print('lr', 0.1)" in diff and "+print('lr', 0.2)" in diff
    assert git(b, "status", "--porcelain") == ""  # B's branch, index and files untouched
    assert (b / "train.py").read_text() == "print('lr', 0.1)\n"


def test_a_failed_push_is_logged_and_pushed_later_and_a_missing_snapshot_names_the_fix(
    team: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    remote, a, b = team
    git(a, "remote", "set-url", "origin", str(tmp_path / "nowhere.git"))
    run_id = submit(a)
    wait_ended(a, run_id)
    pending = Project(a).state_dir / "snapshot-push" / run_id
    log = Project(a).run_dir(run_id) / "run.log"
    deadline = time.monotonic() + 30
    while "was not pushed" not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "the snapshot was not pushed to origin" in log.read_text()
    assert "runyard runs push" in log.read_text()
    assert pending.exists()
    assert cli(a, "runs", "show", run_id).returncode == 0
    assert "completed" in cli(a, "runs", "show", run_id).stdout  # the run did not fail

    # B cannot have it yet: the error names the remote and what to do.
    failed = cli(b, "runs", "restore", run_id, "--to", str(tmp_path / "x"), ok=False)
    assert failed.returncode != 0
    assert "could not be fetched from the remote 'origin'" in failed.stderr
    assert "runyard runs push" in failed.stderr

    # The remote is back: `runs push` sends what waits, and B restores it.
    git(a, "remote", "set-url", "origin", str(remote))
    pushed = cli(a, "runs", "push")
    assert "1 snapshot(s) pushed to origin" in pushed.stdout + pushed.stderr
    again = cli(a, "runs", "push")
    assert "nothing to push" in again.stdout + again.stderr
    assert not pending.exists()
    cli(b, "runs", "restore", run_id, "--to", str(tmp_path / "y"))
    assert (tmp_path / "y" / "train.py").read_text() == "print('lr', 0.1)\n"


def test_without_a_remote_a_missing_snapshot_says_how_to_share(
    team: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    _remote, a, b = team
    config = a / ".runyard" / "config.yml"
    config.write_text(config.read_text().replace("snapshots_remote: origin\n", ""))
    run_id = submit(a)
    wait_ended(a, run_id)
    config_b = b / ".runyard" / "config.yml"
    config_b.write_text(config_b.read_text().replace("snapshots_remote: origin\n", ""))
    failed = cli(b, "runs", "restore", run_id, "--to", str(tmp_path / "x"), ok=False)
    assert failed.returncode != 0 and "no remote to fetch it from is set" in failed.stderr
    assert "snapshots_remote" in failed.stderr


def share_artifacts(folder: Path, *clones: Path) -> None:
    folder.mkdir(exist_ok=True)
    for root in clones:
        config = root / ".runyard" / "config.yml"
        config.write_text(config.read_text() + f"artifact_root: {folder}\n")


def test_outputs_and_models_on_a_shared_artifact_root_open_in_another_clone(
    team: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    import json

    _remote, a, b = team
    shared = tmp_path / "mnt-team"
    share_artifacts(shared, a, b)
    (a / "train.py").write_text(
        "import pathlib\n"
        "pathlib.Path('outputs').mkdir(exist_ok=True)\n"
        "pathlib.Path('outputs/model.txt').write_text('weights of ada')\n"
    )
    run_id = submit(a)
    wait_ended(a, run_id)
    kept = shared / "runs" / run_id / "outputs" / "model.txt"
    assert kept.read_text() == "weights of ada"
    assert not (Project(a).run_dir(run_id) / "outputs").exists()  # nothing copied twice

    # B, another machine: the run's details name the shared outputs, with its files.
    shown = json.loads(cli(b, "runs", "show", run_id, "--json").stdout)
    assert Path(shown["outputs_dir"]) == kept.parent
    # B registers a model from A's run; A downloads it: one model store, in the share.
    cli(b, "model", "register", run_id, "model.txt", "--name", "m")
    assert list((shared / "models" / "blobs" / "sha256").iterdir())
    assert not (Project(b).state_dir / "models").exists()
    cli(a, "model", "download", "m", str(tmp_path / "got.txt"))
    assert (tmp_path / "got.txt").read_text() == "weights of ada"


def test_an_artifact_root_that_is_not_there_keeps_outputs_in_the_run_folder(
    team: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    _remote, a, _b = team
    share_artifacts(tmp_path / "mnt-team", a)
    (tmp_path / "mnt-team").rmdir()  # the share is not mounted on this machine
    (a / "train.py").write_text(
        "import pathlib\n"
        "pathlib.Path('outputs').mkdir(exist_ok=True)\n"
        "pathlib.Path('outputs/model.txt').write_text('w')\n"
    )
    run_id = submit(a)
    wait_ended(a, run_id)
    assert (Project(a).run_dir(run_id) / "outputs" / "model.txt").read_text() == "w"
    log = (Project(a).run_dir(run_id) / "run.log").read_text()
    assert f"the artifact root {tmp_path / 'mnt-team'}" in log and "is not there" in log
    assert "completed" in cli(a, "runs", "show", run_id).stdout


def wait_status(root: Path, run_id: str, status: str, timeout: float = 60) -> str:
    import json

    deadline = time.monotonic() + timeout
    while True:
        now = json.loads(cli(root, "runs", "show", run_id, "--json").stdout)["status"]
        if now == status or time.monotonic() > deadline:
            return str(now)
        time.sleep(0.3)


def test_only_who_ran_a_run_cancels_it_from_another_machine_unless_anyone_may(
    team: tuple[Path, Path, Path],
) -> None:
    _remote, a, b = team
    (a / "train.py").write_text("import time\nprint('up', flush=True)\ntime.sleep(300)\n")
    first = submit(a)
    assert wait_status(a, first, "running") == "running"

    # Bob may not: the error says who ran it, where, and the setting.
    refused = cli(b, "runs", "cancel", first, ok=False)
    assert refused.returncode != 0
    machine = os.uname().nodename
    assert (
        f"Run {first} was started by ada@example.com on {machine}; ask them, or set "
        "`cancel: anyone` in .runyard/config.yml." in refused.stderr
    )
    assert wait_status(a, first, "running", timeout=0) == "running"

    # Ada, on another machine (clone B with her identity): a request through the store,
    # which the run's supervisor in clone A reads and acts on.
    git(b, "config", "user.email", "Ada@Example.com")
    done = cli(b, "runs", "cancel", first)
    assert wait_status(a, first, "canceled", timeout=30) == "canceled"
    assert "canceled" in done.stderr + done.stdout
    log = (Project(a).run_dir(first) / "run.log").read_text()
    assert f"cancel requested by Ada@Example.com on {machine}" in log

    # `cancel: anyone`: Bob cancels Ada's next run.
    git(b, "config", "user.email", "bob@example.com")
    second = submit(a)
    assert wait_status(a, second, "running") == "running"
    config = b / ".runyard" / "config.yml"
    config.write_text(config.read_text() + "cancel: anyone\n")
    cli(b, "runs", "cancel", second, "--no-wait")
    assert wait_status(a, second, "canceled", timeout=30) == "canceled"
    assert (
        "cancel requested by bob@example.com"
        in (Project(a).run_dir(second) / "run.log").read_text()
    )


def test_the_language_server_restores_and_diffs_a_teammates_runs_by_fetching_them(
    team: tuple[Path, Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from runyard.lsp import protocol as p
    from runyard.lsp.features.runs import _diff, _restore

    remote, a, b = team
    first = submit(a)
    (a / "train.py").write_text("print('lr', 0.3)\n")
    second = submit(a)
    for run_id in (first, second):
        wait_ended(a, run_id)
    wait_for_refs(remote, {f"refs/runyard/runs/{first}", f"refs/runyard/runs/{second}"})
    monkeypatch.delenv("RUNYARD_STORE_URL", raising=False)
    project_b = Project(b)
    diff = _diff(project_b, p.RunDiffParams(run_id=first, other_run_id=second, causes=True))
    assert "+print('lr', 0.3)" in diff.diff
    assert diff.causes is not None and [c.name for c in diff.causes.code] == ["train.py"]
    dest = tmp_path / "from-the-editor"
    done = _restore(project_b, p.RunRestoreParams(run_id=second, dest=dest.as_uri()))
    assert "train.py" in done.written
    assert (dest / "train.py").read_text() == "print('lr', 0.3)\n"


def test_a_snapshots_remote_that_looks_like_an_option_is_refused_and_runs_nothing(
    team: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    """A committed `snapshots_remote: --receive-pack=...` never becomes an option of git
    push or fetch that would run a command: the setting is refused where it is written
    (and git is given the remote after `--` anyway)."""
    _remote, a, b = team
    canary = tmp_path / "ran"
    for root, option in ((a, "--receive-pack"), (b, "--upload-pack")):  # push, fetch
        config = root / ".runyard" / "config.yml"
        config.write_text(
            config.read_text().replace(
                "snapshots_remote: origin", f"snapshots_remote: {option}=touch {canary}"
            )
        )
    pushed = cli(a, "runs", "push", ok=False)  # nothing pending: no push at all
    run_id = submit(a)
    wait_ended(a, run_id)
    log = Project(a).run_dir(run_id) / "run.log"
    deadline = time.monotonic() + 30
    while "was not pushed" not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.1)
    refused = "field 'snapshots_remote'"
    assert "was not pushed" in log.read_text() and refused in log.read_text(), pushed.stderr
    fetched = cli(b, "runs", "restore", run_id, "--to", str(tmp_path / "x"), ok=False)
    assert fetched.returncode != 0 and refused in fetched.stderr
    pushed = cli(a, "runs", "push", ok=False)
    assert pushed.returncode != 0 and ".runyard/config.yml:2:" in pushed.stderr
    assert not canary.exists()
