"""Notebooks as runs in a real VS Code (code-server in headless Chromium): "Submit
Notebook as Run" on the notebook editor's toolbar and in the Explorer's context menu on
the .ipynb, the parameters asked for and recorded, the run shown in the Runs view until
it completes, and its details listing the executed notebook (which opens, parameters
injected) and the metric a cell logged.

The notebook is opened by VS Code's built-in ipynb support (no Jupyter extension); the
run executes it in a Jupyter kernel in the run's environment, which Runyard builds with
nbclient, nbformat and ipykernel. Each answer the UI gives is checked against the real
command line (`runyard runs show ID --json`) in the project folder.

    .venv/bin/python -m pytest tests/e2e/test_notebooks_view.py -q
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e import harness
from tests.e2e.harness import CodeServer, RunRow, Workbench
from tests.helpers import until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1200)]

# The first run builds the notebook's environment (a Jupyter kernel); later ones reuse it.
FIRST_RUN_TIMEOUT = 480
RUN_TIMEOUT = 180
NOTEBOOK = "analysis.ipynb"
TITLE = "Submit Notebook as Run"


def _cell(n: int, source: str, kind: str = "code", tags: list[str] | None = None) -> dict[str, Any]:
    cell: dict[str, Any] = {
        "cell_type": kind,
        "id": f"cell-{n}",
        "metadata": {"tags": tags or []},
        "source": source,
    }
    if kind == "code":
        cell.update(execution_count=None, outputs=[])
    return cell


ANALYSIS = json.dumps(
    {
        "cells": [
            _cell(1, "# Analysis\nA notebook run by Runyard.", kind="markdown"),
            _cell(2, "lr = 0.5", tags=["parameters"]),
            _cell(
                3,
                "import runyard\n"
                "acc = 1 - lr / 10\n"
                'runyard.log_metric("acc", acc)\n'
                'print(f"runyard-e2e: acc={acc}")',
            ),
        ],
        "metadata": {
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    },
    indent=1,
)


@pytest.fixture(scope="module")
def workbench(
    request: pytest.FixtureRequest,
    code_server: CodeServer,
    browser: Any,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Workbench]:
    """A code-server window on a project holding analysis.ipynb (a `parameters` cell
    setting lr = 0.5, a cell logging `acc` = 1 - lr/10 and printing it), the Runyard
    container shown."""
    folder = harness.make_project(
        tmp_path_factory.mktemp("e2e-notebooks") / "proj", {NOTEBOOK: ANALYSIS}
    )
    name = request.module.__name__.rsplit(".", 1)[-1]
    with harness.window(browser, code_server, folder, logs=name) as wb:
        yield wb


def _active_notebook(wb: Workbench) -> Any:
    """The notebook editor showing now: VS Code lays each notebook editor over the
    editor part, outside the editor group, and hides those not shown."""
    return wb.page.locator(".notebookOverlay >> visible=true").first


def _notebook_sources(wb: Workbench) -> list[str]:
    """The source of each code cell the active notebook editor renders, top to bottom."""
    editors = _active_notebook(wb).locator(".cell-editor-container .monaco-editor .view-lines")
    return [str(t).replace("\xa0", " ") for t in editors.all_inner_texts()]


def _toolbar_submit(wb: Workbench) -> None:
    """Click "Submit Notebook as Run" on the notebook editor's toolbar, from its
    overflow ("More Actions...") when the toolbar has no room for it."""
    toolbar = _active_notebook(wb).locator(".notebook-toolbar-container")
    toolbar.first.wait_for(timeout=30_000)
    button = toolbar.locator(f'.action-item .action-label[aria-label^="{TITLE}"]')
    try:
        button.first.wait_for(state="visible", timeout=15_000)
    except Exception:
        more = toolbar.locator(".action-item .codicon-toolbar-more")
        if not more.count():
            actions = toolbar.locator(".action-label").evaluate_all(
                "els => els.map(e => e.getAttribute('aria-label'))"
            )
            raise AssertionError(
                f"the notebook toolbar shows no {TITLE!r} and no overflow: {actions}"
            ) from None
        more.first.click()
        entry = wb.page.locator(".context-view .monaco-menu .action-item").filter(
            has=wb.page.locator(".action-label", has_text=re.compile(rf"^{re.escape(TITLE)}$"))
        )
        entry.first.wait_for(timeout=10_000)
        entry.first.click()
        wb.console.append(f"[e2e] notebook toolbar overflow {TITLE!r}")
        return
    button.first.click()
    wb.console.append(f"[e2e] notebook toolbar {TITLE!r}")


def _answer_parameters(wb: Workbench, text: str) -> None:
    """Type `text` into the parameters prompt the submission asks, and accept it."""
    title = f"Submit {NOTEBOOK} as a run"
    assert wb.quick_input(title, text) == text
    wb.page.keyboard.press("Enter")
    wb.page.locator(".quick-input-widget").wait_for(state="hidden", timeout=10_000)


def _new_run(wb: Workbench, before: set[str], timeout: float) -> RunRow:
    """The one run submitted since `before`, once its row in the Runs view says it
    completed."""
    new = until(lambda: wb.run_ids() - before, timeout=60, what=f"a run of {NOTEBOOK}")
    assert len(new) == 1, f"one submit made {len(new)} runs: {new}"
    run_id = next(iter(new))
    label = f"{NOTEBOOK} {run_id.rsplit('-', 1)[-1]}"
    row = wb.tree_row("Runs", label)
    try:
        row.wait_for(timeout=60_000)
        wb.wait_row_description(row, "completed", timeout, f"{label} completed in the Runs view")
    finally:
        wb.cancel_if_active(run_id)
    return RunRow(run_id=run_id, label=label)


def _details_frame(wb: Workbench, run_id: str) -> Any:
    """The inner frame of the run details panel of `run_id`, once its tab is the active
    one. A notebook editor keeps a webview of its own (its outputs) in the page, visible
    or not, so the panel's frame is the one that names the run."""
    title = f"Run {run_id}"
    wb.page.locator(".tabs-container .tab.active", has_text=title).first.wait_for(timeout=60_000)
    outers = wb.page.locator("iframe.webview.ready")

    def found() -> Any:
        for i in range(outers.count()):
            inner = outers.nth(i).content_frame.locator("iframe#active-frame").first.content_frame
            if inner.locator("h1 .run-id", has_text=run_id).count():
                return inner
        return None

    return until(found, timeout=60, what=f"the details panel of run {run_id}")


def _show_explorer(wb: Workbench) -> Any:
    wb.command("View: Show Explorer")
    explorer = wb.page.locator(".explorer-folders-view")
    explorer.first.wait_for(timeout=30_000)
    return explorer.first


@pytest.fixture(scope="module")
def toolbar_run(workbench: Workbench) -> RunRow:
    """analysis.ipynb opened in the notebook editor and submitted from its toolbar with
    lr=0.2, completed."""
    wb = workbench
    before = wb.run_ids()
    wb.open_file(NOTEBOOK)
    until(
        lambda: any("lr = 0.5" in s for s in _notebook_sources(wb)),
        timeout=60,
        what=f"{NOTEBOOK} shown in the notebook editor",
    )
    wb.shot("40-notebook-open")
    _toolbar_submit(wb)
    _answer_parameters(wb, "lr=0.2")
    return _new_run(wb, before, FIRST_RUN_TIMEOUT)


def test_the_notebook_toolbar_submits_the_open_notebook_with_the_parameters_typed(
    workbench: Workbench, toolbar_run: RunRow
) -> None:
    """Submit Notebook as Run on the notebook editor's toolbar: the parameters typed at
    its prompt are injected and recorded, the kernel ran every cell (the `acc` the cell
    logged follows from lr=0.2), and the run completed."""
    wb = workbench
    run = wb.run_show(toolbar_run.run_id)
    wb.shot("41-notebook-toolbar-run-completed")
    assert run["status"] == "completed", run.get("reason")
    assert run["params"] == {"lr": "0.2"}, run["params"]
    assert run["command"][-4:] == ["runyard_notebook_runner", NOTEBOOK, "-p", "lr=0.2"], run[
        "command"
    ]
    summary = {m["key"]: m for m in run["metrics_summary"]}
    assert summary["acc"]["last"] == pytest.approx(0.98), summary
    assert {a["path"] for a in run["artifacts"]} == {NOTEBOOK}


def test_the_explorer_context_menu_submits_the_notebook_with_its_own_parameters(
    workbench: Workbench, toolbar_run: RunRow
) -> None:
    """Submit Notebook as Run from the Explorer's context menu on analysis.ipynb, the
    parameters prompt left empty: the notebook runs with its own lr = 0.5 (no parameter
    recorded, `acc` = 0.95) and completes in the Runs view."""
    wb = workbench
    before = wb.run_ids()
    explorer = _show_explorer(wb)
    row = explorer.locator(".monaco-list-row").filter(
        has=wb.page.locator(".label-name", has_text=re.compile(rf"^{re.escape(NOTEBOOK)}$"))
    )
    row.first.wait_for(timeout=30_000)
    wb.context_menu(row.first, TITLE)
    _answer_parameters(wb, "")
    wb.show_runyard()
    new = _new_run(wb, before, RUN_TIMEOUT)
    wb.shot("42-notebook-explorer-run-completed")
    run = wb.run_show(new.run_id)
    assert run["status"] == "completed", run.get("reason")
    assert run["params"] == {}, run["params"]
    assert run["command"][-2:] == ["runyard_notebook_runner", NOTEBOOK], run["command"]
    summary = {m["key"]: m for m in run["metrics_summary"]}
    assert summary["acc"]["last"] == pytest.approx(0.95), summary


def test_the_run_details_list_the_executed_notebook_which_opens_and_chart_acc(
    workbench: Workbench, toolbar_run: RunRow
) -> None:
    """The toolbar run's details: lr = 0.2 under Parameters, analysis.ipynb under
    Outputs (its Open shows the executed notebook, the injected parameters cell after
    the `parameters` one; no Submit Notebook as Run on its toolbar, and the command
    says it is a run's output), and a chart of `acc`."""
    wb = workbench
    wb.show_runyard()
    wb.select_run(toolbar_run.label)
    wb.command("Runyard: Open Run Details")
    frame = _details_frame(wb, toolbar_run.run_id)
    outputs = frame.locator("table.outputs tr").filter(
        has=frame.locator("td.path", has_text=re.compile(rf"^{re.escape(NOTEBOOK)}$"))
    )
    outputs.first.wait_for(timeout=60_000)
    assert frame.locator("table.outputs td.path").all_inner_texts() == [NOTEBOOK]
    params = frame.locator("section", has=frame.locator("h2", has_text="Parameters"))
    assert "lr" in params.first.inner_text() and "0.2" in params.first.inner_text()
    chart = frame.locator('.chart[data-metric="acc"]')
    chart.first.wait_for(timeout=60_000)
    assert chart.first.locator(".chart-title").inner_text().strip() == "acc"
    chart.first.scroll_into_view_if_needed()
    outputs.first.scroll_into_view_if_needed()
    wb.shot("43-notebook-run-details")

    outputs.first.get_by_role("button", name="Open").click()
    # the executed notebook: the injected cell follows the notebook's `parameters` one
    sources = until(
        lambda: (s := _notebook_sources(wb)) and any("lr = 0.2" in t for t in s) and s,
        timeout=60,
        what="the executed notebook open in the notebook editor",
    )
    wb.shot("44-executed-notebook")
    # a run's output is no notebook to submit: its toolbar does not offer it
    toolbar = _active_notebook(wb).locator(".notebook-toolbar-container")
    toolbar.locator('.action-label[aria-label^="Run All"]').first.wait_for(timeout=30_000)
    assert not toolbar.locator(f'.action-label[aria-label^="{TITLE}"]').count()
    # and the command palette's, on it, says why instead of asking for parameters
    before = wb.run_ids()
    wb.command(f"Runyard: {TITLE}")
    wb.notification(f"{NOTEBOOK} is a run's output (inside .runyard/", timeout=30)
    assert not wb.quick_input_title()
    assert wb.run_ids() == before
    assert "lr = 0.5" in sources[0], sources
    assert "lr = 0.2" in sources[1], sources
    assert 'runyard.log_metric("acc", acc)' in sources[2], sources
