"""Run snapshots: the exact project tree of each run, committed to `refs/runyard/runs/<run-id>`.

A snapshot holds every file git would see in the project folder (tracked and untracked),
minus what `.gitignore` and `.runyardignore` leave out, and never `.runyard/state/`. It is
built with a *temporary* index, so the user's HEAD, branch, index, stash, config and working
tree are never changed:

1. the temporary index starts as a copy of the user's `.git/index` (mtime kept), so files
   whose stat info did not change are not hashed again;
2. `git add -A` in the project folder, with `core.excludesFile` pointing at a temporary file
   that holds the user's own global excludes plus the `.runyardignore` patterns;
3. tracked files that `.runyardignore` matches are dropped from the temporary index;
4. `write-tree`, `commit-tree` (parent: HEAD when there is one), `update-ref`.

A folder outside any git repository gets a shadow repository: a bare repository at
`.runyard/state/snapshots.git` used with the project folder as its work tree, and its own
persistent index in the state folder (guarded by a lock). A project in a sub-folder of a
bigger repository commits the whole repository tree, but only the project's subtree
(`<commit>:<prefix>`) matters: export, restore and diff look at that subtree only.

Git runs as plain `git` processes (`_run_git`), in English whatever the user's locale:
no Python binding, whose import alone cost every submit 40 to 100 ms.

Shared with a team (`snapshots_remote:` in `.runyard/config.yml`, a git remote's name
or URL): each run's snapshot ref is pushed to the same ref on that remote in the
background once the run has started (`push_in_background`: one detached `git push`, never
on the submit's path), so a teammate's clone can fetch it (`fetch_snapshot`, which restore
and diff call for a snapshot not here). A push that fails is said in the run's log and
left pending (an empty file per run under `.runyard/state/snapshot-push/`); the next
submit's push takes the pending ones along, and `runyard runs push` pushes them at once,
saying why when it cannot.

Restore never writes into the project folder without `force` (the user's working tree);
elsewhere only files that differ need it. Before a snapshot, `untracked_secret_files`
names the files that look like secrets (.env, id_rsa, *.pem, *.key, credentials) that it
would take although git neither tracks nor ignores them, for the faces to warn about.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import shutil
import stat as stat_mod
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from runyard.core.errors import NotFoundError, RunyardError, UsageError
from runyard.core.project import RUNYARD_DIR, Project

RUNS_REF_PREFIX = "refs/runyard/runs/"
RUNYARDIGNORE = ".runyardignore"
SHADOW_DIR_NAME = "snapshots.git"
SHADOW_INDEX_NAME = "snapshots.index"
SHADOW_LOCK_NAME = "snapshots.lock"
KEPT_INDEX_NAME = "snapshot.index"  # our index for the user's repository, between snapshots

_IDENTITY = {
    "GIT_AUTHOR_NAME": "Runyard",
    "GIT_AUTHOR_EMAIL": "runyard@localhost",
    "GIT_COMMITTER_NAME": "Runyard",
    "GIT_COMMITTER_EMAIL": "runyard@localhost",
}

# Passed to every git command: no auto-gc in the user's repository, a plain (not split) temporary
# index, file names as they are (not octal-quoted), and no advice noise about nested repositories.
_GIT_CONFIG = (
    "-c",
    "gc.auto=0",
    "-c",
    "core.splitIndex=false",
    "-c",
    "core.quotePath=false",
    "-c",
    "advice.addEmbeddedRepo=false",
)

_RUN_ID_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]*$")
_REV_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._/~^@{}-]*$")
_GLOB_SPECIALS = re.compile(r"([\\*?\[])")


@dataclass(frozen=True)
class Snapshot:
    """One run's snapshot: the commit, its ref, and where it lives."""

    commit: str
    ref: str
    git_dir: Path
    prefix: str  # project path relative to the repository's work tree root, POSIX, '' if same
    shadow: bool
    tree: str = ""  # the project folder's tree id, when known (exports skip a look-up)


def _listed(paths: Sequence[str], most: int = 20) -> str:
    """The first `most` paths, a line each, and how many more there are."""
    shown = "\n".join(f"  {p}" for p in paths[:most])
    more = f"\n  ... and {len(paths) - most} more" if len(paths) > most else ""
    return shown + more


class RestoreConflict(UsageError):
    """Restoring would overwrite files in the destination that hold different content."""

    def __init__(self, paths: Sequence[str], dest: Path) -> None:
        self.paths = list(paths)
        listed = _listed(self.paths)
        super().__init__(
            f"Restoring into {dest} would overwrite {len(self.paths)} file(s) that differ "
            f"from the snapshot:\n{listed}",
            hint="use --force to overwrite them, or --to DIR to restore into another folder",
        )


class RestoreIntoProject(UsageError):
    """A restore into the project folder without force would write files (nothing was)."""

    def __init__(self, paths: Sequence[str], dest: Path) -> None:
        self.paths = list(paths)
        listed = _listed(self.paths)
        super().__init__(
            f"Restoring into {dest}, inside the project, would write {len(self.paths)} "
            f"file(s); nothing was written:\n{listed}",
            hint="use --force to write them into the project, or --to DIR with a folder "
            "outside the project",
        )


# --------------------------------------------------------------------------------------------
# Where the snapshots of a project live


@dataclass(frozen=True)
class _Where:
    """A repository that holds (or will hold) a project's snapshots."""

    cwd: Path  # where git runs (the work tree folder)
    git_dir: Path  # GIT_DIR for commands (a linked worktree's own folder where there is one)
    common_dir: Path  # where refs and objects live
    work_tree: Path
    prefix: str
    shadow: bool
    index: Path  # the user's index (copied, never written) or the shadow's own index


def _git_missing() -> RunyardError:
    return RunyardError(
        "git was not found: Runyard needs the `git` program to snapshot runs.",
        hint="install git (https://git-scm.com/downloads) and make sure `git --version` works",
    )


# Variables that would point git somewhere else than the folder it is asked about.
_DISCOVERY_UNSET = (
    "GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_COMMON_DIR", "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_NAMESPACE", "GIT_PREFIX",
)  # fmt: skip


def _rev_parse(root: Path, *args: str) -> tuple[int, list[str], str]:
    env = {k: v for k, v in os.environ.items() if k not in _DISCOVERY_UNSET}
    status, out, err = _run_git(root, ["rev-parse", *args], env)
    return status, out.splitlines(), err


def _top_of_plain_repository(root: Path) -> tuple[Path, Path, Path] | None:
    """`_repository_of(root)` without a git process, in the common case only: `root` is
    the top of a repository whose `.git` is a folder (not a linked worktree's or a
    submodule's file) of this user's, as `root` is, with HEAD and objects, and whose
    config sets no `bare` or `worktree` (which move the work tree). None otherwise:
    rev-parse is asked."""
    dot_git = root / ".git"
    uid = os.getuid()
    try:
        st = os.lstat(dot_git)
        if not stat_mod.S_ISDIR(st.st_mode) or st.st_uid != uid or os.stat(root).st_uid != uid:
            return None
        if not (dot_git / "HEAD").is_file() or not (dot_git / "objects").is_dir():
            return None
        config = (dot_git / "config").read_bytes().lower()
    except OSError:
        return None
    if _BARE.search(config) or b"worktree" in config or (dot_git / "commondir").exists():
        return None
    return root, dot_git, dot_git


_BARE = re.compile(rb"^\s*bare\s*(=\s*(true|yes|on|1)\s*)?$", re.MULTILINE)  # (not `= false`)


def _repository_of(root: Path) -> tuple[Path, Path, Path] | None:
    """(work tree, git dir, common dir) of the repository `root` is in; None when it is
    in none or in a bare one. A repository git cannot use is an error."""
    plain = _top_of_plain_repository(root)
    if plain is not None:
        return plain
    # One process in the common case (a work tree); a bare repository, a folder inside
    # a .git folder or no repository at all fail the work-tree question and are told
    # apart by the two questions below.
    status, out, err = _rev_parse(
        root, "--is-bare-repository", "--absolute-git-dir", "--show-toplevel", "--git-common-dir"
    )
    if status == 0 and len(out) == 4 and out[0] == "false" and out[2]:
        return _found(root, out[1], out[2], out[3])
    if status != 0 and "not a git repository" in err:
        return None
    status, out, err = _rev_parse(root, "--is-bare-repository", "--absolute-git-dir")
    if status != 0:
        if "not a git repository" in err:
            return None
        raise _broken_repo(root, err)
    if len(out) != 2:
        raise _broken_repo(root, f"git rev-parse answered {out!r}")
    if out[0] == "true":
        return None
    status, more, err = _rev_parse(root, "--show-toplevel", "--git-common-dir")
    if status != 0 or len(more) != 2 or not more[0]:
        if "must be run in a work tree" in err:
            return None  # a folder inside a .git folder, say
        raise _broken_repo(root, err or f"git rev-parse answered {more!r}")
    return _found(root, out[1], more[0], more[1])


def _found(root: Path, git_dir: str, top: str, common: str) -> tuple[Path, Path, Path]:
    """(work tree, git dir, common dir) from rev-parse's answers (the common dir is
    relative to `root` when relative)."""
    return (
        Path(os.path.realpath(top)),
        Path(os.path.realpath(git_dir)),
        Path(os.path.realpath(root / common)),
    )


def _primary(project: Project) -> _Where:
    """The enclosing git repository of the project, or its shadow repository."""
    if shutil.which("git") is None:
        raise _git_missing()
    root = Path(os.path.realpath(project.root))
    if not root.is_dir():
        raise UsageError(f"The project folder {project.root} does not exist.")
    found = _repository_of(root)
    if found is None:
        return _shadow(project)
    work_tree, git_dir, common_dir = found
    rel = os.path.relpath(root, work_tree)
    prefix = "" if rel == "." else Path(rel).as_posix()
    if prefix.startswith(".."):  # cannot happen for a parent search, but never write outside
        return _shadow(project)
    where = _Where(
        cwd=work_tree,
        git_dir=git_dir,
        common_dir=common_dir,
        work_tree=work_tree,
        prefix=prefix,
        shadow=False,
        index=git_dir / "index",
    )
    # (check-ignore refuses literal pathspecs; it takes its arguments as plain paths anyway.)
    if prefix and _git_try(where, ["check-ignore", "-q", "--", prefix], literal=False)[0] == 0:
        # The enclosing repository ignores the project folder (a home-folder dotfiles
        # repository with `*` in its .gitignore, say): it is not part of that repository.
        return _shadow(project)
    return where


def _shadow(project: Project) -> _Where:
    root = Path(os.path.realpath(project.root))
    state = root / RUNYARD_DIR / "state"
    git_dir = state / SHADOW_DIR_NAME
    return _Where(
        cwd=root,
        git_dir=git_dir,
        common_dir=git_dir,
        work_tree=root,
        prefix="",
        shadow=True,
        index=state / SHADOW_INDEX_NAME,
    )


def _locations(project: Project) -> list[_Where]:
    """Where existing snapshots may be: the primary repository, then an old shadow one."""
    first = _primary(project)
    places = [first] if (first.common_dir / "HEAD").exists() or not first.shadow else []
    if not first.shadow:
        shadow = _shadow(project)
        if (shadow.git_dir / "HEAD").exists():
            places.append(shadow)
    return places


def _broken_repo(where: Path, detail: str) -> RunyardError:
    return RunyardError(
        f"The git repository at {where} could not be used: {detail.strip()}",
        hint="check it with `git status` and `git fsck`; fix or remove the broken repository",
    )


# --------------------------------------------------------------------------------------------
# Running git


def _env(where: _Where, index: Path | None, literal: bool) -> dict[str, str]:
    env = {
        "GIT_DIR": str(where.git_dir),
        "GIT_WORK_TREE": str(where.work_tree),
        "GIT_INDEX_FILE": str(index or where.index),
        # Paths are paths, never globs (a folder may be called `[draft]`).
        "GIT_LITERAL_PATHSPECS": "1" if literal else "0",
        "GIT_TERMINAL_PROMPT": "0",
    }
    env.update(_IDENTITY)
    return env


def _run_git(
    cwd: Path, args: Sequence[str], env: dict[str, str], stdin: bytes | None = None
) -> tuple[int, str, str]:
    """Run `git ARGS` in `cwd` with `env` (in English, whatever the user's locale);
    (status, stdout, stderr less its last newline). File names that are not UTF-8 come
    through as surrogate escapes, as `os.fsdecode` gives them."""
    try:
        proc = subprocess.run(
            ["git", *args],
            cwd=cwd,
            env={**env, "LANGUAGE": "C", "LC_ALL": "C"},
            input=stdin,
            stdin=None if stdin is not None else subprocess.DEVNULL,
            capture_output=True,
            check=False,
        )
    except FileNotFoundError as exc:
        raise _git_missing() from exc
    err = proc.stderr.decode("utf-8", "surrogateescape").removesuffix("\n")
    return proc.returncode, proc.stdout.decode("utf-8", "surrogateescape"), err


def _git_try(
    where: _Where,
    args: Sequence[str],
    *,
    index: Path | None = None,
    literal: bool = True,
) -> tuple[int, str, str]:
    """Run git; return (status, stdout, stderr) without raising on a non-zero status."""
    env = {**os.environ, **_env(where, index, literal)}
    return _run_git(where.cwd, [*_GIT_CONFIG, *args], env)


def _git(
    where: _Where,
    args: Sequence[str],
    *,
    index: Path | None = None,
) -> str:
    """Run git and return its stdout; a failure becomes a RunyardError with git's message."""
    status, out, err = _git_try(where, args, index=index)
    if status != 0:
        detail = err.strip() or out.strip() or f"exit status {status}"
        if index is not None and index != where.index:  # name the user's index, not our copy
            detail = detail.replace(str(index), str(where.index))
        raise RunyardError(
            f"git {_subcommand(args)} failed in {where.work_tree}: {detail}",
            hint="check the repository with `git status` and `git fsck`",
        )
    return out


def _subcommand(args: Sequence[str]) -> str:
    rest = list(args)
    while len(rest) > 2 and rest[0] == "-c":
        rest = rest[2:]
    return rest[0] if rest else "command"


def _verify_commit(where: _Where, rev: str) -> str | None:
    status, out, _ = _git_try(where, ["rev-parse", "-q", "--verify", f"{rev}^{{commit}}"])
    return out.strip() if status == 0 and out.strip() else None


def _check_run_id(run_id: str) -> None:
    if (
        not _RUN_ID_RE.match(run_id)
        or ".." in run_id
        or run_id.endswith(".lock")
        or run_id.endswith(".")
    ):
        raise UsageError(
            f"{run_id!r} is not a valid run id for a snapshot ref.",
            hint="run ids use letters, digits, '.', '_' and '-'",
        )


def _check_rev(rev: str) -> None:
    if not rev or not _REV_RE.match(rev) or ".." in rev:
        raise UsageError(f"{rev!r} is not a commit id.", hint="pass a full or short commit id")


def _find_commit(project: Project, rev: str) -> tuple[_Where, str]:
    """The repository holding `rev` and its full commit id."""
    _check_rev(rev)
    for where in _locations(project):
        sha = _verify_commit(where, rev)
        if sha:
            return where, sha
    raise NotFoundError(
        f"Snapshot commit {rev} was not found in the project's repository.",
        hint="check the commit id; a deleted run's snapshot may have been pruned by git gc",
    )


# --------------------------------------------------------------------------------------------
# Ignore rules


def _escape_glob(text: str) -> str:
    return _GLOB_SPECIALS.sub(r"\\\1", text)


def _anchor_pattern(line: str, prefix: str) -> tuple[str, str] | None:
    """A `.runyardignore` line as patterns relative to the work tree root (None: skip it).

    Returns two equivalent forms: one for `git add` (the pattern itself, anchored below the
    project prefix) and one for matching tracked files with `ls-files -ci`, where a
    folder-only pattern `dir/` becomes `dir/**`: same result for files, but without the
    lstat git does on every index entry for folder-only patterns.
    """
    line = line.rstrip("\r")
    while line.endswith(" ") and not line.endswith("\\ "):  # git drops unescaped trailing spaces
        line = line[:-1]
    if not line or line.startswith("#"):
        return None
    neg = "!" if line.startswith("!") else ""
    body = line[1:] if neg else line
    dir_only = body.endswith("/")
    inner = body[:-1] if dir_only else body
    if not inner:
        return None
    base = "/" + _escape_glob(prefix) if prefix else ""
    if "/" in inner:  # a slash before the end anchors the pattern to the project root
        path = f"{base}/{inner.lstrip('/')}"
        path_tracked = path
    else:  # otherwise it matches at any depth below the project root
        path = f"{base}/**/{inner}" if prefix else inner
        path_tracked = f"{base}/**/{inner}"
    for_add = neg + path + ("/" if dir_only else "")
    for_tracked = neg + path_tracked + ("/**" if dir_only else "")
    return for_add, for_tracked


def _runyard_patterns(where: _Where, project_root: Path) -> tuple[str, str]:
    """`.runyardignore` plus `.runyard/state`, as patterns relative to the work tree root.

    Returns the patterns for `git add` and those for finding tracked files to leave out.
    """
    for_add: list[str] = []
    for_tracked: list[str] = []
    ignore_file = project_root / RUNYARDIGNORE
    with contextlib.suppress(FileNotFoundError, IsADirectoryError, NotADirectoryError):
        text = ignore_file.read_bytes().decode("utf-8", "surrogateescape")
        for raw in text.split("\n"):
            patterns = _anchor_pattern(raw, where.prefix)
            if patterns is not None:
                for_add.append(patterns[0])
                for_tracked.append(patterns[1])
    # Last, so that no negation in .runyardignore can bring the state folder back.
    base = "/" + _escape_glob(where.prefix) if where.prefix else ""
    for_add.append(f"{base}/{RUNYARD_DIR}/state")
    for_tracked.append(f"{base}/{RUNYARD_DIR}/state")
    return "\n".join(for_add) + "\n", "\n".join(for_tracked) + "\n"


# The settings a submission reads once (`Survey.settings`): the user's excludes file,
# which ours replaces, and the identity the run is recorded with.
_SETTINGS = r"^(core\.excludesfile|user\.(name|email))$"


def _settings(where: _Where) -> dict[str, str]:
    """git's `_SETTINGS` as seen in `where` (lower-case keys; the last value wins, as in git)."""
    _, out, _ = _git_try(where, ["config", "--get-regexp", _SETTINGS])
    found: dict[str, str] = {}
    for line in out.splitlines():
        key, _, value = line.partition(" ")
        if value.strip():
            found[key.lower()] = value.strip()
    return found


def _global_excludes(where: _Where, settings: dict[str, str] | None = None) -> bytes:
    """The user's own global excludes file, which our core.excludesFile replaces (from
    `settings` when they were read already)."""
    value: str | None
    if settings is None:
        status, out, _ = _git_try(where, ["config", "--path", "--get", "core.excludesFile"])
        value = out.strip() if status == 0 else None
    else:
        value = settings.get("core.excludesfile")
        if value is not None and value.startswith("~"):
            value = os.path.expanduser(value)  # what `git config --path` does
    path: Path | None = None
    if value:
        path = Path(value)
        if not path.is_absolute():
            path = where.work_tree / path
    else:
        xdg = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
        path = Path(xdg) / "git" / "ignore"
    try:
        data = path.read_bytes()
    except OSError:
        return b""
    return data if data.endswith(b"\n") or not data else data + b"\n"


# --------------------------------------------------------------------------------------------
# Building the tree


@contextlib.contextmanager
def _shadow_lock(where: _Where) -> Iterator[None]:
    state = where.git_dir.parent
    state.mkdir(parents=True, exist_ok=True)
    with open(state / SHADOW_LOCK_NAME, "a+b") as handle:
        if sys.platform != "win32":
            import fcntl

            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        else:  # pragma: no cover - no flock on Windows
            yield


def _ensure_shadow(where: _Where) -> None:
    if (where.git_dir / "HEAD").exists():
        return
    where.git_dir.parent.mkdir(parents=True, exist_ok=True)
    _git_try_init(where)


def _git_try_init(where: _Where) -> None:
    init = ["init", "-q", "--bare", "--template=", str(where.git_dir)]
    status, _, err = _run_git(where.work_tree, init, dict(os.environ))
    if status != 0:
        raise RunyardError(
            f"Could not create the snapshot repository {where.git_dir}: {str(err).strip()}",
            hint="check that the project's .runyard/state folder is writable",
        )


def _build_tree(project: Project, where: _Where, tmp: Path, survey: Survey | None = None) -> str:
    """Stage the project folder into a temporary (or the shadow) index; return the tree id."""
    if where.shadow:
        index = where.index
        # We hold the shadow lock, so a leftover index.lock is from a killed snapshot.
        with contextlib.suppress(FileNotFoundError):
            Path(f"{index}.lock").unlink()
    for_add, for_tracked = _runyard_patterns(where, Path(os.path.realpath(project.root)))
    fresh = False  # the kept index, built by the last snapshot with the same patterns
    if not where.shadow:
        index = tmp / "index"
        fresh = _seed_index(project, where, index, for_tracked)
    runyard_file = tmp / "runyardignore"
    runyard_file.write_bytes(for_tracked.encode("utf-8", "surrogateescape"))
    excludes_file = tmp / "excludes"
    settings = survey.settings() if survey is not None else None
    excludes_file.write_bytes(
        _global_excludes(where, settings) + for_add.encode("utf-8", "surrogateescape")
    )
    pathspec = where.prefix or "."

    _git(
        where,
        ["-c", f"core.excludesFile={excludes_file}", "add", "-A", "--", pathspec],
        index=index,
    )
    # Tracked files matched by .runyardignore (or inside .runyard/state/) stay in the index
    # after `git add -A`: drop them from the snapshot's index. A fresh kept index has
    # none: the last snapshot dropped them with the same patterns, the user's index has
    # not changed since, and `git add -A` adds no file those patterns match.
    if not fresh:
        out = _git(
            where,
            ["ls-files", "-z", "-c", "-i", f"--exclude-from={runyard_file}", "--", pathspec],
            index=index,
        )
        _drop_from_index(where, index, {p for p in out.split("\0") if p}, tmp / "dropped")
    status, tree, err = _git_try(where, ["write-tree"], index=index)
    if status != 0 and where.prefix:
        # Unmerged entries outside the project (a merge in progress elsewhere in the
        # repository) stop write-tree; they do not matter to the snapshot, so drop them.
        unmerged = _git(where, ["ls-files", "-z", "-u"], index=index)
        outside = sorted(
            {
                line.split("\t", 1)[1]
                for line in unmerged.split("\0")
                if "\t" in line and not _under_prefix(line.split("\t", 1)[1], where.prefix)
            }
        )
        if outside:
            _drop_from_index(where, index, set(outside), tmp / "unmerged")
            status, tree, err = _git_try(where, ["write-tree"], index=index)
    if status != 0:
        raise RunyardError(
            f"Could not snapshot {project.root}: git write-tree failed: {err.strip()}",
            hint="check the repository with `git status`; resolve any merge conflict first",
        )
    if not where.shadow:
        _keep_index(project, where, index, for_tracked)
    return tree.strip()


def _seed_index(project: Project, where: _Where, index: Path, patterns: str) -> bool:
    """Start the temporary index from our own copy kept from the last snapshot, so files
    git does not track (data the user has not ignored) are hashed once, not on every
    run; re-seed it from the user's index whenever that one changed, so what the user
    tracks stays exactly what the snapshot captures. Copies keep their mtime, which
    git's racy-clean checks rely on. True when the kept copy was used and was built
    with the same `.runyardignore` `patterns` (for tracked files) as now."""
    kept = project.state_dir / KEPT_INDEX_NAME
    try:
        stamp, _, kept_patterns = kept.with_suffix(".src").read_text().partition("\n")
    except (OSError, UnicodeDecodeError):
        stamp = kept_patterns = ""
    if stamp and stamp == _index_stamp(where):
        try:
            shutil.copy2(kept, index)
        except FileNotFoundError:
            pass
        else:
            return kept_patterns == patterns
    if where.index.exists():
        shutil.copy2(where.index, index)
    return False


def _index_stamp(where: _Where) -> str:
    try:
        st = where.index.stat()
    except OSError:
        return f"{where.index} none"
    return f"{where.index} {st.st_mtime_ns} {st.st_size} {st.st_ino}"


def _keep_index(project: Project, where: _Where, index: Path, patterns: str) -> None:
    """Keep the index a snapshot built for the next one (best effort, atomic), with the
    user's index it started from and the `patterns` it was built with."""
    kept = project.state_dir / KEPT_INDEX_NAME
    src = kept.with_suffix(".src")
    try:
        kept.parent.mkdir(parents=True, exist_ok=True)
        src.unlink(missing_ok=True)  # (a stamp never describes another index)
        tmp = kept.with_name(f"{KEPT_INDEX_NAME}.{os.getpid()}.tmp")
        shutil.copy2(index, tmp)
        os.replace(tmp, kept)
        tmp_src = src.with_name(f"{src.name}.{os.getpid()}.tmp")
        tmp_src.write_text(f"{_index_stamp(where)}\n{patterns}")
        os.replace(tmp_src, src)
    except OSError:
        pass  # only a cache: the next snapshot re-seeds from the user's index


def _drop_from_index(where: _Where, index: Path, paths: set[str], spec_file: Path) -> None:
    """Remove `paths` from our index (never the user's), whatever their staged state."""
    if not paths:
        return
    spec_file.write_bytes(
        b"\0".join(p.encode("utf-8", "surrogateescape") for p in sorted(paths)) + b"\0"
    )
    _git(
        where,
        [
            "rm",
            "--cached",
            "--force",  # staged content may differ from HEAD: it is our index, fine
            "-q",
            "--ignore-unmatch",
            f"--pathspec-from-file={spec_file}",
            "--pathspec-file-nul",
        ],
        index=index,
    )


def _under_prefix(path: str, prefix: str) -> bool:
    return not prefix or path == prefix or path.startswith(prefix + "/")


@contextlib.contextmanager
def _tree_of_working_folder(
    project: Project, where: _Where, survey: Survey | None = None
) -> Iterator[str]:
    """Yield the tree id of the project folder as a snapshot would capture it now."""
    tmp = Path(tempfile.mkdtemp(prefix="runyard-snapshot-"))
    try:
        if where.shadow:
            with _shadow_lock(where):
                _ensure_shadow(where)
                yield _build_tree(project, where, tmp, survey)
        else:
            yield _build_tree(project, where, tmp, survey)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# --------------------------------------------------------------------------------------------
# Public API


class Survey:
    """What a submission asks git once and uses for its secrets check, its snapshot and
    the run's identity: where the snapshot goes (`_primary`) and git's settings there
    (`core.excludesFile`, `user.name`, `user.email`, read by one `git config` when first
    needed). Good for one submission, not longer: settings change."""

    def __init__(self, project: Project) -> None:
        self.root = os.path.realpath(project.root)
        self.where = _primary(project)
        self._settings: dict[str, str] | None = None

    def settings(self) -> dict[str, str]:
        if self._settings is None:
            self._settings = _settings(self.where)
        return self._settings

    def user(self) -> tuple[str | None, str | None] | None:
        """(user.name, user.email) as `git config` in the project folder answers them,
        once the settings were read (None before, and for a shadow repository, whose
        settings are not the folder's)."""
        if self.where.shadow or self._settings is None:
            return None
        return self._settings.get("user.name"), self._settings.get("user.email")


def _survey_of(project: Project, survey: Survey | None) -> Survey:
    if survey is not None and survey.root == os.path.realpath(project.root):
        return survey
    return Survey(project)


def take_snapshot(
    project: Project,
    run_id: str,
    survey: Survey | None = None,
    ref: bool = True,
    export_to: Path | None = None,
) -> Snapshot:
    """Commit the project folder as it is now to `refs/runyard/runs/<run_id>` (with what
    `survey`, taken for this submission, already knows). `ref=False` leaves the ref to
    `make_ref`, once the run has gone: the commit is written, and kept by git until it
    is pruned (two weeks, by default), so the run's start need not wait for it.
    `export_to`: the snapshot's tree is also written into that folder (`export_snapshot`),
    as the commit is made, by a git process of its own beside it."""
    _check_run_id(run_id)
    survey = _survey_of(project, survey)
    where = survey.where
    name = RUNS_REF_PREFIX + run_id
    exporting: threading.Thread | None = None
    failed: list[BaseException] = []
    with _tree_of_working_folder(project, where, survey) as tree:
        if export_to is not None and not where.prefix:
            early = Snapshot(commit="", ref=name, git_dir=where.common_dir, prefix="",
                             shadow=where.shadow, tree=tree)  # fmt: skip
            exporting = threading.Thread(
                target=_export_into, args=(project, early, export_to, failed), daemon=True
            )
            exporting.start()
        try:
            args = ["commit-tree", "--no-gpg-sign", tree, "-m", f"runyard run {run_id}"]
            commit = _git(where, args).strip() if where.shadow else _commit_on_head(where, args)
            if ref:
                _git(where, ["update-ref", "-m", f"runyard run {run_id}", name, commit])
        finally:
            if exporting is not None:
                exporting.join()
    if failed:
        raise failed[0]
    snap = Snapshot(
        commit=commit,
        ref=name,
        git_dir=where.common_dir,
        prefix=where.prefix,
        shadow=where.shadow,
        tree=tree if not where.prefix else "",
    )
    if export_to is not None and exporting is None:
        export_snapshot(project, snap, export_to)
    return snap


def _export_into(project: Project, snap: Snapshot, dest: Path, failed: list[BaseException]) -> None:
    try:
        export_snapshot(project, snap, dest)
    except BaseException as exc:  # (raised on the caller's thread)
        failed.append(exc)


def make_ref(project: Project, snap: Snapshot, run_id: str) -> None:
    """Point the ref of `snap` (from `take_snapshot(ref=False)`) at its commit."""
    where = _where_of(project, snap)
    _git(where, ["update-ref", "-m", f"runyard run {run_id}", snap.ref, snap.commit])


def _where_of(project: Project, snap: Snapshot) -> _Where:
    """The repository `snap` lives in, for commands that need neither a work tree's
    index nor a linked worktree's own folder (its refs and objects are shared)."""
    root = Path(os.path.realpath(project.root))
    return _Where(
        cwd=root,
        git_dir=snap.git_dir,
        common_dir=snap.git_dir,
        work_tree=root,
        prefix=snap.prefix,
        shadow=snap.shadow,
        index=snap.git_dir / "index",  # never used: no command here reads an index
    )


def _commit_on_head(where: _Where, args: list[str]) -> str:
    """`git commit-tree ARGS` with HEAD as its parent (named, so that git resolves it in
    the same process), or none when HEAD has no commit yet (a new repository)."""
    status, out, _ = _git_try(where, [*args, "-p", "HEAD"])
    if status == 0 and out.strip():
        return out.strip()
    parent = _verify_commit(where, "HEAD")
    return _git(where, [*args, "-p", parent] if parent else args).strip()


def reuse_snapshot(project: Project, run_id: str, commit: str) -> Snapshot:
    """Point `refs/runyard/runs/<run_id>` at an earlier run's snapshot `commit`: a rerun
    runs exactly the code its original ran, whatever the working folder holds now, and
    its snapshot survives the original's deletion."""
    _check_run_id(run_id)
    where, sha = _find_commit(project, commit)
    ref = RUNS_REF_PREFIX + run_id
    _git(where, ["update-ref", "-m", f"runyard run {run_id} (rerun of {sha[:12]})", ref, sha])
    return Snapshot(
        commit=sha, ref=ref, git_dir=where.common_dir, prefix=where.prefix, shadow=where.shadow
    )


# Names of files that usually hold secrets (matched on the file name, case-insensitive):
# dotenv files, SSH private keys, keys and certificates, cloud and package-index
# credentials. Example/template dotenv files are not secrets.
_SECRET_NAME = r"""^(?:
        \.env(?:\.(?!example$|sample$|template$|dist$)[^/]+)? | [^/]+\.env
      | id_(?:rsa|dsa|ecdsa|ed25519)(?:_sk)? | [^/]*\.(?:pem|key|p12|pfx|jks|keystore|ppk)
      | credentials(?:\.(?:json|ya?ml|ini|csv))? | [^/]*[-_]credentials\.json
      | client_secrets?[^/]*\.json | service[-_]account[^/]*\.json
      | \.netrc | \.pgpass | \.pypirc | \.git-credentials | \.htpasswd
      | secrets?\.(?:json|ya?ml|toml|env)
    )$"""


@functools.cache
def _secret_name() -> re.Pattern[str]:
    """`_SECRET_NAME` compiled, once it is needed (compiling it costs every import)."""
    return re.compile(_SECRET_NAME, re.IGNORECASE | re.VERBOSE)


def untracked_secret_files(project: Project, survey: Survey | None = None) -> list[str]:
    """Files a snapshot of the project would take now that look like secrets (a `.env`,
    `id_rsa`, `*.pem`, `*.key`, a credentials file: `_SECRET_NAME`) and that git does
    not track: neither ignored (`.gitignore`, `.runyardignore`) nor committed, so most
    likely there by accident. Paths relative to the project, sorted. In a folder outside
    git every file counts as untracked. Nothing is written in the project or the user's
    index (`ls-files --others` only reads). `survey` is what the submission knows already."""
    survey = _survey_of(project, survey)
    where = survey.where
    tmp = Path(tempfile.mkdtemp(prefix="runyard-secrets-"))
    try:
        if where.shadow:
            if not (where.git_dir / "HEAD").exists():
                with _shadow_lock(where):
                    _ensure_shadow(where)
            index: Path | None = tmp / "index"  # empty: nothing is tracked by the user
        else:
            index = None  # the user's own index, only read
        for_add, _ = _runyard_patterns(where, Path(os.path.realpath(project.root)))
        excludes = tmp / "excludes"
        excludes.write_bytes(
            _global_excludes(where, survey.settings()) + for_add.encode("utf-8", "surrogateescape")
        )
        out = _git(
            where,
            [
                "-c",
                f"core.excludesFile={excludes}",
                "ls-files",
                "-z",
                "--others",
                "--exclude-standard",
                "--",
                where.prefix or ".",
            ],
            index=index,
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    found: list[str] = []
    for path in out.split("\0"):
        if path and _secret_name().match(path.rsplit("/", 1)[-1]):
            found.append(path[len(where.prefix) + 1 :] if where.prefix else path)
    return sorted(found)


def snapshot_commit(project: Project, run_id: str) -> str:
    """The commit of run `run_id`'s snapshot."""
    _check_run_id(run_id)
    ref = RUNS_REF_PREFIX + run_id
    for where in _locations(project):
        sha = _verify_commit(where, ref)
        if sha:
            return sha
    raise NotFoundError(
        f"Run {run_id} has no snapshot ({ref} does not exist).",
        hint="check the run id; the run may have been taken without a snapshot, or deleted",
    )


def delete_snapshot(project: Project, run_id: str) -> None:
    """Delete run `run_id`'s snapshot ref (nothing happens when there is none)."""
    _check_run_id(run_id)
    ref = RUNS_REF_PREFIX + run_id
    for where in _locations(project):
        if _verify_commit(where, ref):
            _git(where, ["update-ref", "-d", ref])
    with contextlib.suppress(OSError):
        os.unlink(_pending_dir(project) / run_id)


# --------------------------------------------------------------------------------------------
# Sharing with a team: pushing snapshots to, and fetching them from, a remote

PUSH_PENDING_DIR = "snapshot-push"  # under the state folder: a file per run to push

# Appends to each run's log when a background push fails; the markers of a push that
# worked are removed. Run ids are checked (`_check_run_id`): plain words for the shell;
# the remote comes after `--`, so a setting that looks like an option stays a remote.
_PUSH_SCRIPT = r"""
remote=$1 gitdir=$2 pending=$3 runs=$4
shift 4
specs=""
for id in "$@"; do specs="$specs refs/runyard/runs/$id:refs/runyard/runs/$id"; done
if out=$(git --git-dir="$gitdir" -c gc.auto=0 push --quiet --no-verify -- "$remote" $specs 2>&1)
then
  for id in "$@"; do rm -f "$pending/$id"; done
else
  msg=$(printf '%s' "$out" | tr '\n' ' ')
  for id in "$@"; do
    if [ -d "$runs/$id" ]; then
      printf '[runyard] the snapshot was not pushed to %s; it is pushed again with the next run, or run `runyard runs push`: %s\n' "$remote" "$msg" >> "$runs/$id/run.log"
    fi
  done
fi
"""

# Never ask for a password or a host key on a terminal nobody watches.
_NO_PROMPT = {"GIT_TERMINAL_PROMPT": "0"}


def _pending_dir(project: Project) -> Path:
    return project.state_dir / PUSH_PENDING_DIR


def pending_pushes(project: Project) -> list[str]:
    """The runs whose snapshots wait to be pushed (their folders still here), sorted;
    markers of runs deleted meanwhile are dropped."""
    folder = _pending_dir(project)
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    found = []
    for name in names:
        if _RUN_ID_RE.match(name) and project.run_dir(name).is_dir():
            found.append(name)
        else:
            with contextlib.suppress(OSError):
                os.unlink(folder / name)
    return sorted(found)


def push_in_background(project: Project, snap: Snapshot, run_id: str, remote: str) -> None:
    """Start one detached `git push` of run `run_id`'s snapshot (and of those still
    pending) to `remote`, and return at once (see the module docstring). Its failure is
    written to each run's log by the push itself; nothing here raises for it."""
    _check_run_id(run_id)
    folder = _pending_dir(project)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / run_id).touch()
    except OSError:
        return  # (the push below still goes; only its retry would be lost)
    ids = sorted({run_id, *pending_pushes(project)})
    with contextlib.suppress(OSError):
        subprocess.Popen(
            [
                "sh",
                "-c",
                _PUSH_SCRIPT,
                "sh",
                remote,
                str(snap.git_dir),
                str(folder),
                str(project.runs_dir),
                *ids,
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            env={**os.environ, **_NO_PROMPT, "LANGUAGE": "C", "LC_ALL": "C"},
            close_fds=True,
        )


def push_snapshots(project: Project, remote: str, run_ids: Sequence[str]) -> list[str]:
    """Push the snapshots of `run_ids` to `remote` now, and clear their pending marks;
    the ids pushed. RunyardError with git's message when the push fails."""
    for run_id in run_ids:
        _check_run_id(run_id)
    by_place: dict[_Where, list[str]] = {}
    for run_id in run_ids:
        for where in _locations(project):
            if _verify_commit(where, RUNS_REF_PREFIX + run_id):
                by_place.setdefault(where, []).append(run_id)
                break
    pushed: list[str] = []
    for where, ids in by_place.items():
        specs = [f"{RUNS_REF_PREFIX}{i}:{RUNS_REF_PREFIX}{i}" for i in ids]
        env = {**os.environ, **_env(where, None, True), **_NO_PROMPT}
        status, out, err = _run_git(
            where.cwd, [*_GIT_CONFIG, "push", "--quiet", "--no-verify", "--", remote, *specs], env
        )
        if status != 0:
            raise RunyardError(
                f"Pushing {len(ids)} run snapshot(s) to the remote {remote!r} failed: "
                f"{err.strip() or out.strip() or f'exit status {status}'}",
                hint=f"check that `git push {remote}` works from {where.work_tree} "
                "(the remote is `snapshots_remote` in .runyard/config.yml)",
            )
        pushed.extend(ids)
    for run_id in run_ids:  # (pushed, or with no snapshot here to push: nothing pending)
        with contextlib.suppress(OSError):
            os.unlink(_pending_dir(project) / run_id)
    return pushed


def has_commit(project: Project, commit: str) -> bool:
    """Whether the commit `commit` is in one of the project's repositories."""
    _check_rev(commit)
    return any(_verify_commit(where, commit) for where in _locations(project))


def fetch_snapshot(project: Project, run_id: str, commit: str, remote: str | None) -> bool:
    """Make run `run_id`'s snapshot `commit` local: nothing when it is here already (False),
    else fetch `refs/runyard/runs/<run_id>` from `remote` (True). NotFoundError naming the
    remote and the fix when it cannot."""
    _check_run_id(run_id)
    if has_commit(project, commit):
        return False
    ref = RUNS_REF_PREFIX + run_id
    if not remote:
        raise NotFoundError(
            f"The snapshot of run {run_id} (commit {commit[:12]}) is not in this "
            "repository, and no remote to fetch it from is set.",
            hint="set `snapshots_remote: <the git remote your team shares>` in "
            ".runyard/config.yml on every machine, or restore on the machine that ran it",
        )
    where = _primary(project)
    if where.shadow:
        with _shadow_lock(where):
            _ensure_shadow(where)
    env = {**os.environ, **_env(where, None, True), **_NO_PROMPT}
    status, out, err = _run_git(
        where.cwd,
        [
            *_GIT_CONFIG,
            "fetch",
            "--quiet",
            "--no-tags",
            "--no-write-fetch-head",
            "--",  # a remote that looks like an option is still a remote
            remote,
            f"+{ref}:{ref}",
        ],
        env,
    )
    if status != 0 or not _verify_commit(where, commit):
        detail = err.strip() or out.strip() or f"{ref} there is not commit {commit[:12]}"
        raise NotFoundError(
            f"The snapshot of run {run_id} is not here and could not be fetched from the "
            f"remote {remote!r} ({ref}): {detail}",
            hint=f"check that `git fetch {remote}` works here; if the run's machine could "
            "not push it (its run log says why), run `runyard runs push` there",
        )
    return True


def list_snapshot_refs(project: Project) -> list[str]:
    """All snapshot refs of the project (`refs/runyard/runs/<run-id>`), sorted."""
    refs: set[str] = set()
    for where in _locations(project):
        out = _git(where, ["for-each-ref", "--format=%(refname)", RUNS_REF_PREFIX])
        refs.update(line for line in out.splitlines() if line)
    return sorted(refs)


def _subtree(where: _Where, commit: str) -> str | None:
    """The tree id of the project folder in `commit` (None: the project folder is empty)."""
    # (`<commit>:<path>` takes the rest as the path: no `^{tree}` after it.)
    rev = f"{commit}:{where.prefix}" if where.prefix else f"{commit}^{{tree}}"
    status, out, _ = _git_try(where, ["rev-parse", "-q", "--verify", rev])
    return out.strip() if status == 0 and out.strip() else None


def snapshot_tree(project: Project, commit: str) -> str | None:
    """The tree id of the project folder in snapshot `commit`: two snapshots hold the
    same code exactly when their trees are equal. None when the commit is not found."""
    try:
        where, sha = _find_commit(project, commit)
    except NotFoundError:
        return None
    return _subtree(where, sha)


def read_snapshot_file(project: Project, commit: str, rel: str) -> str | None:
    """The text of the file `rel` (relative to the project) in snapshot `commit`; None
    when the snapshot has no such file."""
    where, sha = _find_commit(project, commit)
    path = "/".join(p for p in (where.prefix, rel.strip("/")) if p)
    status, out, _ = _git_try(where, ["cat-file", "blob", f"{sha}:{path}"])
    return out if status == 0 else None


def export_snapshot(project: Project, commit: str | Snapshot, dest: Path) -> None:
    """Write the project tree of `commit` into `dest` (created if missing). Given the
    `Snapshot` that `take_snapshot` returned, it goes straight to the tree."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    if isinstance(commit, Snapshot) and commit.tree:
        where = _where_of(project, commit)  # (the export has its own index)
        tree: str | None = commit.tree
    else:
        where, sha = _find_commit(
            project, commit.commit if isinstance(commit, Snapshot) else commit
        )
        tree = _subtree(where, sha)
    if tree is None:
        return
    tmp = Path(tempfile.mkdtemp(prefix="runyard-export-"))
    try:
        index = tmp / "index"
        # One process reads the tree into a new index and writes its files into `dest`,
        # as the work tree of that index; sparse checkout, submodule recursion and a
        # file-system monitor of the user's repository are not for this folder.
        target = Path(os.path.realpath(dest))
        into = replace(where, cwd=target, work_tree=target)
        _git(
            into,
            [
                *("-c", "core.sparseCheckout=false", "-c", "submodule.recurse=false"),
                *("-c", "core.fsmonitor=false", "read-tree", "--reset", "-u", tree),
            ],
            index=index,
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _same_entry(src: Path, dst: Path) -> bool:
    """Whether `dst` already holds what `src` (an exported file or symlink) holds."""
    try:
        dst_stat = os.lstat(dst)
    except FileNotFoundError:
        return False
    if src.is_symlink():
        return stat_mod.S_ISLNK(dst_stat.st_mode) and os.readlink(src) == os.readlink(dst)
    if not stat_mod.S_ISREG(dst_stat.st_mode):
        return False
    import filecmp

    return filecmp.cmp(src, dst, shallow=False)


def _blocking_parent(dest: Path, rel: str) -> str | None:
    """A parent of `rel` in dest that exists but is not a real folder."""
    parts = rel.split("/")[:-1]
    for i in range(1, len(parts) + 1):
        sub = "/".join(parts[:i])
        path = dest / sub
        if os.path.islink(path) or (os.path.lexists(path) and not path.is_dir()):
            return sub
        if not os.path.lexists(path):
            return None
    return None


def _exported_files(root: Path) -> list[str]:
    found: list[str] = []
    for folder, dirs, files in os.walk(root):
        rel_folder = Path(folder).relative_to(root)
        for name in [*dirs, *files]:
            path = Path(folder) / name
            if path.is_symlink() or not path.is_dir():
                found.append((rel_folder / name).as_posix())
    return sorted(found)


def _inside(path: Path, root: Path) -> bool:
    real, top = os.path.realpath(path), os.path.realpath(root)
    return real == top or real.startswith(top.rstrip(os.sep) + os.sep)


def restore_snapshot(project: Project, commit: str, dest: Path, force: bool = False) -> list[str]:
    """Write the snapshot's files into `dest`; return the paths written (new or changed).

    Files already holding the snapshot's content are left alone and extra files are never
    deleted. Without `force`, any existing file that would get different content stops the
    restore with a RestoreConflict that lists them. A `dest` in the project folder (the
    default) is the user's working tree: there, without `force`, *any* write stops the
    restore (RestoreIntoProject lists what would be written), and the snapshot is staged
    outside the project, so such a refused restore writes nothing at all.
    """
    dest = Path(dest)
    guarded = not force and _inside(dest, project.root)
    if guarded:
        staging = Path(tempfile.mkdtemp(prefix="runyard-restore-"))
    else:
        dest.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".runyard-restore-", dir=dest))
    try:
        export_snapshot(project, commit, staging)
        to_write: list[str] = []
        conflicts: list[str] = []
        for rel in _exported_files(staging):
            src = staging / rel
            dst = dest / rel
            blocker = _blocking_parent(dest, rel)
            if blocker is not None:
                conflicts.append(blocker)
                to_write.append(rel)
                continue
            if _same_entry(src, dst):
                if src.is_symlink() or (os.lstat(src).st_mode & 0o111) == (
                    os.lstat(dst).st_mode & 0o111
                ):
                    continue
            elif os.path.lexists(dst):
                conflicts.append(rel)
            to_write.append(rel)
        conflicts = sorted(set(conflicts))
        if conflicts and not force:
            raise RestoreConflict(conflicts, dest)
        if guarded and to_write:
            raise RestoreIntoProject(to_write, dest)
        for rel in to_write:
            _place(staging / rel, dest, rel)
        return to_write
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _place(src: Path, dest: Path, rel: str) -> None:
    """Move `src` to dest/rel, replacing whatever is in the way (only reached when allowed)."""
    parts = rel.split("/")
    folder = dest
    for part in parts[:-1]:
        folder = folder / part
        if os.path.islink(folder) or (os.path.lexists(folder) and not folder.is_dir()):
            folder.unlink()
        folder.mkdir(exist_ok=True)
    dst = folder / parts[-1]
    if dst.is_dir() and not dst.is_symlink():
        shutil.rmtree(dst)
    os.replace(src, dst)


def changed_files(project: Project, commit_a: str, commit_b: str) -> list[tuple[str, str]]:
    """The files that differ from snapshot `commit_a` to `commit_b`, as (status, path)
    in path order: status A (added), D (deleted), M (modified) or R (renamed, the path
    reading "old -> new"); paths relative to the project folder."""
    out = diff_snapshots(project, commit_a, commit_b, names=True)
    found: list[tuple[str, str]] = []
    for line in out.splitlines():
        status, *paths = line.split("\t")
        if status and paths:
            found.append((status[0], " -> ".join(paths)))
    return found


def diff_snapshots(
    project: Project,
    commit_a: str,
    commit_b: str | None = None,
    stat: bool = False,
    names: bool = False,
) -> str:
    """The unified diff of the project folder from `commit_a` to `commit_b` (`stat`:
    git's summary instead; `names`: git's `--name-status` lines).

    `commit_b=None` compares with the project folder as a snapshot would capture it now.
    Returns an empty string when there is no difference.
    """
    where, sha_a = _find_commit(project, commit_a)
    args = [
        "diff",
        "--no-color",
        "--no-ext-diff",
        "--src-prefix=a/",
        "--dst-prefix=b/",
    ]
    if stat:
        args.append("--stat")
    if names:
        args.append("--name-status")
    if where.prefix:
        args.append(f"--relative={where.prefix}/")
    if commit_b is not None:
        _check_rev(commit_b)
        sha_b = _verify_commit(where, commit_b)
        if sha_b is None:
            raise NotFoundError(
                f"Snapshot commit {commit_b} was not found in the repository of {commit_a}.",
                hint="both commits must be snapshots of this project",
            )
        return _git(where, [*args, sha_a, sha_b])
    with _tree_of_working_folder(project, where) as tree:
        return _git(where, [*args, sha_a, tree])
