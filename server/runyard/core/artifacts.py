"""Where runs' kept outputs and registered models' files live: the project's artifact
root, one small class (`ArtifactRoot`) that resolves paths, so that every reader and
writer asks it instead of building `<run dir>/outputs` itself.

- `StateFolder` (the default): a run's outputs in its run folder
  (`.runyard/state/runs/<id>/outputs`), the model store in `.runyard/state/models`;
  this machine's alone.
- `SharedFolder`: `artifact_root: <folder>` in `.runyard/config.yml`, a folder every
  teammate reaches at the same path (a network mount): `<folder>/runs/<id>/outputs`
  and `<folder>/models` (content-addressed, so two machines registering the same file
  keep it once). With a team store, a teammate's `runyard runs show`, the outputs in
  the editor and the model commands open what another machine kept. A run's outputs
  already kept in its run folder before the setting was made are still found there.
  When the folder is not there (the share not mounted), a run's outputs stay in its
  run folder and the run's log says why (`outputs_for_writing`).

An object store would be a third class: the same questions, answered by a local cache
of what it holds (paths), filled on demand.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from runyard.core.project import Project


class ArtifactRoot:
    """The interface: where run `run_id`'s outputs are, and where the model store is."""

    shared = False

    def __init__(self, project: Project) -> None:
        self.project = project

    def run_outputs(self, run_id: str) -> Path:
        return self.project.run_dir(run_id) / "outputs"

    def models(self) -> Path:
        return self.project.state_dir / "models"

    def describe(self) -> str:
        return "this machine's .runyard/state"


class StateFolder(ArtifactRoot):
    """The default: everything under the project's own `.runyard/state`."""


class SharedFolder(ArtifactRoot):
    """`artifact_root: <folder>`: outputs and models under a folder the team shares."""

    shared = True

    def __init__(self, project: Project, folder: Path) -> None:
        super().__init__(project)
        self.folder = folder

    def run_outputs(self, run_id: str) -> Path:
        shared = self.folder / "runs" / run_id / "outputs"
        local = super().run_outputs(run_id)
        if not shared.exists() and local.exists():
            return local  # kept before the setting was made, or while the share was away
        return shared

    def models(self) -> Path:
        return self.folder / "models"

    def describe(self) -> str:
        return f"the shared folder {self.folder}"


def artifact_root(project: Project) -> ArtifactRoot:
    """The project's artifact root, as `.runyard/config.yml` names it (ConfigError for a
    bad value, naming the file and line)."""
    from runyard.core.config.settings import team_settings

    folder = team_settings(project.root).artifact_root
    return SharedFolder(project, folder) if folder is not None else StateFolder(project)


def outputs_for_writing(project: Project, run_id: str, log: Callable[[str], None]) -> Path:
    """Where a run's supervisor keeps the run's outputs (its parent folder made): the
    shared folder when there is one and it is reachable, else the run folder, said in
    the run's log."""
    local = project.run_dir(run_id) / "outputs"
    try:
        root = artifact_root(project)
    except Exception as exc:  # a bad setting: the run's outputs are kept all the same
        log(f"the outputs are kept in the run folder: {exc}")
        return local
    if not isinstance(root, SharedFolder):
        return local
    if not root.folder.is_dir():
        log(
            f"the outputs are kept in the run folder: the artifact root {root.folder} "
            "(artifact_root in .runyard/config.yml) is not there; mount it, or fix the path"
        )
        return local
    dest = root.folder / "runs" / run_id / "outputs"
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        log(f"the outputs are kept in the run folder: {dest.parent} cannot be made: {exc}")
        return local
    return dest
