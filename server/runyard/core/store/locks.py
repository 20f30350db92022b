"""Each run's lock: the exact resolved set its environment held when it was ready.

A run's lock is its interpreter's version, who built the environment (``uv``, ``pip``,
or None for an interpreter or image Runyard did not build) and every installed
distribution as a normalized name and a version (`runyard.core.envs.EnvLock`, read by
`runyard.core.freeze` in the environment itself). The supervisor records it once the
backend has the environment ready (`set_run_lock`); `run_lock` reads it back for the
faces (`runyard runs show`, the run details view) and for comparing two runs.

Two tables, so packages can be asked about in SQL (which runs had numpy 2.x):
`run_locks` (one row per run) and `run_lock_packages` (one row per distribution), both
removed with their run. Recording again replaces the run's lock whole.

Host facts (`HostFacts`, schema version 7): the machine the environment was measured on,
by the same program in the same place (this machine, the run's container, the ``ssh``
target's machine): OS and release, distribution, machine type, CPU model and count, GPU
names. They are kept as one JSON object in `run_locks.host` (NULL for a lock recorded
before them); unknown keys are kept on reading, so a newer Runyard's facts survive an
older one's reading, and a missing one reads as None, never as a guess.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from runyard.core.store.engine import Tables


@dataclass(frozen=True)
class HostFacts:
    """The machine a run's environment was measured on (`runyard.core.freeze`'s
    ``host``). `os` and `release` as Python's platform module names them ("Linux",
    "6.1.0-18-amd64"), `distro` the OS's own name ("Debian GNU/Linux 12 (bookworm)"),
    `machine` the architecture ("x86_64"), `cpu` the CPU model and `cpus` how many this
    process may use, `gpus` the GPU names nvidia-smi lists (empty: none found)."""

    os: str | None = None
    release: str | None = None
    distro: str | None = None
    machine: str | None = None
    cpu: str | None = None
    cpus: int | None = None
    gpus: tuple[str, ...] = ()

    FIELDS = ("os", "release", "distro", "machine", "cpu", "cpus", "gpus")

    @classmethod
    def from_json(cls, doc: object) -> HostFacts | None:
        """From the JSON object freeze writes (or a stored one); None if it is not one."""
        if not isinstance(doc, dict):
            return None

        def text(key: str) -> str | None:
            value = doc.get(key)
            return str(value) if value not in (None, "") else None

        cpus = doc.get("cpus")
        gpus = doc.get("gpus")
        return cls(
            os=text("os"),
            release=text("release"),
            distro=text("distro"),
            machine=text("machine"),
            cpu=text("cpu"),
            cpus=cpus if isinstance(cpus, int) and not isinstance(cpus, bool) else None,
            gpus=tuple(str(g) for g in gpus) if isinstance(gpus, list) else (),
        )

    def to_json(self) -> dict[str, object]:
        return {
            "os": self.os,
            "release": self.release,
            "distro": self.distro,
            "machine": self.machine,
            "cpu": self.cpu,
            "cpus": self.cpus,
            "gpus": list(self.gpus),
        }

    def summary(self) -> str:
        """One line: "Linux 6.1.0 (Debian 12), x86_64, 8 x Intel Xeon, no GPU"."""
        system = " ".join(p for p in (self.os, self.release) if p) or "unknown OS"
        if self.distro:
            system += f" ({self.distro})"
        cpu = self.cpu or "unknown CPU"
        if self.cpus:
            cpu = f"{self.cpus} x {cpu}"
        gpus = ", ".join(self.gpus) if self.gpus else "no GPU"
        return ", ".join(p for p in (system, self.machine, cpu, gpus) if p)

    def differences(self, other: HostFacts) -> list[str]:
        """ "field: a -> b" for each fact that differs from `other`'s."""

        def show(value: object) -> str:
            if isinstance(value, tuple):
                return ", ".join(value) or "none"
            return "unknown" if value is None else str(value)

        out = []
        for key in self.FIELDS:
            a, b = getattr(self, key), getattr(other, key)
            if a != b:
                out.append(f"{key}: {show(a)} -> {show(b)}")
        return out


@dataclass(frozen=True)
class RunLock:
    """A run's recorded lock. `packages` maps each normalized distribution name to its
    version, in name order."""

    run_id: str
    python: str
    installer: str | None
    recorded: float
    packages: dict[str, str] = field(default_factory=dict)
    host: HostFacts | None = None  # None: not recorded (a lock from before host facts)

    def requirements(self) -> list[str]:
        """`name==version` lines, as a requirements file pins them, in name order."""
        return [f"{name}=={version}" for name, version in self.packages.items()]

    def to_json(self) -> dict[str, object]:
        return {
            "python": self.python,
            "installer": self.installer,
            "recorded": self.recorded,
            "packages": dict(self.packages),
            "host": self.host.to_json() if self.host else None,
        }


class LockTables(Tables):
    """`run_locks` and `run_lock_packages` (see the module docstring)."""

    def set_run_lock(
        self,
        run_id: str,
        python: str,
        packages: Mapping[str, str] | Iterable[tuple[str, str]],
        installer: str | None = None,
        host: HostFacts | None = None,
    ) -> None:
        """Record (or replace) run `run_id`'s lock: the interpreter's version, the
        installed distributions as name -> version (or (name, version) pairs), who
        built the environment, and the host it was measured on."""
        items = packages.items() if isinstance(packages, Mapping) else packages
        rows = sorted({str(n): str(v) for n, v in items}.items())
        host_json = json.dumps(host.to_json(), sort_keys=True) if host else None
        with self._tx() as db:
            db.execute("DELETE FROM run_lock_packages WHERE run_id = ?", (run_id,))
            db.execute(
                "INSERT INTO run_locks (run_id, python, installer, recorded, host) "
                "VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (run_id) DO UPDATE SET python = excluded.python, "
                "installer = excluded.installer, recorded = excluded.recorded, "
                "host = excluded.host",
                (run_id, python, installer, time.time(), host_json),
            )
            db.executemany(
                "INSERT INTO run_lock_packages (run_id, name, version) VALUES (?, ?, ?)",
                [(run_id, name, version) for name, version in rows],
            )

    def run_lock(self, run_id: str) -> RunLock | None:
        """Run `run_id`'s lock; None when none was recorded (a run that never got its
        environment ready, a Spark run, or one from before locks were recorded)."""
        rows = self._read(
            "SELECT python, installer, recorded, host FROM run_locks WHERE run_id = ?", (run_id,)
        )
        if not rows:
            return None
        python, installer, recorded, host_json = rows[0]
        packages = self._read(
            "SELECT name, version FROM run_lock_packages WHERE run_id = ? ORDER BY name",
            (run_id,),
        )
        host = None
        if host_json:
            try:
                host = HostFacts.from_json(json.loads(host_json))
            except ValueError:
                host = None  # unreadable facts are no facts, never a failed read
        return RunLock(run_id, python, installer, recorded, {n: v for n, v in packages}, host=host)
