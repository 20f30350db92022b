"""The `runyard/models/...` requests over real LSP, on a real local run."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from pygls.exceptions import JsonRpcException

from tests.helpers import git, runyard
from tests.integration.lsp_session import Session

pytestmark = pytest.mark.integration

TRAIN = """\
import os
os.makedirs("outputs", exist_ok=True)
with open("outputs/model.pt", "wb") as f:
    f.write(b"torch weights")
"""


@pytest_asyncio.fixture
async def lsp(project: Path) -> AsyncIterator[Session]:
    (project / "train.py").write_text(TRAIN)
    git(project, "add", "-A")
    git(project, "commit", "-qm", "train")
    session = Session(project)
    await session.start()
    try:
        yield session
    finally:
        await session.stop()


async def test_register_list_and_get_with_lineage(lsp: Session, project: Path) -> None:
    assert await lsp.request("runyard/models/list", {}) == {"models": []}
    proc = runyard(project, "submit", "train.py", check=True)
    run_id = proc.stdout.splitlines()[0].strip()

    model = await lsp.request(
        "runyard/models/register",
        {
            "runId": run_id,
            "path": "model.pt",
            "name": "net",
            "tags": {"owner": "me"},
            "aliases": ["production"],
        },
    )
    assert model["ref"] == "net:1" and model["framework"] == "pytorch"
    assert model["kind"] == "file" and model["size"] == len(b"torch weights")
    assert model["runId"] == run_id and model["sourcePath"] == "model.pt"
    assert model["tags"] == {"owner": "me"} and model["aliases"] == ["production"]

    listing = await lsp.request("runyard/models/list", {"name": "net"})
    assert [m["ref"] for m in listing["models"]] == ["net:1"]

    details = await lsp.request("runyard/models/get", {"ref": "net@production"})
    assert details["model"]["ref"] == "net:1"
    assert details["run"]["id"] == run_id and details["run"]["status"] == "completed"
    assert details["run"]["script"] == "train.py"
    assert details["snapshotCommit"] and details["target"] == "local"
    assert details["deployments"] == []

    with pytest.raises(JsonRpcException) as err:
        await lsp.request("runyard/models/get", {"ref": "net:9"})
    assert err.value.code == -32012 and "no version 9" in err.value.message
    with pytest.raises(JsonRpcException) as err:
        await lsp.request(
            "runyard/models/register", {"runId": run_id, "path": "../run.log", "name": "x"}
        )
    assert err.value.code == -32011 and "'..'" in err.value.message


async def test_deployments_list_is_empty_in_a_new_project(lsp: Session) -> None:
    assert await lsp.request("runyard/deployments/list", {}) == {"deployments": []}


async def test_deploy_refuses_a_scoring_script_without_run_before_any_build(
    lsp: Session, project: Path
) -> None:
    proc = runyard(project, "submit", "train.py", check=True)
    run_id = proc.stdout.splitlines()[0].strip()
    await lsp.request(
        "runyard/models/register", {"runId": run_id, "path": "model.pt", "name": "net"}
    )
    (project / "score.py").write_text("def init(model_path):\n    pass\n")

    with pytest.raises(JsonRpcException) as err:
        await lsp.request("runyard/models/deploy", {"ref": "net:1", "score": "score.py"})
    assert err.value.code == -32011
    assert "no top-level run() function" in err.value.message
    assert "run(payload)" in err.value.message  # the hint says what to define
    # Nothing was built or started: no deployment is recorded.
    assert await lsp.request("runyard/deployments/list", {}) == {"deployments": []}
