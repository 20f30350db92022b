"""The Sweeps view in a real VS Code (code-server in headless Chromium): real sweeps
started with the real `runyard sweep start` (real Optuna, the sweep's supervisor, real
runs on the local target) show live in the view, sweep → trials, the best trial first
and marked, a pruned trial marked; a trial's context menu opens its run's details,
two selected trials open Compare, a sweep's opens its trials in the runs table, and
Cancel Sweep stops a live sweep.

The trials wait for gate files the test makes (as in tests/integration/test_sweeps.py),
so the view is seen while they run whatever the machine's speed.

    RUNYARD_VSIX=$PWD/runyard-0.1.0.vsix CI=true .venv/bin/python -m pytest -q \
        tests/e2e/test_sweeps_view.py
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e import harness
from tests.e2e.harness import CodeServer, Workbench
from tests.helpers import GATED_TRIAL, PRUNED_TRIAL, until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]


@pytest.fixture(scope="module")
def gates(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the trials of `gated` and `held` look for their gate files."""
    return tmp_path_factory.mktemp("gates")


@pytest.fixture(scope="module")
def workbench(
    code_server: CodeServer,
    browser: Any,
    gates: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Workbench]:
    root = tmp_path_factory.mktemp("e2e-sweeps")
    folder = harness.make_project(
        root / "proj", {"gated.py": GATED_TRIAL, "prune.py": PRUNED_TRIAL}
    )
    sweeps = folder / ".runyard" / "sweeps"
    sweeps.mkdir(parents=True, exist_ok=True)
    for name, grid, parallel in (("gated", "[1, 2, 3]", 2), ("held", "[7, 8, 9]", 1)):
        (sweeps / f"{name}.yml").write_text(
            textwrap.dedent(
                f"""\
                script: gated.py
                args: ["--gates", "{gates}"]
                space:
                  x: {{grid: {grid}}}
                objective: {{metric: loss}}
                parallel: {parallel}
                """
            )
        )
    (sweeps / "prune.yml").write_text(
        textwrap.dedent(
            """\
            script: prune.py
            space:
              offset: {grid: [0.0, 0.01, 100.0]}
            seed: 3
            objective: {metric: loss}
            early_stopping: {rule: median, startup_trials: 2}
            """
        )
    )
    with harness.window(browser, code_server, folder, logs="test_sweeps_view") as wb:
        yield wb


def _cli(folder: Path, *args: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "runyard.cli", *args],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def _start(wb: Workbench, name: str) -> str:
    return _cli(wb.folder, "sweep", "start", name, "--detach").strip().splitlines()[0]


def _show(wb: Workbench, sweep_id: str) -> dict[str, Any]:
    data = json.loads(_cli(wb.folder, "sweep", "show", sweep_id, "--json"))
    assert isinstance(data, dict)
    return data


def _trial_rows(wb: Workbench) -> list[str]:
    return [label for label in wb.row_labels("Sweeps") if label.startswith("#")]


def test_a_sweep_shows_live_with_its_trials_best_first(workbench: Workbench, gates: Path) -> None:
    wb = workbench
    sweep_id = _start(wb, "gated")
    wb.expand_view("Sweeps")
    row = wb.tree_row("Sweeps", "gated")
    row.wait_for(timeout=60_000)
    wb.wait_row_description(row, "running", timeout=60, what="the sweep running")
    row.click()  # expand: sweep → trials
    until(lambda: len(_trial_rows(wb)) == 2, timeout=60, what="two running trials in the view")
    trial = wb.tree_row("Sweeps", re.compile(r"^#\d+ x=\d$"))
    wb.wait_row_description(trial, "latest", timeout=60, what="a live trial's latest value")
    assert "running" in wb.row_description(trial)
    wb.shot("sweeps-1-running")
    for x in (1, 2, 3):
        (gates / f"go-{x}").touch()
    wb.wait_row_description(row, "completed", timeout=120, what="the sweep completed")
    until(lambda: len(_trial_rows(wb)) == 3, timeout=30, what="three trials in the view")
    data = _show(wb, sweep_id)
    best = data["best"]
    assert best["params"] == {"x": 1}
    assert "3/3 trials" in wb.row_description(row)
    assert re.search(rf"best loss 1(\.0*)? \(#{best['trial']}\)", wb.row_description(row))
    # best first, as `runyard sweep show` sorts them
    expected = [f"#{t['trial']} x={t['params']['x']}" for t in data["trials"]]
    until(lambda: _trial_rows(wb) == expected, timeout=30, what=f"trials ordered {expected}")
    best_row = wb.tree_row("Sweeps", expected[0])
    assert re.match(r"best · loss 1(\.0*)?$", wb.row_description(best_row))
    assert best_row.locator(".codicon-star-full").count() == 1
    wb.shot("sweeps-2-completed")

    # the trial's run details (the existing Open Run Details command)
    wb.context_menu(best_row, "Open Run Details")
    frame = wb.webview(f"Run {best['run_id']}")
    frame.locator("body").filter(has_text=best["run_id"]).first.wait_for(timeout=60_000)

    # two trials selected → Compare
    wb.tree_row("Sweeps", expected[0]).click()
    second = wb.tree_row("Sweeps", expected[1])
    second.click(modifiers=["Control"])
    wb.context_menu(second, "Compare Selected Trials")
    compare = wb.webview("Compare 2 runs")
    compare.locator("section.run-fields table").wait_for(timeout=60_000)
    wb.shot("sweeps-3-compare")

    # the sweep's trials in the runs table, its objective the charts' default
    wb.context_menu(row, "Open Trials in Runs Table")
    table = wb.webview("Trials of gated")
    count = table.locator("#row-count")
    until(lambda: count.inner_text().startswith("3 runs"), timeout=60, what="the trials table")
    shown = {table.locator("[data-run]").nth(i).get_attribute("data-run") for i in range(3)}
    assert shown == {t["run_id"] for t in data["trials"]}
    table.locator("#charts").click()
    table.locator("#scatter canvas").first.wait_for(timeout=30_000)
    assert table.locator("#chart-y").input_value() == "metric:loss"
    assert table.locator("#chart-x").input_value() == "param:x"
    wb.shot("sweeps-4-trials-table")


def test_a_pruned_trial_is_marked(workbench: Workbench) -> None:
    wb = workbench
    sweep_id = _start(wb, "prune")
    wb.expand_view("Sweeps")
    row = wb.tree_row("Sweeps", "prune")
    row.wait_for(timeout=60_000)
    wb.wait_row_description(row, "completed", timeout=180, what="the prune sweep completed")
    assert "1 pruned" in wb.row_description(row)
    row.click()
    pruned = wb.tree_row("Sweeps", re.compile(r"^#\d+ offset=100"))
    pruned.wait_for(timeout=60_000)
    description = wb.wait_row_description(
        pruned, "pruned", timeout=30, what="the pruned trial", stop=()
    )
    assert description.startswith("latest 1")  # its latest loss, above 100
    assert pruned.locator(".codicon-debug-step-out").count() == 1
    assert _show(wb, sweep_id)["counts"] == {"completed": 2, "pruned": 1}
    wb.shot("sweeps-5-pruned")


def test_cancel_sweep_from_the_view(workbench: Workbench) -> None:
    wb = workbench
    sweep_id = _start(wb, "held")
    wb.expand_view("Sweeps")
    row = wb.tree_row("Sweeps", "held")
    row.wait_for(timeout=60_000)
    wb.wait_row_description(row, "running", timeout=60, what="the held sweep running")
    until(
        lambda: any(t["status"] == "running" for t in _show(wb, sweep_id)["trials"]),
        timeout=60,
        what="a running trial",
    )
    wb.context_menu(row, "Cancel Sweep")
    wb.wait_row_description(
        row, "canceled", timeout=60, what="the sweep canceled", stop=("completed",)
    )
    data = _show(wb, sweep_id)
    assert data["status"] == "canceled"
    assert {t["status"] for t in data["trials"]} == {"canceled"}
