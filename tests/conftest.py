"""Shared fixtures: real git repositories and the real `runyard` command."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import git, runyard

# The tests mean the plain `runyard` process when they signal or kill it, so the warm
# submit server (runyard.cli.quick) is off unless a run of the suite asks for it;
# tests/integration/test_submit_server.py turns it on for what it tests.
os.environ.setdefault("RUNYARD_SUBMIT_SERVER", "0")
# Likewise the language server's warm server (runyard.lsp.warm): the tests that start
# `python -m runyard.lsp` mean that process. The extension's tests in a real VS Code
# (tests/e2e) run with it on, as users do: their harness keeps RUNYARD_* variables away
# from code-server.
os.environ.setdefault("RUNYARD_SERVER_WARM", "0")


@pytest.fixture(autouse=True)
def _git_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests commit in their own repositories; give git an identity without touching
    any global configuration."""
    for who in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{who}_NAME", "Runyard Tests")
        monkeypatch.setenv(f"GIT_{who}_EMAIL", "tests@localhost")
    monkeypatch.delenv("RUNYARD_TRACKING_URI", raising=False)
    monkeypatch.delenv("RUNYARD_RUN_ID", raising=False)


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Path]:
    """A git repository with one commit, made a Runyard project."""
    root = tmp_path / "proj"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    (root / "README.md").write_text("demo\n")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "first")
    runyard(root, "init", check=True)
    yield root
