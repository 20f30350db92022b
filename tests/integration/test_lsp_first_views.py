"""The views' first requests, sent all at once as soon as the server is initialized, as
the extension sends them: the server imports what they need while it waits for the
client (`RunyardServer.warm_up`), and each still gets its full answer."""

from __future__ import annotations

import ast
import asyncio
import subprocess
import sys
from pathlib import Path

import pytest
from pygls.exceptions import JsonRpcMethodNotFound

from runyard.lsp.features import AT_START, REQUEST_FEATURES
from runyard.lsp.server import create_server
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


def test_the_server_answers_initialize_without_the_requests_features_or_protocol_types() -> None:
    code = (
        "import sys, runyard.lsp.server as s; s.create_server(); "
        "print(sorted(m for m in sys.modules if m == 'runyard.lsp.protocol' "
        "or m.startswith(('runyard.lsp.features.', 'runyard.runner', 'runyard.core.store'))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    loaded = ast.literal_eval(out.strip())
    assert loaded == [f"runyard.lsp.features.{name}" for name in sorted(AT_START)]


def test_a_request_that_comes_before_the_warm_up_registers_the_requests_itself() -> None:
    server = create_server()
    assert "runyard/runs/list" not in server.protocol.fm.features
    handler = server.protocol._get_handler("runyard/runs/list")
    assert handler is server.protocol.fm.features["runyard/runs/list"]
    assert all(f"runyard.lsp.features.{name}" in sys.modules for name in REQUEST_FEATURES)
    with pytest.raises(JsonRpcMethodNotFound):
        server.protocol._get_handler("runyard/no/such/request")
