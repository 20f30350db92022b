"""Fixtures the integration files share (tests/conftest.py has `project` and the git
identity every tier uses; tests/helpers.py has the CLI driver and the real parts)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import helpers

# What the Spark tests' projects ask for (their requirements.txt).
PYSPARK = "pyspark>=4,<5"


@pytest.fixture(scope="module")
def engine() -> Any:
    """A client of this machine's Docker engine, with the offline base image there
    (`helpers.docker_engine`: a failure under CI when either is missing)."""
    return helpers.docker_engine()


@pytest.fixture(scope="session")
def pyspark_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding the wheel of the pyspark that `PYSPARK` resolves to, made once
    for the session by pip from the same sources (pip keeps the wheel it builds from
    PyPI's source distribution in its cache, so later sessions only copy it)."""
    folder = tmp_path_factory.mktemp("pyspark-wheel")
    made = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", PYSPARK,
         "--wheel-dir", str(folder)],
        capture_output=True, text=True, timeout=1200, check=False,
    )  # fmt: skip
    assert made.returncode == 0, made.stdout[-3000:] + made.stderr[-3000:]
    assert list(folder.glob("pyspark-*.whl")), (made.stdout, made.stderr)
    return folder


@pytest.fixture(scope="module")
def pyspark_from_a_wheel(pyspark_wheel: Path) -> Iterator[None]:
    """Environments built while this module's tests run also find pyspark's wheel
    (pip's `find-links`, which Runyard hands uv too): the same release as from PyPI,
    without building its source distribution again for each environment (~30 s)."""
    from runyard.core import pip_sources

    found = pip_sources.read_settings().get("find-links", "")
    links = " ".join(filter(None, [found.strip(), str(pyspark_wheel)]))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PIP_FIND_LINKS", links)
        yield
