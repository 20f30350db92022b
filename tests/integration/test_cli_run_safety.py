"""The CLI with state it must not trust or must not change (issue 15, item 12): names a
run logged that hold terminal escapes, a state folder on a read-only mount, a restore
into the project without --force, and secrets about to go into a snapshot."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.helpers import IN_CI, git, runyard

pytestmark = pytest.mark.integration

ESCAPES = """\
import runyard
runyard.log_param("\\x1b]0;pwned\\x07lr", "0.1\\x1b[2J")
runyard.set_tag("note\\x9b31m", "\\x1b[31mred")
runyard.log_metric("\\x1b[31mloss", 0.5, step=0)
runyard.log_metric("acc", 0.9, step=0)
"""


def _run_id(proc: subprocess.CompletedProcess[str]) -> str:
    return proc.stdout.splitlines()[0].strip()


@contextmanager
def _read_only(folder: Path) -> Iterator[None]:
    """`folder` on a read-only bind mount of itself (root ignores file permissions)."""
    proc = subprocess.run(["mount", "--bind", str(folder), str(folder)], capture_output=True)
    if proc.returncode != 0:
        message = f"mount is needed for this test: {proc.stderr.decode().strip()}"
        pytest.fail(message) if IN_CI else pytest.skip(message)
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(folder)], check=True)
        yield
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def test_runs_show_list_and_metrics_print_control_characters_in_names_as_visible_escapes(
    project: Path,
) -> None:
    (project / "esc.py").write_text(ESCAPES)
    run_id = _run_id(runyard(project, "submit", "esc.py", check=True))
    outputs = [
        runyard(project, "runs", "show", run_id, check=True).stdout,
        runyard(project, "runs", "list", check=True).stdout,
        runyard(project, "runs", "metrics", run_id, check=True).stdout,
    ]
    for out in outputs:
        assert "\x1b" not in out and "\x07" not in out and "\x9b" not in out, repr(out)
    show = outputs[0]
    assert "\\x1b]0;pwned\\x07lr = 0.1\\x1b[2J" in show
    assert "note\\x9b31m = \\x1b[31mred" in show
    assert "\\x1b[31mloss = 0.5" in show
    assert "\\x1b[31mloss=0.5" in outputs[1] and "\\x1b[31mloss" in outputs[2]
    # JSON keeps the names exact
    data = json.loads(runyard(project, "runs", "show", run_id, "--json", check=True).stdout)
    assert "\x1b[31mloss" in [m["key"] for m in data["metrics_summary"]]


def test_runs_list_show_and_metrics_work_on_a_read_only_state_folder(project: Path) -> None:
    (project / "t.py").write_text("import runyard\nrunyard.log_metric('m', 3)\n")
    run_id = _run_id(runyard(project, "submit", "t.py", check=True))
    state = project / ".runyard/state"
    before = sorted(p.name for p in state.iterdir())
    with _read_only(state):
        listed = runyard(project, "runs", "list", "--json")
        assert listed.returncode == 0, listed.stderr
        assert [r["metrics"] for r in json.loads(listed.stdout)] == [{"m": 3}]
        shown = runyard(project, "runs", "show", run_id)
        assert shown.returncode == 0, shown.stderr
        assert "m = 3" in shown.stdout
        metrics = runyard(project, "runs", "metrics", run_id, "--json")
        assert metrics.returncode == 0, metrics.stderr
        assert [p["value"] for p in json.loads(metrics.stdout)] == [3]
        human = runyard(project, "runs", "list")
        assert human.returncode == 0 and run_id in human.stdout, human.stderr
    assert sorted(p.name for p in state.iterdir()) == before


def test_restore_into_the_project_without_force_writes_nothing_and_says_how(
    project: Path,
) -> None:
    (project / "train.py").write_text("print('one')\n")
    (project / "data").mkdir()
    (project / "data/notes.txt").write_text("notes\n")
    run_id = _run_id(runyard(project, "submit", "train.py", check=True))
    # the project now lacks files the snapshot has, and no file differs from it
    (project / "data/notes.txt").unlink()
    (project / "data").rmdir()
    listing = sorted(
        str(p.relative_to(project)) for p in project.rglob("*") if ".git" not in p.parts
    )

    refused = runyard(project, "runs", "restore", run_id)
    assert refused.returncode == 2, refused.stderr
    assert "Traceback" not in refused.stderr
    assert "data/notes.txt" in refused.stderr and "--force" in refused.stderr
    assert "--to" in refused.stderr
    after = sorted(str(p.relative_to(project)) for p in project.rglob("*") if ".git" not in p.parts)
    assert after == listing  # nothing written, not even a staging folder

    inside = project / "restored"
    refused = runyard(project, "runs", "restore", run_id, "--to", str(inside))
    assert refused.returncode == 2 and "--force" in refused.stderr, refused.stderr
    assert not inside.exists()

    runyard(project, "runs", "restore", run_id, "--force", check=True)
    assert (project / "data/notes.txt").read_text() == "notes\n"
    again = runyard(project, "runs", "restore", run_id)  # nothing left to write: fine
    assert again.returncode == 0, again.stderr


def test_submit_warns_about_an_untracked_secret_file_going_into_the_snapshot(
    project: Path,
) -> None:
    (project / "train.py").write_text("print('ok')\n")
    (project / ".env").write_text("API_TOKEN=s3cret\n")
    (project / "keys").mkdir()
    (project / "keys/id_rsa").write_text("-----BEGIN OPENSSH PRIVATE KEY-----\n")
    (project / "server.pem").write_text("-----BEGIN CERTIFICATE-----\n")
    (project / "ignored.key").write_text("secret\n")
    (project / ".gitignore").write_text("ignored.key\n")
    (project / "tracked.key").write_text("a test fixture the user committed\n")
    git(project, "add", "tracked.key", ".gitignore")
    git(project, "commit", "-qm", "fixture")

    proc = runyard(project, "submit", "train.py", check=True)
    err = proc.stderr
    for name in (".env", "keys/id_rsa", "server.pem"):
        assert name in err, err
    assert "ignored.key" not in err and "tracked.key" not in err
    assert ".runyardignore" in err

    (project / ".runyardignore").write_text(".env\nkeys/\n*.pem\n")
    quiet = runyard(project, "submit", "train.py", check=True)
    assert ".runyardignore" not in quiet.stderr and "id_rsa" not in quiet.stderr, quiet.stderr
    assert os.path.exists(project / ".env")


def test_submit_in_a_folder_outside_git_warns_about_a_dotenv_file(tmp_path: Path) -> None:
    root = tmp_path / "plain"
    root.mkdir()
    runyard(root, "init", check=True)
    (root / "hello.py").write_text("print('hello')\n")
    (root / ".env").write_text("TOKEN=s3cret\n")
    (root / ".env.example").write_text("TOKEN=\n")
    proc = runyard(root, "submit", "hello.py", check=True)
    assert "warning: .env looks like a secret" in proc.stderr, proc.stderr
    assert ".env.example" not in proc.stderr and "hello" in proc.stdout
