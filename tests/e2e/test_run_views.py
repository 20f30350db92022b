"""What the editor shows of runs beyond their charts, in a real VS Code (code-server in
headless Chromium): Rerun from the Runs view runs the original's snapshot again (not the
working folder), the run details show the run's lock (Environment), Compare shows the
runs' own fields (the Run table), and Diff Runs opens a document naming every cause two
runs differ by, then their code diff.

The project's requirements.txt asks for `six`, so a run's environment is built by
Runyard and its lock lists `six==<version>`. Each answer the UI gives is checked against
the real command line (`runyard runs show ID --json`) in the project folder.

    .venv/bin/python -m pytest tests/e2e/test_run_views.py -q
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e import harness
from tests.e2e.harness import CodeServer, RunRow, Workbench, train_py
from tests.helpers import until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

# The first run builds the run's environment (with six); later ones reuse it.
FIRST_RUN_TIMEOUT = 240
RUN_TIMEOUT = 120


@pytest.fixture(scope="module")
def workbench(
    request: pytest.FixtureRequest,
    code_server: CodeServer,
    browser: Any,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Workbench]:
    """A code-server window on a project whose train.py (lr=0.1) runs in an environment
    with six (requirements.txt), the Runyard container shown."""
    folder = harness.make_project(
        tmp_path_factory.mktemp("e2e-run-views") / "proj",
        {"train.py": train_py(0.1), "requirements.txt": "six\n"},
    )
    name = request.module.__name__.rsplit(".", 1)[-1]
    with harness.window(browser, code_server, folder, logs=name) as wb:
        yield wb


def _completed(wb: Workbench, run: RunRow, timeout: float) -> RunRow:
    row = wb.tree_row("Runs", run.label)
    wb.wait_row_description(row, "completed", timeout, f"{run.label} completed in the Runs view")
    return run


def _label(run_id: str) -> str:
    return f"train.py {run_id.rsplit('-', 1)[-1]}"


@pytest.fixture(scope="module")
def first_run(workbench: Workbench) -> RunRow:
    """train.py (lr=0.1) submitted with "Runyard: Submit Run", completed."""
    return _completed(workbench, workbench.submit("train.py"), FIRST_RUN_TIMEOUT)


@pytest.fixture(scope="module")
def second_run(workbench: Workbench, first_run: RunRow) -> Iterator[RunRow]:
    """train.py edited to lr=0.3 on disk (so its snapshot differs), submitted, completed;
    the file is put back at the end of the module."""
    wb = workbench
    with harness.script_changed(wb, "train.py", train_py(0.3), "LR = 0.3"):
        yield _completed(wb, wb.submit("train.py"), RUN_TIMEOUT)


def _select_both(wb: Workbench, a: RunRow, b: RunRow) -> None:
    wb.select_run(a.label)
    wb.select_run(b.label, add=True)
    selected = wb.view("Runs").locator(".monaco-list-row.selected")
    until(lambda: selected.count() == 2, timeout=10, what="both runs selected in the Runs view")


# Each rendered line of the active editor, top to bottom, with its vertical position:
# Monaco draws a line as one absolutely placed .view-line (reused out of order), and an
# empty line has no text, which the editor's inner text drops.
EDITOR_LINES = """lines => [...lines.querySelectorAll('.view-line')]
  .map(l => [parseFloat(l.style.top) || 0, l.textContent.replace(/\u00a0/g, ' ')])
  .sort((a, b) => a[0] - b[0]).map(l => l[1])"""


def _editor_lines(wb: Workbench) -> list[str]:
    """The active editor's rendered lines in order, empty ones included."""
    lines = wb.page.locator(
        ".part.editor .editor-group-container.active .monaco-editor .view-lines"
    ).first
    return [str(line) for line in lines.evaluate(EDITOR_LINES)]


def test_rerun_from_the_runs_view_runs_the_original_snapshot(
    workbench: Workbench, first_run: RunRow
) -> None:
    """Rerun on a run's row: a new run of the original's snapshot commit (not the
    working folder, changed meanwhile), tagged rerun_of, its log shown, completed."""
    wb = workbench
    script = wb.folder / "train.py"
    before_text = script.read_text()
    script.write_text(train_py(0.7))  # the working folder is not what a rerun runs
    try:
        before = wb.run_ids()
        wb.context_menu(wb.tree_row("Runs", first_run.label), "Rerun")
        new = until(lambda: wb.run_ids() - before, timeout=60, what="the rerun in the store")
        assert len(new) == 1, f"one rerun made {len(new)} runs: {new}"
        rerun_id = next(iter(new))
        wb.shot("20-rerun-started")
        try:
            row = wb.tree_row("Runs", _label(rerun_id))
            row.wait_for(timeout=60_000)
            wb.wait_row_description(row, "completed", RUN_TIMEOUT, f"rerun {rerun_id} completed")
        finally:
            wb.cancel_if_active(rerun_id)
    finally:
        script.write_text(before_text)
    until(
        lambda: wb.output_channel() == f"Runyard run {rerun_id}",
        timeout=30,
        what="the rerun's log in the Output panel",
    )
    wb.shot("20-rerun-completed")
    original, again = wb.run_show(first_run.run_id), wb.run_show(rerun_id)
    assert again["status"] == "completed"
    assert again["snapshot"]["commit"], again["snapshot"]
    assert again["snapshot"]["commit"] == original["snapshot"]["commit"]
    assert again["tags"].get("rerun_of") == first_run.run_id, again["tags"]
    assert again["params"]["lr"] == original["params"]["lr"] == "0.1", again["params"]
    assert again["target"] == original["target"]


def test_run_details_show_the_environment_lock(workbench: Workbench, first_run: RunRow) -> None:
    """The details' Environment section: interpreter, who built it, and the pins, six
    among them, as the command line shows the run's lock."""
    wb = workbench
    lock = until(
        lambda: wb.run_show(first_run.run_id)["lock"],
        timeout=60,
        what=f"run {first_run.run_id}'s lock recorded",
    )
    six = f"six=={lock['packages']['six']}"
    wb.select_run(first_run.label)
    wb.command("Runyard: Open Run Details")
    frame = wb.webview(f"Run {first_run.run_id}")
    section = frame.locator("section.environment")
    section.wait_for(timeout=60_000)
    assert section.locator("h2").first.inner_text().strip() == "Environment"
    fold = section.locator("details.pins-fold summary")
    if fold.count():  # many pins: folded until opened
        fold.first.click()
    pins = section.locator("ul.pins li")
    until(
        lambda: six in [t.strip() for t in pins.all_inner_texts()],
        timeout=30,
        what=f"{six} listed in the Environment section",
    )
    summary = section.locator(".lock-summary").first.inner_text().strip()
    n = len(lock["packages"])
    built = f"built by {lock['installer']}" if lock["installer"] else "not built by Runyard"
    expected = f"Python {lock['python']} · {built} · {n} package{'s' if n != 1 else ''}"
    assert summary == expected, summary
    assert pins.count() == n
    section.scroll_into_view_if_needed()
    wb.shot("21-run-details-environment")


def test_compare_shows_the_run_table_with_the_snapshot_differing(
    workbench: Workbench, first_run: RunRow, second_run: RunRow
) -> None:
    """Compare's Run table above Parameters: status, experiment, target, duration and
    snapshot, the snapshot row marked as differing (train.py changed), ids shortened."""
    wb = workbench
    _select_both(wb, first_run, second_run)
    wb.command("Runyard: Compare Selected Runs")
    frame = wb.webview("Compare 2 runs")
    table = frame.locator("section.run-fields table")
    table.wait_for(timeout=60_000)
    headings = [t.strip() for t in frame.locator("section h2").all_inner_texts()]
    assert headings.index("Run") < headings.index("Parameters"), headings

    def row(key: str) -> Any:
        th = frame.locator("th", has_text=re.compile(rf"^{key}$"))
        return table.locator("tbody tr").filter(has=th).first

    keys = [t.strip() for t in table.locator("tbody th").all_inner_texts()]
    assert keys == ["status", "experiment", "target", "duration", "snapshot"], keys
    assert [t.strip() for t in row("status").locator("td").all_inner_texts()] == [
        "completed",
        "completed",
    ]
    assert "differs" not in (row("status").get_attribute("class") or "")
    snapshot = row("snapshot")
    assert "differs" in (snapshot.get_attribute("class") or ""), "the snapshot row is not marked"
    commits = [wb.run_show(r.run_id)["snapshot"]["commit"] for r in (first_run, second_run)]
    cells = snapshot.locator("td")
    assert [t.strip() for t in cells.all_inner_texts()] == [c[:10] for c in commits]
    assert [cells.nth(i).get_attribute("title") for i in range(2)] == commits
    durations = [t.strip() for t in row("duration").locator("td").all_inner_texts()]
    assert all(re.fullmatch(r"[\d.]+s|\d+m \d\ds", d) for d in durations), durations
    table.scroll_into_view_if_needed()
    wb.shot("22-compare-run-table")


def test_diff_runs_opens_every_cause_then_the_code_diff(
    workbench: Workbench, first_run: RunRow, second_run: RunRow
) -> None:
    """Diff Runs from the Runs view's context menu on two selected runs: a diff document
    whose first line names both runs (the older first), then a line per cause (the
    parameters line says how lr changed), a blank line and the code diff."""
    wb = workbench
    _select_both(wb, first_run, second_run)
    wb.context_menu(wb.tree_row("Runs", second_run.label), "Diff Runs")
    wb.editor_tab(f"{first_run.run_id}..{second_run.run_id}.diff").wait_for(timeout=60_000)
    header = f"runs {first_run.run_id} → {second_run.run_id}"
    text = until(
        lambda: (t := wb.editor_text()).startswith(header) and "+LR = 0.3" in t and t,
        timeout=30,
        what="the diff document's text in the editor",
    )
    wb.shot("23-diff-runs")
    lines = _editor_lines(wb)
    assert lines[0] == header, lines[:2]
    causes = {line.split()[0]: line for line in lines[1:7]}
    assert list(causes) == ["code", "environment", "parameters", "target", "host", "metrics"]
    assert "lr 0.1 → 0.3" in causes["parameters"], causes["parameters"]
    assert "train.py (modified)" in causes["code"], causes["code"]
    assert causes["environment"].split(None, 1)[1] == "same", causes["environment"]
    assert causes["target"].split(None, 1)[1] == "same", causes["target"]
    assert lines[7] == "", lines[:9]
    assert "-LR = 0.1" in text
    # read-only: typing into it changes nothing
    wb.page.locator(".part.editor .editor-group-container.active .monaco-editor").first.click()
    wb.page.keyboard.type("typed")
    assert "typed" not in wb.editor_text()
