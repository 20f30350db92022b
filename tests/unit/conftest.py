"""Fixtures the unit files share.

Here `project` is a `Project` made in-process the way `runyard init` makes one
(`init_project`): the unit tests write its target and job files and load them without a
subprocess. (tests/conftest.py's `project`, for the tiers that drive the CLI, is the
folder of a git repository that `runyard init` was run in.) A file that needs more in
its project overrides `project` and asks for this one by the same name."""

from __future__ import annotations

from pathlib import Path

import pytest

from runyard.core.config import init_project
from runyard.core.project import Project


@pytest.fixture
def project(tmp_path: Path) -> Project:
    proj, _ = init_project(tmp_path / "proj")
    return proj
