"""Sweep files in the real language server over stdio: diagnostics on the offending
field as the file is edited (a space that cannot be sampled, an unknown job, then a job
that appears), completion of job names, hover on a field."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from lsprotocol import types

from tests.helpers import commit_all
from tests.integration.lsp_session import Session

pytestmark = pytest.mark.integration

GOOD = "job: train\nspace:\n  lr: {choice: [0.1, 0.01]}\nobjective: {metric: loss}\nmax_trials: 4\n"


@pytest.fixture
def proj(project: Path) -> Path:
    (project / "train.py").write_text("print('train')\n")
    (project / ".runyard/jobs/train.yml").write_text("script: train.py\n")
    (project / ".runyard/sweeps").mkdir()
    commit_all(project, "a job")
    return project


@pytest_asyncio.fixture
async def lsp(proj: Path) -> AsyncIterator[Session]:
    async with Session(proj) as session:
        yield session


async def test_sweep_files_get_diagnostics_completion_and_hover(lsp: Session, proj: Path) -> None:
    path = proj / ".runyard/sweeps/search.yml"
    path.write_text(GOOD)
    uri = lsp.open(path, GOOD)
    assert await lsp.diagnostics(uri, lambda d: d == []) == []

    bad = GOOD.replace("[0.1, 0.01]", "[]").replace("job: train", "job: evaluate")
    lsp.change(uri, 2, bad)
    found = await lsp.diagnostics(uri, lambda d: len(d) == 2)
    by_line = {d.range.start.line: d for d in found}
    assert (by_line[0].range.start.character, by_line[0].range.end.character) == (5, 13)
    assert "no job named 'evaluate'" in by_line[0].message
    assert "space.lr.choice" in by_line[2].message and "empty" in by_line[2].message

    # a job of that name appears: the open sweep is checked again once it is saved
    (proj / ".runyard/jobs/evaluate.yml").write_text("script: train.py\n")
    job_uri = lsp.open(proj / ".runyard/jobs/evaluate.yml", "script: train.py\n")
    lsp.change(job_uri, 2, "script: train.py\n")
    found = await lsp.diagnostics(uri, lambda d: len(d) == 1)
    assert found[0].range.start.line == 2

    doc = types.TextDocumentIdentifier(uri=uri)
    lsp.change(uri, 3, "job: \n")
    result = await lsp.client.text_document_completion_async(
        types.CompletionParams(text_document=doc, position=types.Position(0, 5))
    )
    assert isinstance(result, types.CompletionList)
    assert [i.label for i in result.items] == ["evaluate", "train"]
    hover = await lsp.client.text_document_hover_async(
        types.HoverParams(text_document=doc, position=types.Position(0, 1))
    )
    assert hover is not None and isinstance(hover.contents, types.MarkupContent)
    assert "job" in hover.contents.value and "--name value" in hover.contents.value
