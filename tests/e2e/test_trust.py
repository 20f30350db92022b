"""Workspace trust in a real VS Code (code-server with trust on, in headless Chromium):
a Runyard project opened in Restricted Mode starts no server and offers nothing that
runs code; trusting the folder starts the server and the views fill in.

    .venv/bin/python -m pytest tests/e2e/test_trust.py -q
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e import harness
from tests.e2e.harness import CodeServer
from tests.helpers import until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

# Leaves a mark when anything runs it.
MARK_PY = """\
from pathlib import Path

Path(__file__).with_name("ran.txt").write_text("train.py ran\\n")
"""

NOT_STARTED = "Untrusted workspace: the Runyard server is not started."


@pytest.fixture(scope="module")
def trusting(
    code_server: CodeServer, vsix: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[CodeServer]:
    """A second code-server, with workspace trust on (the first one disables it)."""
    server = CodeServer(
        home=tmp_path_factory.mktemp("code-server-trust"),
        vsix=vsix,
        python=code_server.python,
        workspace_trust=True,
    )
    with server.serving():
        yield server


def _servers(server: CodeServer) -> list[str]:
    """Runyard server processes started from this code-server's copy of the extension."""
    found = subprocess.run(
        ["pgrep", "-af", "runyard_server.py"], capture_output=True, text=True
    ).stdout
    return [line for line in found.splitlines() if str(server.ext_dir) in line]


def test_an_untrusted_folder_runs_nothing_until_it_is_trusted(
    trusting: CodeServer, browser: Any, tmp_path: Path
) -> None:
    folder = harness.make_project(tmp_path / "proj", {"train.py": MARK_PY})
    evidence = "test_an_untrusted_folder_runs_nothing_until_it_is_trusted"
    with harness.window(browser, trusting, folder, evidence=evidence) as wb:
        page = wb.page
        targets = wb.view("Compute Targets")
        targets.get_by_text("Runyard runs nothing in an untrusted folder").wait_for(timeout=60_000)
        until(
            lambda: NOT_STARTED in trusting.runyard_log(),
            timeout=60,
            what="the extension saying it did not start its server",
        )
        status = page.locator(".part.statusbar .statusbar-item").filter(has_text="Runyard")
        status.first.wait_for(timeout=30_000)
        assert status.first.locator(".codicon-shield").count() == 1
        assert _servers(trusting) == []
        for view, says in (
            ("Runs", "Runs are off in an untrusted folder"),
            ("Models", "Models are off in an untrusted folder"),
            ("Gallery", "The gallery shows once the folder is trusted"),
        ):
            wb.expand_view(view)
            wb.view(view).get_by_text(says).wait_for(timeout=30_000)

        # Nothing that runs code is offered; what only shows things is.
        wb.open_file("train.py")
        wb.palette(">Runyard: ")
        labels = page.locator(".quick-input-list .label-name")
        until(
            lambda: "Runyard: Show Server Log" in labels.all_inner_texts(),
            timeout=30,
            what="the palette listing Runyard's commands",
        )
        offered = set(labels.all_inner_texts())
        wb.shot("14-untrusted-palette")
        page.keyboard.press("Escape")
        for title in (
            "Submit Run",
            "Submit Job",
            "Rerun",
            "Add Compute Target",
            "Test Compute Target",
        ):
            assert f"Runyard: {title}" not in offered, offered
        wb.shot("14-untrusted")

        # Trusting the folder starts the server, and the views fill in.
        wb.command("Workspaces: Manage Workspace Trust")
        trust = page.locator(".workspace-trust-editor").get_by_role(
            "button", name="Trust", exact=True
        )
        trust.first.wait_for(timeout=30_000)
        trust.first.click()
        wb.show_runyard()
        wb.tree_row("Compute Targets", "local").wait_for(timeout=90_000)
        wb.shot("14-trusted")
        assert _servers(trusting), "no Runyard server after the folder was trusted"
        assert not (folder / "ran.txt").exists(), "train.py ran without being submitted"
        assert wb.dialogs == []
