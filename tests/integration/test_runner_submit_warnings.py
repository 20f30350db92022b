"""`runyard.runner.runs.submit` warns about secrets going into a snapshot through its
progress callback, so both faces (the CLI and the language server) say it: the CLI
prints it (tests/integration/test_cli_run_safety.py), the language server shows it in
the submission's progress."""

from __future__ import annotations

from pathlib import Path

import pytest

from runyard.core.project import find_project
from runyard.runner import runs
from tests.helpers import until

pytestmark = pytest.mark.integration


def _ended(project_root: Path, run_id: str) -> bool:
    project = find_project(project_root)
    with runs.open_store(project) as store:
        runs.reconcile(project, store)
        return not store.get_run(run_id).live


def test_submit_reports_untracked_secret_files_through_its_progress_callback_before_the_snapshot(
    project: Path,
) -> None:
    (project / "train.py").write_text("print('ok')\n")
    (project / ".env").write_text("API_TOKEN=s3cret\n")
    (project / "server.pem").write_text("-----BEGIN CERTIFICATE-----\n")
    messages: list[str] = []
    run = runs.submit(
        find_project(project),
        runs.SubmitRequest(script="train.py", cwd=project),
        messages.append,
    )
    until(lambda: _ended(project, run.id), what=f"run {run.id} ended")

    warnings = [m for m in messages if m.startswith("warning: ")]
    assert len(warnings) == 1, messages
    assert ".env, server.pem look like secrets" in warnings[0], warnings[0]
    assert ".runyardignore" in warnings[0]
    assert messages.index(warnings[0]) < messages.index("snapshot"), messages


def test_submit_gives_no_warning_when_the_secrets_are_ignored(project: Path) -> None:
    (project / "train.py").write_text("print('ok')\n")
    (project / ".env").write_text("API_TOKEN=s3cret\n")
    (project / ".runyardignore").write_text(".env\n")
    messages: list[str] = []
    run = runs.submit(
        find_project(project),
        runs.SubmitRequest(script="train.py", cwd=project),
        messages.append,
    )
    until(lambda: _ended(project, run.id), what=f"run {run.id} ended")
    assert messages == ["snapshot", "start"], messages
