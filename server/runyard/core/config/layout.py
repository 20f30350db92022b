"""Where target and job files are, and how their bytes are read and written.

- `.runyard/targets/<name>.yml`, `.runyard/jobs/<name>.yml` and
  `.runyard/sweeps/<name>.yml` (`.yaml` too; `.yml` wins when both exist): `folder_of`,
  `files_of`, `find`, `names_of`, `target_names`, `job_names`, `sweep_names`. A name given from outside (a command line, a request) is checked first
  (`check_name`: a `UsageError` with the naming rule, or saying it is too long for a file
  name), so it never reaches the file system as an OSError; `not_found` lists the names
  there are;
- `project_files`: the project's other files (for the editor's checks and completions);
- `read_bytes`/`decode` turn an unreadable or non-UTF-8 file into a `ConfigError` with
  its place; `write_text` writes through a temporary file and `os.replace`.

Nothing here parses YAML or validates; `files` does that on top.
"""

from __future__ import annotations

import os
from collections import deque
from pathlib import Path

from runyard.core.config.errors import ConfigError
from runyard.core.config.schema import suggest
from runyard.core.config.settings import NAME_RULE, Kind, is_name, name_too_long, short_name
from runyard.core.errors import NotFoundError, UsageError
from runyard.core.project import Project

SUFFIXES = (".yml", ".yaml")
_BOM = b"\xef\xbb\xbf"

# Folders never searched for project files: hidden ones (.git, .runyard, .venv, caches),
# these, and environments of any name (a folder holding pyvenv.cfg or conda-meta/).
_SKIP_FOLDERS = frozenset({"node_modules", "__pycache__", "site-packages", "venv"})
_ENV_MARKERS = frozenset({"pyvenv.cfg", "conda-meta"})
_FILES_LIMIT = 3000


def project_files(
    project: Project,
    suffixes: tuple[str, ...] = (),
    names: tuple[str, ...] = (),
    limit: int = _FILES_LIMIT,
) -> list[str]:
    """Files of the project whose name ends with one of `suffixes` or is one of `names`
    (every file when both are empty), as POSIX paths relative to the root, shallowest
    first. Skips hidden folders (.git, .runyard, .venv...), virtual environments,
    node_modules and __pycache__; looks at no more than `limit` entries. Never raises."""
    out: list[str] = []
    seen = 0
    queue: deque[tuple[Path, str]] = deque([(project.root, "")])
    while queue and seen < limit:
        folder, prefix = queue.popleft()
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError:
            continue
        if prefix and any(e.name in _ENV_MARKERS for e in entries):
            continue
        for entry in entries:
            seen += 1
            if seen > limit:
                break
            name = entry.name
            try:
                if entry.is_dir(follow_symlinks=False):
                    if not name.startswith(".") and name not in _SKIP_FOLDERS:
                        queue.append((Path(entry.path), f"{prefix}{name}/"))
                elif entry.is_file() and (
                    (not suffixes and not names) or name.endswith(suffixes) or name in names
                ):
                    out.append(prefix + name)
            except OSError:
                continue
    return out


def read_bytes(path: Path, display: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigError(
            path,
            f"cannot read the file ({exc.strerror or exc})",
            "Check that it exists and can be read",
            display=display,
        ) from None


def decode(raw: bytes, path: Path, display: str) -> str:
    if raw.startswith(_BOM):
        raw = raw[len(_BOM) :]
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        start = exc.start
        line = raw.count(b"\n", 0, start) + 1
        line_start = raw.rfind(b"\n", 0, start) + 1
        column = len(raw[line_start:start].decode("utf-8", "replace")) + 1
        raise ConfigError(
            path,
            f"the file is not UTF-8 text (byte 0x{raw[start]:02X} is not valid UTF-8)",
            "Save it with UTF-8 encoding",
            line=line,
            column=column,
            display=display,
        ) from None


def folder_of(project: Project, kind: Kind) -> Path:
    if kind == "sweep":
        return project.runyard_dir / "sweeps"
    return project.targets_dir if kind == "target" else project.jobs_dir


def files_of(project: Project, kind: Kind) -> list[Path]:
    folder = folder_of(project, kind)
    try:
        entries = list(folder.iterdir())
    except OSError:
        return []
    return sorted(
        (p for p in entries if p.suffix in SUFFIXES and not p.name.startswith(".") and p.is_file()),
        key=lambda p: (p.stem, SUFFIXES.index(p.suffix)),
    )


def find(project: Project, kind: Kind, name: str) -> Path | None:
    folder = folder_of(project, kind)
    for suffix in SUFFIXES:
        path = folder / f"{name}{suffix}"
        if path.is_file():
            return path
    return None


def names_of(project: Project, kind: Kind) -> list[str]:
    return sorted({p.stem for p in files_of(project, kind) if is_name(p.stem)})


def target_names(project: Project) -> list[str]:
    """Names of the project's target files (without loading them)."""
    return names_of(project, "target")


def job_names(project: Project) -> list[str]:
    """Names of the project's job files (without loading them)."""
    return names_of(project, "job")


def sweep_names(project: Project) -> list[str]:
    """Names of the project's sweep files (without loading them)."""
    return names_of(project, "sweep")


def check_name(kind: Kind, name: str) -> None:
    """A name given from outside (a command line, a request) is one a file can have, or
    a UsageError that says why: checked before the name reaches the file system."""
    if not isinstance(name, str) or not is_name(name):
        raise UsageError(f"'{name}' is not a valid {kind} name.", hint=NAME_RULE)
    too_long = name_too_long(name)
    if too_long:
        raise UsageError(
            f"'{short_name(name)}' is not a valid {kind} name: {too_long}.",
            hint=f"choose a shorter name: .runyard/{kind}s/<name>.yml must fit in a file name",
        )


def not_found(project: Project, kind: Kind, name: str) -> NotFoundError:
    names = names_of(project, kind)
    folder = project.relpath(folder_of(project, kind))
    if names:
        hint = f"available {kind}s: {', '.join(names)}"
        suggestion = suggest(name, names)
        if suggestion:
            hint = f"did you mean '{suggestion}'? ({hint})"
    elif kind == "target":
        hint = "there are no targets yet; `runyard init` creates the local one, `runyard target add` others"
    else:
        hint = f"there are no {kind}s yet; add a file {folder}/<name>.yml"
    return NotFoundError(f"There is no {kind} named '{name}' (no {folder}/{name}.yml).", hint)


def write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise UsageError(
            f"Cannot write {path}: {exc.strerror or exc}.", hint="check the folder's permissions"
        ) from None
