"""`runyard/project/import` over real LSP: the language server as a subprocess over
stdio imports an MLflow project that has no `.runyard/` yet (what the editor's offer
asks for), the folder becomes a project whose imported job the server can list, and a
folder with nothing to import gets an error that says so."""

from __future__ import annotations

from pathlib import Path

import pytest
from pygls.exceptions import JsonRpcException

from tests.helpers import commit_all, git
from tests.integration.lsp_session import Session

pytestmark = pytest.mark.integration

MLPROJECT = """\
name: tiny
entry_points:
  main:
    parameters:
      epochs: {type: float, default: 3}
    command: "python train.py --epochs {epochs}"
"""


async def test_the_server_imports_an_mlflow_project(tmp_path: Path) -> None:
    folder = tmp_path / "tiny"
    folder.mkdir()
    git(folder, "init", "-q", "-b", "main")
    (folder / "MLproject").write_text(MLPROJECT)
    (folder / "train.py").write_text("print('hi')\n")
    (folder / "nothing").mkdir()
    commit_all(folder, "an MLflow project")
    async with Session(folder) as session:
        result = await session.request("runyard/project/import", {"folder": folder.as_uri()})
        assert result["kind"] == "mlflow-project"
        assert result["written"] == [".runyard/jobs/main.yml"]
        assert result["problems"] == []
        assert result["root"] == str(folder)
        assert (folder / ".runyard/targets/local.yml").is_file()  # a project now
        jobs = await session.request("runyard/jobs/list", {"project": folder.as_uri()})
        assert [j["name"] for j in jobs["jobs"]] == ["main"]
        again = await session.request("runyard/project/import", {"folder": str(folder)})
        assert again["written"] == []
        assert "--force" in again["problems"][0]["message"]
        with pytest.raises(JsonRpcException) as err:
            await session.request("runyard/project/import", {"folder": str(folder / "nothing")})
        assert "nothing to import" in err.value.message
