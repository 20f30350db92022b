"""Sweeps end to end: the real `runyard sweep` command, real Optuna, real runs on the
local target, the sweep's real supervisor process (killed with SIGKILL in one test).

Trials are tiny scripts whose metric depends on their parameters. Where a test must act
while trials run (kill, cancel, a target that goes away), the trials wait for a gate
file of their own (`gates/go-<x>`), which the test makes when it is ready: no test
depends on how fast anything runs."""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import (
    GATED_TRIAL,
    PRUNED_TRIAL,
    commit_all,
    runyard,
    show_run,
    start_sweep,
    sweep_file,
    until,
)

pytestmark = pytest.mark.integration

QUAD = """\
import argparse, time
import runyard

p = argparse.ArgumentParser()
p.add_argument("--lr", type=float, required=True)
p.add_argument("--layers", type=int, required=True)
a = p.parse_args()
for step in range(3):
    runyard.log_metric("loss", (a.lr - 0.03) ** 2 + 0.01 * a.layers + 1.0 / (step + 1), step=step)
    time.sleep(0.02)
print("trained", a.lr, a.layers)
"""


@pytest.fixture
def proj(project: Path) -> Path:
    (project / "quad.py").write_text(QUAD)
    (project / "prune.py").write_text(PRUNED_TRIAL)
    (project / "gated.py").write_text(GATED_TRIAL)
    commit_all(project, "trial scripts")
    (project / "gates").mkdir()
    return project


def show(proj: Path, sweep_id: str) -> dict[str, Any]:
    data = json.loads(runyard(proj, "sweep", "show", sweep_id, "--json", check=True).stdout)
    assert isinstance(data, dict)
    return data


def ended(proj: Path, sweep_id: str) -> dict[str, Any]:
    """The sweep once it has ended (completed, canceled or failed)."""

    def check() -> dict[str, Any] | None:
        data = show(proj, sweep_id)
        return data if data["status"] in ("completed", "canceled", "failed") else None

    result: dict[str, Any] = until(check, timeout=180, what=f"the end of sweep {sweep_id}")
    return result


def sweep_log(proj: Path, sweep_id: str) -> str:
    return (proj / ".runyard/state/sweeps" / sweep_id / "sweep.log").read_text()


def supervisor_pid(proj: Path, sweep_id: str) -> int:
    state = json.loads((proj / ".runyard/state/sweeps" / sweep_id / "state.json").read_text())
    return int(state["supervisor_pid"])


def gone(pid: int) -> bool:
    """The process ended (a zombie nobody reaped counts as ended)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return True


def trials_where(data: dict[str, Any], **match: Any) -> list[dict[str, Any]]:
    return [t for t in data["trials"] if all(t.get(k) == v for k, v in match.items())]


def open_gate(proj: Path, x: int) -> None:
    (proj / "gates" / f"go-{x}").touch()


def all_runs(proj: Path) -> list[dict[str, Any]]:
    runs = json.loads(runyard(proj, "runs", "list", "--json", check=True).stdout)
    assert isinstance(runs, list)
    return runs


# --------------------------------------------------------------------------- searching


def test_a_grid_sweep_runs_every_combination_exactly_once(proj: Path) -> None:
    sweep_file(
        proj,
        "grid",
        """\
        script: quad.py
        space:
          lr: {grid: [0.01, 0.03]}
          layers: {grid: [1, 2, 3]}
        objective: {metric: loss}
        parallel: 3
        """,
    )
    proc = runyard(proj, "sweep", "start", "grid", check=True)  # followed to its end
    lines = proc.stdout.splitlines()
    sweep_id = lines[0]
    assert sum(" started: run " in line for line in lines) == 6
    assert sum(" completed: loss=" in line for line in lines) == 6
    assert "completed" in proc.stderr and "Traceback" not in proc.stderr

    data = show(proj, sweep_id)
    assert data["status"] == "completed" and data["sampler"] == "grid"
    assert sorted((t["params"]["lr"], t["params"]["layers"]) for t in data["trials"]) == [
        (lr, layers) for lr in (0.01, 0.03) for layers in (1, 2, 3)
    ]
    assert sorted(t["trial"] for t in data["trials"]) == list(range(6))
    assert {t["status"] for t in data["trials"]} == {"completed"}
    assert len(all_runs(proj)) == 6  # one run per combination, none repeated
    trial = data["trials"][0]
    run = show_run(proj, trial["run_id"])
    assert run["tags"]["sweep"] == sweep_id
    assert run["tags"]["sweep.trial"] == str(trial["trial"])
    assert "sweep.pruned" not in run["tags"]
    lr, layers = trial["params"]["lr"], trial["params"]["layers"]
    assert run["command"][-4:] == ["--lr", str(lr), "--layers", str(layers)]
    assert run["params"]["lr"] == str(lr) and run["params"]["layers"] == str(layers)


def test_the_best_trial_comes_first_in_sweep_show(proj: Path) -> None:
    sweep_file(
        proj,
        "best",
        """\
        script: quad.py
        args: ["--layers", "1"]
        space:
          lr: {grid: [0.5, 0.03, 0.2]}
        objective: {metric: loss, direction: maximize}
        parallel: 3
        """,
    )
    data = ended(proj, start_sweep(proj, "best"))
    values = [t["value"] for t in data["trials"]]
    assert values == sorted(values, reverse=True)  # maximize: the highest first
    assert data["trials"][0]["params"] == {"lr": 0.5}
    assert data["best"] == data["trials"][0]
    for trial in data["trials"]:  # each value is its run's last loss
        assert trial["value"] == show_run(proj, trial["run_id"])["metrics"]["loss"]
    table = runyard(proj, "sweep", "show", data["id"], check=True).stdout
    rows = [line for line in table.splitlines() if line.startswith(("0 ", "1 ", "2 "))]
    assert rows[0].split()[1] == data["trials"][0]["run_id"]


def test_a_tpe_sweep_runs_max_trials_two_at_a_time(proj: Path) -> None:
    sweep_file(
        proj,
        "tpe",
        """\
        script: quad.py
        space:
          lr: {loguniform: [0.001, 0.3]}
          layers: {int: [1, 4]}
        sampler: tpe
        seed: 7
        objective: {metric: loss}
        max_trials: 6
        parallel: 2
        """,
    )
    data = ended(proj, start_sweep(proj, "tpe"))
    assert data["status"] == "completed" and data["counts"] == {"completed": 6}
    assert len({t["run_id"] for t in data["trials"]}) == 6
    for trial in data["trials"]:
        assert 0.001 <= trial["params"]["lr"] <= 0.3
        assert trial["params"]["layers"] in (1, 2, 3, 4)
    # never more than two of its runs at once (from the runs' own start and end)
    spans = []
    for trial in data["trials"]:
        run = show_run(proj, trial["run_id"])
        spans.append((run["history"][0]["time"], run["ended"]))
    for begin, _end in spans:
        assert sum(1 for b, e in spans if b <= begin < e) <= 2


def test_median_pruning_cancels_a_clearly_bad_trial(proj: Path) -> None:
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
    data = ended(proj, start_sweep(proj, "prune"))
    bad = trials_where(data, params={"offset": 100.0})[0]
    good = [t for t in data["trials"] if t is not bad]
    assert bad["trial"] > max(t["trial"] for t in good), "the bad trial must start last"
    assert {t["status"] for t in good} == {"completed"}
    assert bad["status"] == "pruned"
    assert bad["value"] is None and bad["latest"] > 100
    run = show_run(proj, bad["run_id"])
    assert run["status"] == "canceled"
    assert run["tags"]["sweep.pruned"] == "true"
    assert run["reason"].startswith("pruned by the sweep (median rule)")
    # the status history says so too (the run's supervisor takes the cancel's reason)
    canceled = [h for h in run["history"] if h["status"] == "canceled"]
    assert len(canceled) == 1 and canceled[0]["reason"] == run["reason"], run["history"]
    assert "pruned at step" in sweep_log(proj, data["id"])
    assert data["status"] == "completed" and data["best"]["params"] == {"offset": 0.0}


# --------------------------------------------------------------------------- crashes, cancel


def test_resume_after_kill_9_of_the_sweep_supervisor_repeats_no_finished_trial(
    proj: Path,
) -> None:
    gates = proj / "gates"
    sweep_file(
        proj,
        "gated",
        f"""\
        script: gated.py
        args: ["--gates", "{gates}"]
        space:
          x: {{grid: [1, 2, 3, 4]}}
        objective: {{metric: loss}}
        parallel: 2
        """,
    )
    sweep_id = start_sweep(proj, "gated")
    first = until(
        lambda: trials_where(show(proj, sweep_id), status="running"), what="a running trial"
    )[0]
    open_gate(proj, first["params"]["x"])
    # one trial done and two live ones, each recorded with its run: then the kill
    until(
        lambda: (
            len(trials_where(show(proj, sweep_id), status="completed")) == 1
            and len(trials_where(show(proj, sweep_id), status="running")) == 2
        ),
        what="one completed trial and two running ones",
    )
    before = show(proj, sweep_id)
    live = {t["trial"]: t["run_id"] for t in trials_where(before, status="running")}
    pid = supervisor_pid(proj, sweep_id)
    os.kill(pid, signal.SIGKILL)
    until(lambda: gone(pid), what="the sweep supervisor's end")
    assert show(proj, sweep_id)["status"] == "interrupted"

    resumed = runyard(proj, "sweep", "resume", sweep_id, "--detach", check=True)
    assert resumed.stdout.strip() == sweep_id
    until(lambda: "took the sweep up" in sweep_log(proj, sweep_id), what="the new supervisor")
    for x in (1, 2, 3, 4):  # the live trials end under the new supervisor
        open_gate(proj, x)
    data = ended(proj, sweep_id)

    assert data["status"] == "completed"
    assert sorted(t["params"]["x"] for t in data["trials"]) == [1, 2, 3, 4]
    assert {t["status"] for t in data["trials"]} == {"completed"}
    assert len(all_runs(proj)) == 4  # no trial ran twice
    after = {t["trial"]: t["run_id"] for t in data["trials"]}
    assert all(after[number] == run_id for number, run_id in live.items())  # followed again
    assert after[first["trial"]] == first["run_id"]
    log = sweep_log(proj, sweep_id)
    assert "took the sweep up: 1 trial done, 2 followed, 1 to start" in log
    assert all(f"following run {run_id} again" in log for run_id in live.values())


def test_cancel_stops_the_live_trials_and_the_sweep(proj: Path) -> None:
    gates = proj / "gates"
    sweep_file(
        proj,
        "gated",
        f"""\
        script: gated.py
        args: ["--gates", "{gates}"]
        space:
          x: {{grid: [1, 2, 3, 4, 5]}}
        objective: {{metric: loss}}
        parallel: 2
        """,
    )
    sweep_id = start_sweep(proj, "gated")
    until(
        lambda: len(trials_where(show(proj, sweep_id), status="running")) == 2,
        what="two running trials",
    )
    proc = runyard(proj, "sweep", "cancel", sweep_id, check=True)
    assert "canceled" in proc.stderr
    data = show(proj, sweep_id)
    assert data["status"] == "canceled"
    assert len(data["trials"]) == 2  # nothing started after the cancel
    for trial in data["trials"]:
        assert trial["status"] == "canceled"
        assert show_run(proj, trial["run_id"])["status"] == "canceled"
    again = runyard(proj, "sweep", "cancel", sweep_id, check=True)
    assert "nothing to cancel" in again.stderr


# --------------------------------------------------------------------------- bad input


def test_an_objective_metric_no_run_logs_is_said_after_the_first_trial(proj: Path) -> None:
    sweep_file(
        proj,
        "typo",
        """\
        script: quad.py
        args: ["--layers", "1"]
        space:
          lr: {grid: [0.01, 0.02]}
        objective: {metric: val_loss}
        """,
    )
    data = ended(proj, start_sweep(proj, "typo"))
    assert data["status"] == "failed" and data["reason"] == "no trial completed"
    assert len(data["notes"]) == 1
    note = data["notes"][0]
    assert "'val_loss' was not logged by trial 0's run" in note
    assert "it logged loss" in note and "did you mean 'loss'?" in note
    assert ".runyard/sweeps/typo.yml" in note
    lines = sweep_log(proj, data["id"]).splitlines()
    first_end = next(i for i, line in enumerate(lines) if "trial 0 failed" in line)
    assert "note: the objective metric 'val_loss'" in lines[first_end + 1]
    assert {t["reason"] for t in data["trials"]} == {
        f"run {t['run_id']} completed without logging val_loss" for t in data["trials"]
    }


def test_a_target_that_goes_away_mid_sweep_fails_its_trials_and_the_others_go_on(
    proj: Path,
) -> None:
    python = proj.parent / "flaky-python"
    python.symlink_to(sys.executable)
    (proj / ".runyard/targets/flaky.yml").write_text(f"type: local\npython: {python}\n")
    gates = proj / "gates"
    sweep_file(
        proj,
        "spread",
        f"""\
        script: gated.py
        args: ["--gates", "{gates}"]
        space:
          x: {{grid: [1, 2, 3, 4, 5, 6, 7, 8]}}
        objective: {{metric: loss}}
        parallel: {{local: 1, flaky: 1}}
        """,
    )
    sweep_id = start_sweep(proj, "spread")
    on_flaky = until(
        lambda: trials_where(show(proj, sweep_id), target="flaky", status="running"),
        what="a trial running on the flaky target",
    )[0]
    python.unlink()  # the target's interpreter goes away while its trial runs
    for x in range(1, 9):
        open_gate(proj, x)
    data = ended(proj, sweep_id)

    assert data["status"] == "completed"
    assert len(data["trials"]) == 8
    flaky = trials_where(data, target="flaky")
    assert trials_where(data, trial=on_flaky["trial"])[0]["status"] == "completed"
    failed = [t for t in flaky if t["status"] == "failed"]
    assert failed, "the trials placed on the target after it went away fail"
    for trial in failed:
        assert "interpreter" in trial["reason"] and str(python) in trial["reason"]
    assert {t["status"] for t in trials_where(data, target="local")} == {"completed"}
    assert len(failed) <= 3  # then it gets no more trials
    if len(failed) == 3:
        assert any("target flaky: 3 trials in a row failed" in n for n in data["notes"])


def test_a_space_that_cannot_be_sampled_or_an_unknown_job_starts_nothing(proj: Path) -> None:
    sweep_file(
        proj,
        "empty",
        """\
        script: quad.py
        space:
          lr: {choice: []}
        objective: {metric: loss}
        max_trials: 3
        """,
    )
    sweep_file(
        proj,
        "nojob",
        """\
        job: trian
        space:
          lr: {loguniform: [0, 0.1]}
        objective: {metric: loss}
        max_trials: 3
        """,
    )
    proc = runyard(proj, "sweep", "start", "empty")
    assert proc.returncode == 2
    assert ".runyard/sweeps/empty.yml:3:" in proc.stderr
    assert "field 'space.lr.choice'" in proc.stderr and "empty" in proc.stderr
    proc = runyard(proj, "sweep", "start", "nojob")
    assert proc.returncode == 2
    assert ".runyard/sweeps/nojob.yml:1:6: field 'job': there is no job named 'trian'" in (
        proc.stderr
    )
    for out in (proc.stderr, proc.stdout):
        assert "Traceback" not in out
    assert runyard(proj, "sweep", "list", "--json", check=True).stdout.strip() == "[]"
    assert all_runs(proj) == []
