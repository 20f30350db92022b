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
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from runyard.core.store.engine import Tables


@dataclass(frozen=True)
class RunLock:
    """A run's recorded lock. `packages` maps each normalized distribution name to its
    version, in name order."""

    run_id: str
    python: str
    installer: str | None
    recorded: float
    packages: dict[str, str] = field(default_factory=dict)

    def requirements(self) -> list[str]:
        """`name==version` lines, as a requirements file pins them, in name order."""
        return [f"{name}=={version}" for name, version in self.packages.items()]

    def to_json(self) -> dict[str, object]:
        return {
            "python": self.python,
            "installer": self.installer,
            "recorded": self.recorded,
            "packages": dict(self.packages),
        }


class LockTables(Tables):
    """`run_locks` and `run_lock_packages` (see the module docstring)."""

    def set_run_lock(
        self,
        run_id: str,
        python: str,
        packages: Mapping[str, str] | Iterable[tuple[str, str]],
        installer: str | None = None,
    ) -> None:
        """Record (or replace) run `run_id`'s lock: the interpreter's version, the
        installed distributions as name -> version (or (name, version) pairs), and who
        built the environment."""
        items = packages.items() if isinstance(packages, Mapping) else packages
        rows = sorted({str(n): str(v) for n, v in items}.items())
        with self._tx() as db:
            db.execute("DELETE FROM run_lock_packages WHERE run_id = ?", (run_id,))
            db.execute(
                "INSERT INTO run_locks (run_id, python, installer, recorded) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (run_id) DO UPDATE SET python = excluded.python, "
                "installer = excluded.installer, recorded = excluded.recorded",
                (run_id, python, installer, time.time()),
            )
            db.executemany(
                "INSERT INTO run_lock_packages (run_id, name, version) VALUES (?, ?, ?)",
                [(run_id, name, version) for name, version in rows],
            )

    def run_lock(self, run_id: str) -> RunLock | None:
        """Run `run_id`'s lock; None when none was recorded (a run that never got its
        environment ready, a Spark run, or one from before locks were recorded)."""
        rows = self._read(
            "SELECT python, installer, recorded FROM run_locks WHERE run_id = ?", (run_id,)
        )
        if not rows:
            return None
        python, installer, recorded = rows[0]
        packages = self._read(
            "SELECT name, version FROM run_lock_packages WHERE run_id = ? ORDER BY name",
            (run_id,),
        )
        return RunLock(run_id, python, installer, recorded, {n: v for n, v in packages})
