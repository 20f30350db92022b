"""Real runs on the local target: real git repositories, real supervisor processes,
real virtual environments, the real `runyard` command."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import git, runyard, show_run, submit_run

pytestmark = pytest.mark.integration

TRAIN = """\
import os, sys, json
import runyard

lr = float(sys.argv[1]) if len(sys.argv) > 1 else 0.1
runyard.log_params({"lr": lr, "layers": 3})
runyard.set_tag("kind", "demo")
for step in range(5):
    runyard.log_metric("loss", 1.0 / (step + 1) * lr, step=step)
runyard.log_metrics({"acc": 0.5 + lr, "val/acc top-1 ✓": 0.25})
os.makedirs("outputs", exist_ok=True)
with open("outputs/model.json", "w") as f:
    json.dump({"lr": lr}, f)
print("trained with", lr)
"""


def _json(proc: subprocess.CompletedProcess[str]) -> object:
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def _run_id(proc: subprocess.CompletedProcess[str]) -> str:
    return proc.stdout.splitlines()[0].strip()


def test_submit_completes_with_logs_metrics_params_and_outputs(project: Path) -> None:
    (project / "train.py").write_text(TRAIN)
    proc = runyard(project, "submit", "train.py", "0.2")
    assert proc.returncode == 0, proc.stderr
    run_id = _run_id(proc)
    assert "trained with 0.2" in proc.stdout  # streamed to the terminal
    show = show_run(project, run_id)
    assert show["status"] == "completed"
    assert show["exit_code"] == 0
    assert show["experiment"] == "train"
    assert show["params"] == {"lr": "0.2", "layers": "3"}
    assert show["tags"] == {"kind": "demo"}
    assert show["metrics"]["loss"] == pytest.approx(0.2 / 5)
    assert show["metrics"]["val/acc top-1 ✓"] == 0.25
    assert [h["status"] for h in show["history"]] == ["queued", "preparing", "running", "completed"]
    assert {"path": "model.json", "size": len('{"lr": 0.2}')} in show["artifacts"]
    kept = Path(show["outputs_dir"]) / "model.json"
    assert json.loads(kept.read_text()) == {"lr": 0.2}
    logs = runyard(project, "runs", "logs", run_id)
    assert "trained with 0.2" in logs.stdout
    # the run's working copy is cleaned up (by the supervisor, once the end is recorded)
    work = project / ".runyard/state/runs" / run_id / "work"
    _wait_for(lambda: not work.exists())

    listing = _json(runyard(project, "runs", "list", "--json"))
    assert isinstance(listing, list) and len(listing) == 1
    row = listing[0]
    for key in ("id", "experiment", "status", "target", "created", "metrics"):
        assert key in row
    assert row["target"] == "local"
    assert row["metrics"]["acc"] == pytest.approx(0.7)

    points = _json(runyard(project, "runs", "metrics", run_id, "--key", "loss", "--json"))
    assert isinstance(points, list)
    assert [p["step"] for p in points] == [0, 1, 2, 3, 4]


def test_sort_compare_and_experiment_filter(project: Path) -> None:
    (project / "train.py").write_text(TRAIN)
    ids = [_run_id(runyard(project, "submit", "train.py", lr)) for lr in ("0.1", "0.3", "0.2")]
    best = _json(runyard(project, "runs", "list", "--sort", "acc", "--json"))
    assert isinstance(best, list)
    assert [r["id"] for r in best] == [ids[1], ids[2], ids[0]]
    asc = _json(runyard(project, "runs", "list", "--sort", "acc:asc", "--limit", "1", "--json"))
    assert isinstance(asc, list) and asc[0]["id"] == ids[0]
    table = runyard(project, "runs", "compare", ids[0], ids[1])
    assert table.returncode == 0
    assert "param lr" in table.stdout and "0.1" in table.stdout and "0.3" in table.stdout
    line = next(ln for ln in table.stdout.splitlines() if "param lr" in ln)
    assert line.startswith("*")  # marked as differing
    none = _json(runyard(project, "runs", "list", "--experiment", "other", "--json"))
    assert none == []
    human = runyard(project, "runs", "list")
    assert ids[0] in human.stdout and "completed" in human.stdout


def test_failure_sets_failed_with_reason_and_exit_code(project: Path) -> None:
    (project / "bad.py").write_text("print('before')\nraise SystemExit('broken input data')\n")
    proc = runyard(project, "submit", "bad.py")
    assert proc.returncode == 1
    show = show_run(project, _run_id(proc))
    assert show["status"] == "failed"
    assert show["exit_code"] == 1
    assert "exited with code 1" in show["reason"] and "broken input data" in show["reason"]

    (project / "crash.py").write_text("import sys\nprint(1/0)\n")
    proc = runyard(project, "submit", "crash.py")
    assert proc.returncode == 1
    show = show_run(project, _run_id(proc))
    assert "ZeroDivisionError" in show["reason"]


def test_script_killed_with_sigkill_ends_failed(project: Path) -> None:
    (project / "die.py").write_text("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n")
    proc = runyard(project, "submit", "die.py")
    assert proc.returncode == 128 + 9
    show = show_run(project, _run_id(proc))
    assert show["status"] == "failed"
    assert "SIGKILL" in show["reason"]


def _wait_for(predicate: object, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


def _status(project: Path, run_id: str) -> str:
    data = show_run(project, run_id)
    return str(data["status"])


def test_supervisor_killed_is_taken_over_by_a_new_one(project: Path, tmp_path: Path) -> None:
    flag = tmp_path / "started"
    (project / "slow.py").write_text(
        f"import pathlib, time\npathlib.Path({str(flag)!r}).touch()\ntime.sleep(120)\n"
    )
    run_id = _run_id(runyard(project, "submit", "--detach", "slow.py"))
    _wait_for(flag.exists)
    # recorded just after the script started, so maybe after it touched the flag
    _wait_for(lambda: _status(project, run_id) == "running")
    sup_pid = _pid_of(project, run_id, "supervisor_pid")
    assert sup_pid
    os.kill(sup_pid, signal.SIGKILL)
    _wait_for(lambda: not _alive(sup_pid))
    listing = _json(runyard(project, "runs", "list", "--json"))
    assert isinstance(listing, list)
    # taken over, not lost (more in tests/integration/test_faults.py)
    assert listing[0]["status"] == "running"
    _wait_for(lambda: "took the run over" in runyard(project, "runs", "logs", run_id).stdout)
    _wait_for(lambda: _pid_of(project, run_id, "supervisor_pid") not in (None, sup_pid))
    # the script is canceled through the new supervisor
    assert runyard(project, "runs", "cancel", run_id).returncode == 0
    assert _status(project, run_id) == "canceled"


def _pid_of(project: Path, run_id: str, column: str) -> int | None:
    """The supervisor's or the script's pid, as the store recorded it."""
    import sqlite3

    db = sqlite3.connect(project / ".runyard/state/runyard.db")
    try:
        (pid,) = db.execute(f"SELECT {column} FROM runs WHERE id = ?", (run_id,)).fetchone()
    finally:
        db.close()
    return int(pid) if pid else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie counts as gone
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except OSError:
        return False


def test_cancel_sends_sigterm_then_sigkill_after_grace(project: Path, tmp_path: Path) -> None:
    runyard(project, "target", "add", "quick", "--type", "local", "--cancel-grace", "1", check=True)
    flag = tmp_path / "started"
    (project / "stubborn.py").write_text(
        "import pathlib, signal, time\n"
        "signal.signal(signal.SIGTERM, lambda *a: print('ignoring SIGTERM', flush=True))\n"
        f"pathlib.Path({str(flag)!r}).touch()\n"
        "while True:\n    time.sleep(0.1)\n"
    )
    run_id = _run_id(runyard(project, "submit", "--detach", "--target", "quick", "stubborn.py"))
    _wait_for(flag.exists)
    script_pid = _pid_of(project, run_id, "pid")
    assert script_pid
    proc = runyard(project, "runs", "cancel", run_id)
    assert proc.returncode == 0, proc.stderr
    assert _status(project, run_id) == "canceled"
    assert not _alive(script_pid)
    log = runyard(project, "runs", "logs", run_id).stdout
    assert "ignoring SIGTERM" in log and "SIGKILL" in log
    # canceling again is harmless
    again = runyard(project, "runs", "cancel", run_id)
    assert again.returncode == 0 and "already ended" in again.stderr


def test_ctrl_c_detaches_and_the_run_goes_on(project: Path, tmp_path: Path) -> None:
    go = tmp_path / "go"
    (project / "wait.py").write_text(
        "import pathlib, time, runyard\n"
        "print('waiting', flush=True)\n"
        f"while not pathlib.Path({str(go)!r}).exists():\n    time.sleep(0.05)\n"
        "runyard.log_metric('done', 1)\nprint('finished')\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "runyard.cli", "submit", "wait.py"],
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    run_id = proc.stdout.readline().strip()
    lines = iter(proc.stdout.readline, "")
    assert "waiting" in [next(lines).strip() for _ in range(3)]
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert "detached" in err and f"runyard runs cancel {run_id}" in err
    assert _status(project, run_id) == "running"
    go.touch()
    done = runyard(project, "runs", "wait", run_id, timeout=60)
    assert done.returncode == 0
    show = show_run(project, run_id)
    assert show["status"] == "completed" and show["metrics"] == {"done": 1}


def test_metrics_follow_shows_points_while_the_run_is_live(project: Path, tmp_path: Path) -> None:
    go = tmp_path / "go"
    (project / "live.py").write_text(
        "import pathlib, time, runyard\n"
        "runyard.log_metric('live', 42, step=7)\n"
        f"while not pathlib.Path({str(go)!r}).exists():\n    time.sleep(0.05)\n"
        "runyard.log_metric('live', 43, step=8)\n"
    )
    run_id = _run_id(runyard(project, "submit", "--detach", "live.py"))
    follower = subprocess.Popen(
        [sys.executable, "-m", "runyard.cli", "runs", "metrics", "-f", run_id],
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert follower.stdout is not None
    first = follower.stdout.readline()
    assert first.split("\t") == ["live", "7", "42\n"]
    assert _status(project, run_id) == "running"  # seen before the run ended
    go.touch()
    rest, _ = follower.communicate(timeout=60)
    assert "live\t8\t43" in rest
    assert follower.returncode == 0


def test_arguments_are_never_passed_through_a_shell(project: Path, tmp_path: Path) -> None:
    (project / "argv.py").write_text("import sys, json\nprint(json.dumps(sys.argv[1:]))\n")
    evil = ["$(touch pwned)", "; touch pwned2", "a b", "'q'", "|", "&&", "*", "$HOME", "--x=1"]
    proc = runyard(project, "submit", "argv.py", *evil)
    assert proc.returncode == 0, proc.stderr
    printed = [ln for ln in proc.stdout.splitlines() if ln.startswith("[")]
    assert json.loads(printed[-1]) == evil
    assert not list(project.rglob("pwned*"))


def test_output_is_stored_faithfully(project: Path) -> None:
    (project / "noisy.py").write_text(
        "import sys\n"
        "sys.stdout.buffer.write(b'bad bytes: \\xff\\xfe\\x80 end\\n')\n"
        "sys.stdout.buffer.write(b'x' * (10 * 1024 * 1024) + b'\\n')\n"
        "sys.stderr.write('to stderr\\n')\n"
    )
    proc = subprocess.run(
        [sys.executable, "-m", "runyard.cli", "submit", "noisy.py"],
        cwd=project,
        capture_output=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert b"bad bytes: \xff\xfe\x80 end\n" in proc.stdout
    run_id = proc.stdout.splitlines()[0].decode()
    log = (project / ".runyard/state/runs" / run_id / "run.log").read_bytes()
    assert b"bad bytes: \xff\xfe\x80 end\n" in log
    assert b"x" * (10 * 1024 * 1024) + b"\n" in log
    assert b"to stderr\n" in log


def test_metric_values_and_names_are_kept_faithfully(project: Path) -> None:
    (project / "odd.py").write_text(
        "import runyard\n"
        "runyard.log_metric('a/b c', float('nan'), step=0)\n"
        "runyard.log_metric('a/b c', float('inf'), step=1)\n"
        "runyard.log_metric('a/b c', float('-inf'), step=2)\n"
        "runyard.log_metric('ünï/cødé 指标', 1e-300)\n"
        "runyard.log_metric('auto', 1)\nrunyard.log_metric('auto', 2)\n"
    )
    run_id = submit_run(project, "odd.py", detach=False)
    points = _json(runyard(project, "runs", "metrics", run_id, "--json"))
    assert isinstance(points, list)
    odd = [p["value"] for p in points if p["key"] == "a/b c"]
    assert odd == ["NaN", "Infinity", "-Infinity"]
    uni = [p for p in points if p["key"] == "ünï/cødé 指标"]
    assert uni[0]["value"] == 1e-300
    assert [p["step"] for p in points if p["key"] == "auto"] == [0, 1]
    from runyard.core.store import Store

    with Store(project / ".runyard/state/runyard.db") as store:
        _cursor, _steps, _times, values = store.metric_columns(run_id, "a/b c")
    assert math.isnan(values[0]) and values[1] == math.inf and values[2] == -math.inf
    human = runyard(project, "runs", "metrics", run_id)
    assert "a/b c" in human.stdout and "-inf" in human.stdout


def test_runs_use_the_snapshot_not_later_edits_and_restore_and_diff(project: Path) -> None:
    script = project / "train.py"
    script.write_text("print('version one')\n")
    git(project, "add", "train.py")  # staged, not committed
    (project / "notes.txt").write_text("untracked but part of the snapshot\n")
    head_before = git(project, "rev-parse", "HEAD")
    index_before = (project / ".git/index").read_bytes()
    status_before = git(project, "status", "--porcelain=v2", "--untracked-files=all")
    refs_before = git(project, "for-each-ref")
    run_a = submit_run(project, "train.py", detach=False)
    assert git(project, "rev-parse", "HEAD") == head_before
    assert (project / ".git/index").read_bytes() == index_before
    assert git(project, "status", "--porcelain=v2", "--untracked-files=all") == status_before
    refs_after = git(project, "for-each-ref")
    assert f"refs/runyard/runs/{run_a}" in refs_after
    assert [
        r for r in refs_after.splitlines() if "refs/runyard/" not in r
    ] == refs_before.splitlines()

    script.write_text("print('version two')\n")
    run_b = submit_run(project, "train.py", detach=False)
    assert "version one" in runyard(project, "runs", "logs", run_a).stdout
    assert "version two" in runyard(project, "runs", "logs", run_b).stdout

    diff = runyard(project, "runs", "diff", run_a, run_b)
    assert "-print('version one')" in diff.stdout and "+print('version two')" in diff.stdout
    script.write_text("print('version three')\n")
    against_tree = runyard(project, "runs", "diff", run_b)
    assert "+print('version three')" in against_tree.stdout

    refused = runyard(project, "runs", "restore", run_a)
    assert refused.returncode == 2
    assert "train.py" in refused.stderr and "--force" in refused.stderr
    assert script.read_text() == "print('version three')\n"
    out = project.parent / "restored"
    runyard(project, "runs", "restore", run_a, "--to", str(out), check=True)
    assert (out / "train.py").read_text() == "print('version one')\n"
    assert (out / "notes.txt").exists()
    assert not (out / ".runyard/state").exists()
    runyard(project, "runs", "restore", run_a, "--force", check=True)
    assert script.read_text() == "print('version one')\n"


def test_folder_without_git_uses_a_shadow_repository(tmp_path: Path) -> None:
    root = tmp_path / "plain"
    root.mkdir()
    runyard(root, "init", check=True)
    (root / "hello.py").write_text("print('hello from a plain folder')\n")
    proc = runyard(root, "submit", "hello.py")
    assert proc.returncode == 0, proc.stderr
    assert "hello from a plain folder" in proc.stdout
    assert not (root / ".git").exists()
    assert (root / ".runyard/state/snapshots.git").is_dir()


def test_requirements_build_a_cached_environment(project: Path) -> None:
    (project / "requirements.txt").write_text("six==1.16.0\n")
    (project / "uses_six.py").write_text("import six\nprint('six', six.__version__)\n")
    first = runyard(project, "submit", "uses_six.py", timeout=600)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "six 1.16.0" in first.stdout
    assert "building environment" in first.stdout
    second = runyard(project, "submit", "uses_six.py", timeout=600)
    assert second.returncode == 0
    assert "building environment" not in second.stdout and "(cached)" in second.stdout
    a = show_run(project, _run_id(first))
    b = show_run(project, _run_id(second))
    assert a["env_hash"] and a["env_hash"] == b["env_hash"]


def test_failed_environment_build_fails_the_run_with_reason(project: Path) -> None:
    (project / "requirements.txt").write_text("this-package-does-not-exist-runyard==0.0.1\n")
    (project / "x.py").write_text("print('never')\n")
    proc = runyard(project, "submit", "x.py", timeout=600)
    assert proc.returncode != 0
    show = show_run(project, _run_id(proc))
    assert show["status"] == "failed"
    assert "requirements.txt" in show["reason"]
    assert not list((project / ".runyard/state/envs").glob(".build-*"))


def test_user_managed_interpreter(project: Path) -> None:
    runyard(
        project, "target", "add", "mine", "--type", "local", "--python", sys.executable, check=True
    )
    (project / "which.py").write_text("import sys\nprint('exe', sys.executable)\n")
    proc = runyard(project, "submit", "--target", "mine", "which.py")
    assert proc.returncode == 0, proc.stderr
    assert f"exe {sys.executable}" in proc.stdout
    test = runyard(project, "target", "test", "mine")
    assert test.returncode == 0 and "Python 3" in test.stdout


def test_job_file_supplies_script_args_and_env(project: Path) -> None:
    (project / "job.py").write_text(
        "import os, sys\nprint('job', sys.argv[1:], os.environ['MODE'])\n"
    )
    (project / ".runyard/jobs/nightly.yml").write_text(
        "script: job.py\nargs: ['--fast']\nenv:\n  MODE: nightly\nexperiment: night\n"
    )
    proc = runyard(project, "submit", "--job", "nightly", "--", "--extra")
    assert proc.returncode == 0, proc.stderr
    assert "job ['--fast', '--extra'] nightly" in proc.stdout
    show = show_run(project, _run_id(proc))
    assert show["experiment"] == "night" and show["job"] == "nightly"


def test_log_artifact_copies_into_the_kept_outputs(project: Path) -> None:
    (project / "art.py").write_text(
        "import os, runyard\n"
        "open('report.txt', 'w').write('accuracy 0.9\\n')\n"
        "os.makedirs('plots', exist_ok=True)\n"
        "open('plots/a.svg', 'w').write('<svg/>')\n"
        "runyard.log_artifact('report.txt')\n"
        "runyard.log_artifact('plots')\n"
    )
    run_id = submit_run(project, "art.py", detach=False)
    show = show_run(project, run_id)
    assert show["artifacts"] == [
        {"path": "plots/a.svg", "size": 6},
        {"path": "report.txt", "size": 13},
    ]
    outputs = Path(show["outputs_dir"])
    assert (outputs / "report.txt").read_text() == "accuracy 0.9\n"
    assert (outputs / "plots/a.svg").read_text() == "<svg/>"
