"""The gallery of sample projects: the catalog in ``gallery/<id>.json`` and the runnable
projects in ``templates/<id>/``, and scaffolding a new project from one.

A broken catalog entry is reported with its file and what is wrong, and the others are
still listed. Scaffolding never writes outside the chosen folder (templates may not
hold links, absolute paths or ``..``), never overwrites a file without ``force``, and
makes the new folder a git repository with a first commit.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runyard.core.errors import NotFoundError, RunyardError, UsageError

ID_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
FRAMEWORKS = ("tensorflow", "pytorch", "scikit-learn", "pyspark")


def default_root() -> Path:
    """Where gallery/ and templates/ are: RUNYARD_GALLERY_ROOT, else two folders above
    the package: the repository (server/runyard), or in the packaged extension bundled/
    (bundled/libs/runyard), where scripts/build-vsix.sh copies them."""
    given = os.environ.get("RUNYARD_GALLERY_ROOT")
    if given:
        return Path(given)
    return Path(__file__).resolve().parents[3]


@dataclass(frozen=True)
class Metric:
    name: str
    goal: str  # "max" or "min"
    value: float


@dataclass(frozen=True)
class Entry:
    id: str
    title: str
    description: str
    framework: str
    task: str
    tags: list[str]
    targets: list[str]
    expected_runtime_seconds: int
    metric: Metric
    image: Path
    template: Path
    run: str
    file: Path

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "description": self.description,
            "framework": self.framework,
            "task": self.task,
            "tags": self.tags,
            "targets": self.targets,
            "expected_runtime_seconds": self.expected_runtime_seconds,
            "metric": {
                "name": self.metric.name,
                "goal": self.metric.goal,
                "value": self.metric.value,
            },
            "image": str(self.image),
            "template": str(self.template),
            "run": self.run,
        }


@dataclass(frozen=True)
class CatalogProblem:
    """An entry that could not be read, and why."""

    file: Path
    message: str


@dataclass
class Catalog:
    entries: list[Entry] = field(default_factory=list)
    problems: list[CatalogProblem] = field(default_factory=list)

    def find(self, entry_id: str) -> Entry:
        for entry in self.entries:
            if entry.id == entry_id:
                return entry
        broken = [p for p in self.problems if p.file.stem == entry_id]
        if broken:
            raise RunyardError(
                f"The gallery entry {entry_id!r} is broken: {broken[0].message}",
                hint=f"fix {broken[0].file}",
            )
        import difflib

        known = [e.id for e in self.entries]
        close = difflib.get_close_matches(entry_id, known, n=1)
        hint = f"did you mean {close[0]!r}?" if close else "see `runyard gallery list`"
        raise NotFoundError(f"No sample {entry_id!r} in the gallery.", hint=hint)


class _Bad(ValueError):
    pass


def _inside(root: Path, text: Any, what: str) -> Path:
    """A path from the catalog, relative to the root and staying inside it."""
    if not isinstance(text, str) or not text:
        raise _Bad(f"field '{what}': expected a path relative to the repository root")
    if text.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", text):
        raise _Bad(f"field '{what}': {text!r} is an absolute path; give it relative to the root")
    parts = Path(text).parts
    if ".." in parts:
        raise _Bad(f"field '{what}': {text!r} points outside the repository (..)")
    path = root / text
    if path.is_symlink() or not path.resolve().is_relative_to(root.resolve()):
        raise _Bad(f"field '{what}': {text!r} is a link or leads outside the repository")
    if not path.exists():
        raise _Bad(f"field '{what}': {text!r} does not exist")
    return path


def _field(data: dict[str, Any], name: str, kind: type | tuple[type, ...], what: str) -> Any:
    if name not in data:
        raise _Bad(f"field '{name}' is missing ({what})")
    value = data[name]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise _Bad(f"field '{name}': expected {what}, got {type(value).__name__}")
    return value


def _entry(root: Path, path: Path) -> Entry:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise _Bad(f"cannot be read ({exc})") from None
    except json.JSONDecodeError as exc:
        raise _Bad(f"line {exc.lineno}, column {exc.colno}: not valid JSON ({exc.msg})") from None
    if not isinstance(data, dict):
        raise _Bad("expected a JSON object")
    entry_id = _field(data, "id", str, "the sample's id")
    if not ID_RE.match(entry_id):
        raise _Bad(f"field 'id': {entry_id!r} must be lowercase letters, digits and '-'")
    if entry_id != path.stem:
        raise _Bad(f"field 'id': {entry_id!r} does not match the file name {path.name}")
    framework = _field(data, "framework", str, "a framework name")
    if framework not in FRAMEWORKS:
        raise _Bad(f"field 'framework': {framework!r} is not one of {', '.join(FRAMEWORKS)}")
    tags = _field(data, "tags", list, "a list of words")
    targets = _field(data, "targets", list, "a list of target types")
    if not all(isinstance(t, str) for t in [*tags, *targets]):
        raise _Bad("fields 'tags' and 'targets': expected lists of strings")
    metric = _field(data, "metric", dict, "an object with name, goal and value")
    name = _field(metric, "name", str, "the metric's key")
    goal = _field(metric, "goal", str, "'max' or 'min'")
    if goal not in ("max", "min"):
        raise _Bad(f"field 'metric.goal': {goal!r} is not 'max' or 'min'")
    value = _field(metric, "value", (int, float), "the value the sample reaches")
    template = _inside(root, data.get("template"), "template")
    if not template.is_dir():
        raise _Bad("field 'template': not a folder")
    return Entry(
        id=entry_id,
        title=_field(data, "title", str, "a title"),
        description=_field(data, "description", str, "a paragraph"),
        framework=framework,
        task=_field(data, "task", str, "what the model does"),
        tags=list(tags),
        targets=list(targets),
        expected_runtime_seconds=int(
            _field(data, "expected_runtime_seconds", (int, float), "seconds on a CPU")
        ),
        metric=Metric(name, goal, float(value)),
        image=_inside(root, data.get("image"), "image"),
        template=template,
        run=_field(data, "run", str, "the command that runs it"),
        file=path,
    )


def load_catalog(root: Path | None = None) -> Catalog:
    """Every entry in ``<root>/gallery/*.json``; broken ones become problems."""
    root = root or default_root()
    catalog = Catalog()
    folder = root / "gallery"
    try:
        files = sorted(p for p in folder.iterdir() if p.suffix == ".json")
    except OSError as exc:
        catalog.problems.append(CatalogProblem(folder, f"the gallery cannot be read ({exc})"))
        return catalog
    for path in files:
        try:
            catalog.entries.append(_entry(root, path))
        except _Bad as exc:
            catalog.problems.append(CatalogProblem(path, str(exc)))
    return catalog


# --------------------------------------------------------------------------- scaffolding


@dataclass(frozen=True)
class Scaffolded:
    root: Path
    files: list[str]
    committed: bool
    next_command: str


def _template_files(template: Path) -> list[str]:
    """The template's files, relative; refuses links and anything that escapes it."""
    out: list[str] = []
    base = template.resolve()
    for folder, dirs, names in os.walk(template):
        for name in [*dirs, *names]:
            path = Path(folder) / name
            rel = path.relative_to(template).as_posix()
            if path.is_symlink():
                raise RunyardError(
                    f"The template {template.name} holds a link ({rel}); links are not copied.",
                    hint="replace the link with the file it points to",
                )
            if ".." in Path(rel).parts or not path.resolve().is_relative_to(base):
                raise RunyardError(f"The template {template.name} has a path outside it: {rel}")
        dirs[:] = [d for d in dirs if d not in ("__pycache__", "state")]
        for name in names:
            if name.endswith((".pyc", ".pyo")):
                continue
            out.append((Path(folder) / name).relative_to(template).as_posix())
    return sorted(out)


def _inside_git(folder: Path) -> bool:
    proc = subprocess.run(
        ["git", "-C", str(folder), "rev-parse", "--is-inside-work-tree"],
        capture_output=True,
        text=True,
        check=False,
    )
    return proc.returncode == 0 and proc.stdout.strip() == "true"


def _git_commit(root: Path, message: str) -> None:
    env = dict(os.environ)
    for who in ("AUTHOR", "COMMITTER"):  # only where git has no identity of its own
        probe = subprocess.run(
            ["git", "-C", str(root), "config", "user.email"], capture_output=True, check=False
        )
        if probe.returncode != 0 and f"GIT_{who}_EMAIL" not in env:
            env[f"GIT_{who}_NAME"] = "Runyard"
            env[f"GIT_{who}_EMAIL"] = "runyard@localhost"
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", message]):
        proc = subprocess.run(
            ["git", "-C", str(root), *args], capture_output=True, text=True, env=env, check=False
        )
        if proc.returncode != 0:
            raise RunyardError(
                f"The project was created in {root}, but `git {args[0]}` failed: "
                f"{proc.stderr.strip()}",
                hint="make the first commit yourself (git init && git add -A && git commit)",
            )


def scaffold(
    entry: Entry, dest: Path, *, name: str | None = None, force: bool = False
) -> Scaffolded:
    """Copy the entry's template into `dest` (created if missing), git-initialise it and
    make a first commit. Existing files are kept unless `force`; then nothing is
    written and the error lists them."""
    if shutil.which("git") is None:
        raise RunyardError("git is needed to create a project.", hint="install git")
    files = _template_files(entry.template)
    dest = dest.expanduser().absolute()
    if dest.exists() and not dest.is_dir():
        raise UsageError(f"{dest} exists and is not a folder.", hint="choose another folder")
    base = dest.resolve() if dest.exists() else dest
    conflicts = []
    for rel in files:
        target = dest / rel
        if not (target.resolve() if target.exists() else target).is_relative_to(base):
            raise RunyardError(f"{rel} would be written outside {dest}; nothing was written.")
        if target.exists() or target.is_symlink():
            conflicts.append(rel)
    if conflicts and not force:
        shown = ", ".join(conflicts[:5]) + (
            f" and {len(conflicts) - 5} more" if len(conflicts) > 5 else ""
        )
        raise UsageError(
            f"{dest} already has {shown}; nothing was written.",
            hint="choose an empty folder, or pass --force to overwrite those files",
        )
    in_repo = dest.exists() and _inside_git(dest)
    for rel in files:
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.is_symlink():
            target.unlink()
        shutil.copy2(entry.template / rel, target)
    if name:
        readme = dest / "README.md"
        if readme.is_file():
            lines = readme.read_text(encoding="utf-8").splitlines(keepends=True)
            if lines and lines[0].startswith("# "):
                lines[0] = f"# {name}\n"
                readme.write_text("".join(lines), encoding="utf-8")
    committed = False
    if not in_repo:
        _git_commit(dest, f"New project from the Runyard gallery: {entry.title}")
        committed = True
    return Scaffolded(
        root=dest,
        files=files,
        committed=committed,
        next_command=f"cd {dest} && {entry.run}",
    )
