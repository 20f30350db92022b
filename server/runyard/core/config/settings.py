"""What a target or job is once its file is read: `TargetConfig` and `JobConfig`, and the
rules for the names they are known by.

A name is the file's name without `.yml`, so a name is what a file name can hold: the
characters of `NAME_PATTERN`, the whole name (`is_name`: no NUL, `/` or line break), and
at most `MAX_NAME_BYTES` bytes so that `<name>.yml` fits in a file name (255 bytes on
the file systems we run on). A longer name is refused where it is given
(`name_too_long`), never sent to the file system, which would answer with an OSError.
The dataclasses are built from data the checks (`checks`) have already passed;
`target_config`/`job_config` only fill in the defaults.

The run store's location (`store_setting`): `RUNYARD_STORE_URL` in the environment,
else `store:` in `.runyard/config.yml`, else the embedded SQLite store under
`.runyard/state`. A team store is a PostgreSQL URL (``postgresql://host/db``, or
``postgresql:///?service=team`` naming a libpq service) and carries no secret: the
password comes from `PGPASSWORD`, `~/.pgpass` or the service file, read by libpq
itself, so Runyard never holds it in a project file, a log or the store. A URL with a
password in `.runyard/config.yml` is refused with the file and line (the file is
committed); in the environment it is used as given, but only its redacted form
(`redact_url`) is ever shown.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from runyard.core.config.errors import ConfigError
from runyard.core.errors import UsageError
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


# ---- the run store's location -------------------------------------------------------

STORE_ENV = "RUNYARD_STORE_URL"
STORE_FIELD = "store"
_STORE_SCHEMES = ("postgresql", "postgres")
_STORE_EXPECTED = (
    "Expected `sqlite` (the embedded store under .runyard/state, the default) or a "
    "PostgreSQL URL such as postgresql://db.example.com/runyard"
)
_NO_PASSWORD_HINT = (
    "remove the password from the URL and give it to libpq instead: an entry in "
    "~/.pgpass (host:port:database:user:password, mode 0600), PGPASSWORD in the "
    "environment, or a service in ~/.pg_service.conf (store: postgresql:///?service=NAME)"
)


@dataclass(frozen=True)
class StoreSetting:
    """Where the run store is: `url` None for the embedded SQLite store; `source` says
    where the choice was made, for messages ("RUNYARD_STORE_URL", ".runyard/config.yml
    line 3", "default")."""

    url: str | None
    source: str


def url_has_password(url: str) -> bool:
    """Whether `url` carries a password (in its user part or as a `password=` option)."""
    from urllib.parse import parse_qs, urlsplit

    try:
        parts = urlsplit(url)
        return bool(parts.password) or "password" in parse_qs(parts.query)
    except ValueError:  # unreadable: taken as holding one rather than let through
        return "@" in url


def redact_url(url: str) -> str:
    """`url` without its password, as it may be shown or logged."""
    from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

    try:
        parts = urlsplit(url)
    except ValueError:
        return "<a PostgreSQL URL that cannot be read>"
    netloc = parts.netloc
    if parts.password is not None:
        user, _, host = netloc.rpartition("@")
        netloc = f"{user.split(':', 1)[0]}:***@{host}"
    query = urlencode(
        [(k, "***" if k == "password" else v) for k, v in parse_qsl(parts.query)], safe="/"
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def _store_url(value: str, source: str) -> str | None:
    """The URL `value` names (None: the embedded store), or UsageError naming `source`."""
    text = value.strip()
    if text in ("", "sqlite", "sqlite:"):
        return None
    scheme = text.split(":", 1)[0].lower() if ":" in text else ""
    if scheme not in _STORE_SCHEMES:
        raise UsageError(
            f"{source}: the store {redact_url(text) if scheme else text!r} is not a "
            "PostgreSQL URL.",
            hint=_STORE_EXPECTED[0].lower() + _STORE_EXPECTED[1:],
        )
    return text


def store_setting(root: Path | None) -> StoreSetting:
    """Where the project at `root` keeps its runs (see the module docstring). `root`
    None (a store outside any project) reads the environment only."""
    env = os.environ.get(STORE_ENV)
    if env is not None and env.strip():
        return StoreSetting(_store_url(env, STORE_ENV), STORE_ENV)
    if root is None:
        return StoreSetting(None, "default")
    path = root / ".runyard" / "config.yml"
    try:
        data = path.read_bytes()
    except OSError:
        return StoreSetting(None, "default")
    if STORE_FIELD.encode() not in data:  # the common case: no YAML parsed at all
        return StoreSetting(None, "default")
    from runyard.core.yamlpos import parse_yaml

    display = ".runyard/config.yml"
    parsed = parse_yaml(data.decode("utf-8", "replace"))
    if parsed.fatal or not isinstance(parsed.data, dict) or STORE_FIELD not in parsed.data:
        return StoreSetting(None, "default")  # the settings' own reader reports a bad file
    value = parsed.data[STORE_FIELD]
    spans = parsed.spans.get((STORE_FIELD,))
    span = spans.value if spans else None
    where = f"{display} line {span.line}" if span else display
    if not isinstance(value, str):
        raise ConfigError.at(
            path,
            span,
            "the store is not a text",
            _STORE_EXPECTED,
            field=STORE_FIELD,
            display=display,
        )
    if url_has_password(value):
        raise ConfigError.at(
            path,
            span,
            "the store's URL holds a password, and this file is shared with the project",
            "Expected a URL without one; nothing was connected to",
            field=STORE_FIELD,
            hint=_NO_PASSWORD_HINT,
            display=display,
        )
    try:
        return StoreSetting(_store_url(value, where), where)
    except UsageError as exc:
        raise ConfigError.at(
            path,
            span,
            exc.message.split(": ", 1)[1],
            _STORE_EXPECTED,
            field=STORE_FIELD,
            display=display,
        ) from None


# ---- sharing with a team: snapshots, outputs, who may cancel ---------------------------

SNAPSHOTS_REMOTE_FIELD = "snapshots_remote"
ARTIFACT_ROOT_FIELD = "artifact_root"
CANCEL_FIELD = "cancel"
CANCEL_CHOICES = ("owner", "anyone")
_TEAM_FIELDS = (SNAPSHOTS_REMOTE_FIELD, ARTIFACT_ROOT_FIELD, CANCEL_FIELD)


@dataclass(frozen=True)
class TeamSettings:
    """What `.runyard/config.yml` says about sharing with a team (all optional):

    - `snapshots_remote`: a git remote's name (`origin`) or URL; each run's snapshot is
      pushed there to `refs/runyard/runs/<run id>`, and fetched from it where missing;
    - `artifact_root`: a folder every teammate reaches at the same path (a network
      mount); runs' kept outputs and registered models' files live under it
      (relative paths are taken from the project folder);
    - `cancel`: `owner` (the default: only the user who ran a run, by git email) or
      `anyone`."""

    snapshots_remote: str | None = None
    artifact_root: Path | None = None
    cancel: str = "owner"


def team_settings(root: Path) -> TeamSettings:
    """The team settings of the project at `root` (see `TeamSettings`); a bad value is a
    ConfigError naming the file, line and field. The file is parsed only when it names
    one of the fields."""
    path = root / ".runyard" / "config.yml"
    try:
        data = path.read_bytes()
    except OSError:
        return TeamSettings()
    if not any(name.encode() in data for name in _TEAM_FIELDS):
        return TeamSettings()
    from runyard.core.yamlpos import parse_yaml

    display = ".runyard/config.yml"
    parsed = parse_yaml(data.decode("utf-8", "replace"))
    if parsed.fatal or not isinstance(parsed.data, dict):
        return TeamSettings()  # the settings' own reader reports a bad file
    found: dict[str, str] = {}
    for name in _TEAM_FIELDS:
        if name not in parsed.data or parsed.data[name] is None:
            continue
        value = parsed.data[name]
        spans = parsed.spans.get((name,))
        span = spans.value if spans else None
        expected = {
            SNAPSHOTS_REMOTE_FIELD: "Expected a git remote's name or URL, like `origin`",
            ARTIFACT_ROOT_FIELD: "Expected a folder's path, like /mnt/team/runyard",
            CANCEL_FIELD: "Expected `owner` (only who ran a run cancels it) or `anyone`",
        }[name]
        if not isinstance(value, str) or not value.strip():
            problem = f"{name} is {'empty' if isinstance(value, str) else 'not a text'}"
            raise ConfigError.at(path, span, problem, expected, field=name, display=display)
        value = value.strip()
        if name == CANCEL_FIELD and value not in CANCEL_CHOICES:
            raise ConfigError.at(
                path, span, f"cancel is {value!r}", expected, field=name, display=display
            )
        if name == SNAPSHOTS_REMOTE_FIELD and (value.startswith("-") or "\n" in value):
            raise ConfigError.at(
                path,
                span,
                f"snapshots_remote {value!r} is not a remote",
                expected,
                field=name,
                display=display,
            )
        found[name] = value
    artifact = found.get(ARTIFACT_ROOT_FIELD)
    return TeamSettings(
        snapshots_remote=found.get(SNAPSHOTS_REMOTE_FIELD),
        artifact_root=(root / Path(artifact).expanduser()) if artifact else None,
        cancel=found.get(CANCEL_FIELD, "owner"),
    )
