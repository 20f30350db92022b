"""The typed options of the targets on other machines: `DockerOptions`, `SshOptions`,
`SparkOptions` (see `runyard.targets.spec`, which gives them by name and imports this
module only when one is first asked for: a local run never needs them)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from runyard.targets.spec import RunSpec


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
