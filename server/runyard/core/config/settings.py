"""What a target or job is once its file is read: `TargetConfig` and `JobConfig`, and the
rules for the names they are known by.

A name is the file's name without `.yml`, so a name is what a file name can hold: the
characters of `NAME_PATTERN`, the whole name (`is_name`: no NUL, `/` or line break), and
at most `MAX_NAME_BYTES` bytes so that `<name>.yml` fits in a file name (255 bytes on
the file systems we run on). A longer name is refused where it is given
(`name_too_long`), never sent to the file system, which would answer with an OSError.
The dataclasses are built from data the checks (`checks`) have already passed;
`target_config`/`job_config` only fill in the defaults.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from runyard.core.project import Project

Kind = Literal["target", "job", "sweep"]

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
NAME_RULE = "names start with a letter or digit and use only letters, digits, '_', '.' and '-'"
_NAME_RE = re.compile(NAME_PATTERN)
# `<name>.yml` must fit in a file name: 255 bytes on ext4, XFS, APFS and the like.
MAX_NAME_BYTES = 255 - len(".yml")


def is_name(text: str) -> bool:
    """Whether `text` is a name as a whole: `match` alone also takes a name with a
    line break after it (Python's `$` matches before a final line break), which would
    become a file name with a line break in it."""
    return _NAME_RE.fullmatch(text) is not None


def name_too_long(name: str) -> str | None:
    """What is wrong with `name` when `<name>.yml` cannot be a file name (too long), for a
    message; None when it fits."""
    size = len(name.encode("utf-8", "surrogatepass"))
    if size <= MAX_NAME_BYTES:
        return None
    return f"the name is {size} bytes long; names are at most {MAX_NAME_BYTES} bytes"


def short_name(name: str, limit: int = 40) -> str:
    """`name` cut for a message (a name too long to be a file name can be any length)."""
    return name if len(name) <= limit else name[: limit - 3] + "..."


@dataclass(frozen=True)
class TargetConfig:
    """A compute target, from `.runyard/targets/<name>.yml`. `raw` is the file's data as
    is (for target types that read fields of their own)."""

    name: str
    type: str
    path: Path
    raw: dict[str, Any]
    description: str | None = None
    python: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    system_site_packages: bool = False
    index_url: str | None = None
    cancel_grace_seconds: float = 10.0


@dataclass(frozen=True)
class JobConfig:
    """A run configuration, from `.runyard/jobs/<name>.yml` (`path` None when built
    in code). Exactly one of `script` and `module` is set for a job from a file."""

    name: str
    path: Path | None = None
    script: str | None = None
    module: str | None = None
    args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    target: str | None = None
    experiment: str | None = None
    requirements: str | None = None
    framework: str = "python"
    gpus: int | str | None = None
    outputs: str = "outputs"
    description: str | None = None
    tensorboard_dir: str = "logs"


def _str_map(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {str(k): str(v) for k, v in value.items()}


def _opt_str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def target_config(name: str, path: Path, data: dict[str, Any]) -> TargetConfig:
    grace = data.get("cancel_grace_seconds", 10)
    return TargetConfig(
        name=name,
        type=str(data.get("type")),
        path=path,
        raw=data,
        description=_opt_str(data.get("description")),
        python=_opt_str(data.get("python")),
        env=_str_map(data.get("env")),
        system_site_packages=data.get("system_site_packages") is True,
        index_url=_opt_str(data.get("index_url")),
        cancel_grace_seconds=float(grace) if isinstance(grace, (int, float)) else 10.0,
    )


def default_requirements(project: Project) -> str | None:
    """The dependency file a job uses when it names none: requirements.txt, else
    pyproject.toml, when the project has one."""
    for candidate in ("requirements.txt", "pyproject.toml"):
        if (project.root / candidate).is_file():
            return candidate
    return None


def job_config(project: Project, name: str, path: Path, data: dict[str, Any]) -> JobConfig:
    gpus = data.get("gpus")
    requirements = _opt_str(data.get("requirements"))
    return JobConfig(
        name=name,
        path=path,
        script=_opt_str(data.get("script")),
        module=_opt_str(data.get("module")),
        args=[str(a) for a in data.get("args") or []],
        env=_str_map(data.get("env")),
        target=_opt_str(data.get("target")),
        experiment=_opt_str(data.get("experiment")),
        requirements=requirements if requirements else default_requirements(project),
        framework=_opt_str(data.get("framework")) or "python",
        gpus=gpus if isinstance(gpus, (int, str)) and not isinstance(gpus, bool) else None,
        outputs=_opt_str(data.get("outputs")) or "outputs",
        description=_opt_str(data.get("description")),
        tensorboard_dir=_opt_str(data.get("tensorboard_dir")) or "logs",
    )
