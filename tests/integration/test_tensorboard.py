"""TensorBoard event files of real runs on the local target: their scalars become the
run's metrics live and completely, the files are kept with the run, and `runyard
tensorboard` serves them. The runs write with tensorboardX, installed in the
environment Runyard builds from the project's requirements.txt."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import BASE_IMAGE, CA_BUNDLE, IN_CI, git, runyard, until

pytestmark = pytest.mark.integration

if not IN_CI:  # in CI the dev extra installs it: missing is a failure there
    pytest.importorskip("tensorboard")
import tensorboard  # noqa: E402

# Writes STEPS steps of train/loss and validation/accuracy into the folder it is given,
# a pause after each; with a second folder, a decoy scalar there.
TRAIN = """\
import sys, time
from tensorboardX import SummaryWriter

folder, steps, pause = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
train = SummaryWriter(f"{folder}/train")
valid = SummaryWriter(f"{folder}/validation")
for step in range(steps):
    train.add_scalar("loss", 1.0 / (step + 1), step)
    valid.add_scalar("accuracy", step / 8, step)
    train.flush()
    valid.flush()
    print("step", step, flush=True)
    time.sleep(pause)
train.close()
valid.close()
if len(sys.argv) > 4:
    decoy = SummaryWriter(sys.argv[4])
    decoy.add_scalar("decoy", 1.0, 0)
    decoy.close()
print("done", flush=True)
"""

GIT_ID = ("-c", "user.name=Runyard Tests", "-c", "user.email=tests@localhost")


@pytest.fixture(scope="module")
def tbproj(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One project for the module (its environment with tensorboardX is built once),
    with an event file already in logs/ that its snapshots carry along."""
    root = tmp_path_factory.mktemp("tb") / "proj"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    (root / "train_tb.py").write_text(TRAIN)
    (root / "requirements.txt").write_text("tensorboardX\n")
    writer = tensorboard.summary.Writer(str(root / "logs" / "old"))
    writer.add_scalar("stale", 42.0, 0)
    writer.close()
    (root / ".runyard" / "jobs").mkdir(parents=True)
    (root / ".runyard" / "jobs" / "tbjob.yml").write_text(
        'script: train_tb.py\nargs: ["tb", "3", "0", "logs/decoy"]\ntensorboard_dir: tb\n'
    )
    git(root, "add", "-A")
    git(root, *GIT_ID, "commit", "-qm", "first")
    runyard(root, "init", check=True)
    yield root


def _json(proc: subprocess.CompletedProcess[str]) -> Any:
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(proc.stdout)


def _points(project: Path, run_id: str) -> dict[str, list[tuple[int, float]]]:
    out: dict[str, list[tuple[int, float]]] = {}
    for p in _json(runyard(project, "runs", "metrics", run_id, "--json")):
        out.setdefault(p["key"], []).append((p["step"], p["value"]))
    return out


def _kept(project: Path, run_id: str) -> list[str]:
    folder = project / ".runyard/state/runs" / run_id / "tensorboard"
    return sorted(
        p.relative_to(folder).parent.as_posix() for p in folder.rglob("*") if "tfevents" in p.name
    )


def test_scalars_import_live_and_completely_and_the_files_are_kept(tbproj: Path) -> None:
    proc = runyard(tbproj, "submit", "-d", "train_tb.py", "logs", "12", "1.0", timeout=300)
    assert proc.returncode == 0, proc.stderr
    run_id = proc.stdout.strip().split()[-1]

    def live() -> bool:
        show = _json(runyard(tbproj, "runs", "show", run_id, "--json"))
        assert show["status"] in ("queued", "preparing", "running"), show
        return show["status"] == "running" and "train/loss" in show["metrics"]

    until(live, 240, "a TensorBoard scalar while the run is running")
    runyard(tbproj, "runs", "wait", run_id, timeout=300)
    show = _json(runyard(tbproj, "runs", "show", run_id, "--json"))
    assert show["status"] == "completed", show
    points = _points(tbproj, run_id)
    assert set(points) == {"train/loss", "validation/accuracy"}  # not logs/old's "stale"
    assert [s for s, _v in points["train/loss"]] == list(range(12))
    assert [v for _s, v in points["train/loss"]] == pytest.approx(
        [1.0 / (s + 1) for s in range(12)], rel=1e-6
    )
    assert points["validation/accuracy"] == [(s, s / 8) for s in range(12)]
    assert show["metrics"]["train/loss"] == pytest.approx(1 / 12, rel=1e-6)
    # the run's event files are kept; the one its snapshot brought along is not
    assert _kept(tbproj, run_id) == ["train", "validation"]
    work = tbproj / ".runyard/state/runs" / run_id / "work"
    until(lambda: not work.exists(), 60, "the working copy removed after the end")
    log = runyard(tbproj, "runs", "logs", run_id).stdout
    assert "[runyard] TensorBoard: 24 scalar points (2 series) imported" in log


def test_a_job_names_its_tensorboard_folder(tbproj: Path) -> None:
    proc = runyard(tbproj, "submit", "--job", "tbjob", timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    run_id = proc.stdout.splitlines()[0].strip()
    points = _points(tbproj, run_id)
    assert points == {
        "train/loss": [(0, 1.0), (1, 0.5), (2, pytest.approx(1 / 3))],
        "validation/accuracy": [(0, 0.0), (1, 0.125), (2, 0.25)],
    }  # and nothing from logs/
    assert _kept(tbproj, run_id) == ["train", "validation"]


def _tensorboard_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "runyard.cli", "tensorboard", *args]


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(response.status), bytes(response.read())
    except (urllib.error.URLError, OSError):
        return 0, b""


def test_runyard_tensorboard_serves_runs_and_explains_what_it_cannot(
    tbproj: Path, tmp_path: Path
) -> None:
    messages = tmp_path / "tensorboard.err"
    done = runyard(tbproj, "submit", "train_tb.py", "logs", "2", "0", timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    run_id = done.stdout.splitlines()[0].strip()
    (tbproj / "plain.py").write_text("print('no tensorboard here')\n")
    plain = runyard(tbproj, "submit", "plain.py", timeout=300)
    assert plain.returncode == 0, plain.stderr
    plain_id = plain.stdout.splitlines()[0].strip()

    refused = subprocess.run(
        _tensorboard_argv(run_id, plain_id),
        cwd=tbproj,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 2
    assert f"Run {plain_id} has no TensorBoard event files." in refused.stderr
    assert "tensorboard_dir" in refused.stderr

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen(
        _tensorboard_argv(run_id[-6:], "--port", str(port)),
        cwd=tbproj,
        stdout=subprocess.PIPE,
        stderr=messages.open("w"),
        text=True,
    )
    try:
        assert server.stdout is not None
        url = server.stdout.readline().strip()  # printed once TensorBoard answers
        assert url == f"http://127.0.0.1:{port}/", messages.read_text()
        until(lambda: _get(url)[0] == 200, 60, "TensorBoard's page")

        def runs_listed() -> list[str]:
            status, body = _get(url + "data/runs")
            return list(json.loads(body)) if status == 200 else []

        listed = until(lambda: sorted(runs_listed()), 60, "the run in TensorBoard")
        assert listed == [f"{run_id}/train", f"{run_id}/validation"]
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            code = server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
            raise
    assert code == 0
    until(lambda: _get(url)[0] == 0, 15, "TensorBoard stopped with the command")


def test_without_tensorboard_installed_the_command_says_how_to_get_it(
    tbproj: Path, tmp_path: Path
) -> None:
    blocker = tmp_path / "block"
    blocker.mkdir()
    # `tensorboard` cannot be imported, and no `tensorboard` command is on PATH
    (blocker / "sitecustomize.py").write_text("import sys\nsys.modules['tensorboard'] = None\n")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(blocker), *sys.path]),
        "PATH": "/usr/bin:/bin",
    }
    runs = _json(runyard(tbproj, "runs", "list", "--json"))
    with_files = [r["id"] for r in runs if _kept(tbproj, r["id"])]
    assert with_files
    proc = subprocess.run(
        _tensorboard_argv(with_files[0]),
        cwd=tbproj,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert proc.returncode == 1, proc.stderr
    assert "TensorBoard is not installed." in proc.stderr
    assert "pip install tensorboard" in proc.stderr


@pytest.mark.usefixtures("engine")  # (skips without a Docker engine, as test_docker does)
def test_a_docker_run_brings_its_event_files_back_and_imports_them(tbproj: Path) -> None:
    options = ["--base-image", BASE_IMAGE]
    if Path(CA_BUNDLE).is_file():
        options += ["--ca-bundle", CA_BUNDLE]
    runyard(tbproj, "target", "add", "dock", "--type", "docker", "--force", *options, check=True)
    proc = runyard(
        tbproj, "submit", "--target", "dock", "train_tb.py", "logs", "3", "0", timeout=600
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr
    run_id = proc.stdout.splitlines()[0].strip()
    assert _points(tbproj, run_id) == {
        "train/loss": [(0, 1.0), (1, 0.5), (2, pytest.approx(1 / 3))],
        "validation/accuracy": [(0, 0.0), (1, 0.125), (2, 0.25)],
    }
    assert _kept(tbproj, run_id) == ["train", "validation"]
