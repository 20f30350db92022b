"""MLflow projects: an `MLproject` file read into Runyard's jobs (and a Docker target).

The mapping:

- each of `entry_points` -> `.runyard/jobs/<entry point>.yml`. Its `command` must run
  Python (`python train.py ...`, `python -m pkg.train ...`; options of the interpreter
  such as `-u` are dropped): the script or module becomes the job's `script` or
  `module`, the rest its `args`, with each `{name}` replaced by the parameter's default
  (MLflow's `mlflow run -P name=value` is the job file edited, or `runyard submit
  train.py ARGS`). The parameters, with their types and defaults, are listed in the
  job's `description`; a default that does not fit its type (`float`) or a parameter
  with no default used in the command is a problem naming the file and key;
- `python_env` (MLflow's `python_env.yaml`) or `conda_env` (a conda env file) -> every
  job's `requirements`, read by `core.envspecs`;
- `docker_env` -> `.runyard/targets/docker.yml`, a `docker` target that runs jobs in
  `image` as it is (MLflow does not install the project's dependencies into it
  either), `volumes` as they are, and `environment`'s `[NAME, value]` pairs as `env`;
  a bare `NAME` (copied from the host by MLflow) is a note, as is `run_params`. The
  jobs then run on that target.

`name` names nothing in Runyard (jobs are named by their entry point). Any other key
is a problem naming the file and the key; the rest of the file is imported.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

from runyard.core.importers import (
    ImportPlan,
    PlannedFile,
    name_from,
    read_yaml,
    unknown_keys,
)

MLPROJECT = "MLproject"
TOP_KEYS = ("name", "python_env", "conda_env", "docker_env", "entry_points")
ENTRY_KEYS = ("parameters", "command")
PARAM_KEYS = ("type", "default")
DOCKER_KEYS = ("image", "volumes", "environment", "run_params")
TYPES = ("string", "float", "path", "uri")
DOCKER_TARGET = "docker"
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_.-]*)\}")
_PYTHONS = re.compile(r"^(python|python3|python3\.\d+)$")


def plan(root: Path) -> ImportPlan:
    out = ImportPlan("mlflow-project")
    if not (root / MLPROJECT).is_file():
        out.problem(MLPROJECT, None, "no MLproject file here: not an MLflow project")
        return out
    data = read_yaml(root, MLPROJECT, out)
    if data is None:
        return out
    if not isinstance(data, dict):
        out.problem(MLPROJECT, None, "expected a mapping (name:, entry_points:, ...)")
        return out
    unknown_keys(data, TOP_KEYS, MLPROJECT, out)
    requirements = _requirements(root, data, out)
    target = _docker_target(data.get("docker_env"), out) if "docker_env" in data else None
    if target is not None:
        out.files.append(
            PlannedFile(f".runyard/targets/{DOCKER_TARGET}.yml", "target", MLPROJECT, data=target)
        )
    entries = data.get("entry_points")
    if not isinstance(entries, dict) or not entries:
        out.problem(MLPROJECT, "entry_points", "no entry points: no job was written")
        return out
    for entry, spec in entries.items():
        job = _job(str(entry), spec, out)
        if job is None:
            continue
        if requirements:
            job["requirements"] = requirements
        if target is not None:
            job["target"] = DOCKER_TARGET
        name = name_from(str(entry).removesuffix(".py").removesuffix(".sh"))
        out.files.append(PlannedFile(f".runyard/jobs/{name}.yml", "job", MLPROJECT, data=job))
    return out


def _requirements(root: Path, data: dict[str, Any], out: ImportPlan) -> str | None:
    for key in ("python_env", "conda_env"):
        value = data.get(key)
        if value is None:
            continue
        if not isinstance(value, str) or not value:
            out.problem(MLPROJECT, key, f"expected the path of a file, got {value!r}")
            continue
        if value.startswith(("/", "../")) or not (root / value).is_file():
            out.problem(MLPROJECT, key, f"{value}: no such file in the project")
            continue
        return value
    return None


def _docker_target(spec: Any, out: ImportPlan) -> dict[str, Any] | None:
    if not isinstance(spec, dict) or not isinstance(spec.get("image"), str):
        out.problem(MLPROJECT, "docker_env", "expected image: (and volumes:, environment:)")
        return None
    unknown_keys(spec, DOCKER_KEYS, MLPROJECT, out, where="docker_env.")
    target: dict[str, Any] = {"type": "docker", "image": spec["image"]}
    out.note(
        MLPROJECT,
        "docker_env.image",
        f"jobs run in {spec['image']} as it is, as with MLflow: it must hold the project's "
        "dependencies and Python",
    )
    volumes = spec.get("volumes")
    if isinstance(volumes, list) and volumes:
        target["volumes"] = [str(v) for v in volumes]
    env: dict[str, str] = {}
    for item in spec.get("environment") or []:
        if isinstance(item, list) and len(item) == 2:
            env[str(item[0])] = str(item[1])
        elif isinstance(item, str):
            out.note(
                MLPROJECT,
                "docker_env.environment",
                f"{item} (copied from your environment by MLflow) is not copied into runs: "
                "add it to the target's env: if runs need it",
            )
        else:
            out.problem(
                MLPROJECT, "docker_env.environment", f"expected NAME or [NAME, value], got {item!r}"
            )
    if env:
        target["env"] = env
    if "run_params" in spec:
        out.note(MLPROJECT, "docker_env.run_params", "run_params (docker run options) dropped")
    return target


def _describe(params: dict[str, tuple[str, Any]]) -> str:
    parts = []
    for name, (kind, default) in params.items():
        parts.append(
            f"{name} ({kind}" + (f", default {default}" if default is not None else "") + ")"
        )
    return "Imported from MLproject. Parameters: " + ", ".join(parts)


def _job(entry: str, spec: Any, out: ImportPlan) -> dict[str, Any] | None:
    where = f"entry_points.{entry}"
    if not isinstance(spec, dict):
        out.problem(MLPROJECT, where, "expected command: (and parameters:)")
        return None
    unknown_keys(spec, ENTRY_KEYS, MLPROJECT, out, where=f"{where}.")
    params: dict[str, tuple[str, Any]] = {}
    raw = spec.get("parameters") or {}
    if not isinstance(raw, dict):
        out.problem(MLPROJECT, f"{where}.parameters", "expected a mapping of parameters")
        raw = {}
    for name, value in raw.items():
        key = f"{where}.parameters.{name}"
        if isinstance(value, dict):
            unknown_keys(value, PARAM_KEYS, MLPROJECT, out, where=f"{key}.")
            kind, default = str(value.get("type", "string")), value.get("default")
        else:
            kind, default = str(value), None  # (the short form: `name: type`)
        if kind not in TYPES:
            out.problem(
                MLPROJECT, f"{key}.type", f"unknown type {kind!r}: one of {', '.join(TYPES)}"
            )
        elif kind == "float" and default is not None:
            try:
                float(default)
            except (TypeError, ValueError):
                out.problem(MLPROJECT, f"{key}.default", f"default {default!r} is not a float")
        params[str(name)] = (kind, default)
    command = spec.get("command")
    if not isinstance(command, str) or not command.strip():
        out.problem(MLPROJECT, f"{where}.command", "no command: the job was not written")
        return None
    try:
        words = shlex.split(command)
    except ValueError as exc:
        out.problem(MLPROJECT, f"{where}.command", f"cannot be read as a command line: {exc}")
        return None
    if not words or not _PYTHONS.match(words[0]):
        out.problem(
            MLPROJECT,
            f"{where}.command",
            f"`{command}` does not run Python: Runyard runs Python scripts and modules; not "
            "imported",
        )
        return None
    rest = words[1:]
    job: dict[str, Any] = {}
    while rest and rest[0].startswith("-") and rest[0] != "-m":
        rest = rest[1:]  # (the interpreter's own options: -u, -O)
    if rest[:1] == ["-m"] and len(rest) > 1:
        job["module"], rest = rest[1], rest[2:]
    elif rest:
        job["script"], rest = rest[0], rest[1:]
    else:
        out.problem(MLPROJECT, f"{where}.command", "names no script or module: not imported")
        return None
    args = []
    missing: set[str] = set()
    for word in rest:

        def value(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in params and params[name][1] is not None:
                return str(params[name][1])
            missing.add(name)
            return match.group(0)

        args.append(_PLACEHOLDER.sub(value, word))
    for name in sorted(missing):
        out.problem(
            MLPROJECT,
            f"{where}.parameters.{name}",
            f"{name} has no default: the job passes {{{name}}} as it is; give it a value "
            "in the job's args",
        )
    if args:
        job["args"] = args
    if params:
        job["description"] = _describe(params)
    return job
