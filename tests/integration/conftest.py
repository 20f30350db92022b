"""Fixtures the integration files share (tests/conftest.py has `project` and the git
identity every tier uses; tests/helpers.py has the CLI driver and the real parts)."""

from __future__ import annotations

from typing import Any

import pytest

from tests import helpers


@pytest.fixture(scope="module")
def engine() -> Any:
    """A client of this machine's Docker engine, with the offline base image there
    (`helpers.docker_engine`: a failure under CI when either is missing)."""
    return helpers.docker_engine()
