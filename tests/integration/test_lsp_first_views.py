"""The views' first requests, sent all at once as soon as the server is initialized, as
the extension sends them: the server imports what they need while it waits for the
client (`RunyardServer.warm_up`), and each still gets its full answer."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.integration.lsp_session import Session

pytestmark = pytest.mark.integration


async def test_first_requests_sent_at_once_get_full_answers_in_a_project_that_never_ran(
    project: Path,
) -> None:
    assert not (project / ".runyard" / "state").exists()  # no cache of checked files
    (project / ".runyard" / "targets" / "gpu.yml").write_text("type: ssh\nhost: 5\n")
    async with Session(project) as session:
        info, targets, runs = await asyncio.gather(
            session.request("runyard/server/info", {}),
            session.request("runyard/targets/list", {"project": str(project)}),
            session.request("runyard/runs/list", {"project": str(project)}),
        )
    assert info["projects"] == [{"root": str(project), "defaultTarget": "local", "store": None}]
    assert [t["name"] for t in targets["targets"]] == ["local"]
    # the bad file is checked against its schema (jsonschema, imported on first use)
    [problem] = targets["problems"]
    assert problem["file"] == str(project / ".runyard" / "targets" / "gpu.yml")
    assert "host" in problem["message"]
    assert runs["runs"] == [] and runs["total"] == 0


async def test_first_requests_get_full_answers_in_a_folder_that_is_no_project(
    tmp_path: Path,
) -> None:
    async with Session(tmp_path) as session:
        info = await session.request("runyard/server/info", {})
        assert info["projects"] == []
        made = await session.request("runyard/project/init", {"folder": tmp_path.as_uri()})
        assert made["root"] == str(tmp_path)
        targets = await session.request("runyard/targets/list", {})
    assert [t["name"] for t in targets["targets"]] == ["local"]
