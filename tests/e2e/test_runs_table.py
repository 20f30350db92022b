"""The runs table in a real VS Code (code-server in headless Chromium) over a store of
10,000 runs: "Runyard: Open Runs Table" shows the first rows, keeps only the rows in
view in the DOM, scrolls to the last run, sorts by a metric, filters by an expression,
draws a param against the objective and parallel coordinates (uPlot), and two selected
rows open Compare. The time to the first rows and to the last row after
a scroll are printed (figures, not assertions: the machine's load varies).

The store is filled in bulk, as `create_run`, `set_params` and the ingester leave it
(one transaction), so the test spends its time in the editor, not in setting up.

    RUNYARD_VSIX=$PWD/runyard-0.1.0.vsix CI=true .venv/bin/python -m pytest -q -s \
        tests/e2e/test_runs_table.py
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from runyard.core.store import Store
from runyard.core.store.runs import RUN_COLUMNS
from tests.e2e import harness
from tests.e2e.harness import CodeServer, Workbench
from tests.helpers import until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

RUNS = 10_000


def fill(folder: Path) -> dict[str, dict[str, Any]]:
    """RUNS runs in the project's store (params lr and layers, latest loss); returns
    them by id."""
    rng = random.Random(11)
    base = time.time() - 1e7
    rows, params, latest, history = [], [], [], []
    made: dict[str, dict[str, Any]] = {}
    for i in range(RUNS):
        created = base + i * 60
        run_id = time.strftime("%y%m%d-%H%M%S", time.localtime(created)) + f"-{i:06d}"
        status = "failed" if i % 7 == 0 else "completed"
        lr = round(rng.uniform(0.0001, 0.1), 5)
        loss = rng.uniform(0.1, 3.0)
        code = 0 if status == "completed" else 1
        command = '["python", "train.py"]'
        ident = (run_id, "default", status, "local", "local", None, "train.py", command)
        times = (created, created + 0.5, created + 30.0)
        rows.append((*ident, None, None, None, *times, code, None, None, None, "{}"))
        history.append((run_id, status, created, None))
        params += [(run_id, "lr", str(lr)), (run_id, "layers", str(i % 4 + 1))]
        latest.append((run_id, "loss", 2, created + 3, loss, 3))
        made[run_id] = {"status": status, "lr": lr, "loss": loss}
    with Store(folder / ".runyard" / "state" / "runyard.db") as store, store._tx() as db:
        db.executemany(f"INSERT INTO runs ({RUN_COLUMNS}) VALUES ({', '.join('?' * 19)})", rows)
        db.executemany(
            "INSERT INTO status_history (run_id, status, time, reason) VALUES (?, ?, ?, ?)",
            history,
        )
        db.executemany("INSERT INTO params (run_id, key, value) VALUES (?, ?, ?)", params)
        db.executemany(
            "INSERT INTO latest_metrics (run_id, key, step, wall_time, value, count) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            latest,
        )
    return made


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, dict[str, Any]]]:
    folder = harness.make_project(
        tmp_path_factory.mktemp("e2e-table") / "proj", {"train.py": harness.train_py(0.1)}
    )
    return folder, fill(folder)


@pytest.fixture(scope="module")
def workbench(
    code_server: CodeServer, browser: Any, made: tuple[Path, dict[str, dict[str, Any]]]
) -> Iterator[Workbench]:
    with harness.window(browser, code_server, made[0], logs="test_runs_table") as wb:
        yield wb


def test_ten_thousand_runs_sort_filter_scroll_and_compare(
    workbench: Workbench, made: tuple[Path, dict[str, dict[str, Any]]]
) -> None:
    wb = workbench
    runs = made[1]
    wb.tree_row("Runs", "default").wait_for(timeout=120_000)  # the server is up
    started = time.monotonic()
    wb.command("Runyard: Open Runs Table")
    frame = wb.webview("Runs Table")
    frame.locator("[data-run]").first.wait_for(timeout=120_000)
    first_rows = time.monotonic() - started
    count = frame.locator("#row-count")
    until(lambda: count.inner_text().startswith(f"{RUNS} runs"), timeout=30, what="the count")
    in_dom = frame.locator("[data-run]").count()
    assert 0 < in_dom < 100, f"{in_dom} rows in the DOM for {RUNS} runs"
    newest = max(runs)
    assert frame.locator("[data-run]").first.get_attribute("data-run") == newest

    # scroll to the end: the oldest run shows, still few rows in the DOM
    started = time.monotonic()
    frame.locator("#rows").evaluate("e => { e.scrollTop = e.scrollHeight; }")
    oldest = min(runs)
    frame.locator(f'[data-run="{oldest}"]').wait_for(timeout=30_000)
    scrolled = time.monotonic() - started
    assert frame.locator("[data-run]").count() < 100
    wb.shot("runs-table-1-scrolled")

    # sort by loss (a metric sorts lowest first)
    frame.locator('[data-column="metric:loss"]').first.click()
    frame.locator("#rows").evaluate("e => { e.scrollTop = 0; }")
    best = min(runs, key=lambda r: runs[r]["loss"])
    until(
        lambda: frame.locator("[data-run]").first.get_attribute("data-run") == best,
        timeout=30,
        what="the lowest loss first",
    )

    # filter by an expression
    expected = sum(1 for r in runs.values() if r["lr"] > 0.05 and r["status"] == "completed")
    frame.locator("#filter").fill("lr > 0.05 and status == completed")
    frame.locator("#filter").press("Enter")
    until(
        lambda: count.inner_text().startswith(f"{expected} of {RUNS} runs"),
        timeout=30,
        what=f"{expected} runs kept by the filter",
    )
    frame.locator("#filter").fill("lr > and")
    frame.locator("#filter").press("Enter")
    until(
        lambda: "expected a value after lr >" in frame.locator("#filter-error").inner_text(),
        timeout=10,
        what="the filter's error",
    )
    frame.locator("#filter").fill("lr > 0.05 and status == completed")
    frame.locator("#filter").press("Enter")
    wb.shot("runs-table-2-filtered")

    # charts of what the filter keeps: lr against loss, and parallel coordinates
    frame.locator("#charts").click()
    frame.locator("#chart-x").select_option("param:lr")
    frame.locator("#chart-y").select_option("metric:loss")
    until(
        lambda: frame.locator("#chart-note").inner_text().startswith(f"{expected} of {expected}"),
        timeout=30,
        what="the scatter's note",
    )
    frame.locator("#scatter canvas").first.wait_for(timeout=30_000)
    frame.locator("#parallel canvas").first.wait_for(timeout=30_000)
    axes = frame.locator("#parallel-axes").inner_text()
    assert "(the first 300 of" in axes and "lr:" in axes and "loss:" in axes, axes
    wb.shot("runs-table-3-charts")

    # two rows selected -> Compare
    rows = frame.locator("[data-run]")
    first, second = rows.nth(0), rows.nth(1)
    ids = [first.get_attribute("data-run"), second.get_attribute("data-run")]
    first.click()
    second.click(modifiers=["Control"])
    until(lambda: "2 selected" in count.inner_text(), timeout=10, what="two rows selected")
    frame.locator("#compare").click()
    compare = wb.webview("Compare 2 runs")
    table = compare.locator("section.run-fields table")
    table.wait_for(timeout=60_000)
    assert all(compare.locator("th", has_text=str(i)).count() for i in ids)
    print(
        f"\nruns table, {RUNS} runs: first rows {first_rows:.2f} s, scroll to end {scrolled:.2f} s"
    )
