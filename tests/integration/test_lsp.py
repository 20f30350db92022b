"""The language server as a real subprocess over stdio, driven by a client with VS Code's
capabilities: config diagnostics, completion, hover, code lenses, inlay hints, real runs
submitted over LSP with their progress and live pushes, cancel, bad params, re-attach."""

from __future__ import annotations

import asyncio
import http.server
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from lsprotocol import types
from pygls.exceptions import JsonRpcException

from tests.helpers import commit_all, git, runyard, until
from tests.integration.lsp_session import Session

pytestmark = pytest.mark.integration

TRAIN = """\
import sys
import runyard

lr = float(sys.argv[1]) if len(sys.argv) > 1 else 0.1
runyard.log_params({"lr": lr})
for step in range(5):
    runyard.log_metric("loss", 1.0 / (step + 1) * lr, step=step)
    print(f"step {step}", flush=True)
runyard.log_metrics({"acc": 0.5 + lr})
print("trained with", lr)
"""

SLOW = """\
import time
import runyard

print("started", flush=True)
for step in range(600):
    runyard.log_metric("tick", step, step=step)
    print(f"tick {step}", flush=True)
    time.sleep(0.1)
"""

CRASH = """\
print("about to fail", flush=True)
raise SystemExit("boom: the data file is missing")
"""


@pytest.fixture
def proj(project: Path) -> Path:
    (project / "train.py").write_text(TRAIN)
    (project / "slow.py").write_text(SLOW)
    (project / "crash.py").write_text(CRASH)
    (project / "lib.py").write_text("def helper():\n    return 1\n")
    commit_all(project, "scripts")
    return project


@pytest_asyncio.fixture
async def lsp(proj: Path) -> AsyncIterator[Session]:
    async with Session(proj) as session:
        yield session


async def _submit(lsp: Session, **params: Any) -> dict[str, Any]:
    if "workDoneToken" in params:  # a token the client made, as LSP clients do
        lsp.client.progress_reports.setdefault(params["workDoneToken"], [])
    run: dict[str, Any] = await lsp.request("runyard/runs/submit", params)
    return run


# --------------------------------------------------------------------------- server


async def test_initialize_advertises_features(proj: Path) -> None:
    session = Session(proj)
    result = await session.start()
    try:
        caps = result.capabilities
        assert result.server_info is not None and result.server_info.name == "runyard"
        assert caps.completion_provider is not None
        assert ":" in (caps.completion_provider.trigger_characters or [])
        assert caps.hover_provider
        assert caps.code_lens_provider is not None
        assert caps.inlay_hint_provider
        info = await session.request("runyard/server/info", {})
        assert info["projects"] == [{"root": str(proj), "defaultTarget": "local", "store": None}]
        assert info["settings"]["codeLens"] is True
    finally:
        await session.stop()


async def test_settings_change_without_restart(proj: Path) -> None:
    runyard(proj, "target", "add", "other", "--type", "local", check=True)
    async with Session(proj, {"defaultTarget": "other", "liveIntervalMs": 100}) as session:
        info = await session.request("runyard/server/info", {})
        assert info["settings"]["defaultTarget"] == "other"
        assert info["projects"][0]["defaultTarget"] == "other"
        uri = session.open(proj / "train.py", TRAIN, "python")
        lenses = await session.client.text_document_code_lens_async(
            types.CodeLensParams(text_document=types.TextDocumentIdentifier(uri=uri))
        )
        assert lenses is not None
        assert [lens.command.title for lens in lenses if lens.command] == [
            "$(play) Submit to other",
            "Submit to…",
        ]
        session.client.set_configuration({"defaultTarget": None}, section="runyard")
        session.client.workspace_did_change_configuration(
            types.DidChangeConfigurationParams(settings=None)
        )
        deadline = time.monotonic() + 30  # the server pulls the settings on its own time
        while True:
            info = await session.request("runyard/server/info", {})
            if info["settings"]["defaultTarget"] is None:
                break
            assert time.monotonic() < deadline, f"settings not pulled again: {info['settings']}"
            await asyncio.sleep(0.05)
        assert info["projects"][0]["defaultTarget"] == "local"
        lenses = await session.client.text_document_code_lens_async(
            types.CodeLensParams(text_document=types.TextDocumentIdentifier(uri=uri))
        )
        assert lenses is not None and lenses[0].command is not None
        assert lenses[0].command.title == "$(play) Submit to local"
        assert list(lenses[0].command.arguments or []) == [uri, "local"]


BAD_PARAMS: dict[str, tuple[Any, str]] = {
    "runyard/targets/list": ({"project": 5}, "params.project"),
    "runyard/targets/add": ({"name": "x", "settings": []}, "params.settings"),
    "runyard/targets/remove": ({}, "params.name"),
    "runyard/targets/test": ({"name": 3}, "params.name"),
    "runyard/targets/setDefault": ({"name": None}, "params.name"),
    "runyard/targets/trust": ({"name": "x", "fingerprint": 7}, "params.fingerprint"),
    "runyard/jobs/list": ([1, 2], "params"),
    "runyard/runs/submit": ({"args": "not-a-list"}, "params.args"),
    "runyard/runs/rerun": ({"runId": "x", "target": 5}, "params.target"),
    "runyard/runs/list": ({"limit": "ten"}, "params.limit"),
    "runyard/runs/get": ({"run_id": "x"}, "params.runId"),
    "runyard/runs/cancel": ({"runId": ["x"]}, "params.runId"),
    "runyard/runs/logs": ({"runId": "x", "offset": 1.5}, "params.offset"),
    "runyard/runs/restore": ({"runId": "x", "force": "yes"}, "params.force"),
    "runyard/runs/diff": ({"runId": "x", "stat": 1}, "params.stat"),
    "runyard/runs/compare": ({"runIds": "a,b"}, "params.runIds"),
    "runyard/metrics/series": ({"runIds": ["a"], "maxPoints": "many"}, "params.maxPoints"),
    "runyard/server/info": ({"bogus": 1}, "bogus"),
    "runyard/project/init": ({}, "params.folder"),
    "runyard/project/import": ({"folder": "/tmp/x", "force": "yes"}, "params.force"),
    "runyard/gallery/list": ({"x": 1}, "x"),
    "runyard/gallery/create": ({"id": "a", "folder": "/tmp/x", "force": "no"}, "params.force"),
    "runyard/models/list": ({"name": 4}, "params.name"),
    "runyard/models/get": ({}, "params.ref"),
    "runyard/models/register": (
        {"runId": "x", "path": "model.pkl", "name": "m", "tags": ["a"]},
        "params.tags",
    ),
    "runyard/models/deploy": ({"ref": "m:1", "score": "score.py", "port": "80"}, "params.port"),
    "runyard/deployments/list": ({"project": []}, "params.project"),
    "runyard/deployments/invoke": ({"name": "d"}, "params.payload"),
    "runyard/deployments/stop": ({"name": 1}, "params.name"),
    "runyard/sweeps/list": ({"project": 3}, "params.project"),
    "runyard/sweeps/get": ({"sweepId": 3}, "params.sweepId"),
    "runyard/sweeps/cancel": ({}, "params.sweepId"),
}


async def test_malformed_params_get_an_error_naming_the_field(lsp: Session) -> None:
    from runyard.lsp import protocol

    assert set(BAD_PARAMS) == set(protocol.REQUESTS), "every request needs a bad-params case"
    for method, (params, field) in BAD_PARAMS.items():
        with pytest.raises(JsonRpcException) as err:
            await lsp.request(method, params)
        assert err.value.code == -32602, (method, err.value)
        assert field in str(err.value.message), (method, err.value.message)
        # the server is still up and answers the next request
        info = await lsp.request("runyard/server/info", {})
        assert info["version"]


async def test_runyard_errors_come_back_with_the_next_step(lsp: Session) -> None:
    with pytest.raises(JsonRpcException) as err:
        await lsp.request("runyard/targets/test", {"name": "nope"})
    assert err.value.code == -32012
    assert "nope" in err.value.message
    with pytest.raises(JsonRpcException) as err:
        await _submit(lsp, script="missing.py")
    assert err.value.code == -32012 and "missing.py" in err.value.message
    with pytest.raises(JsonRpcException) as err:
        await lsp.request("runyard/runs/list", {"sort": "shoe size"})
    assert err.value.code == -32011 and "shoe size" in err.value.message


async def test_targets_and_jobs(lsp: Session, proj: Path) -> None:
    listed = await lsp.request("runyard/targets/list", {})
    assert [t["name"] for t in listed["targets"]] == ["local"]
    assert listed["default"] == "local"
    added = await lsp.request(
        "runyard/targets/add",
        {"name": "gpu-box", "settings": {"env": {"A": "1"}}, "makeDefault": True},
    )
    assert added["isDefault"] is True and added["settings"] == {"env": {"A": "1"}}
    assert (proj / ".runyard/targets/gpu-box.yml").exists()
    await lsp.wait_push("runyard/config/didChange", lambda p: p["project"] == str(proj))
    checks = await lsp.request("runyard/targets/test", {"name": "gpu-box"})
    assert checks["ok"] is True and checks["checks"]
    assert (await lsp.request("runyard/targets/setDefault", {"name": "local"}))["name"] == "local"
    removed = await lsp.request("runyard/targets/remove", {"name": "gpu-box"})
    assert removed["file"].endswith("gpu-box.yml")
    (proj / ".runyard/jobs/train.yml").write_text("script: train.py\nargs: ['0.3']\n")
    (proj / ".runyard/jobs/broken.yml").write_text("script: [\n")
    jobs = await lsp.request("runyard/jobs/list", {})
    assert [j["name"] for j in jobs["jobs"]] == ["train"]
    assert jobs["jobs"][0]["args"] == ["0.3"]
    assert len(jobs["problems"]) == 1 and "broken.yml" in jobs["problems"][0]["file"]


# --------------------------------------------------------------------------- config files


async def test_diagnostics_follow_edits_with_precise_ranges(lsp: Session, proj: Path) -> None:
    path = proj / ".runyard/jobs/train.yml"
    path.write_text("script: train.py\n")
    uri = lsp.open(path, "script: train.py\n")
    assert await lsp.diagnostics(uri, lambda d: d == []) == []
    lsp.change(uri, 2, "script: train.py\ntarget: locl\nretries: 3\n")
    found = await lsp.diagnostics(uri, lambda d: len(d) == 2)
    by_line = {d.range.start.line: d for d in found}
    unknown_target = by_line[1]
    assert (unknown_target.range.start.character, unknown_target.range.end.character) == (8, 12)
    assert "locl" in unknown_target.message and "local" in unknown_target.message
    unknown_key = by_line[2]
    assert (unknown_key.range.start.character, unknown_key.range.end.character) == (0, 7)
    assert "retries" in unknown_key.message
    lsp.change(uri, 3, "script: trian.py\n")
    found = await lsp.diagnostics(uri, lambda d: len(d) == 1 and d[0].range.start.line == 0)
    assert found[0].range.start.character == 8 and "train.py" in found[0].message
    lsp.change(uri, 4, "script: [unclosed\n")
    found = await lsp.diagnostics(uri, lambda d: len(d) >= 1 and "script: tr" not in str(d))
    assert all(d.severity == types.DiagnosticSeverity.Error for d in found)
    lsp.change(uri, 5, "script: train.py\n")
    assert await lsp.diagnostics(uri, lambda d: d == []) == []


async def test_completion_and_hover(lsp: Session, proj: Path) -> None:
    path = proj / ".runyard/jobs/train.yml"
    text = "script: tr\ntarget: \n"
    uri = lsp.open(path, text)
    doc = types.TextDocumentIdentifier(uri=uri)
    result = await lsp.client.text_document_completion_async(
        types.CompletionParams(text_document=doc, position=types.Position(0, 10))
    )
    assert isinstance(result, types.CompletionList)
    assert "train.py" in [i.label for i in result.items]
    result = await lsp.client.text_document_completion_async(
        types.CompletionParams(text_document=doc, position=types.Position(1, 8))
    )
    assert isinstance(result, types.CompletionList)
    assert [i.label for i in result.items] == ["local"]
    result = await lsp.client.text_document_completion_async(
        types.CompletionParams(text_document=doc, position=types.Position(2, 0))
    )
    assert isinstance(result, types.CompletionList)
    labels = [i.label for i in result.items]
    assert "args" in labels and "script" not in labels and "target" not in labels
    hover = await lsp.client.text_document_hover_async(
        types.HoverParams(text_document=doc, position=types.Position(0, 2))
    )
    assert hover is not None and isinstance(hover.contents, types.MarkupContent)
    assert "script" in hover.contents.value
    assert hover.range == types.Range(types.Position(0, 0), types.Position(0, 6))
    target_uri = lsp.open(proj / ".runyard/targets/local.yml", "type: local\n")
    result = await lsp.client.text_document_completion_async(
        types.CompletionParams(
            text_document=types.TextDocumentIdentifier(uri=target_uri),
            position=types.Position(1, 0),
        )
    )
    assert isinstance(result, types.CompletionList)
    assert "python" in [i.label for i in result.items]


# --------------------------------------------------------------------------- runs


async def test_submit_over_lsp_reports_progress_and_pushes(lsp: Session, proj: Path) -> None:
    run = await _submit(lsp, script="train.py", args=["0.5"], workDoneToken="submit-1")
    assert run["status"] in ("running", "completed")
    stages = [getattr(v, "message", None) for v in lsp.client.progress_reports["submit-1"]]
    assert stages[0] == "snapshot" and "start" in stages and "environment" in stages
    assert type(lsp.client.progress_reports["submit-1"][-1]).__name__ == "WorkDoneProgressEnd"
    done = await lsp.wait_status(run["id"], "completed")
    assert done["exitCode"] == 0
    statuses = [
        p["run"]["status"]
        for n, p in lsp.pushes
        if n == "runyard/runs/didChange" and p["run"]["id"] == run["id"]
    ]
    # one push per poll with the run's state then: quick transitions may be folded
    assert statuses[0] in ("queued", "preparing", "running") and statuses[-1] == "completed"
    assert statuses.count("completed") == 1
    assert "trained with 0.5" in lsp.log_text(run["id"])
    assert "step 4" in lsp.log_text(run["id"])
    assert lsp.metric_values(run["id"], "loss") == pytest.approx([0.5, 0.25, 0.5 / 3, 0.125, 0.1])
    details = await lsp.request("runyard/runs/get", {"runId": run["id"]})
    assert details["params"] == {"lr": "0.5"}
    assert [h["status"] for h in details["history"]][-1] == "completed"
    assert {m["key"]: m["last"] for m in details["metrics"]} == pytest.approx(
        {"loss": 0.1, "acc": 1.0}
    )
    logs = await lsp.request("runyard/runs/logs", {"runId": run["id"][-4:], "maxBytes": 10})
    assert logs["offset"] == 0 and 0 < logs["nextOffset"] <= 10 and logs["complete"] is False
    rest = await lsp.request(
        "runyard/runs/logs", {"runId": run["id"], "offset": logs["nextOffset"]}
    )
    assert rest["complete"] is True
    assert "trained with 0.5" in logs["text"] + rest["text"]
    series = await lsp.request("runyard/metrics/series", {"runIds": [run["id"]], "keys": ["loss"]})
    assert series["series"][0]["steps"] == [0, 1, 2, 3, 4]
    assert series["series"][0]["downsampled"] is False


async def test_submit_over_lsp_shows_a_warning_for_secret_files_going_into_the_snapshot(
    lsp: Session, proj: Path
) -> None:
    (proj / ".env").write_text("TOKEN=not-for-the-snapshot\n")
    run = await _submit(lsp, script="train.py", args=["0.5"], workDoneToken="submit-secrets")
    await lsp.wait_status(run["id"], "completed")

    def warned() -> list[str]:
        return [
            m.message
            for m in lsp.client.messages
            if m.type == types.MessageType.Warning and ".env" in m.message
        ]

    found = await asyncio.to_thread(until, warned, 30, "a window/showMessage warning")
    assert ".runyardignore" in found[0], found[0]


async def test_list_compare_restore_and_diff(lsp: Session, proj: Path) -> None:
    first = await _submit(lsp, script="train.py", args=["0.1"])
    await lsp.wait_status(first["id"], "completed")
    (proj / "train.py").write_text(TRAIN.replace("trained with", "trained again with"))
    second = await _submit(lsp, script="train.py", args=["0.3"], experiment="sweep")
    await lsp.wait_status(second["id"], "completed")
    page = await lsp.request("runyard/runs/list", {"limit": 1})
    assert page["total"] == 2 and [r["id"] for r in page["runs"]] == [second["id"]]
    page = await lsp.request("runyard/runs/list", {"limit": 1, "offset": 1})
    assert [r["id"] for r in page["runs"]] == [first["id"]]
    by_acc = await lsp.request("runyard/runs/list", {"sort": "metric:acc", "descending": False})
    assert [r["id"] for r in by_acc["runs"]] == [first["id"], second["id"]]
    only = await lsp.request("runyard/runs/list", {"experiment": "sweep"})
    assert [r["id"] for r in only["runs"]] == [second["id"]]
    assert {e["name"] for e in only["experiments"]} == {"train", "sweep"}
    compared = await lsp.request(
        "runyard/runs/compare",
        {"runIds": [first["id"], second["id"]], "bestMetric": "acc", "maximize": True},
    )
    assert compared["bestRunId"] == second["id"]
    lr_row = next(r for r in compared["params"] if r["key"] == "lr")
    assert lr_row["differs"] is True and lr_row["values"] == ["0.1", "0.3"]
    fields = {r["key"]: r for r in compared["fields"]}
    assert list(fields) == ["status", "experiment", "target", "duration", "snapshot"]
    assert fields["experiment"]["values"] == ["train", "sweep"] and fields["experiment"]["differs"]
    assert fields["status"]["differs"] is False
    # train.py changed between the two runs: their snapshots hold different code
    assert fields["snapshot"]["values"] == [first["snapshotCommit"], second["snapshotCommit"]]
    assert fields["snapshot"]["differs"] is True
    diff = await lsp.request(
        "runyard/runs/diff", {"runId": first["id"], "otherRunId": second["id"]}
    )
    assert '+print("trained again with", lr)' in diff["diff"]
    dest = proj.parent / "restored"
    restored = await lsp.request("runyard/runs/restore", {"runId": first["id"], "dest": str(dest)})
    assert "train.py" in restored["written"]
    assert (dest / "train.py").read_text() == TRAIN
    with pytest.raises(JsonRpcException) as err:
        await lsp.request("runyard/runs/restore", {"runId": first["id"]})
    assert "train.py" in err.value.message  # would overwrite the changed file


async def test_cancel_a_running_run(lsp: Session) -> None:
    run = await _submit(lsp, script="slow.py")
    await lsp.wait_push(
        "runyard/runs/logLines", lambda p: p["runId"] == run["id"] and "tick 2" in p["text"]
    )
    # metric points are ingested by the supervisor, log lines are read from the file:
    # the two arrive independently, so wait for a point rather than expect one by now
    await lsp.wait_push(
        "runyard/metrics/points",
        lambda p: p["runId"] == run["id"] and any(c["key"] == "tick" for c in p["chunks"]),
        timeout=30,
    )
    assert len(lsp.metric_values(run["id"], "tick")) >= 1
    result = await lsp.request("runyard/runs/cancel", {"runId": run["id"]})
    assert result["canceled"] is True
    canceled = await lsp.wait_status(run["id"], "canceled", timeout=30)
    assert canceled["ended"] is not None
    again = await lsp.request("runyard/runs/cancel", {"runId": run["id"]})
    assert again["canceled"] is False and again["status"] == "canceled"


async def test_server_survives_a_crashing_script(lsp: Session) -> None:
    run = await _submit(lsp, script="crash.py")
    failed = await lsp.wait_status(run["id"], "failed")
    assert "boom" in (failed["reason"] or "")
    assert "about to fail" in lsp.log_text(run["id"])
    info = await lsp.request("runyard/server/info", {})
    assert info["version"]
    ok = await _submit(lsp, script="train.py")
    await lsp.wait_status(ok["id"], "completed")


class _SlowIndex(http.server.BaseHTTPRequestHandler):
    """A package index that never answers in time: keeps an environment build busy."""

    def do_GET(self) -> None:
        time.sleep(30)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def slow_index() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _SlowIndex)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/simple"
    server.shutdown()


async def test_canceling_the_submission_progress_cancels_the_run(
    lsp: Session, proj: Path, slow_index: str
) -> None:
    await lsp.request(
        "runyard/targets/add", {"name": "slowidx", "settings": {"index_url": slow_index}}
    )
    (proj / "requirements.txt").write_text("runyard-test-package-that-takes-forever\n")
    token = "submit-slow"
    task = asyncio.ensure_future(
        _submit(lsp, script="train.py", target="slowidx", workDoneToken=token)
    )
    await lsp.wait_push(
        "runyard/runs/didChange", lambda p: p["run"]["status"] == "preparing", timeout=60
    )
    lsp.client.window_work_done_progress_cancel(types.WorkDoneProgressCancelParams(token=token))
    run = await asyncio.wait_for(task, 60)
    assert run["status"] == "canceled"
    history = await lsp.request("runyard/runs/get", {"runId": run["id"]})
    assert history["run"]["status"] == "canceled"


async def test_runs_from_the_cli_are_pushed_too(lsp: Session, proj: Path) -> None:
    proc = await asyncio.to_thread(runyard, proj, "submit", "train.py", "0.2", check=True)
    assert proc.returncode == 0
    listed = await lsp.request("runyard/runs/list", {})
    run_id = listed["runs"][0]["id"]
    await lsp.wait_status(run_id, "completed")
    assert "trained with 0.2" in lsp.log_text(run_id)
    assert lsp.metric_values(run_id, "loss")


async def test_a_new_server_reattaches_to_a_live_run(proj: Path) -> None:
    async with Session(proj) as first:
        run = await _submit(first, script="slow.py")
        await first.wait_push(
            "runyard/runs/logLines", lambda p: p["runId"] == run["id"] and "tick 1" in p["text"]
        )
    # the editor closed (the first server stopped); the run goes on
    async with Session(proj) as second:
        listed = await second.request("runyard/runs/list", {"statuses": ["running"]})
        assert [r["id"] for r in listed["runs"]] == [run["id"]]
        push = await second.wait_push(
            "runyard/runs/logLines", lambda p: p["runId"] == run["id"] and "tick" in p["text"]
        )
        assert push["offset"] > 0  # picked up where the log is, not from the start
        await second.wait_push(
            "runyard/metrics/points", lambda p: p["runId"] == run["id"], timeout=30
        )
        await second.request("runyard/runs/cancel", {"runId": run["id"]})
        await second.wait_status(run["id"], "canceled", timeout=30)


async def test_code_lens_and_inlay_hints(lsp: Session, proj: Path) -> None:
    uri = lsp.open(proj / "train.py", TRAIN, "python")
    doc = types.TextDocumentIdentifier(uri=uri)
    lenses = await lsp.client.text_document_code_lens_async(types.CodeLensParams(text_document=doc))
    assert lenses and lenses[0].command is not None
    assert lenses[0].command.command == "runyard.submitFile"
    assert lenses[0].range.start.line == 3  # the first top-level statement that runs
    lib = lsp.open(proj / "lib.py", "def helper():\n    return 1\n", "python")
    none = await lsp.client.text_document_code_lens_async(
        types.CodeLensParams(text_document=types.TextDocumentIdentifier(uri=lib))
    )
    assert not none
    whole = types.Range(types.Position(0, 0), types.Position(20, 0))
    hints = await lsp.client.text_document_inlay_hint_async(
        types.InlayHintParams(text_document=doc, range=whole)
    )
    assert not hints  # no completed run yet
    run = await _submit(lsp, script="train.py", args=["0.5"])
    await lsp.wait_status(run["id"], "completed")
    hints = await lsp.client.text_document_inlay_hint_async(
        types.InlayHintParams(text_document=doc, range=whole)
    )
    assert hints is not None
    labels = {(h.position.line, h.label) for h in hints}
    loss_line = TRAIN.splitlines().index(
        '    runyard.log_metric("loss", 1.0 / (step + 1) * lr, step=step)'
    )
    acc_line = TRAIN.splitlines().index('runyard.log_metrics({"acc": 0.5 + lr})')
    assert labels == {(loss_line, "= 0.1"), (acc_line, "= 1")}
    assert lsp.refreshes >= 1  # the client was told to ask again when the run ended


def test_server_module_starts_without_heavy_imports() -> None:
    code = (
        "import sys, runyard.lsp.server as s; s.create_server(); "
        "print(sorted(m for m in ('git', 'yaml', 'jsonschema', 'docker', 'tensorflow') "
        "if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


async def test_initialize_a_project_from_the_client(tmp_path: Path) -> None:
    folder = tmp_path / "fresh"
    folder.mkdir()
    git(folder, "init", "-q", "-b", "main")
    (folder / "train.py").write_text(TRAIN)
    async with Session(folder) as session:
        assert (await session.request("runyard/server/info", {}))["projects"] == []
        with pytest.raises(JsonRpcException) as err:
            await session.request("runyard/runs/list", {})
        assert "No Runyard project" in err.value.message and "init" in err.value.message
        made = await session.request("runyard/project/init", {"folder": folder.as_uri()})
        assert made["root"] == str(folder) and ".runyard/targets/local.yml" in made["created"]
        run = await _submit(session, script=str(folder / "train.py"))
        await session.wait_status(run["id"], "completed")
        assert "trained with 0.1" in session.log_text(run["id"])


async def test_runs_started_by_another_server_are_pushed(lsp: Session, proj: Path) -> None:
    async with Session(proj) as other:
        run = await _submit(other, script="train.py", args=["0.4"])
        done = await lsp.wait_status(run["id"], "completed")
        assert done["metrics"]["acc"] == pytest.approx(0.9)
        assert "trained with 0.4" in lsp.log_text(run["id"])
        assert lsp.metric_values(run["id"], "loss")[-1] == pytest.approx(0.08)


async def test_gallery_over_lsp(lsp: Session, tmp_path: Path) -> None:
    listed = await lsp.request("runyard/gallery/list", {})
    entry = next(e for e in listed["entries"] if e["id"] == "sklearn-digits")
    assert entry["framework"] == "scikit-learn" and Path(entry["image"]).is_file()
    assert entry["metric"]["goal"] == "max"
    folder = tmp_path / "from-gallery"
    made = await lsp.request(
        "runyard/gallery/create", {"id": "sklearn-digits", "folder": folder.as_uri()}
    )
    assert made["root"] == str(folder) and made["committed"] is True
    assert "train.py" in made["files"] and (folder / "train.py").is_file()
    with pytest.raises(JsonRpcException) as err:
        await lsp.request("runyard/gallery/create", {"id": "sklearn-digits", "folder": str(folder)})
    assert "nothing was written" in err.value.message
