"""Loading and writing target, job and sweep files: the public operations on them.

`init_project` creates `.runyard/` with the local target; `load_target`/`load_job` find
one file by name, check it (`checks`, or the `cache` of files that checked cleanly
before) and raise its first `ConfigError`; `load_sweep` checks a sweep file with what it
names (its job or script, its targets) every time, since a sweep starts many runs; `list_targets`/`list_jobs` load every file
and return a bad one as its `ConfigError` instead of stopping; `write_target` validates
a new target (command-line strings converted to the types the schema wants) before
anything is written; `remove_target` deletes one and drops it as the default target.

PyYAML is imported only when a file has to be parsed or written.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from runyard.core.config.cache import ValidCache
from runyard.core.config.checks import check_parsed, data_errors, name_error
from runyard.core.config.default_target import forget_default
from runyard.core.config.errors import ConfigError, raise_first
from runyard.core.config.layout import (
    check_name,
    decode,
    files_of,
    find,
    not_found,
    read_bytes,
    write_text,
)
from runyard.core.config.schema import schema_properties
from runyard.core.config.settings import JobConfig, Kind, TargetConfig, job_config, target_config
from runyard.core.config.sweeps import SweepConfig, sweep_config
from runyard.core.errors import UsageError
from runyard.core.project import Project
from runyard.core.yamlpos import parse_yaml

_LOCAL_TARGET = """\
# The local target runs jobs on this machine, each in a virtual environment built from the
# job's requirements; set `python: /path/to/python` to use an interpreter you manage instead.
type: local
"""


def _load_file(project: Project, kind: Kind, path: Path, cache: ValidCache) -> dict[str, Any]:
    """The validated data of a target or job file; raises its first ConfigError."""
    display = project.relpath(path)
    raw = read_bytes(path, display)
    text = decode(raw, path, display)
    key = cache.key(kind, raw)
    known = cache.get(key)
    if known is not None:
        return known
    parsed = parse_yaml(text)
    errors = check_parsed(parsed, kind, path, display, schema=True)
    raise_first(errors)
    assert isinstance(parsed.data, dict)
    cache.add(key, parsed.data)
    return parsed.data


def init_project(folder: Path) -> tuple[Project, list[Path]]:
    """Make `folder` (created if missing) a Runyard project: `.runyard/targets/local.yml`,
    `.runyard/jobs/.gitkeep` and `.runyard/.gitignore` (ignoring `state/`). Existing
    files are left alone; returns the project and the files created."""
    root = folder.expanduser().resolve()
    project = Project(root)
    files = {
        project.targets_dir / "local.yml": _LOCAL_TARGET,
        project.jobs_dir / ".gitkeep": "",
        project.runyard_dir / ".gitignore": "state/\n",
    }
    created: list[Path] = []
    for path, content in files.items():
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("x", encoding="utf-8") as fh:
                fh.write(content)
        except FileExistsError:
            if path.is_file():
                continue
            raise UsageError(
                f"Cannot create {path}: something that is not a file is in the way.",
                hint="move it away and run `runyard init` again",
            ) from None
        except OSError as exc:
            raise UsageError(
                f"Cannot create {path}: {exc.strerror or exc}.",
                hint="check the folder's permissions",
            ) from None
        created.append(path)
    return project, created


def _load_named(project: Project, kind: Kind, name: str) -> tuple[Path, dict[str, Any]]:
    check_name(kind, name)
    path = find(project, kind, name)
    if path is None:
        raise not_found(project, kind, name)
    cache = ValidCache(project)
    data = _load_file(project, kind, path, cache)
    cache.save()
    return path, data


def load_target(project: Project, name: str) -> TargetConfig:
    """The target `name`; NotFoundError (listing the targets) when there is none."""
    path, data = _load_named(project, "target", name)
    return target_config(name, path, data)


def load_job(project: Project, name: str) -> JobConfig:
    """The job `name`; NotFoundError (listing the jobs) when there is none."""
    path, data = _load_named(project, "job", name)
    return job_config(project, name, path, data)


def load_sweep(project: Project, name: str) -> SweepConfig:
    """The sweep `name`, checked with what it names (its job or script, the targets of
    `parallel`: `checks.validate_document` with the project), so a sweep with a problem
    starts no run; raises the first `ConfigError` (file, line, field). NotFoundError
    (listing the sweeps) when there is none."""
    from runyard.core.config.checks import validate_document

    check_name("sweep", name)
    path = find(project, "sweep", name)
    if path is None:
        raise not_found(project, "sweep", name)
    display = project.relpath(path)
    text = decode(read_bytes(path, display), path, display)
    raise_first(validate_document(text, "sweep", path, project=project))
    data = parse_yaml(text).data
    assert isinstance(data, dict)
    return sweep_config(name, path, data)


def _list(project: Project, kind: Kind) -> list[tuple[str, Path, dict[str, Any]] | ConfigError]:
    cache = ValidCache(project)
    out: list[tuple[str, Path, dict[str, Any]] | ConfigError] = []
    seen: dict[str, Path] = {}
    for path in files_of(project, kind):
        display = project.relpath(path)
        name = path.stem
        if name in seen:
            out.append(
                ConfigError(
                    path,
                    f"the {kind} '{name}' is also defined in {project.relpath(seen[name])}",
                    f"Keep one file per {kind}",
                    display=display,
                )
            )
            continue
        seen[name] = path
        bad_name = name_error(kind, path, display)
        if bad_name:
            out.append(bad_name)
            continue
        try:
            out.append((name, path, _load_file(project, kind, path, cache)))
        except ConfigError as exc:
            out.append(exc)
    cache.save()
    return out


def list_targets(project: Project) -> list[TargetConfig | ConfigError]:
    """Every target file, loaded, sorted by name; a bad file is its ConfigError."""
    return [
        item if isinstance(item, ConfigError) else target_config(*item)
        for item in _list(project, "target")
    ]


def list_jobs(project: Project) -> list[JobConfig | ConfigError]:
    """Every job file, loaded, sorted by name; a bad file is its ConfigError."""
    return [
        item if isinstance(item, ConfigError) else job_config(project, *item)
        for item in _list(project, "job")
    ]


def _coerce(value: Any, schema: Any) -> Any:
    """A string option from the command line, as the type the schema wants."""
    if not isinstance(value, str) or not isinstance(schema, Mapping):
        return value
    kind = schema.get("type")
    text = value.strip().lower()
    if kind == "boolean":
        if text in ("true", "yes", "on", "1"):
            return True
        if text in ("false", "no", "off", "0"):
            return False
    elif kind in ("integer", "number"):
        try:
            return int(text)
        except ValueError:
            pass
        if kind == "number":
            try:
                return float(text)
            except ValueError:
                pass
    return value


def write_target(
    project: Project, name: str, type_: str, options: dict[str, Any], force: bool = False
) -> Path:
    """Write `.runyard/targets/<name>.yml` with `type: <type_>` and `options` (None values
    left out; strings given for boolean or number fields converted, as a command line
    gives them). Validated before anything is written; an existing target is replaced
    only with `force`. Returns the file's path."""
    check_name("target", name)
    existing = find(project, "target", name)
    if existing is not None and not force:
        raise UsageError(
            f"The target '{name}' already exists ({project.relpath(existing)}).",
            hint="choose another name, or replace it with --force",
        )
    props = schema_properties("target", type_)
    document: dict[str, Any] = {"type": type_}
    for key, value in options.items():
        if value is None or key == "type":
            continue
        document[key] = _coerce(value, props.get(key))
    path = project.targets_dir / f"{name}.yml"
    display = project.relpath(path)
    raise_first(data_errors(document, "target", path, display))

    import yaml

    body = yaml.safe_dump(document, sort_keys=False, allow_unicode=True, default_flow_style=False)
    write_text(path, f"# Compute target '{name}' (type {type_}), written by Runyard.\n{body}")
    if existing is not None and existing != path:
        existing.unlink(missing_ok=True)
    return path


def remove_target(project: Project, name: str) -> Path:
    """Delete the target `name`'s file (and drop it as the default target). Returns the
    path removed."""
    check_name("target", name)
    path = find(project, "target", name)
    if path is None:
        raise not_found(project, "target", name)
    try:
        path.unlink()
    except OSError as exc:
        raise UsageError(f"Cannot remove {path}: {exc.strerror or exc}.") from None
    forget_default(project, name)
    return path
