"""`runyard runs rerun`: a run again from its own snapshot, command line and locked
packages, and `--check`, which says whether the final metrics came out the same. Real
runs on the local target, real environment builds, a real git repository; and the
PyTorch gallery sample rerun on the same target (bit-identical) and on a real Docker
engine (within 1e-6), its lock pinning the CPU-only torch wheel only this machine's
wheel cache has (the Docker build gets it from there)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import (
    commit_all,
    docker_engine,
    docker_target_options,
    git,
    run_logs,
    runyard,
    show_run,
    submit_run,
    wait_run,
)
from tests.integration.lsp_session import Session

pytestmark = pytest.mark.integration

SEEDED = """\
import random, sys, time
import runyard
rng = random.Random(int(sys.argv[1]) if len(sys.argv) > 1 else 0)
started = time.perf_counter()
runyard.log_metric("loss", sum(rng.random() for _ in range(1000)) / 1000)
runyard.log_metric("fit_seconds", time.perf_counter() - started)
print("version one")
"""

UNSEEDED = """\
import os
import runyard
runyard.log_metric("loss", int.from_bytes(os.urandom(4), "big") / 2**32)
"""


def _first_run(project: Path, script: str, *args: str) -> str:
    (project / "requirements.txt").write_text("six\n")
    (project / "train.py").write_text(script)
    commit_all(project, "train")
    run_id = submit_run(project, "train.py", *args)
    assert wait_run(project, run_id)["status"] == "completed"
    return run_id


def test_a_rerun_runs_the_originals_snapshot_arguments_and_locked_packages(
    project: Path,
) -> None:
    original_id = _first_run(project, SEEDED, "7")
    original = show_run(project, original_id)
    # the working folder moves on: new code, a new dependency file
    (project / "train.py").write_text(SEEDED.replace("version one", "version two"))
    (project / "requirements.txt").write_text("six==1.16.0\n")
    commit_all(project, "version two")

    proc = runyard(project, "runs", "rerun", original_id, check=True)
    rerun_id = proc.stdout.splitlines()[0].strip()
    again = show_run(project, rerun_id)
    assert again["status"] == "completed", again
    assert again["snapshot"]["commit"] == original["snapshot"]["commit"]
    assert again["snapshot"]["ref"] == f"refs/runyard/runs/{rerun_id}"
    assert again["command"] == original["command"] and again["command"][-1] == "7"
    assert again["tags"]["rerun_of"] == original_id
    assert "version one" in run_logs(project, rerun_id)
    # its environment holds exactly what the original's lock said, not the new file's pin
    assert again["lock"]["packages"] == original["lock"]["packages"]
    assert f"the {len(original['lock']['packages'])} package" in proc.stderr
    # the same seed and code: the same loss
    assert again["metrics"]["loss"] == original["metrics"]["loss"]


def test_check_says_a_seeded_run_was_reproduced_and_leaves_timings_out(project: Path) -> None:
    original_id = _first_run(project, SEEDED)
    proc = runyard(project, "runs", "rerun", original_id, "--check")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "reproduced: every final metric is bit-identical (fit_seconds not compared)" in (
        proc.stdout
    )
    proc = runyard(project, "runs", "rerun", original_id, "--check", "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = json.loads(proc.stdout)  # stdout holds the comparison alone
    assert data["original"] == original_id and data["same"] is True
    by_key = {m["key"]: m for m in data["metrics"]}
    assert by_key["loss"]["equal"] and by_key["loss"]["difference"] == 0.0
    assert by_key["fit_seconds"]["compared"] is False


def test_check_says_by_how_much_an_unseeded_run_differs_and_exits_1(project: Path) -> None:
    original_id = _first_run(project, UNSEEDED)
    proc = runyard(project, "runs", "rerun", original_id, "--check", "--json")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    data = json.loads(proc.stdout)
    loss = next(m for m in data["metrics"] if m["key"] == "loss")
    assert data["same"] is False and loss["equal"] is False
    assert loss["difference"] == pytest.approx(abs(loss["rerun"] - loss["original"]))
    assert data["largest_difference"] == loss["difference"] > 0
    # a tolerance wider than any difference between two numbers in [0, 1) accepts it
    proc = runyard(project, "runs", "rerun", original_id, "--check", "--tolerance", "1")
    assert proc.returncode == 0 and "reproduced: every final metric is within 1" in proc.stdout
    # and leaving the metric out makes the check about nothing but the status
    proc = runyard(project, "runs", "rerun", original_id, "--check", "--ignore", "loss")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "not compared" in proc.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nosuchrun"], "No run"),
        (["RUN", "--check", "--detach"], "--check waits for the rerun"),
        (["RUN", "--check", "--tolerance", "-1"], "--tolerance -1.0: give a finite number"),
        (["RUN", "--target", "nowhere"], "nowhere"),
    ],
)
def test_bad_rerun_requests_get_a_clear_error_and_start_nothing(
    project: Path, args: list[str], message: str
) -> None:
    original_id = _first_run(project, SEEDED)
    before = json.loads(runyard(project, "runs", "list", "--json", check=True).stdout)
    proc = runyard(project, "runs", "rerun", *[original_id if a == "RUN" else a for a in args])
    assert proc.returncode != 0
    assert message in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr
    after = json.loads(runyard(project, "runs", "list", "--json", check=True).stdout)
    assert len(after) == len(before)


async def test_the_language_server_reruns_a_run_the_same_way(project: Path) -> None:
    original_id = _first_run(project, SEEDED, "3")
    original = show_run(project, original_id)
    (project / "train.py").write_text("raise SystemExit('the working folder moved on')\n")
    session = Session(project)
    await session.start()
    try:
        run = await session.request("runyard/runs/rerun", {"runId": original_id})
        assert run["snapshotCommit"] == original["snapshot"]["commit"]
        assert run["command"] == original["command"]
        done = await session.wait_status(run["id"], "completed")
        assert done["metrics"]["loss"] == original["metrics"]["loss"]
    finally:
        await session.stop()
    assert show_run(project, run["id"])["tags"]["rerun_of"] == original_id


ACROSS_TARGETS = 1e-6  # local against Docker: the same lock, another interpreter build
SAMPLE_TIMEOUT = 1200  # a first PyTorch environment (and image) build takes minutes


def _rerun_check(project: Path, run_id: str, *args: str) -> dict[str, object]:
    proc = runyard(
        project, "runs", "rerun", run_id, "--check", "--json", *args, timeout=SAMPLE_TIMEOUT
    )
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
    data: dict[str, object] = json.loads(proc.stdout)
    assert data["same"] is True and data["original"] == run_id, data
    return data


@pytest.mark.timeout(3 * SAMPLE_TIMEOUT)
def test_the_pytorch_sample_reruns_bit_identical_here_and_within_1e_6_on_docker(
    tmp_path: Path,
) -> None:
    engine = docker_engine()  # the engine must be there (a failure under CI when it is not)
    project = tmp_path / "pytorch-digits"
    runyard(tmp_path, "new", "pytorch-digits", str(project), check=True)
    assert git(project, "status", "--porcelain") == ""
    proc = runyard(
        project, "submit", "--target", "local", "train.py", "--epochs", "3", "--lr", "0.003",
        timeout=SAMPLE_TIMEOUT,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
    run_id = proc.stdout.splitlines()[0].strip()
    original = show_run(project, run_id)
    assert original["status"] == "completed", original
    torch = original["lock"]["packages"]["torch"]

    same = _rerun_check(project, run_id)
    assert same["tolerance"] == 0.0
    compared = [m for m in same["metrics"] if m["compared"]]  # type: ignore[attr-defined]
    assert {m["key"] for m in compared} >= {"loss", "accuracy", "val_accuracy"}, same
    assert all(m["difference"] == 0.0 for m in compared), same

    runyard(
        project, "target", "add", "dock", "--type", "docker", *docker_target_options(), check=True
    )
    images_before = {i.id for i in engine.images.list()}
    try:
        across = _rerun_check(
            project, run_id, "--target", "dock", "--tolerance", str(ACROSS_TARGETS)
        )
        assert across["status"] == ["completed", "completed"], across
        largest = across["largest_difference"]
        assert isinstance(largest, float) and largest <= ACROSS_TARGETS, across
        rerun = show_run(project, str(across["rerun"]))
        assert rerun["target"] == "dock" and rerun["lock"]["packages"]["torch"] == torch, rerun
        assert rerun["lock"]["packages"] == original["lock"]["packages"]  # the same lock
        if "+" in torch:  # a local build (CPU-only): only this machine's wheel cache has it
            assert "pinned wheel of this machine's find-links folders goes into the build" in (
                run_logs(project, rerun["id"])
            )
    finally:
        for image in engine.images.list(filters={"label": f"dev.runyard.project={project}"}):
            if image.id not in images_before:
                engine.images.remove(image.id, force=True)
