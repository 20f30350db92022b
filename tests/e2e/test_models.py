"""Models in a real VS Code (code-server in headless Chromium) against the real Docker
engine: a run trains a small linear model, "Register Model" registers its output file,
the Models view shows it with its lineage, "Package and Deploy" builds the serving
image and starts it, "Test Endpoint" posts a payload and shows the answer, which must
equal the model's own prediction computed here in Python, and "Stop Deployment" removes
the container.

The model needs no third-party package, so the image holds only the service's own
dependencies and builds in well under a minute once the base image is there (started by
scripts/docker-setup.sh). Under CI=true a missing engine fails these tests.

    .venv/bin/python -m pytest tests/e2e/test_models.py -q
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import helpers
from tests.e2e import harness
from tests.e2e.harness import CodeServer, RunRow, Workbench
from tests.helpers import until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

BASE_IMAGE, CA_BUNDLE = helpers.BASE_IMAGE, helpers.CA_BUNDLE
RUN_TIMEOUT = 180
DEPLOY_TIMEOUT = 600  # a cold image build installs FastAPI and uvicorn from the index
MODEL = "linear"
DEPLOYMENT = f"{MODEL}-1"  # the default name: the model's name and version

# Fits y = w·x + b to noisy points by gradient descent, logs the loss, writes the model.
TRAIN_MODEL_PY = """\
import json
import os
import random

import runyard

random.seed(7)
TRUE_W, TRUE_B = [0.5, -1.25, 2.0], 0.3
points = []
for _ in range(200):
    x = [random.uniform(-1, 1) for _ in TRUE_W]
    y = sum(w * v for w, v in zip(TRUE_W, x)) + TRUE_B + random.gauss(0, 0.01)
    points.append((x, y))
w, b, lr = [0.0, 0.0, 0.0], 0.0, 0.1
runyard.log_param("lr", lr)
for epoch in range(40):
    grad_w, grad_b, loss = [0.0, 0.0, 0.0], 0.0, 0.0
    for x, y in points:
        err = sum(wi * v for wi, v in zip(w, x)) + b - y
        loss += err * err / len(points)
        grad_w = [g + 2 * err * v / len(points) for g, v in zip(grad_w, x)]
        grad_b += 2 * err / len(points)
    w = [wi - lr * g for wi, g in zip(w, grad_w)]
    b -= lr * grad_b
    runyard.log_metric("loss", loss, step=epoch)
os.makedirs("outputs", exist_ok=True)
with open("outputs/linear.json", "w") as f:
    json.dump({"weights": w, "bias": b}, f)
print(f"runyard-e2e: model written, loss={loss:.5f}", flush=True)
"""


INPUTS = [[1.0, 2.0, 3.0], [0.5, -1.0, 0.0], [-0.25, 0.75, -2.0]]


def _cli(folder: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "runyard.cli", *args],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
        env={k: v for k, v in os.environ.items() if not k.startswith("RUNYARD_RUN")},
    )
    if check:
        assert proc.returncode == 0, f"runyard {' '.join(args)}: {proc.stdout}{proc.stderr}"
    return proc


@pytest.fixture(scope="module")
def engine() -> Any:
    return helpers.docker_engine()


@pytest.fixture(scope="module")
def workbench(
    request: pytest.FixtureRequest,
    code_server: CodeServer,
    browser: Any,
    engine: Any,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Workbench]:
    """A project with train_model.py, score.py and a docker target `dock` (the local
    target stays the default, so the run trains on this machine)."""
    folder = harness.make_project(
        tmp_path_factory.mktemp("e2e-models") / "proj",
        {"train_model.py": TRAIN_MODEL_PY, "score.py": helpers.LINEAR_SCORE_PY},
    )
    options = helpers.docker_target_options()
    _cli(folder, "target", "add", "dock", "--type", "docker", *options)
    name = request.module.__name__.rsplit(".", 1)[-1]
    try:
        with harness.window(browser, code_server, folder, logs=name) as wb:
            yield wb
    finally:
        for container in engine.containers.list(
            all=True, filters={"label": f"dev.runyard.project={folder}"}
        ):
            container.remove(force=True)


@pytest.fixture(scope="module")
def trained(workbench: Workbench) -> RunRow:
    wb = workbench
    run = wb.submit("train_model.py")
    row = wb.tree_row("Runs", run.label)
    wb.wait_row_description(row, "completed", RUN_TIMEOUT, f"{run.label} completed")
    return run


def _on_run(wb: Workbench, run: RunRow, item: str, next_title: str) -> None:
    """Choose `item` from the run row's context menu, then wait for the quick input
    titled `next_title…` that the command shows next. VS Code passes the clicked row to
    the command, except when the Runs tree was being refreshed just then (a run's last
    push): the command then asks which run, and the run is picked there."""
    wb.context_menu(wb.tree_row("Runs", run.label), item)

    def shown() -> str | None:
        title = wb.quick_input_title()
        return title if title == item or title.startswith(next_title) else None

    if until(shown, timeout=30, what=f"{item!r} asking for its input") == item:
        wb.console.append(f"[e2e] {item!r} asked which run")
        wb.quick_pick(item, run.label)


def _model(folder: Path, ref: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(_cli(folder, "model", "show", ref, "--json").stdout)
    return data


@pytest.fixture(scope="module")
def registered(workbench: Workbench, trained: RunRow) -> dict[str, Any]:
    """ "Register Model" from the run's context menu: its output file picked, the
    suggested name kept."""
    wb = workbench
    _on_run(wb, trained, "Register Model", "Register Model from run")
    wb.quick_pick("Register Model from run", "linear.json")
    typed = wb.quick_input("Register Model: name")
    assert typed == MODEL, f"the suggested name is the file's stem, not {typed!r}"
    wb.page.keyboard.press("Enter")
    until(
        lambda: _cli(wb.folder, "model", "list", "--json").stdout.strip() not in ("", "[]"),
        timeout=30,
        what="the model in the registry",
    )
    return _model(wb.folder, f"{MODEL}:1")


def test_register_model_shows_in_the_models_view_with_lineage(
    workbench: Workbench, trained: RunRow, registered: dict[str, Any]
) -> None:
    wb = workbench
    assert registered["run_id"] == trained.run_id
    assert registered["source_path"] == "linear.json"
    wb.expand_view("Models")
    model_row = wb.tree_row("Models", MODEL)
    wb.wait_row_description(model_row, "1 version", 30, "the model's row in the Models view")
    version = wb.tree_row("Models", "v1")
    version.wait_for(timeout=30_000)
    description = wb.row_description(version)
    # "<framework or 'unknown framework'> · <size>"
    assert re.search(r" · \d+ B$", description), description
    hover = wb.hover_text(version)
    snapshot = str(registered["snapshot_commit"])
    assert f"← run {trained.run_id}: linear.json" in hover, hover
    assert f"← snapshot {snapshot[:12]}" in hover, hover
    assert "← target local" in hover, hover
    wb.shot("09-models-registered")


def _expected(model: dict[str, Any]) -> list[float]:
    """The model's predictions for INPUTS, computed here from the registered file."""
    params = json.loads(Path(model["path"]).read_text())
    w, b = params["weights"], params["bias"]
    return [sum(wi * v for wi, v in zip(w, x, strict=True)) + b for x in INPUTS]


@pytest.fixture(scope="module")
def deployed(workbench: Workbench, registered: dict[str, Any]) -> dict[str, Any]:
    """ "Package and Deploy" from the version's inline action: score.py picked; the one
    docker target is taken without asking. Waits for the notification saying where it
    serves."""
    wb = workbench
    wb.expand_view("Models")
    wb.inline_action(wb.tree_row("Models", "v1"), "Package and Deploy")
    wb.quick_pick(f"Package and Deploy {MODEL}:1: scoring script", "score.py")
    toast = wb.notification(f"Deployment {DEPLOYMENT} serves {MODEL}:1", DEPLOY_TIMEOUT)
    text = str(toast.inner_text())
    found = re.search(r"http://127\.0\.0\.1:(\d+)", text)
    assert found, text
    wb.shot("10-deployed")
    listed = json.loads(_cli(wb.folder, "deployment", "list", "--json").stdout)
    (dep,) = [d for d in listed if d["name"] == DEPLOYMENT]
    assert dep["status"] == "running" and dep["port"] == int(found.group(1)), dep
    return {"port": dep["port"], "record": dep}


def test_package_and_deploy_then_test_endpoint_answers_like_the_model(
    workbench: Workbench, registered: dict[str, Any], deployed: dict[str, Any]
) -> None:
    wb = workbench
    wb.notification_action(f"Deployment {DEPLOYMENT} serves", "Test Endpoint")
    wb.quick_input(f"Test Endpoint {DEPLOYMENT}", json.dumps({"inputs": INPUTS}))
    wb.page.keyboard.press("Enter")
    wb.notification(f"{DEPLOYMENT}: HTTP 200", 60)

    def answer() -> dict[str, Any] | None:
        try:
            data = json.loads(wb.editor_text())
        except ValueError:
            return None
        return data if isinstance(data, dict) and "predictions" in data else None

    body = until(answer, timeout=30, what="the service's answer opened as a JSON document")
    wb.shot("11-test-endpoint")
    # a read-only document named after the call, not an unsaved one to discard later
    tab = wb.editor_tab(f"{DEPLOYMENT} HTTP 200")
    tab.first.wait_for(timeout=10_000)
    assert "dirty" not in (tab.first.get_attribute("class") or ""), "the answer is unsaved text"
    assert body["predictions"] == pytest.approx(_expected(registered), abs=1e-9)

    # the Models view shows the deployment under its version, with its address
    row = wb.tree_row("Models", DEPLOYMENT)
    wb.wait_row_description(row, "running", 30, "the deployment's row in the Models view")
    assert wb.row_description(row) == f"running · 127.0.0.1:{deployed['port']}"

    # telemetry counted the request: in the row's tooltip, and for the command line
    until(
        lambda: "1 request · 0 errors" in wb.hover_text(row),
        timeout=30,
        what="the deployment's tooltip counting the request",
    )
    wb.shot("11-deployment-telemetry")
    show = json.loads(_cli(wb.folder, "deployment", "show", DEPLOYMENT, "--json").stdout)
    assert show["telemetry"]["requests"] == 1, show
    assert show["telemetry"]["errors"] == 0, show

    # while it shows a running deployment, the view follows requests made elsewhere
    payload = wb.folder.parent / "payload.json"
    payload.write_text(json.dumps({"inputs": INPUTS}))
    for _ in range(2):
        _cli(wb.folder, "deployment", "invoke", DEPLOYMENT, "--data", str(payload))
    until(
        lambda: "3 requests · 0 errors" in wb.hover_text(row),
        timeout=90,
        what="the Models view counting requests made from the command line",
    )


def test_stop_deployment_removes_its_container(
    workbench: Workbench, deployed: dict[str, Any], engine: Any
) -> None:
    wb = workbench
    wb.command("Runyard: Stop Deployment", closes=False)
    wb.quick_pick("Stop Deployment", DEPLOYMENT)
    wb.notification(f"Deployment {DEPLOYMENT} stopped", 120)
    row = wb.tree_row("Models", DEPLOYMENT)
    wb.wait_row_description(row, "stopped", 30, "the deployment shown as stopped")
    assert wb.row_description(row) == "stopped"  # no address once nothing listens
    wb.shot("12-deployment-stopped")
    left = engine.containers.list(
        all=True,
        filters={
            "label": [f"dev.runyard.project={wb.folder}", f"dev.runyard.deployment={DEPLOYMENT}"]
        },
    )
    assert left == [], [c.name for c in left]


def test_register_as_model_from_the_run_details_outputs(
    workbench: Workbench, trained: RunRow, registered: dict[str, Any]
) -> None:
    """The run details list the run's outputs; "Register as Model" on one asks only for
    the name, and a second registration under the same name is version 2."""
    wb = workbench
    wb.context_menu(wb.tree_row("Runs", trained.label), "Open Run Details")
    tab = wb.editor_tab(f"Run {trained.run_id}")
    until(
        lambda: tab.count() or wb.quick_input_title() == "Open Run Details",
        timeout=30,
        what="the run details opening",
    )
    if not tab.count():  # the tree was refreshing: the command asked which run
        wb.quick_pick("Open Run Details", trained.label)
    frame = wb.webview(f"Run {trained.run_id}")
    row = frame.locator("table.outputs tr").filter(has_text="linear.json")
    row.first.wait_for(timeout=60_000)
    row.first.get_by_role("button", name="Register as Model").click()
    assert wb.quick_input(f"Register Model: name for linear.json of run {trained.run_id}") == MODEL
    wb.page.keyboard.press("Enter")
    wb.expand_view("Models")
    wb.wait_row_description(
        wb.tree_row("Models", MODEL), "2 versions", 30, "the model with its second version"
    )
    wb.tree_row("Models", "v2").wait_for(timeout=30_000)
    wb.shot("13-registered-from-run-details")
    second = _model(wb.folder, f"{MODEL}:2")
    assert second["run_id"] == trained.run_id
    assert second["digest"] == registered["digest"]  # the same file, the same content
