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
`backend_options`). The last three live in `runyard.targets.remote_options` and are
imported from there when first asked for (`from runyard.targets.spec import
DockerOptions` works as before), so that a local run's supervisor does not make their
classes. `raw` on each is the target file's data as is, for the helpers a
backend shares with `runyard target test` and the model commands, which start from a
target file rather than a run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Union

if TYPE_CHECKING:
    from runyard.targets.remote_options import DockerOptions as DockerOptions
    from runyard.targets.remote_options import SparkOptions as SparkOptions
    from runyard.targets.remote_options import SshOptions as SshOptions

DEFAULT_OUTPUTS = "outputs"
DEFAULT_TENSORBOARD_DIR = "logs"
DEFAULT_GRACE_SECONDS = 10.0
# The program a notebook run runs (`runner/notebook_runner.py`, copied into the run's
# lib/ beside the tracking client): `python -m runyard_notebook_runner NOTEBOOK ARGS`.
NOTEBOOK_RUNNER = "runyard_notebook_runner"


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
        """The run's command line with the given interpreter. A notebook (`.ipynb`) is
        run by the notebook runner, its arguments being its parameters."""
        if self.module:
            return [python, "-m", self.module, *self.args]
        if str(self.script).lower().endswith(".ipynb"):
            return [python, "-m", NOTEBOOK_RUNNER, str(self.script), *self.args]
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


BackendOptions = Union[LocalOptions, "DockerOptions", "SshOptions", "SparkOptions"]

_ELSEWHERE = ("DockerOptions", "SshOptions", "SparkOptions")  # in `remote_options`


def __getattr__(name: str) -> Any:
    """`DockerOptions`, `SshOptions`, `SparkOptions`, from `remote_options` (imported
    now: a local run never needs them)."""
    if name in _ELSEWHERE:
        from runyard.targets import remote_options

        value = getattr(remote_options, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def backend_options(spec: RunSpec) -> BackendOptions | None:
    """The typed options of the spec's target type (None for a type not known here)."""
    from runyard.targets.remote_options import DockerOptions, SparkOptions, SshOptions

    kinds: dict[str, Any] = {
        "local": LocalOptions,
        "docker": DockerOptions,
        "ssh": SshOptions,
        "spark": SparkOptions,
    }
    kind = kinds.get(spec.target_type)
    return None if kind is None else kind.of(spec)
