"""The run spec: what one run runs, where and how, as typed data.

`runyard.runner.runs.resolve_request` turns what the user asked (a script or a job, a
target) into a `RunSpec`, validated against the job and target files. The store keeps
it as the run's `options` JSON (`RunSpec.to_options()`: the same keys and values as
before there was a RunSpec, so no migration is needed), and the supervisor reads it
back with `RunSpec.from_options()`, which takes rows of any age (a key an older
version did not write gets its default). The run's experiment is a column of its own,
not part of the stored options.

Each backend reads the fields of its target type from a typed options class built
from the spec (`LocalOptions`, `DockerOptions`, `SshOptions`, `SparkOptions`; see
`backend_options`). `raw` on each is the target file's data as is, for the helpers a
backend shares with `runyard target test` and the model commands, which start from a
target file rather than a run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

DEFAULT_OUTPUTS = "outputs"
DEFAULT_TENSORBOARD_DIR = "logs"
DEFAULT_GRACE_SECONDS = 10.0


def _strs(value: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in (value or {}).items()}


@dataclass(frozen=True)
class RunSpec:
    """A run's resolved job and target. `script` or `module` is set (never both)."""

    script: str | None = None
    module: str | None = None
    args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)  # the job's
    requirements: str | None = None  # the job's dependency file, when it names one
    outputs: str = DEFAULT_OUTPUTS
    tensorboard_dir: str = DEFAULT_TENSORBOARD_DIR
    job: str | None = None
    experiment: str = ""  # (stored as a column of the run, not in its options)
    target: str = ""
    target_type: str = ""
    python: str | None = None  # the target's interpreter, when it names one
    target_env: dict[str, str] = field(default_factory=dict)
    system_site_packages: bool = False
    index_url: str | None = None
    cancel_grace_seconds: float = DEFAULT_GRACE_SECONDS
    target_options: dict[str, Any] = field(default_factory=dict)  # the target file's data

    def to_options(self) -> dict[str, Any]:
        """The run's `options` as the store keeps them (the experiment is left out)."""
        return {
            "script": self.script,
            "module": self.module,
            "args": list(self.args),
            "env": dict(self.env),
            "requirements": self.requirements,
            "outputs": self.outputs,
            "tensorboard_dir": self.tensorboard_dir,
            "job": self.job,
            "target": self.target,
            "target_type": self.target_type,
            "python": self.python,
            "target_env": dict(self.target_env),
            "system_site_packages": self.system_site_packages,
            "index_url": self.index_url,
            "cancel_grace_seconds": self.cancel_grace_seconds,
            "target_options": dict(self.target_options),
        }

    @classmethod
    def from_options(cls, options: dict[str, Any], experiment: str = "") -> RunSpec:
        """A spec from stored options, of this version or an older one."""
        grace = options.get("cancel_grace_seconds")
        return cls(
            script=None if options.get("script") is None else str(options["script"]),
            module=None if options.get("module") is None else str(options["module"]),
            args=[str(a) for a in options.get("args") or []],
            env=_strs(options.get("env")),
            requirements=options.get("requirements"),
            outputs=str(options.get("outputs", DEFAULT_OUTPUTS)),
            tensorboard_dir=str(options.get("tensorboard_dir") or DEFAULT_TENSORBOARD_DIR),
            job=options.get("job"),
            experiment=experiment,
            target=str(options.get("target") or ""),
            target_type=str(options.get("target_type") or ""),
            python=options.get("python"),
            target_env=_strs(options.get("target_env")),
            system_site_packages=bool(options.get("system_site_packages")),
            index_url=options.get("index_url"),
            cancel_grace_seconds=DEFAULT_GRACE_SECONDS if grace is None else float(grace),
            target_options=dict(options.get("target_options") or {}),
        )

    def user_env(self) -> dict[str, str]:
        """The environment variables the user gave the run: the target's, then the
        job's over them (each backend adds Runyard's own on top)."""
        return {**self.target_env, **self.env}

    def argv(self, python: str) -> list[str]:
        """The run's command line with the given interpreter."""
        if self.module:
            return [python, "-m", self.module, *self.args]
        return [python, str(self.script), *self.args]


@dataclass(frozen=True)
class LocalOptions:
    """A `local` target: a subprocess in a cached virtual environment, or in the
    target's own interpreter."""

    python: str | None = None
    system_site_packages: bool = False
    index_url: str | None = None

    @classmethod
    def of(cls, spec: RunSpec) -> LocalOptions:
        return cls(spec.python, spec.system_site_packages, spec.index_url)


@dataclass(frozen=True)
class DockerOptions:
    """A `docker` target: a container on a local or remote (ssh://, tcp://) engine."""

    raw: dict[str, Any]
    address: str | None = None
    image: str | None = None  # a user-managed image: used as is
    base_image: str | None = None  # else the run's image is built on this one
    python: str = "python3"
    user: str | None = None
    gpus: Any = None
    volumes: list[str] = field(default_factory=list)
    shm_size: str | int | None = None

    @classmethod
    def from_target(cls, raw: dict[str, Any]) -> DockerOptions:
        return cls(
            raw=dict(raw),
            address=raw.get("address"),
            image=str(raw["image"]) if raw.get("image") else None,
            base_image=str(raw["base_image"]) if raw.get("base_image") else None,
            python=str(raw.get("python") or "python3"),
            user=raw.get("user") or None,
            gpus=raw.get("gpus"),
            volumes=[str(v) for v in raw.get("volumes") or []],
            shm_size=raw.get("shm_size"),
        )

    @classmethod
    def of(cls, spec: RunSpec) -> DockerOptions:
        return cls.from_target(spec.target_options)


@dataclass(frozen=True)
class SshOptions:
    """An `ssh` target: a machine reached over SSH, with Python 3.8+ and no Docker.
    `raw` (with `name`) is what `sshconn.endpoint` reads the login from."""

    raw: dict[str, Any]
    name: str
    python: str = "python3"
    workdir: str = "~/.runyard"

    @classmethod
    def from_target(cls, raw: dict[str, Any], name: str | None = None) -> SshOptions:
        data = dict(raw)
        if name is not None:
            data.setdefault("name", name)
        return cls(
            raw=data,
            name=str(data.get("name") or "TARGET"),
            python=str(data.get("python") or "python3"),
            workdir=str(data.get("workdir") or "~/.runyard"),
        )

    @classmethod
    def of(cls, spec: RunSpec) -> SshOptions:
        return cls.from_target(spec.target_options, spec.target or None)


@dataclass(frozen=True)
class SparkOptions:
    """A `spark` target: spark-submit to a local, standalone, YARN or Kubernetes master."""

    raw: dict[str, Any]
    master: str = ""
    deploy_mode: str = "client"
    deploy_mode_given: bool = False  # (an explicit `deploy_mode:` is passed on as is)
    spark_submit: str | None = None
    conf: dict[str, Any] = field(default_factory=dict)
    packages: list[str] = field(default_factory=list)
    py_files: list[str] = field(default_factory=list)

    @classmethod
    def from_target(cls, raw: dict[str, Any]) -> SparkOptions:
        return cls(
            raw=dict(raw),
            master=str(raw.get("master", "")),
            deploy_mode=str(raw.get("deploy_mode") or "client"),
            deploy_mode_given=bool(raw.get("deploy_mode")),
            spark_submit=str(raw["spark_submit"]) if raw.get("spark_submit") else None,
            conf=dict(raw.get("conf") or {}),
            packages=[str(p) for p in raw.get("packages") or []],
            py_files=[str(p) for p in raw.get("py_files") or []],
        )

    @classmethod
    def of(cls, spec: RunSpec) -> SparkOptions:
        return cls.from_target(spec.target_options)


BackendOptions = LocalOptions | DockerOptions | SshOptions | SparkOptions


def backend_options(spec: RunSpec) -> BackendOptions | None:
    """The typed options of the spec's target type (None for a type not known here)."""
    kinds: dict[str, Any] = {
        "local": LocalOptions,
        "docker": DockerOptions,
        "ssh": SshOptions,
        "spark": SparkOptions,
    }
    kind = kinds.get(spec.target_type)
    return None if kind is None else kind.of(spec)
