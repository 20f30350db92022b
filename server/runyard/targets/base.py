"""The one interface every compute target implements.

A backend turns a prepared run (its snapshot exported to a working copy) into a
running execution, and brings the outputs back when it ends. The per-run supervisor
(`runyard.runner.supervisor`) drives it and owns the run's lifecycle and store writes.
Adding a target type means one new module here and one line in `BACKENDS` (and, when
its target file has fields of its own, an options class in `spec.py`). What backends
share (process groups, reconnect-or-lost, log cursors, the copy-back of outputs) is in
`common.py`; the run they are given is typed (`RunContext.spec`, `spec.RunSpec`).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from runyard.core.errors import RunyardError, UsageError
from runyard.targets.spec import RunSpec

# type name -> "module:Class"; imported only when a run of that type is handled.
# Types whose runs outlive their supervisor (a container, a remote process, a local
# process group, a job on a Ray cluster) and can be taken over.
REATTACHABLE = {"docker", "ssh", "local", "ray"}
# What an execution's wait/poll returns when the run ended but how is not known (a local
# run's process, followed by a supervisor that is not its parent, whose exit status was
# not recorded): the supervisor records the run failed and says so.
EXIT_UNKNOWN = -(1 << 16)
BACKENDS: dict[str, str] = {
    "local": "runyard.targets.local:LocalBackend",
    "docker": "runyard.targets.docker:DockerBackend",
    "ssh": "runyard.targets.ssh:SshBackend",
    "spark": "runyard.targets.spark:SparkBackend",
    "ray": "runyard.targets.ray:RayBackend",
}


class RunLost(RunyardError):
    """Raised by an execution whose backend no longer knows the run (a container that
    vanished, an engine gone for good): the run is recorded as `lost`."""


@dataclass
class RunContext:
    """Everything a backend needs to run one run; built by the supervisor.

    `options` is the run's resolved job and target as the store keeps them; backends
    read them typed, from `spec` (and their target type's options class, built from it:
    `runyard.targets.spec`)."""

    run_id: str
    project_root: Path
    run_dir: Path
    workdir: Path  # the snapshot, exported
    outputs: str  # outputs folder, relative to the working copy
    options: dict[str, Any]  # the run's resolved job + target options, as stored
    env: dict[str, str]  # RUNYARD_* variables for the run's process
    log: Callable[[str], None]  # a line from Runyard into the run's log
    log_fd: int  # the run's log file, for child processes' output
    envs_dir: Path
    set_env_hash: Callable[[str | None], None] = field(default=lambda _h: None)
    # Tags Runyard itself records on the run (a Spark application's id, its UI address).
    set_tags: Callable[[dict[str, str]], None] = field(default=lambda _t: None)
    spec: RunSpec = field(init=False)

    def __post_init__(self) -> None:
        self.spec = RunSpec.from_options(self.options)


class Execution(Protocol):
    """A started run."""

    pid: int | None

    def poll(self) -> int | None:
        """The exit code once it ended (negative: killed by that signal), else None."""

    def wait(self, timeout: float) -> int | None:
        """Like poll, but waits up to `timeout` seconds for the end."""

    def terminate(self) -> None:
        """Ask it to stop (SIGTERM to the whole process group, or the backend's like)."""

    def kill(self) -> None:
        """Stop it now."""


class Backend(Protocol):
    def prepare(self, ctx: RunContext) -> None:
        """Build or find the environment. May take long; progress goes to ctx.log."""

    def start(self, ctx: RunContext) -> Execution:
        """Start the run's process."""

    def finish(self, ctx: RunContext) -> Path | None:
        """After the end: the folder holding the run's outputs, if any."""

    def check(self, options: dict[str, Any]) -> list[Check]:
        """`runyard target test`: reachable, versions, what is missing and how to fix it."""


@runtime_checkable
class Reattachable(Protocol):
    """A backend whose runs live outside the supervisor (a container, a remote or local
    process group): a new supervisor can take over a running run whose supervisor died."""

    def attach(self, ctx: RunContext) -> Execution | None:
        """The run's execution, found again; None when it is gone."""


@runtime_checkable
class OverSsh(Protocol):
    """A backend that reaches its machine over SSH, whose host key the user accepts."""

    def ssh_host(self, options: dict[str, Any]) -> tuple[str, int]:
        """(host, port) of the SSH server; UsageError when this target has none."""


@dataclass(frozen=True)
class Check:
    """One line of `runyard target test`: what was checked, whether it is fine, how to fix."""

    name: str
    ok: bool
    detail: str
    fix: str | None = None


def load_backend(target_type: str) -> Backend:
    spec = BACKENDS.get(target_type)
    if spec is None:
        known = ", ".join(sorted(BACKENDS))
        raise UsageError(
            f"Target type {target_type!r} is not available in this version of Runyard.",
            hint=f"use one of: {known}",
        )
    module_name, _, cls_name = spec.partition(":")
    backend: Backend = getattr(importlib.import_module(module_name), cls_name)()
    return backend


def check_target(target_type: str, options: dict[str, Any]) -> list[Check]:
    return load_backend(target_type).check(options)


def trust_host_key(
    target_type: str, options: dict[str, Any], expected: str | None
) -> tuple[str, str, bool]:
    """`runyard target trust`: the host key of the target's machine, recorded in
    ~/.ssh/known_hosts when its fingerprint is `expected` (see `sshconn.trust_host_key`)."""
    backend = load_backend(target_type)
    if not isinstance(backend, OverSsh):
        raise UsageError(
            f"Targets of type {target_type} are not reached over SSH: there is no host key "
            "to trust.",
            hint="host keys belong to `ssh` targets and `docker` targets with an ssh:// address",
        )
    from runyard.targets import sshconn

    host, port = backend.ssh_host(options)
    return sshconn.trust_host_key(host, port, expected)
