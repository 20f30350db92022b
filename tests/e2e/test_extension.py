"""The packaged extension in a real VS Code (code-server in headless Chromium): the
Runyard container, submitting a script, its log, its charts, comparing runs, and
markup in a metric name shown as text.

Every step saves a screenshot to build/e2e-screenshots/. One code-server window serves
the whole module; each test gets what it needs from fixtures (a run that completed,
say), so any test can run alone:

    .venv/bin/python -m pytest tests/e2e -q
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e import harness
from tests.e2e.harness import XSS_METRIC, CodeServer, RunRow, Workbench, train_py
from tests.helpers import until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

# The first run builds the run's virtual environment; later ones reuse it.
FIRST_RUN_TIMEOUT = 180
RUN_TIMEOUT = 90

# The metric name's heading inside a `.chart`.
HEADING = "h1, h2, h3, h4, h5, h6"

# Draws the canvas's pixels and reports its size and how many are not transparent.
CANVAS_INK = """c => {
  const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let ink = 0;
  for (let i = 3; i < data.length; i += 4) if (data[i] !== 0) ink++;
  return {width: c.width, height: c.height, ink};
}"""


def drawn(canvas: Any, what: str) -> dict[str, int]:
    """Wait until `canvas` (a locator) has non-transparent pixels; its size and ink."""

    def ink() -> dict[str, int] | None:
        found: dict[str, int] = canvas.evaluate(CANVAS_INK)
        return found if found["ink"] > 0 else None

    canvas.wait_for(timeout=30_000)
    return dict(until(ink, timeout=30, what=f"pixels drawn on {what}'s canvas"))


@pytest.fixture(scope="module")
def runyard_open(workbench: Workbench) -> Workbench:
    """The Runyard container shown in the sidebar."""
    workbench.show_runyard()
    return workbench


def submit_and_complete(wb: Workbench, script: str, shot: str, timeout: float) -> RunRow:
    run = wb.submit(script)
    wb.shot(f"{shot}-submitted")
    row = wb.tree_row("Runs", run.label)
    wb.wait_row_description(row, "completed", timeout, f"{run.label} completed in the Runs view")
    wb.shot(f"{shot}-completed")
    return run


@pytest.fixture(scope="module")
def first_run(runyard_open: Workbench) -> RunRow:
    """train.py (lr=0.1) submitted with "Runyard: Submit Run", completed."""
    return submit_and_complete(runyard_open, "train.py", "02-first-run", FIRST_RUN_TIMEOUT)


@pytest.fixture(scope="module")
def second_run(runyard_open: Workbench, first_run: RunRow) -> Iterator[RunRow]:
    """train.py edited to lr=0.3 on disk, seen by the editor, submitted again, completed."""
    wb = runyard_open
    with harness.script_changed(wb, "train.py", train_py(0.3), "LR = 0.3"):
        yield submit_and_complete(wb, "train.py", "05-second-run", RUN_TIMEOUT)


def test_container_shows_local_target(runyard_open: Workbench) -> None:
    wb = runyard_open
    row = wb.tree_row("Compute Targets", "local")
    row.wait_for(timeout=90_000)
    description = wb.wait_row_description(
        row, "reachable", 60, "the local target's description saying it is reachable"
    )
    wb.shot("01-targets-local")
    assert "default" in description
    assert "local" in description
    for view in ("Compute Targets", "Runs", "Gallery"):
        assert wb.view(view).count() == 1, f"view {view!r} missing from the Runyard container"
    assert not wb.view_expanded("Gallery"), "the Gallery view should start collapsed"


def test_initialize_runyard_here_makes_a_project(
    code_server: CodeServer, browser: Any, tmp_path: Path
) -> None:
    """A folder that is not a Runyard project yet: the Compute Targets view offers
    "Initialize Runyard Here", and that button makes it one."""
    folder = harness.make_repo(tmp_path / "fresh", {"train.py": harness.train_py(0.1)})
    evidence = "test_initialize_runyard_here_makes_a_project"
    with harness.window(browser, code_server, folder, evidence=evidence) as wb:
        button = wb.view("Compute Targets").get_by_role("button", name="Initialize Runyard Here")
        button.wait_for(timeout=90_000)
        wb.shot("00-not-a-project-yet")
        button.click()
        wb.tree_row("Compute Targets", "local").wait_for(timeout=60_000)
        wb.shot("00-initialized")
        assert (folder / ".runyard").is_dir()
        assert wb.dialogs == []


def test_submit_run_appears_in_runs_and_completes(
    runyard_open: Workbench, first_run: RunRow
) -> None:
    wb = runyard_open
    row = wb.tree_row("Runs", first_run.label)
    description = wb.row_description(row)
    wb.shot("02-run-completed-row")
    # "<status> · <duration> · <key metric>=<value>"
    assert re.match(r"^completed · [\d.]+\S* · accuracy=0\.\d+", description), description
    assert not wb.row_spins(row), "a completed run still spins"
    show = wb.run_show(first_run.run_id)
    assert show["status"] == "completed"
    # the run sits under its experiment's node (the script's name unless the job sets one)
    labels = wb.row_labels("Runs")
    assert show["experiment"] in labels, labels
    assert labels.index(show["experiment"]) < labels.index(first_run.label), labels
    # the script really ran: the file it wrote to outputs/ was kept with the run
    assert any(a["path"] == "result.txt" for a in show["artifacts"]), show["artifacts"]


def test_a_running_run_spins_ticks_and_cancel_run_stops_it(runyard_open: Workbench) -> None:
    wb = runyard_open
    run = wb.submit("wait.py")  # runs until canceled
    try:
        row = wb.tree_row("Runs", run.label)
        first = wb.wait_row_description(row, "running", RUN_TIMEOUT, f"{run.label} running")
        assert wb.row_spins(row), "a running run's icon does not spin"
        wb.shot("02-running-run-spins")
        # "running · <duration so far>": the duration counts up while it runs
        until(
            lambda: (now := wb.row_description(row)).startswith("running") and now != first,
            timeout=15,
            what=f"the running run's duration moving on from {first!r}",
        )
        # a click on a row that redraws every second shows that run's log: the row's
        # command carries no arguments that a redraw could drop ("command not found")
        seen = len(wb.console)
        wb.select_run(run.label)
        until(
            lambda: wb.output_channel() == f"Runyard run {run.run_id}",
            timeout=30,
            what="the running run's log in the Output panel",
        )
        dropped = [line for line in wb.console[seen:] if "command not found" in line]
        assert not dropped, dropped
        wb.command("Runyard: Cancel Run")
        wb.wait_row_description(
            row, "canceled", 60, f"{run.label} canceled", stop=("failed", "completed")
        )
        assert not wb.row_spins(row), "a canceled run still spins"
        assert wb.run_show(run.run_id)["status"] == "canceled"
        wb.shot("02-run-canceled")
    finally:
        wb.cancel_if_active(run.run_id)  # never leave it sleeping behind the tests


def test_output_channel_shows_the_log(runyard_open: Workbench, first_run: RunRow) -> None:
    wb = runyard_open
    wb.select_run(first_run.label)  # a click on a run shows its log
    until(
        lambda: "runyard-e2e: done" in wb.output_text(),
        timeout=30,
        what="the run's last printed line in the Output panel",
    )
    wb.shot("03-output-channel")
    assert wb.output_channel() == f"Runyard run {first_run.run_id}"
    assert re.search(r"step \d+ loss=", wb.output_text())


def test_run_details_draws_charts(runyard_open: Workbench, first_run: RunRow) -> None:
    wb = runyard_open
    wb.select_run(first_run.label)
    wb.command("Runyard: Open Run Details")
    frame = wb.webview(f"Run {first_run.run_id}")
    frame.get_by_text(first_run.run_id).first.wait_for(timeout=60_000)
    for metric in ("loss", "accuracy"):
        chart = frame.locator(f'.chart[data-metric="{metric}"]')
        chart.wait_for(timeout=60_000)
        assert chart.locator(HEADING).first.inner_text().strip() == metric
        ink = drawn(chart.locator("canvas").first, f"the {metric} chart")
        assert ink["width"] > 0 and ink["height"] > 0, ink
    frame.locator('.chart[data-metric="loss"]').scroll_into_view_if_needed()
    wb.shot("04-run-details-charts")


def test_compare_shows_both_runs(
    runyard_open: Workbench, first_run: RunRow, second_run: RunRow
) -> None:
    wb = runyard_open
    wb.select_run(first_run.label)
    wb.select_run(second_run.label, add=True)
    selected = wb.view("Runs").locator(".monaco-list-row.selected")
    until(lambda: selected.count() == 2, timeout=10, what="both runs selected in the Runs view")
    wb.shot("05-compare-selection")
    wb.command("Runyard: Compare Selected Runs")
    frame = wb.webview("Compare 2 runs")
    ids = [first_run.run_id, second_run.run_id]
    # one chart per metric, each overlaying both runs, the run ids in its legend
    for metric in ("accuracy", "loss"):
        chart = frame.locator(f'.chart[data-metric="{metric}"]')
        chart.wait_for(timeout=60_000)
        drawn(chart.locator("canvas").first, f"the {metric} chart")
        legend = chart.locator(".u-legend")  # built with the chart, a frame after its section
        until(
            lambda legend=legend: all(
                run_id in " ".join(legend.all_inner_texts()) for run_id in ids
            ),
            timeout=30,
            what=f"both run ids in the {metric} chart's legend",
        )
    # the params table sets the two runs side by side
    lr_row = frame.locator("table tr").filter(has=frame.locator("th", has_text=re.compile(r"^lr$")))
    assert [t.strip() for t in lr_row.first.locator("td").all_inner_texts()] == ["0.1", "0.3"]
    header = " ".join(frame.locator("table").first.locator("th").all_inner_texts())
    assert all(run_id in header for run_id in ids), header
    frame.locator('.chart[data-metric="accuracy"]').scroll_into_view_if_needed()
    wb.shot("05-compare-view")


def test_markup_in_a_metric_name_is_text(runyard_open: Workbench) -> None:
    wb = runyard_open
    run = submit_and_complete(wb, "xss.py", "06-xss-run", FIRST_RUN_TIMEOUT)
    wb.select_run(run.label)
    wb.command("Runyard: Open Run Details")
    frame = wb.webview(f"Run {run.run_id}")
    frame.get_by_text(run.run_id).first.wait_for(timeout=60_000)
    chart = frame.locator(f'.chart[data-metric="{XSS_METRIC}"]')
    chart.wait_for(timeout=60_000)
    heading = chart.locator(HEADING).first
    assert heading.evaluate("e => e.textContent").strip() == XSS_METRIC
    assert frame.locator('img[src="x"]').count() == 0
    assert chart.locator("img").count() == 0
    # the chart itself was drawn, so the page went through its whole rendering
    drawn(chart.locator("canvas").first, "the chart")
    chart.scroll_into_view_if_needed()
    wb.shot("06-xss-metric-as-text")
    assert wb.dialogs == [], f"a dialog fired: {wb.dialogs}"


def test_gallery_shows_every_sample_and_filters(runyard_open: Workbench) -> None:
    """The Gallery webview: one card per catalog entry, with its image loaded under the
    webview's CSP, and the search box narrowing the cards."""
    wb = runyard_open
    catalog = sorted(p.stem for p in (harness.REPO / "gallery").glob("*.json"))
    wb.command("Runyard: Open Gallery")
    frame = wb.webview("Runyard Gallery")
    cards = frame.locator(".card[data-entry]")
    until(lambda: cards.count() == len(catalog) or None, timeout=60, what="every sample's card")
    assert sorted(cards.evaluate_all("cs => cs.map(c => c.dataset.entry)")) == catalog
    # every image came through (an image the CSP or a wrong URI blocked has no width)
    images = frame.locator(".card img.card-image")
    assert images.count() == len(catalog)
    until(
        lambda: (
            all(w > 0 for w in images.evaluate_all("is => is.map(i => i.naturalWidth)")) or None
        ),
        timeout=30,
        what="the sample images loaded",
    )
    wb.shot("07-gallery")
    frame.locator("#search").fill("pytorch")
    until(lambda: cards.count() == 1 or None, timeout=10, what="the search narrowing to one card")
    assert cards.first.get_attribute("data-entry") == "pytorch-digits"
    wb.shot("07-gallery-search")
    frame.locator("#search").fill("")


def test_open_in_tensorboard_runs_the_bundled_command_line(
    runyard_open: Workbench, first_run: RunRow
) -> None:
    """ "Open in TensorBoard" starts `runyard tensorboard RUN` from the bundled server in
    a terminal of its own. The run wrote no event files, so the terminal shows the
    command line's own message saying so (which also proves the bundled libraries and
    the project folder reached it)."""
    wb = runyard_open
    wb.select_run(first_run.label)
    wb.command("Runyard: Open in TensorBoard")
    rows = wb.page.locator(".part.panel .xterm-rows")

    def said() -> str | None:
        text = " ".join(str(t) for t in rows.all_inner_texts()).replace("\xa0", " ")
        return text if "TensorBoard event files" in text else None

    text = until(said, timeout=60, what="the tensorboard command's message in the terminal")
    assert first_run.run_id in text
    wb.shot("08-open-in-tensorboard")


def test_create_project_from_a_gallery_card_opens_it_in_a_new_window(
    runyard_open: Workbench, tmp_path: Path
) -> None:
    """ "Create project" on a card: the folder is chosen in VS Code's own file dialog,
    the project is written and committed, and "Open in New Window" opens it as a
    Runyard project."""
    wb = runyard_open
    parent = tmp_path / "projects"
    parent.mkdir()
    wb.command("Runyard: Open Gallery")
    frame = wb.webview("Runyard Gallery")
    card = frame.locator('.card[data-entry="sklearn-digits"]')
    card.wait_for(timeout=60_000)
    card.get_by_role("button", name="Create project").click()
    # code-server's file dialog is a quick input: type the folder, then accept it
    wb.choose_folder(
        "Where should the new project go?",
        parent,
        accept="Create the project in this folder",
        then="Project folder name",
    )
    assert wb.quick_input("Project folder name") == "sklearn-digits"
    wb.quick_input("Project folder name", "digits-from-gallery")
    wb.page.keyboard.press("Enter")
    root = parent / "digits-from-gallery"
    wb.notification(f"Project created in {root}", 120)
    wb.shot("07-gallery-created")
    assert (root / "train.py").is_file() and (root / "score.py").is_file()
    assert (root / ".runyard").is_dir()
    log = subprocess.run(
        ["git", "log", "--oneline"], cwd=root, capture_output=True, text=True, check=True
    )
    assert log.stdout.strip(), "the new project has no first commit"

    with wb.page.context.expect_page(timeout=60_000) as opened:
        wb.notification_action(f"Project created in {root}", "Open in New Window")
    page = opened.value
    try:
        other = Workbench(page, wb.server, root)
        page.locator(".monaco-workbench").wait_for(timeout=90_000)
        other.show_runyard()
        other.tree_row("Compute Targets", "local").wait_for(timeout=90_000)
        other.shot("07-gallery-project-window")
        assert str(root) in page.url
    finally:
        page.close()
