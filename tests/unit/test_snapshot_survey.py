"""What a submission asks git once (`snapshot.Survey`) and shares between its secrets
check, its snapshot and the run's identity: the same answers as asking each time, in
fewer git processes."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest

from runyard.core import snapshot
from runyard.core.project import Project


def git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(root), *args], check=True, capture_output=True, text=True
    ).stdout


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A repository with a commit, its own user, and a global excludes file set with `~`."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "global-ignore").write_text("*.secretlog\n")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(home / ".gitconfig"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    subprocess.run(
        ["git", "config", "--global", "core.excludesFile", "~/global-ignore"], check=True
    )
    root = tmp_path / "proj"
    root.mkdir()
    git(root, "init", "-q")
    git(root, "config", "user.name", "Ada L")
    git(root, "config", "user.email", "ada@example.com")
    (root / "train.py").write_text("print('hi')\n")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "first")
    (root / "notes.secretlog").write_text("kept out by the global excludes\n")
    (root / ".env").write_text("TOKEN=x\n")
    (root / "data.csv").write_text("1,2\n")
    return root


def test_the_survey_answers_what_git_config_does(repo: Path) -> None:
    survey = snapshot.Survey(Project(repo))
    assert survey.user() is None  # nothing read yet
    settings = survey.settings()
    assert settings["user.name"] == "Ada L"
    assert settings["core.excludesfile"] == "~/global-ignore"
    assert survey.user() == ("Ada L", "ada@example.com")


def test_a_shared_survey_takes_the_same_snapshot_in_fewer_git_processes(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = Project(repo)
    calls: list[list[str]] = []
    real = snapshot._run_git

    def counted(cwd: Path, args: Sequence[str], *rest: object, **kw: object) -> object:
        calls.append([a for a in args if not a.startswith(("gc.", "core.", "advice."))])
        return real(cwd, args, *rest, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(snapshot, "_run_git", counted)
    alone = snapshot.untracked_secret_files(project)
    snap_alone = snapshot.take_snapshot(project, "alone")
    apart = len(calls)
    calls.clear()
    survey = snapshot.Survey(project)
    shared = snapshot.untracked_secret_files(project, survey)
    snap_shared = snapshot.take_snapshot(project, "shared", survey)
    together = len(calls)
    assert shared == alone == [".env"]
    assert snapshot.snapshot_tree(project, snap_shared.commit) == snapshot.snapshot_tree(
        project, snap_alone.commit
    )
    files = git(repo, "ls-tree", "-r", "--name-only", snap_shared.commit).split()
    assert sorted(files) == [".env", "data.csv", "train.py"]  # no *.secretlog
    head = git(repo, "rev-parse", "HEAD").strip()
    assert git(repo, "rev-parse", f"{snap_shared.commit}^").strip() == head
    # config, ls-files --others, add, write-tree, commit-tree, update-ref: each once (no
    # rev-parse: the project is the top of a plain repository; no ls-files -ci: the index
    # kept by the first snapshot is fresh).
    assert together == 6, calls[:together]
    assert not [c for c in calls[:together] if "rev-parse" in c]
    assert together < apart


def test_a_shadow_repository_survey_names_no_user(tmp_path: Path) -> None:
    root = tmp_path / "plain"
    root.mkdir()
    (root / "train.py").write_text("print('hi')\n")
    survey = snapshot.Survey(Project(root))
    snap = snapshot.take_snapshot(Project(root), "s1", survey)
    assert snap.shadow and survey.user() is None


def test_a_fresh_kept_index_still_leaves_out_the_tracked_files_runyardignore_names(
    repo: Path,
) -> None:
    project = Project(repo)
    (repo / "secret.cfg").write_text("tracked, then ignored\n")
    git(repo, "add", "secret.cfg")
    git(repo, "commit", "-qm", "cfg")
    (repo / ".runyardignore").write_text("*.cfg\n")

    def files(run_id: str) -> list[str]:
        commit = snapshot.take_snapshot(project, run_id).commit
        return sorted(git(repo, "ls-tree", "-r", "--name-only", commit).split())

    assert "secret.cfg" not in files("first")
    (repo / "more.cfg").write_text("new, matched too\n")
    assert "secret.cfg" not in files("again") and "more.cfg" not in files("again2")
    # other patterns: the kept index is not trusted, and what they name is left out
    (repo / ".runyardignore").write_text("train.py\n")
    later = files("other-patterns")
    assert "train.py" not in later and "secret.cfg" in later and "more.cfg" in later


def _asked(root: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path, Path] | None:
    """What rev-parse answers for `root` (the shortcut turned off)."""
    with monkeypatch.context() as m:
        m.setattr(snapshot, "_top_of_plain_repository", lambda _root: None)
        return snapshot._repository_of(root)


def test_the_top_of_a_plain_repository_is_found_without_git_as_rev_parse_finds_it(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "one")
    top = Path(repo).resolve()
    assert snapshot._top_of_plain_repository(top) == _asked(top, monkeypatch)
    assert _asked(top, monkeypatch) == (top, top / ".git", top / ".git")
    # where it does not apply, rev-parse is asked: a sub-folder, a linked worktree, a
    # repository whose config moves or removes the work tree
    sub = top / "sub"
    sub.mkdir()
    assert snapshot._top_of_plain_repository(sub) is None
    linked = tmp_path / "linked"
    git(repo, "worktree", "add", "-q", str(linked))
    assert snapshot._top_of_plain_repository(linked.resolve()) is None
    assert _asked(linked.resolve(), monkeypatch) is not None
    for setting in ("core.bare true", "core.worktree " + str(tmp_path)):
        other = tmp_path / f"other-{setting.split()[0]}"
        other.mkdir()
        git(other, "init", "-q")
        git(other, "config", *setting.split())
        assert snapshot._top_of_plain_repository(other.resolve()) is None
    plain = tmp_path / "plain-false"
    plain.mkdir()
    git(plain, "init", "-q")
    git(plain, "config", "core.bare", "false")  # (every new repository says so)
    assert snapshot._top_of_plain_repository(plain.resolve()) == _asked(
        plain.resolve(), monkeypatch
    )
