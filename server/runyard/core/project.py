"""Where a project's files live: the project root, `.runyard/` and its machine-local state."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from runyard.core.errors import UsageError

RUNYARD_DIR = ".runyard"


@dataclass(frozen=True)
class Project:
    """A folder with a `.runyard/` folder in it."""

    root: Path

    @property
    def runyard_dir(self) -> Path:
        return self.root / RUNYARD_DIR

    @property
    def targets_dir(self) -> Path:
        return self.runyard_dir / "targets"

    @property
    def jobs_dir(self) -> Path:
        return self.runyard_dir / "jobs"

    @property
    def state_dir(self) -> Path:
        """Machine-local state: the store, environment caches, run folders. Never committed."""
        return self.runyard_dir / "state"

    @property
    def store_path(self) -> Path:
        return self.state_dir / "runyard.db"

    @property
    def runs_dir(self) -> Path:
        return self.state_dir / "runs"

    @property
    def envs_dir(self) -> Path:
        return self.state_dir / "envs"

    def run_dir(self, run_id: str) -> Path:
        return self.runs_dir / run_id

    @property
    def name(self) -> str:
        return self.root.name

    def relpath(self, path: Path) -> str:
        """`path` relative to the project root, in POSIX form, for messages."""
        try:
            return Path(os.path.relpath(path, self.root)).as_posix()
        except ValueError:
            return str(path)


def find_project(start: Path | None = None) -> Project:
    """The project containing `start` (default: the current folder), found by walking up."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / RUNYARD_DIR).is_dir():
            return Project(folder)
    raise UsageError(
        f"{here} is not inside a Runyard project (no {RUNYARD_DIR}/ folder here or above).",
        hint="run `runyard init` in the project folder first",
    )
