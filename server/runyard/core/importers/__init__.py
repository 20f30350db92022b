"""Importers: Runyard's own files written from a project made for another tool, for the
user to review and commit (`runyard import aml-workbench|mlflow-project [DIR]`, the
editor's offer when it opens such a folder).

Each importer reads the other tool's files and returns an `ImportPlan`: the target and
job files to write (as data), and what it did and could not do, each naming the file
and the key it came from. It never runs anything and never reads outside the folder.
`write_plan` then:

- checks every planned file against the job or target schema and the semantic checks
  (`core.config.checks.data_errors`), so what is written loads with the project's
  loaders; a file that would not is not written, and its problems are listed;
- never overwrites a file that is there already unless `force` is given (the file is
  listed as not written, with the hint);
- makes the folder a Runyard project (`core.config.init_project`: `.runyard/.gitignore`,
  and a `local` target when none was imported) after the imported files are written.

Nothing here decides wording for a face: `ImportReport` holds the written files, the
notes (done, with a caveat: "the password was not copied") and the problems (not done:
an unknown key, a missing script, a file already there); the CLI and the language
server render it. The mappings themselves are in `aml_workbench` (Azure ML Workbench's
`aml_config/`) and `mlflow_project` (MLflow's `MLproject`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from runyard.core.errors import UsageError

Kind = Literal["target", "job", "dependencies"]
KINDS = ("aml-workbench", "mlflow-project")


@dataclass(frozen=True)
class Note:
    """One thing said about the import: `source` is the file (relative to the project)
    and `key` the key in it it is about (None: the file as a whole)."""

    source: str
    key: str | None
    message: str


@dataclass
class PlannedFile:
    """A file to write: `path` relative to the project; `data` a target or job document
    (checked against its schema before it is written) or `text` as is."""

    path: str
    kind: Kind
    source: str  # the file it was made from
    data: dict[str, Any] | None = None
    text: str | None = None


@dataclass
class ImportPlan:
    kind: str  # one of KINDS
    files: list[PlannedFile] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    problems: list[Note] = field(default_factory=list)

    def note(self, source: str, key: str | None, message: str) -> None:
        self.notes.append(Note(source, key, message))

    def problem(self, source: str, key: str | None, message: str) -> None:
        self.problems.append(Note(source, key, message))


@dataclass(frozen=True)
class WrittenFile:
    path: str  # relative to the project
    kind: Kind
    source: str


@dataclass(frozen=True)
class ImportReport:
    kind: str
    root: Path
    written: list[WrittenFile]
    notes: list[Note]
    problems: list[Note]

    @property
    def ok(self) -> bool:
        return not self.problems


def detect(root: Path) -> str | None:
    """Which importer fits the folder: `aml-workbench` when it has `aml_config/`,
    `mlflow-project` when it has an `MLproject` file; None otherwise."""
    if (root / "aml_config").is_dir():
        return "aml-workbench"
    if (root / "MLproject").is_file():
        return "mlflow-project"
    return None


def plan(kind: str, root: Path, *, script: str | None = None) -> ImportPlan:
    """The plan of the importer `kind` for the project folder `root`."""
    if not root.is_dir():
        raise UsageError(f"{root} is not a folder.", hint="give the project's folder")
    if kind == "aml-workbench":
        from runyard.core.importers import aml_workbench

        return aml_workbench.plan(root, script=script)
    if kind == "mlflow-project":
        from runyard.core.importers import mlflow_project

        return mlflow_project.plan(root)
    raise UsageError(f"Unknown importer '{kind}'.", hint=f"use one of: {', '.join(KINDS)}")


HEADER = "# Written by `runyard import {kind}` from {source}: review it, then commit it.\n"


def render(planned: PlannedFile, kind: str) -> str:
    """The text of a planned file."""
    if planned.text is not None:
        return planned.text
    import yaml

    body = yaml.safe_dump(planned.data, sort_keys=False, allow_unicode=True, width=88)
    return HEADER.format(kind=kind, source=planned.source) + body


def write_plan(root: Path, planned: ImportPlan, *, force: bool = False) -> ImportReport:
    """Write the plan's files into `root` (see the module docstring); the report."""
    from runyard.core.config import init_project
    from runyard.core.config.checks import data_errors

    written: list[WrittenFile] = []
    problems = list(planned.problems)
    for item in planned.files:
        path = root / item.path
        if item.data is not None and item.kind in ("target", "job"):
            errors = data_errors(item.data, item.kind, path, item.path)
            if errors:
                for err in errors:
                    problems.append(
                        Note(item.source, None, f"{item.path} was not written: {err.detail}")
                    )
                continue
        if path.is_symlink() or (path.exists() and not path.is_file()):
            problems.append(
                Note(
                    item.source,
                    None,
                    f"{item.path} was not written: something that is not a file is in the way",
                )
            )
            continue
        if path.exists() and not force:
            problems.append(
                Note(
                    item.source,
                    None,
                    f"{item.path} is there already and was left as it is (--force replaces it)",
                )
            )
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render(item, planned.kind), encoding="utf-8")
        written.append(WrittenFile(item.path, item.kind, item.source))
    if written:
        init_project(root)
    return ImportReport(planned.kind, root, written, list(planned.notes), problems)


def read_yaml(root: Path, rel: str, plan: ImportPlan) -> Any:
    """The YAML file `rel` of the project as data; None (and a problem naming the file
    and line) when it cannot be read or parsed."""
    import yaml

    try:
        text = (root / rel).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        plan.problem(rel, None, f"cannot be read: {exc}")
        return None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        what = getattr(exc, "problem", None) or str(exc)
        plan.problem(rel, None, f"is not valid YAML{where}: {what}")
        return None


def name_from(text: str) -> str:
    """A target or job name made from `text` (a file stem, an entry point)."""
    import re

    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-._") or "imported"
    return name if name[0].isalnum() else "x" + name


def unknown_keys(
    data: dict[str, Any], known: tuple[str, ...], source: str, plan: ImportPlan, where: str = ""
) -> None:
    """A problem for each key of `data` the importer does not know (ignored)."""
    for key in data:
        if key not in known:
            plan.problem(
                source,
                f"{where}{key}",
                f"unknown key '{where}{key}': not imported (known keys: {', '.join(known)})",
            )
