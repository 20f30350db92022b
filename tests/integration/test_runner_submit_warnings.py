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


def _submit(project: Path, files: dict[str, str]) -> list[str]:
    """Write `files` into the project, submit train.py through the runner, wait for the
    run to end, and return what the progress callback was told."""
    (project / "train.py").write_text("print('ok')\n")
    for name, text in files.items():
        (project / name).write_text(text)
    messages: list[str] = []
    run = runs.submit(
        find_project(project),
        runs.SubmitRequest(script="train.py", cwd=project),
        messages.append,
    )

    def ended() -> bool:
        with runs.open_store(find_project(project)) as store:
            runs.reconcile(find_project(project), store)
            return not store.get_run(run.id).live

    until(ended, what=f"run {run.id} ended")
    return messages


def test_submit_reports_untracked_secret_files_through_its_progress_callback_before_the_snapshot(
    project: Path,
) -> None:
    messages = _submit(
        project, {".env": "API_TOKEN=s3cret\n", "server.pem": "-----BEGIN CERTIFICATE-----\n"}
    )
    warnings = [m for m in messages if m.startswith("warning: ")]
    assert len(warnings) == 1, messages
    assert ".env, server.pem look like secrets" in warnings[0], warnings[0]
    assert ".runyardignore" in warnings[0]
    assert messages.index(warnings[0]) < messages.index("snapshot"), messages


def test_submit_gives_no_warning_when_the_secrets_are_ignored(project: Path) -> None:
    messages = _submit(project, {".env": "API_TOKEN=s3cret\n", ".runyardignore": ".env\n"})
    assert messages == ["snapshot", "start"], messages
