"""Run snapshots against real git repositories in tmp folders."""

from __future__ import annotations

import os
import stat
import subprocess
import threading
from pathlib import Path

import pytest

from runyard.core.errors import NotFoundError, RunyardError, UsageError
from runyard.core.project import Project
from runyard.core.snapshot import (
    RestoreConflict,
    Snapshot,
    delete_snapshot,
    diff_snapshots,
    export_snapshot,
    list_snapshot_refs,
    restore_snapshot,
    snapshot_commit,
    take_snapshot,
)


@pytest.fixture(autouse=True)
def isolated_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No user or system git config leaks in; the home folder is a fresh tmp folder."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for var in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_CONFIG_GLOBAL"):
        monkeypatch.delenv(var, raising=False)


def git(cwd: Path, *args: str, check: bool = True) -> str:
    env = dict(os.environ, GIT_OPTIONAL_LOCKS="0")  # `git status` must not refresh the index
    result = subprocess.run(
        ["git", "-c", "user.name=Tester", "-c", "user.email=t@example.com", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        check=False,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"git {args} failed: {result.stderr.decode()}")
    return result.stdout.decode("utf-8", "surrogateescape")


def write(path: Path, text: str, mode: int | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    if mode is not None:
        path.chmod(mode)
    return path


def tree_of(repo: Path, commit: str, prefix: str = "") -> dict[str, tuple[str, str]]:
    """path -> (mode, content) of a commit's tree (below `prefix`), read with plain git."""
    rev = f"{commit}:{prefix}" if prefix else commit
    out = git(repo, "ls-tree", "-r", "-z", rev)
    files: dict[str, tuple[str, str]] = {}
    for entry in out.split("\0"):
        if not entry:
            continue
        meta, path = entry.split("\t", 1)
        mode, _, sha = meta.split()
        files[path] = (mode, git(repo, "cat-file", "blob", sha))
    return files


def worktree_state(root: Path) -> dict[str, tuple[int, bytes]]:
    """Every file's mode and bytes, except git's own folder and Runyard's machine-local
    state folder (git-ignored in a real project: it holds the store and caches)."""
    state: dict[str, tuple[int, bytes]] = {}
    for folder, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if not (Path(folder) == root and d == ".git")]
        if Path(folder).name == ".runyard":
            dirs[:] = [d for d in dirs if d != "state"]
        for name in [*names, *dirs]:
            path = Path(folder) / name
            info = os.lstat(path)
            if stat.S_ISLNK(info.st_mode):
                state[str(path.relative_to(root))] = (info.st_mode, os.readlink(path).encode())
            elif stat.S_ISREG(info.st_mode):
                state[str(path.relative_to(root))] = (info.st_mode, path.read_bytes())
    return state


def repo_state(root: Path) -> dict[str, object]:
    gitdir = root / ".git"
    refs = [
        line
        for line in git(root, "for-each-ref", "--format=%(refname) %(objectname)").splitlines()
        if not line.startswith("refs/runyard/")
    ]
    return {
        "HEAD": (gitdir / "HEAD").read_bytes(),
        "refs": refs,
        "index": (gitdir / "index").read_bytes() if (gitdir / "index").exists() else None,
        "stash": git(root, "stash", "list"),
        "config": (gitdir / "config").read_bytes(),
        "status": [
            line
            for line in git(
                root, "status", "--porcelain=v2", "--branch", "--untracked-files=all"
            ).splitlines()
            if ".runyard/state/" not in line
        ],
        "worktree": worktree_state(root),
    }


def init_repo(root: Path) -> None:
    root.mkdir(parents=True, exist_ok=True)
    git(root, "init", "-q", "-b", "main")


def commit(repo: Path, *paths: str, message: str = "first") -> None:
    """Stage `paths` (everything when none are named) and commit them."""
    git(repo, "add", *(paths or ("-A",)))
    git(repo, "commit", "-qm", message)


# --------------------------------------------------------------------------------------------


def test_dirty_repo_snapshot_is_exact_and_leaves_the_repo_alone(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    init_repo(root)
    write(root / ".gitignore", "*.log\n")
    write(root / ".runyardignore", "# big things\nsecret.txt\ndata/\n")
    write(root / ".runyard" / "targets" / "train.yaml", "cmd: python train.py\n")
    write(root / "README.md", "hello\n")
    write(root / "src" / "app.py", "print(1)\n")
    write(root / "old.txt", "to be deleted\n")
    write(root / "run.sh", "#!/bin/sh\necho hi\n", mode=0o755)
    write(root / "data" / "big.bin", "tracked but runyard-ignored\n")
    os.symlink("README.md", root / "link")
    commit(root)
    git(root, "branch", "feature")
    # A stash entry.
    write(root / "README.md", "stashed change\n")
    git(root, "stash", "-q")
    # Staged, then modified again (unstaged) on top; a staged new file; an unstaged edit;
    # an unstaged delete; untracked, ignored and runyard-ignored files; runyard state.
    write(root / "src" / "app.py", "print(2)\n")
    write(root / "staged_new.py", "x = 1\n")
    git(root, "add", "src/app.py", "staged_new.py")
    write(root / "src" / "app.py", "print(3)\n")
    write(root / "README.md", "hello, edited\n")
    (root / "old.txt").unlink()
    write(root / "notes.txt", "untracked\n")
    write(root / "debug.log", "ignored\n")
    write(root / "secret.txt", "runyard-ignored, untracked\n")
    write(root / "data" / "more.bin", "runyard-ignored folder\n")
    write(root / ".runyard" / "state" / "runyard.db", "state\n")

    before = repo_state(root)
    snap = take_snapshot(Project(root), "run-1")
    after = repo_state(root)

    assert before == after
    assert isinstance(snap, Snapshot)
    assert snap.ref == "refs/runyard/runs/run-1"
    assert snap.prefix == ""
    assert snap.shadow is False
    assert snap.git_dir == (root / ".git").resolve()
    assert git(root, "rev-parse", snap.ref).strip() == snap.commit
    head = git(root, "rev-parse", "HEAD").strip()
    assert git(root, "rev-parse", f"{snap.commit}^").strip() == head
    assert (
        git(root, "log", "-1", "--format=%an|%s", snap.commit).strip()
        == "Runyard|runyard run run-1"
    )

    files = tree_of(root, snap.commit)
    assert files == {
        ".gitignore": ("100644", "*.log\n"),
        ".runyardignore": ("100644", "# big things\nsecret.txt\ndata/\n"),
        ".runyard/targets/train.yaml": ("100644", "cmd: python train.py\n"),
        "README.md": ("100644", "hello, edited\n"),
        "src/app.py": ("100644", "print(3)\n"),
        "staged_new.py": ("100644", "x = 1\n"),
        "run.sh": ("100755", "#!/bin/sh\necho hi\n"),
        "link": ("120000", "README.md"),
        "notes.txt": ("100644", "untracked\n"),
    }
    assert snapshot_commit(Project(root), "run-1") == snap.commit
    assert list_snapshot_refs(Project(root)) == ["refs/runyard/runs/run-1"]


def test_runyard_state_is_left_out_even_when_tracked(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    init_repo(root)
    write(root / "a.txt", "a\n")
    write(root / ".runyard" / "state" / "runs" / "r0" / "out.txt", "tracked by mistake\n")
    commit(root)
    write(root / ".runyard" / "state" / "new.txt", "untracked state\n")
    snap = take_snapshot(Project(root), "r1")
    assert set(tree_of(root, snap.commit)) == {"a.txt"}


def test_user_global_excludes_still_apply(tmp_path: Path) -> None:
    write(tmp_path / "home" / ".config" / "git" / "ignore", "*.bak\n")
    root = tmp_path / "proj"
    init_repo(root)
    write(root / "a.txt", "a\n")
    write(root / "a.bak", "backup\n")
    write(root / ".runyardignore", "*.tmp\n")
    write(root / "b.tmp", "tmp\n")
    snap = take_snapshot(Project(root), "r1")
    assert set(tree_of(root, snap.commit)) == {"a.txt", ".runyardignore"}


def test_unborn_head(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    init_repo(root)
    write(root / "a.txt", "a\n")
    write(root / "b" / "c.txt", "c\n")
    before = repo_state(root)
    snap = take_snapshot(Project(root), "r1")
    assert repo_state(root) == before
    assert not (root / ".git" / "index").exists()
    assert git(root, "rev-parse", "-q", "--verify", "HEAD", check=False) == ""
    parents = git(root, "rev-list", "--parents", "-n1", snap.commit).split()
    assert parents == [snap.commit]
    assert set(tree_of(root, snap.commit)) == {"a.txt", "b/c.txt"}
    # Staged files with no commit yet also work.
    git(root, "add", "a.txt")
    before = repo_state(root)
    snap2 = take_snapshot(Project(root), "r2")
    assert repo_state(root) == before
    assert set(tree_of(root, snap2.commit)) == {"a.txt", "b/c.txt"}


def test_non_git_folder_uses_a_shadow_repository(tmp_path: Path) -> None:
    root = tmp_path / "plain"
    write(root / ".runyard" / "targets" / "t.yaml", "x: 1\n")
    write(root / "train.py", "print('hi')\n")
    write(root / "tool.sh", "#!/bin/sh\n", mode=0o755)
    write(root / ".gitignore", "*.ckpt\n")
    write(root / "model.ckpt", "weights\n")
    write(root / ".runyardignore", "scratch/\n")
    write(root / "scratch" / "x.txt", "x\n")
    os.symlink("train.py", root / "link.py")
    project = Project(root)

    snap1 = take_snapshot(project, "a1")
    assert snap1.shadow is True
    assert snap1.prefix == ""
    shadow = root / ".runyard" / "state" / "snapshots.git"
    assert snap1.git_dir == shadow.resolve()
    assert not (root / ".git").exists()
    shadow_git = ["--git-dir", str(shadow)]
    out = git(root, *shadow_git, "ls-tree", "-r", snap1.commit)
    lines = {line.split("\t")[1]: line.split()[0] for line in out.splitlines()}
    assert lines == {
        ".gitignore": "100644",
        ".runyard/targets/t.yaml": "100644",
        ".runyardignore": "100644",
        "link.py": "120000",
        "tool.sh": "100755",
        "train.py": "100644",
    }

    snap2 = take_snapshot(project, "a2")
    tree1 = git(root, *shadow_git, "rev-parse", f"{snap1.commit}^{{tree}}").strip()
    tree2 = git(root, *shadow_git, "rev-parse", f"{snap2.commit}^{{tree}}").strip()
    assert tree1 == tree2
    assert snap1.commit != snap2.commit or snap1.ref != snap2.ref

    write(root / "train.py", "print('changed')\n")
    snap3 = take_snapshot(project, "a3")
    assert "-print('hi')\n+print('changed')" in diff_snapshots(project, snap2.commit, snap3.commit)
    assert diff_snapshots(project, snap3.commit) == ""
    assert snapshot_commit(project, "a3") == snap3.commit
    assert list_snapshot_refs(project) == [
        "refs/runyard/runs/a1",
        "refs/runyard/runs/a2",
        "refs/runyard/runs/a3",
    ]

    dest = tmp_path / "out"
    export_snapshot(project, snap1.commit, dest)
    assert (dest / "train.py").read_text() == "print('hi')\n"
    assert os.readlink(dest / "link.py") == "train.py"
    assert os.stat(dest / "tool.sh").st_mode & 0o111
    assert not (dest / "scratch").exists()
    assert not (dest / ".runyard" / "state").exists()


def test_concurrent_shadow_snapshots(tmp_path: Path) -> None:
    root = tmp_path / "plain"
    for i in range(50):
        write(root / f"f{i}.txt", f"{i}\n")
    project = Project(root)
    errors: list[BaseException] = []
    snaps: list[Snapshot] = []

    def go(i: int) -> None:
        try:
            snaps.append(take_snapshot(project, f"c{i}"))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=go, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(snaps) == 6
    assert len(list_snapshot_refs(project)) == 6


def test_project_in_a_sub_folder_of_a_repo(tmp_path: Path) -> None:
    top = tmp_path / "mono"
    init_repo(top)
    write(top / "other" / "x.txt", "outside\n")
    write(top / "other" / "y.tmp", "outside, not ours to ignore\n")
    write(top / "proj2" / "z.txt", "sibling with a similar name\n")
    root = top / "proj"
    write(root / ".runyard" / "targets" / "t.yaml", "x: 1\n")
    write(root / "train.py", "print(1)\n")
    write(root / "sub" / "a.txt", "a\n")
    write(root / "sub" / "skip.txt", "tracked, runyard-ignored\n")
    write(root / ".runyardignore", "*.tmp\n/sub/skip.txt\ncache/  \n!keep.tmp\n")
    write(root / "sub" / "cache" / "c.txt", "tracked, in a runyard-ignored folder\n")
    write(root / "keep.tmp", "re-included\n")
    write(top / "cache" / "top.txt", "outside the project: not ours to ignore\n")
    commit(top)
    write(root / "sub" / "q.tmp", "ignored\n")
    write(root / "new.txt", "untracked\n")
    write(root / "train.py", "print(2)\n")
    write(top / "other" / "x.txt", "outside, changed\n")

    before = repo_state(top)
    project = Project(root)
    snap = take_snapshot(project, "s1")
    assert repo_state(top) == before
    assert snap.prefix == "proj"
    assert snap.shadow is False
    files = tree_of(top, snap.commit, "proj")
    assert set(files) == {
        ".runyard/targets/t.yaml",
        ".runyardignore",
        "train.py",
        "sub/a.txt",
        "new.txt",
        "keep.tmp",
    }
    assert files["train.py"][1] == "print(2)\n"
    assert git(top, "show", f"{snap.commit}:cache/top.txt").startswith("outside")
    # Outside the project the snapshot is simply what the user's index holds.
    assert git(top, "show", f"{snap.commit}:other/x.txt") == "outside\n"

    dest = tmp_path / "export"
    export_snapshot(project, snap.commit, dest)
    exported = sorted(
        p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file() or p.is_symlink()
    )
    assert exported == sorted(files)
    assert (dest / "train.py").read_text() == "print(2)\n"

    assert diff_snapshots(project, snap.commit) == ""
    write(top / "other" / "x.txt", "outside changes are not the project's\n")
    write(root / "sub" / "a.txt", "a2\n")
    diff = diff_snapshots(project, snap.commit)
    assert "diff --git a/sub/a.txt b/sub/a.txt" in diff
    assert "other/" not in diff
    assert "proj/" not in diff


def test_export_restore_and_diff(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    init_repo(root)
    write(root / "train.py", "lr = 0.1\n")
    write(root / "run.sh", "#!/bin/sh\n", mode=0o755)
    write(root / "pkg" / "mod.py", "A = 1\n")
    os.symlink("pkg/mod.py", root / "alias.py")
    os.symlink("pkg", root / "pkglink")
    commit(root)
    project = Project(root)
    snap1 = take_snapshot(project, "r1")

    # Export round trip keeps contents, the exec bit and symlinks.
    out = tmp_path / "exported" / "deep"
    export_snapshot(project, snap1.commit, out)
    assert (out / "train.py").read_text() == "lr = 0.1\n"
    assert os.stat(out / "run.sh").st_mode & 0o111
    assert not os.stat(out / "train.py").st_mode & 0o111
    assert os.readlink(out / "alias.py") == "pkg/mod.py"
    assert os.readlink(out / "pkglink") == "pkg"

    # Diffs between snapshots and against the working folder.
    assert diff_snapshots(project, snap1.commit) == ""
    write(root / "train.py", "lr = 0.01\n")
    live = diff_snapshots(project, snap1.commit)
    assert "-lr = 0.1\n+lr = 0.01" in live
    assert diff_snapshots(project, snap1.commit, stat=True).strip().startswith("train.py")
    snap2 = take_snapshot(project, "r2")
    assert "-lr = 0.1\n+lr = 0.01" in diff_snapshots(project, snap1.commit, snap2.commit)
    assert diff_snapshots(project, snap2.commit, snap2.commit) == ""
    assert "1 file changed" in diff_snapshots(project, snap1.commit, snap2.commit, stat=True)

    # Restore into an empty folder.
    fresh = tmp_path / "fresh"
    written = restore_snapshot(project, snap1.commit, fresh)
    assert sorted(written) == ["alias.py", "pkg/mod.py", "pkglink", "run.sh", "train.py"]
    assert (fresh / "train.py").read_text() == "lr = 0.1\n"
    assert os.readlink(fresh / "alias.py") == "pkg/mod.py"
    assert os.stat(fresh / "run.sh").st_mode & 0o111
    assert {p.name for p in fresh.iterdir()} == {"alias.py", "pkg", "pkglink", "run.sh", "train.py"}
    # Restoring again writes nothing: everything already matches.
    assert restore_snapshot(project, snap1.commit, fresh) == []

    # Restore over the changed working folder: a conflict unless forced; extra files stay.
    write(root / "extra.txt", "keep me\n")
    with pytest.raises(RestoreConflict) as info:
        restore_snapshot(project, snap1.commit, root)
    assert info.value.paths == ["train.py"]
    assert isinstance(info.value, UsageError)
    assert "train.py" in str(info.value)
    assert "--force" in str(info.value) and "--to" in str(info.value)
    assert (root / "train.py").read_text() == "lr = 0.01\n"
    assert not list(root.glob(".runyard-restore-*"))

    assert restore_snapshot(project, snap1.commit, root, force=True) == ["train.py"]
    assert (root / "train.py").read_text() == "lr = 0.1\n"
    assert (root / "extra.txt").read_text() == "keep me\n"
    assert not list(root.glob(".runyard-restore-*"))


def test_restore_conflicts_with_folders_and_symlinks(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    init_repo(root)
    write(root / "a" / "b.txt", "b\n")
    write(root / "c.txt", "c\n")
    project = Project(root)
    snap = take_snapshot(project, "r1")

    dest = tmp_path / "dest"
    write(dest / "a", "a file where the snapshot has a folder\n")
    (dest / "c.txt").mkdir(parents=True)
    with pytest.raises(RestoreConflict) as info:
        restore_snapshot(project, snap.commit, dest)
    assert info.value.paths == ["a", "c.txt"]
    written = restore_snapshot(project, snap.commit, dest, force=True)
    assert sorted(written) == ["a/b.txt", "c.txt"]
    assert (dest / "a" / "b.txt").read_text() == "b\n"
    assert (dest / "c.txt").read_text() == "c\n"

    # A symlink in the destination is replaced, never written through.
    target = tmp_path / "elsewhere.txt"
    write(target, "do not touch\n")
    (dest / "c.txt").unlink()
    os.symlink(target, dest / "c.txt")
    with pytest.raises(RestoreConflict):
        restore_snapshot(project, snap.commit, dest)
    restore_snapshot(project, snap.commit, dest, force=True)
    assert target.read_text() == "do not touch\n"
    assert not (dest / "c.txt").is_symlink()

    # Only the exec bit differs: not a conflict, the mode is restored.
    (dest / "c.txt").chmod(0o755)
    assert restore_snapshot(project, snap.commit, dest) == ["c.txt"]
    assert not os.stat(dest / "c.txt").st_mode & 0o111


def test_unicode_and_spaces_in_names(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    init_repo(root)
    write(root / "my file.txt", "spaces\n")
    write(root / "données" / "été ü.txt", "unicode\n")
    write(root / "with [brackets] and *star*.txt", "glob chars\n")
    write(root / ".runyardignore", "skip me.txt\n")
    write(root / "skip me.txt", "skipped\n")
    commit(root, "my file.txt")
    project = Project(root)
    snap = take_snapshot(project, "u1")
    assert set(tree_of(root, snap.commit)) == {
        "my file.txt",
        "données/été ü.txt",
        "with [brackets] and *star*.txt",
        ".runyardignore",
    }
    dest = tmp_path / "dest"
    export_snapshot(project, snap.commit, dest)
    assert (dest / "données" / "été ü.txt").read_text() == "unicode\n"
    write(root / "données" / "été ü.txt", "changed\n")
    diff = diff_snapshots(project, snap.commit)
    assert "données/été ü.txt" in diff
    written = restore_snapshot(project, snap.commit, root, force=True)
    assert written == ["données/été ü.txt"]


def test_unicode_project_sub_folder_with_glob_chars(tmp_path: Path) -> None:
    top = tmp_path / "mono"
    init_repo(top)
    root = top / "my [proj] é"
    write(root / "a.txt", "a\n")
    write(root / "x.tmp", "x\n")
    write(root / ".runyardignore", "*.tmp\n")
    write(top / "b.tmp", "outside\n")
    project = Project(root)
    snap = take_snapshot(project, "g1")
    assert snap.prefix == "my [proj] é"
    assert set(tree_of(top, snap.commit, snap.prefix)) == {"a.txt", ".runyardignore"}
    assert git(top, "cat-file", "-t", f"{snap.commit}:b.tmp", check=False) == ""


def test_refs_lookup_and_delete(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    init_repo(root)
    write(root / "a.txt", "a\n")
    project = Project(root)
    snap = take_snapshot(project, "d1")
    take_snapshot(project, "d2")
    assert list_snapshot_refs(project) == ["refs/runyard/runs/d1", "refs/runyard/runs/d2"]
    delete_snapshot(project, "d1")
    delete_snapshot(project, "d1")  # deleting again is fine
    assert list_snapshot_refs(project) == ["refs/runyard/runs/d2"]
    with pytest.raises(NotFoundError) as info:
        snapshot_commit(project, "d1")
    assert info.value.hint
    # The commit object is still there until git gc prunes it.
    export_snapshot(project, snap.commit, tmp_path / "still")
    with pytest.raises(NotFoundError):
        export_snapshot(project, "0" * 40, tmp_path / "nope")
    with pytest.raises(NotFoundError):
        diff_snapshots(project, snap.commit, "1" * 40)
    for bad in ("../x", "-rf", "a..b", "x.lock", "", "a b"):
        with pytest.raises(UsageError):
            take_snapshot(project, bad)
    with pytest.raises(UsageError):
        export_snapshot(project, "--output=/tmp/x", tmp_path / "nope")


def test_empty_project_folder_in_repo(tmp_path: Path) -> None:
    top = tmp_path / "mono"
    init_repo(top)
    write(top / "x.txt", "x\n")
    root = top / "empty"
    (root / ".runyard" / "state").mkdir(parents=True)
    write(root / ".runyard" / "state" / "db", "state only\n")
    project = Project(root)
    snap = take_snapshot(project, "e1")
    dest = tmp_path / "dest"
    export_snapshot(project, snap.commit, dest)
    assert list(dest.iterdir()) == []
    assert diff_snapshots(project, snap.commit) == ""
    write(root / "new.txt", "n\n")
    assert "new.txt" in diff_snapshots(project, snap.commit)


def test_missing_git_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "proj"
    write(root / "a.txt", "a\n")
    monkeypatch.setenv("PATH", str(tmp_path / "no-bin"))
    with pytest.raises(RunyardError) as info:
        take_snapshot(Project(root), "m1")
    assert "git" in info.value.message
    assert info.value.hint and "install git" in info.value.hint


def test_broken_repository_is_a_clear_error(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    init_repo(root)
    write(root / "a.txt", "a\n")
    commit(root)
    # Corrupt the index: git refuses to read it.
    (root / ".git" / "index").write_bytes(b"DIRC garbage")
    with pytest.raises(RunyardError) as info:
        take_snapshot(Project(root), "b1")
    assert "git" in info.value.message
    assert info.value.hint


def _conflicted_repo(top: Path, path: str) -> None:
    init_repo(top)
    write(top / path, "base\n")
    write(top / "proj" / "train.py", "print(1)\n")
    commit(top, message="base")
    git(top, "checkout", "-qb", "other")
    write(top / path, "theirs\n")
    git(top, "commit", "-qam", "theirs")
    git(top, "checkout", "-q", "main")
    write(top / path, "ours\n")
    git(top, "commit", "-qam", "ours")
    git(top, "merge", "other", check=False)
    assert "U" in git(top, "status", "--porcelain")


def test_merge_conflict_outside_the_project(tmp_path: Path) -> None:
    top = tmp_path / "mono"
    _conflicted_repo(top, "other/x.txt")
    write(top / "proj" / "train.py", "print(2)\n")
    before = repo_state(top)
    snap = take_snapshot(Project(top / "proj"), "m1")
    assert repo_state(top) == before
    assert tree_of(top, snap.commit, "proj") == {"train.py": ("100644", "print(2)\n")}


def test_merge_conflict_inside_the_project(tmp_path: Path) -> None:
    top = tmp_path / "mono"
    _conflicted_repo(top, "proj/x.txt")
    before = repo_state(top)
    snap = take_snapshot(Project(top), "m1")
    assert repo_state(top) == before
    assert "<<<<<<<" in tree_of(top, snap.commit)["proj/x.txt"][1]


def test_project_folder_ignored_by_the_enclosing_repo_uses_a_shadow(tmp_path: Path) -> None:
    top = tmp_path / "home-repo"
    init_repo(top)
    write(top / ".gitignore", "*\n!.gitignore\n")
    commit(top, ".gitignore", message="dotfiles")
    root = top / "work" / "proj"
    write(root / "train.py", "print(1)\n")
    before = repo_state(top)
    snap = take_snapshot(Project(root), "i1")
    after = repo_state(top)
    assert after == before
    assert (root / ".runyard/state/snapshots.git/HEAD").exists()
    assert snap.shadow is True
    assert snap.git_dir == (root / ".runyard" / "state" / "snapshots.git").resolve()
    assert snap.prefix == ""
    assert snapshot_commit(Project(root), "i1") == snap.commit
    dest = tmp_path / "dest"
    export_snapshot(Project(root), snap.commit, dest)
    assert (dest / "train.py").read_text() == "print(1)\n"


def test_linked_worktree(tmp_path: Path) -> None:
    main = tmp_path / "main"
    init_repo(main)
    write(main / "a.txt", "a\n")
    commit(main)
    linked = tmp_path / "linked"
    git(main, "worktree", "add", "-q", "-b", "side", str(linked))
    write(linked / "a.txt", "changed in the linked worktree\n")
    write(linked / "b.txt", "new\n")
    before = repo_state(main)
    linked_index = (main / ".git" / "worktrees" / "linked" / "index").read_bytes()
    snap = take_snapshot(Project(linked), "w1")
    assert repo_state(main) == before
    assert (main / ".git" / "worktrees" / "linked" / "index").read_bytes() == linked_index
    assert snap.git_dir == (main / ".git").resolve()
    files = tree_of(main, snap.commit)
    assert files["a.txt"][1] == "changed in the linked worktree\n"
    assert set(files) == {"a.txt", "b.txt"}
    assert list_snapshot_refs(Project(main)) == ["refs/runyard/runs/w1"]


def test_kept_index_follows_the_users_index_and_untracked_edits(tmp_path: Path) -> None:
    """Snapshots reuse their own index between runs (so untracked files are not
    re-hashed every time); it must still follow what the user tracks and edits."""
    root = tmp_path / "proj"
    init_repo(root)
    write(root / ".gitignore", "*.log\n")
    write(root / "a.py", "a = 1\n")
    commit(root)
    write(root / "data.csv", "x\n1\n")  # untracked, not ignored
    project = Project(root)
    first = tree_of(root, take_snapshot(project, "k1").commit)
    assert set(first) == {".gitignore", "a.py", "data.csv"}
    assert (root / ".runyard/state/snapshot.index").exists()

    write(root / "data.csv", "x\n2\n")  # same size, edited right away
    write(root / "a.py", "a = 2\n")
    second = tree_of(root, take_snapshot(project, "k2").commit)
    assert second["data.csv"][1] == "x\n2\n" and second["a.py"][1] == "a = 2\n"

    write(root / "forced.log", "kept because the user tracks it\n")
    git(root, "add", "-f", "forced.log")  # the user's index changes: re-seeded from it
    (root / "data.csv").unlink()
    third = tree_of(root, take_snapshot(project, "k3").commit)
    assert "forced.log" in third and "data.csv" not in third

    git(root, "rm", "-q", "--cached", "forced.log")  # untracked again, and ignored
    fourth = tree_of(root, take_snapshot(project, "k4").commit)
    assert "forced.log" not in fourth


def test_export_from_a_fresh_snapshot_object(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    init_repo(root)
    write(root / "run.sh", "echo hi\n", mode=0o755)
    write(root / "pkg/m.py", "x = 1\n")
    snap = take_snapshot(Project(root), "e1")
    assert snap.tree
    dest = tmp_path / "out"
    export_snapshot(Project(root), snap, dest)
    assert (dest / "pkg/m.py").read_text() == "x = 1\n"
    assert os.access(dest / "run.sh", os.X_OK)


def _tree_files(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.mark.parametrize(
    "layout", ["repository top", "sub-folder of a repository", "no repository"]
)
def test_a_snapshot_exported_as_it_is_taken_writes_what_a_later_export_writes(
    tmp_path: Path, layout: str
) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    if layout != "no repository":
        git(repo, "init", "-q")
    root = repo / "proj" if layout == "sub-folder of a repository" else repo
    if root != repo:
        write(repo / "outside.txt", "not the project's\n")
    write(root / "train.py", "print('hi')\n")
    write(root / "data" / "rows.csv", "a,b\n1,2\n")
    write(root / "run.sh", "#!/bin/sh\n", mode=0o755)
    if layout != "no repository":
        git(repo, "add", "-A")
        git(repo, "commit", "-qm", "one")
    write(root / "notes.md", "untracked, taken too\n")
    project = Project(root)
    during = tmp_path / "during"
    snap = take_snapshot(project, "r1", export_to=during)
    after = tmp_path / "after"
    export_snapshot(project, snap.commit, after)
    assert _tree_files(during) == _tree_files(after)
    assert {"train.py", "data/rows.csv", "run.sh", "notes.md"} <= set(_tree_files(during))
    assert "outside.txt" not in _tree_files(during)
    assert os.access(during / "run.sh", os.X_OK)
