"""Sweeps over LSP: the real language server over stdio, real sweeps started with the
real `runyard sweep start` on the local target (real Optuna, the sweep's supervisor, real
runs). `runyard/sweeps/list`, `get` and `cancel` answer what `runyard sweep list/show`
print; `runyard/runs/list` with `sweep` and `includeParams` gives a sweep's trial runs
with their params (the runs table's rows).

The trials are tiny scripts whose metric depends on their parameters; where a test acts
while trials run (cancel), they wait for a gate file the test makes, as in
test_sweeps.py: nothing depends on how fast anything runs."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from pygls.exceptions import JsonRpcException

from tests.helpers import (
    GATED_TRIAL,
    PRUNED_TRIAL,
    commit_all,
    runyard,
    show_run,
    start_sweep,
    sweep_file,
)
from tests.integration.lsp_session import Session

pytestmark = pytest.mark.integration


@pytest.fixture
def proj(project: Path) -> Path:
    (project / "prune.py").write_text(PRUNED_TRIAL)
    (project / "gated.py").write_text(GATED_TRIAL)
    commit_all(project, "trial scripts")
    (project / "gates").mkdir()
    return project


@pytest_asyncio.fixture
async def lsp(proj: Path) -> AsyncIterator[Session]:
    async with Session(proj) as session:
        yield session


async def until_sweep(lsp: Session, sweep_id: str, check: Any, what: str) -> dict[str, Any]:
    """`runyard/sweeps/get` until `check(details)` holds (3 minutes at most, or until
    the sweep has ended without it)."""
    deadline = time.monotonic() + 180
    details: dict[str, Any] = {}
    while time.monotonic() < deadline:
        details = await lsp.request("runyard/sweeps/get", {"sweepId": sweep_id})
        if check(details):
            return details
        if details["sweep"]["status"] in ("completed", "canceled", "failed"):
            break  # it will not change any more
        await asyncio.sleep(0.3)
    raise AssertionError(f"never saw {what}; last: {json.dumps(details)[:600]}")


async def test_no_sweeps_yet_and_an_unknown_sweep(lsp: Session) -> None:
    assert await lsp.request("runyard/sweeps/list", {}) == {"sweeps": []}
    with pytest.raises(JsonRpcException) as err:
        await lsp.request("runyard/sweeps/get", {"sweepId": "nosuchsweep"})
    assert "No sweep matches 'nosuchsweep'" in str(err.value)
    with pytest.raises(JsonRpcException) as err:
        await lsp.request("runyard/sweeps/get", {"sweep": "x"})
    assert "sweepId" in str(err.value)


async def test_list_and_get_a_pruned_sweep_best_first(lsp: Session, proj: Path) -> None:
    # seed 3 puts offset 100 last in Optuna's shuffled grid: two good trials first
    sweep_file(
        proj,
        "prune",
        """\
        script: prune.py
        space:
          offset: {grid: [0.0, 0.01, 100.0]}
        seed: 3
        objective: {metric: loss}
        early_stopping: {rule: median, startup_trials: 2}
        """,
    )
    sweep_id = start_sweep(proj, "prune")
    details = await until_sweep(
        lsp, sweep_id, lambda d: d["sweep"]["status"] == "completed", "the sweep's end"
    )
    sweep = details["sweep"]
    assert sweep["id"] == sweep_id and sweep["name"] == "prune"
    assert (sweep["metric"], sweep["direction"], sweep["sampler"]) == ("loss", "minimize", "grid")
    assert (sweep["trialsDone"], sweep["trialsTotal"]) == (3, 3)
    assert sweep["counts"] == {"completed": 2, "pruned": 1}
    (offset,) = details["space"]
    assert offset["name"] == "offset" and offset["kind"] == "grid"
    assert offset["values"] == [0.0, 0.01, 100.0]
    assert offset.get("low") is None and offset.get("high") is None
    assert details["earlyStopping"] == "median"
    trials = details["trials"]
    # best first: the completed ones by their value (lowest first), then the pruned one
    assert [t["params"]["offset"] for t in trials] == [0.0, 0.01, 100.0]
    assert [t["status"] for t in trials] == ["completed", "completed", "pruned"]
    assert trials[0]["value"] < trials[1]["value"]
    pruned = trials[2]
    assert pruned.get("value") is None and pruned["latest"] > 100
    assert "pruned" in pruned["reason"]
    assert show_run(proj, pruned["runId"])["tags"]["sweep.pruned"] == "true"
    assert sweep["bestTrial"] == trials[0]["number"]
    assert sweep["bestRunId"] == trials[0]["runId"]
    assert sweep["bestValue"] == trials[0]["value"]

    # the list says the same as the CLI's
    listed = (await lsp.request("runyard/sweeps/list", {}))["sweeps"]
    assert listed == [sweep]
    cli = json.loads(runyard(proj, "sweep", "show", sweep_id, "--json", check=True).stdout)
    assert [t["run_id"] for t in cli["trials"]] == [t["runId"] for t in trials]

    # the sweep's trial runs with their params: a runs table's rows
    page = await lsp.request(
        "runyard/runs/list", {"sweep": sweep_id[:8], "includeParams": True, "limit": 2}
    )
    assert page["total"] == 3 and len(page["runs"]) == 2
    everything = await lsp.request("runyard/runs/list", {"sweep": sweep_id, "includeParams": True})
    assert {r["id"] for r in everything["runs"]} == {t["runId"] for t in trials}
    for trial in trials:
        assert float(everything["params"][trial["runId"]]["offset"]) == trial["params"]["offset"]
    plain = await lsp.request("runyard/runs/list", {})
    assert plain.get("params") is None and plain["total"] == 3


async def test_cancel_a_running_sweep(lsp: Session, proj: Path) -> None:
    gates = proj / "gates"
    sweep_file(
        proj,
        "gated",
        f"""\
        script: gated.py
        args: ["--gates", "{gates}"]
        space:
          x: {{grid: [1, 2, 3, 4, 5]}}
        objective: {{metric: loss, direction: maximize}}
        parallel: 2
        """,
    )
    sweep_id = start_sweep(proj, "gated")
    running = await until_sweep(
        lsp,
        sweep_id,
        lambda d: [t["status"] for t in d["trials"]].count("running") == 2,
        "two running trials",
    )
    assert running["sweep"]["status"] == "running"
    assert running["sweep"]["trialsDone"] == 0 and running["sweep"]["trialsTotal"] == 5
    assert running["sweep"]["direction"] == "maximize"
    assert {s["name"]: s["kind"] for s in running["space"]} == {"x": "grid"}
    # a running trial's latest value shows before it has an objective value
    await until_sweep(
        lsp,
        sweep_id,
        lambda d: all(t.get("latest") is not None for t in d["trials"]),
        "the trials' latest values",
    )
    answer = await lsp.request("runyard/sweeps/cancel", {"sweepId": sweep_id})
    assert answer["sweepId"] == sweep_id and answer["canceled"] is True
    done = await until_sweep(
        lsp, sweep_id, lambda d: d["sweep"]["status"] == "canceled", "the sweep canceled"
    )
    assert len(done["trials"]) == 2  # nothing started after the cancel
    assert {t["status"] for t in done["trials"]} == {"canceled"}
    assert done["sweep"]["trialsDone"] == 2 and done["sweep"].get("bestTrial") is None
    again = await lsp.request("runyard/sweeps/cancel", {"sweepId": sweep_id})
    assert again == {"sweepId": sweep_id, "canceled": False, "status": "canceled"}


async def test_what_the_supervisor_noted_comes_with_the_sweep(lsp: Session, proj: Path) -> None:
    sweep_file(
        proj,
        "typo",
        """\
        script: prune.py
        space:
          offset: {grid: [0.0, 0.01]}
        objective: {metric: val_loss}
        """,
    )
    sweep_id = start_sweep(proj, "typo")
    details = await until_sweep(
        lsp, sweep_id, lambda d: d["sweep"]["status"] == "failed", "the sweep failed"
    )
    assert details["sweep"]["reason"] == "no trial completed"
    (note,) = details["notes"]
    assert "'val_loss' was not logged by trial 0's run" in note and "did you mean 'loss'?" in note
    assert details["sweep"]["counts"] == {"failed": 2}
    assert details["sweep"].get("bestTrial") is None
