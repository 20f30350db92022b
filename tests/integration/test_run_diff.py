"""`runyard runs diff A B`: every cause two runs differ by, in one place (code,
environment from the runs' locks, parameters, target, host, final metrics), then the
code diff. Real runs on the local target with real environment builds."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from runyard.core.store import Store
from tests.helpers import commit_all, runyard, submit_run, wait_run
from tests.integration.lsp_session import Session

pytestmark = pytest.mark.integration

TRAIN = """\
import sys
import runyard
lr = float(sys.argv[1])
runyard.log_param("lr", str(lr))
runyard.log_metric("loss", 1.0 - lr)
"""


def _run(project: Path, *args: str) -> str:
    run_id = submit_run(project, *args)
    assert wait_run(project, run_id)["status"] == "completed"
    return run_id


def test_two_runs_are_told_apart_by_code_environment_parameters_target_and_metrics(
    project: Path,
) -> None:
    (project / "requirements.txt").write_text("six\n")
    (project / "train.py").write_text(TRAIN)
    commit_all(project, "train")
    a = _run(project, "train.py", "0.25")

    (project / "requirements.txt").write_text("six\nidna\n")
    (project / "train.py").write_text(TRAIN + "print('changed')\n")
    (project / "helper.py").write_text("X = 1\n")
    runyard(project, "target", "add", "other", "--type", "local", check=True)
    commit_all(project, "more")
    b = _run(project, "--target", "other", "train.py", "0.5")

    data = json.loads(runyard(project, "runs", "diff", a, b, "--json", check=True).stdout)
    assert (data["a"], data["b"]) == (a, b)
    code = {c["path"]: c["status"] for c in data["code"]}
    assert code["train.py"] == "modified" and code["helper.py"] == "added"
    assert code["requirements.txt"] == "modified"
    env = {c["name"]: (c["before"], c["after"]) for c in data["environment"]}
    assert env["idna"][0] is None and env["idna"][1], env  # added in b
    assert "six" not in env  # the same version in both
    assert data["params"] == [{"name": "lr", "before": "0.25", "after": "0.5"}]
    assert {"name": "target", "before": "local", "after": "other"} in data["target"]
    assert data["metrics"] == [{"name": "loss", "before": 0.75, "after": 0.5}]
    assert "+print('changed')" in data["code_diff"]

    text = runyard(project, "runs", "diff", a, b, check=True).stdout
    lines = {line.split()[0]: line for line in text.splitlines()[1:7]}
    assert text.splitlines()[0] == f"runs {a} → {b}"
    assert "train.py (modified)" in lines["code"] and "helper.py (added)" in lines["code"]
    assert f"+ idna {env['idna'][1]}" in lines["environment"]
    assert "lr 0.25 → 0.5" in lines["parameters"]
    assert "target local → other" in lines["target"]
    assert "loss 0.75 → 0.5" in lines["metrics"]
    assert "+print('changed')" in text  # the code diff follows


def test_two_runs_of_the_same_code_and_settings_read_same_on_every_known_cause(
    project: Path,
) -> None:
    (project / "train.py").write_text(TRAIN)
    commit_all(project, "train")
    a = _run(project, "train.py", "0.1")
    b = _run(project, "train.py", "0.1")
    text = runyard(project, "runs", "diff", a, b, check=True).stdout
    for cause in ("code", "environment", "parameters", "target", "host", "metrics"):
        line = next(li for li in text.splitlines() if li.split()[:1] == [cause])
        assert line.split(None, 1)[1] == "same", text
    # one run: its code against the working folder, as before
    (project / "train.py").write_text(TRAIN + "# edited\n")
    assert "+# edited" in runyard(project, "runs", "diff", a, check=True).stdout


async def test_the_language_server_answers_the_same_causes_as_the_cli(project: Path) -> None:
    (project / "train.py").write_text(TRAIN)
    commit_all(project, "train")
    a = _run(project, "train.py", "0.25")
    (project / "train.py").write_text(TRAIN + "print('changed')\n")
    commit_all(project, "changed")
    b = _run(project, "train.py", "0.5")
    cli = json.loads(runyard(project, "runs", "diff", a, b, "--json", check=True).stdout)
    session = Session(project)
    await session.start()
    try:
        answer = await session.request(
            "runyard/runs/diff", {"runId": a, "otherRunId": b, "causes": True}
        )
        plain = await session.request("runyard/runs/diff", {"runId": a, "otherRunId": b})
    finally:
        await session.stop()
    causes = answer["causes"]
    assert [(c["name"], c["after"]) for c in causes["code"]] == [
        (c["path"], c["status"]) for c in cli["code"]
    ]
    for key in ("params", "metrics", "target", "environment", "host"):
        assert causes[key] == cli[key], key
    assert answer["diff"] == cli["code_diff"] == plain["diff"]
    assert plain.get("causes") is None


def test_the_host_row_names_each_host_fact_that_differs(project: Path) -> None:
    (project / "train.py").write_text(TRAIN)
    commit_all(project, "train")
    a = _run(project, "train.py", "0.1")
    b = _run(project, "train.py", "0.1")
    with Store(project / ".runyard" / "state" / "runyard.db") as store:
        lock_a, lock_b = store.run_lock(a), store.run_lock(b)
        assert lock_a is not None and lock_b is not None
        assert lock_a.host is not None and lock_a.host == lock_b.host  # the same machine
        # b as if it had run on a bigger machine with a GPU, otherwise the same
        bigger = dataclasses.replace(lock_a.host, cpus=64, gpus=("NVIDIA H100 80GB HBM3",))
        store.set_run_lock(b, lock_b.python, lock_b.packages, lock_b.installer, host=bigger)
        # a run without host facts (a lock from before them): unknown, not "same"
        store.set_run_lock(a, lock_a.python, lock_a.packages, lock_a.installer)
    text = runyard(project, "runs", "diff", a, b, check=True).stdout
    line = next(li for li in text.splitlines() if li.split()[:1] == ["host"])
    assert line.split(None, 1)[1] == "unknown: a run has no host facts recorded", text

    with Store(project / ".runyard" / "state" / "runyard.db") as store:
        store.set_run_lock(a, lock_a.python, lock_a.packages, lock_a.installer, host=lock_a.host)
    data = json.loads(runyard(project, "runs", "diff", a, b, "--json", check=True).stdout)
    assert data["host"] == [
        {"name": "cpus", "before": str(lock_a.host.cpus), "after": "64"},
        {"name": "gpus", "before": "none", "after": "NVIDIA H100 80GB HBM3"},
    ]
    text = runyard(project, "runs", "diff", a, b, check=True).stdout
    line = next(li for li in text.splitlines() if li.split()[:1] == ["host"])
    assert f"cpus {lock_a.host.cpus} → 64" in line and "gpus none → NVIDIA H100" in line, line
