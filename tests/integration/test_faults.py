"""The fault matrix: kill -9 of the script, of its supervisor and of the language server
that submitted it, on the local, Docker and SSH targets. Each ends with a clear status,
and what the run wrote before the kill (its metric points, its outputs) is kept: the
counts are printed (`pytest -s`).

The run's script logs BEFORE points, flushes them, writes outputs/before.txt and says
"ready"; then it waits for a file named `go` in its working directory, logs AFTER more
points, writes outputs/after.txt and ends. The test injects the fault while the script
waits, then makes the `go` file where the script runs (this machine, the container, the
SSH host's folder)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests import helpers
from tests.helpers import commit_all, run_logs, runyard, show_run, submit_run, until, wait_run

pytestmark = pytest.mark.integration

BEFORE = 30_000
AFTER = 30_000

SCRIPT = """\
import os, subprocess, sys, time
import runyard

before, after = int(os.environ["BEFORE"]), int(os.environ["AFTER"])
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
for i in range(before):
    runyard.log_metric("x", float(i), step=i)
runyard.flush()
os.makedirs("outputs", exist_ok=True)
with open("outputs/before.txt", "w") as f:
    f.write("written before the fault\\n")
print(f"ready {os.getpid()} {child.pid} {os.getcwd()}", flush=True)
while not os.path.exists("go"):
    time.sleep(0.05)
for i in range(before, before + after):
    runyard.log_metric("x", float(i), step=i)
with open("outputs/after.txt", "w") as f:
    f.write("written after the fault\\n")
child.kill()
print("done", flush=True)
"""


@dataclass
class Target:
    """One compute target of the matrix, set up in a project."""

    name: str
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    engine: Any = None  # the Docker client, for docker targets

    def submit_args(self) -> list[str]:
        return ["--job", f"fault-{self.name}"]


def _project_with_job(project: Path, target: str, env: dict[str, str]) -> None:
    (project / "fault.py").write_text(SCRIPT)
    commit_all(project, "fault script")
    (project / f".runyard/jobs/fault-{target}.yml").write_text(
        f"script: fault.py\ntarget: {target}\nenv:\n  BEFORE: '{BEFORE}'\n  AFTER: '{AFTER}'\n"
    )


@pytest.fixture(autouse=True)
def _no_stray_local_runs(project: Path) -> Iterator[None]:
    """A failing test leaves no local run's process group behind."""
    yield
    from runyard.targets.local import process_start

    for record in project.glob(".runyard/state/runs/*/process.json"):
        info = json.loads(record.read_text())
        if info.get("start") and process_start(info["pid"]) == info["start"]:
            with contextlib.suppress(OSError):
                os.killpg(info["pid"], signal.SIGKILL)


@pytest.fixture(params=["local", "docker", "ssh"])
def target(request: pytest.FixtureRequest, project: Path, tmp_path: Path) -> Iterator[Target]:
    kind = str(request.param)
    if kind == "local":
        t = Target("local")
    elif kind == "docker":
        engine = helpers.docker_engine()
        options = helpers.docker_target_options()
        runyard(project, "target", "add", "dock", "--type", "docker", *options, check=True)
        t = Target("dock", engine=engine)
    else:
        env = helpers.ssh_user(tmp_path / "home")
        helpers.add_ssh_target(project, env, tmp_path / "remote")
        t = Target("vm", env=env)
    _project_with_job(project, t.name, t.env)
    yield t


# ---- looking at a run ----


def _ready(project: Path, run_id: str, env: dict[str, str]) -> tuple[int, int, str]:
    """The script's pid, its child's pid and its working directory, once it said ready."""

    def said() -> str | None:
        for line in run_logs(project, run_id, env).splitlines():
            if line.startswith("ready "):
                return line
        return None

    line = until(said, timeout=300, what="the script's ready line")
    _, pid, child, cwd = line.split(" ", 3)
    return int(pid), int(child), cwd


def _points(project: Path, run_id: str) -> int:
    from runyard.core.store import Store

    with Store(project / ".runyard/state/runyard.db") as store:
        return store.metric_count(run_id, "x")


def _supervisor_pid(project: Path, run_id: str) -> int:
    from runyard.core.store import Store

    with Store(project / ".runyard/state/runyard.db") as store:
        pid = store.get_run(run_id).supervisor_pid
    assert pid
    return pid


def _kill_supervisor(project: Path, run_id: str) -> None:
    """SIGKILL the run's supervisor and wait for its end."""
    supervisor = _supervisor_pid(project, run_id)
    os.kill(supervisor, signal.SIGKILL)
    until(lambda: _gone(supervisor), what="the supervisor's end")


def _gone(pid: int) -> bool:
    """The process ended (a zombie nobody reaped counts as ended)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return True


def _outputs(run: dict[str, Any]) -> list[str]:
    folder = Path(run["outputs_dir"])
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


# ---- acting on the script where it runs ----


def _container(t: Target, run_id: str) -> Any:
    found = t.engine.containers.list(filters={"label": f"dev.runyard.run={run_id}"})
    assert len(found) == 1, found
    return found[0]


def _go(t: Target, run_id: str, cwd: str) -> None:
    """Let the script go on past its wait."""
    if t.engine is not None:
        _container(t, run_id).exec_run(["touch", f"{cwd}/go"])
    else:  # this machine, or the SSH host, which is this machine too
        Path(cwd, "go").touch()


def _kill_script(t: Target, run_id: str, pid: int) -> None:
    if t.engine is not None:
        container = _container(t, run_id)
        if pid == 1:  # the script is the container's init: only the engine can kill it
            container.kill(signal="SIGKILL")
        else:
            container.exec_run(["kill", "-9", str(pid)])
    else:
        os.kill(pid, signal.SIGKILL)


def _report(t: Target, fault: str, run: dict[str, Any], points: int) -> None:
    print(
        f"\n[faults] {t.name}/{fault}: {run['status']} ({run['reason']}); "
        f"{points} points kept, outputs kept: {_outputs(run)}"
    )


# ---- the matrix ----


def test_a_killed_script_ends_failed_and_keeps_what_it_wrote(project: Path, target: Target) -> None:
    run_id = submit_run(project, *target.submit_args(), env=target.env)
    pid, child, _cwd = _ready(project, run_id, target.env)
    until(lambda: _points(project, run_id) == BEFORE, what="the points before the kill")
    _kill_script(target, run_id, pid)
    run = wait_run(project, run_id, target.env, timeout=600)
    if target.engine is None:  # the script's child lives on (a container ends with it)
        with contextlib.suppress(ProcessLookupError):
            os.kill(child, signal.SIGKILL)
    points = _points(project, run_id)
    _report(target, "script killed", run, points)
    assert run["status"] == "failed", run
    assert "SIGKILL" in run["reason"] or "137" in run["reason"], run["reason"]
    assert points == BEFORE
    assert _outputs(run) == ["before.txt"]


def test_a_killed_supervisor_is_taken_over_and_nothing_is_lost(
    project: Path, target: Target
) -> None:
    run_id = submit_run(project, *target.submit_args(), env=target.env)
    pid, _child, cwd = _ready(project, run_id, target.env)
    _kill_supervisor(project, run_id)
    _go(target, run_id, cwd)
    if target.engine is None and target.name == "local":
        # the script ends while no supervisor watches it (as in the issue)
        until(lambda: _gone(pid), timeout=300, what="the script's end")
    run = wait_run(project, run_id, target.env, timeout=600)
    points = _points(project, run_id)
    _report(target, "supervisor killed", run, points)
    assert run["status"] == "completed", run
    assert "took the run over" in run_logs(project, run_id, target.env)
    assert points == BEFORE + AFTER  # none lost, none twice
    assert _outputs(run) == ["after.txt", "before.txt"]


async def test_a_killed_language_server_loses_nothing(project: Path, target: Target) -> None:
    from tests.integration.lsp_session import Session

    session = Session(project, env=target.env)
    await session.start()
    try:
        run = await session.request("runyard/runs/submit", {"job": f"fault-{target.name}"})
        run_id = run["id"]
        _pid, _child, cwd = await asyncio.to_thread(_ready, project, run_id, target.env)
        server = session.client._server  # the language server's process
        assert server is not None
        server.kill()
        await server.wait()
    finally:
        with contextlib.suppress(Exception):
            await session.client.stop()
    await asyncio.to_thread(_go, target, run_id, cwd)
    done = await asyncio.to_thread(wait_run, project, run_id, target.env, 600)
    points = _points(project, run_id)
    _report(target, "language server killed", done, points)
    assert done["status"] == "completed", done
    assert points == BEFORE + AFTER
    assert _outputs(done) == ["after.txt", "before.txt"]


# ---- local runs without their supervisor ----


def _ready_local_run(project: Path) -> tuple[str, int, int, str]:
    """A run of the fault script on the local target, once it said ready: its id, the
    script's pid, its child's pid and its working directory."""
    _project_with_job(project, "local", dict(os.environ))
    run_id = submit_run(project, *Target("local").submit_args())
    return (run_id, *_ready(project, run_id, dict(os.environ)))


def test_an_orphaned_local_run_is_canceled_with_its_whole_process_group(project: Path) -> None:
    run_id, pid, child, _cwd = _ready_local_run(project)
    _kill_supervisor(project, run_id)
    proc = runyard(project, "runs", "cancel", run_id)
    assert proc.returncode == 130 or proc.returncode == 0, proc.stderr
    run = wait_run(project, run_id, timeout=600)
    points = _points(project, run_id)
    print(f"\n[faults] orphan canceled: {run['status']} ({run['reason']}); {points} points")
    assert run["status"] == "canceled", run
    until(lambda: _gone(pid) and _gone(child), timeout=60, what="the script and its child's end")
    assert points == BEFORE
    assert _outputs(run) == ["before.txt"]


def test_a_supervisor_killed_after_storing_points_but_before_saving_its_offset_counts_none_twice(
    project: Path,
) -> None:
    run_id, _pid, _child, cwd = _ready_local_run(project)
    until(lambda: _points(project, run_id) == BEFORE, what="the points before the kill")
    _kill_supervisor(project, run_id)
    # What a kill between storing a first poll's points and saving the offset it reached
    # leaves on disk: the points stored, no offset or checkpoint saved yet.
    run_dir = project / ".runyard/state/runs" / run_id
    for name in ("tracking.jsonl.offset", "tracking.jsonl.checkpoint"):
        (run_dir / name).unlink(missing_ok=True)
    Path(cwd, "go").touch()
    run = wait_run(project, run_id, timeout=600)
    points = _points(project, run_id)
    print(f"\n[faults] killed before saving the offset: {run['status']}; {points} points")
    assert run["status"] == "completed", run
    assert points == BEFORE + AFTER  # (before the checkpoint: BEFORE of them twice)
    assert f"{BEFORE} metric points were stored after the last saved offset" in run_logs(
        project, run_id, dict(os.environ)
    )


def _orphan_then_kill_its_group(project: Path) -> tuple[str, Path]:
    """A local run whose supervisor was killed, then its whole process group (the
    wrapper that records the exit status included)."""
    run_id, _pid, child, _cwd = _ready_local_run(project)
    _kill_supervisor(project, run_id)
    run_dir = project / ".runyard/state/runs" / run_id
    group = json.loads((run_dir / "process.json").read_text())["pid"]
    os.killpg(group, signal.SIGKILL)
    until(lambda: _gone(group) and _gone(child), what="the process group's end")
    return run_id, run_dir


def test_a_local_run_killed_while_no_supervisor_watched_ends_failed_with_exit_code_unknown(
    project: Path,
) -> None:
    run_id, _run_dir = _orphan_then_kill_its_group(project)
    run = wait_run(project, run_id, timeout=600)
    points = _points(project, run_id)
    print(f"\n[faults] group killed while orphaned: {run['status']} ({run['reason']}); {points}")
    assert run["status"] == "failed", run
    assert run["reason"].startswith("exit code unknown:") and run["exit_code"] is None
    assert points == BEFORE
    assert _outputs(run) == ["before.txt"]


def test_a_recycled_pid_is_never_signalled_by_a_supervisor_taking_over(project: Path) -> None:
    run_id, run_dir = _orphan_then_kill_its_group(project)
    # another process now has the run's recorded pid (as a recycled one would)
    stranger = subprocess.Popen(["sleep", "600"], start_new_session=True)
    try:
        recorded = json.loads((run_dir / "process.json").read_text())
        (run_dir / "process.json").write_text(json.dumps(recorded | {"pid": stranger.pid}))
        assert runyard(project, "runs", "cancel", run_id).returncode == 0
        run = show_run(project, run_id, dict(os.environ))
        print(f"\n[faults] recycled pid: {run['status']} ({run['reason']})")
        # (it had ended before the cancel: how, nobody recorded)
        assert run["status"] == "failed" and run["reason"].startswith("exit code unknown:")
        assert stranger.poll() is None  # never signalled
    finally:
        stranger.kill()
        stranger.wait()


# ---- what reads the run's records never decides its outcome ----

UNREADABLE_TRACKING = """\
import os, urllib.parse
import runyard

# the tracking file becomes a folder: the store cannot read it (nor the client write it)
os.mkdir(urllib.parse.urlparse(os.environ["RUNYARD_TRACKING_URI"]).path)
runyard.log_metric("x", 1.0)
runyard.flush()
os.makedirs("outputs", exist_ok=True)
with open("outputs/model.txt", "w") as f:
    f.write("trained\\n")
print("trained", flush=True)
"""


def test_an_error_reading_the_tracking_records_is_a_warning_not_the_runs_outcome(
    project: Path,
) -> None:
    (project / "odd.py").write_text(UNREADABLE_TRACKING)
    run_id = submit_run(project, "odd.py")
    run = wait_run(project, run_id, timeout=600)
    log = run_logs(project, run_id, dict(os.environ))
    print(f"\n[faults] unreadable tracking file: {run['status']} ({run['reason']})")
    assert run["status"] == "completed", run
    assert "warning: the run's tracking records could not be read into the store" in log
    assert "IsADirectoryError" in log and "Traceback" not in log
    assert log.count("could not be read into the store") == 1  # said once, not every poll
    assert _outputs(run) == ["model.txt"]


# ---- TensorBoard event files across a take-over ----

# Writes STEPS_BEFORE steps to logs/ (the watched folder) and runs/exp1 (found anywhere
# in the working copy), says ready, waits for `go`, writes the rest to the same files.
WRITE_EVENTS = """\
import os, time
from tensorboard.summary import Writer

logs, exp = Writer("logs"), Writer("runs/exp1")

def write(first, end):
    for step in range(first, end):
        logs.add_scalar("loss", 1.0 / (step + 1), step)
        exp.add_scalar("acc", step * 0.5, step)
    logs.flush()
    exp.flush()

write(0, int(os.environ["STEPS_BEFORE"]))
print(f"ready {os.getpid()} 0 {os.getcwd()}", flush=True)
while not os.path.exists("go"):
    time.sleep(0.05)
write(int(os.environ["STEPS_BEFORE"]), int(os.environ["STEPS"]))
logs.close()
exp.close()
"""


def _series(project: Path, run_id: str) -> dict[str, list[int]]:
    """Each metric's steps, in step order (`runs metrics --json`)."""
    proc = runyard(project, "runs", "metrics", run_id, "--json", check=True)
    out: dict[str, list[int]] = {}
    for point in json.loads(proc.stdout):
        out.setdefault(point["key"], []).append(int(point["step"]))
    return {k: sorted(v) for k, v in out.items()}


def test_a_take_over_imports_the_rest_of_the_tensorboard_files_and_no_point_twice(
    project: Path,
) -> None:
    if not helpers.IN_CI:
        pytest.importorskip("tensorboard")
    import sys

    import tensorboard  # type: ignore[import-untyped]

    # a committed event file is the snapshot's, not the run's: never imported
    stale = tensorboard.summary.Writer(str(project / "notes" / "old"))
    stale.add_scalar("stale", 1.0, 0)
    stale.close()
    (project / "events.py").write_text(WRITE_EVENTS)
    commit_all(project, "events script")
    runyard(
        project, "target", "add", "here", "--type", "local", "--python", sys.executable, check=True
    )
    env = {**os.environ, "STEPS_BEFORE": "5", "STEPS": "12"}
    run_id = submit_run(project, "--target", "here", "events.py", env=env)
    _pid, _child, cwd = _ready(project, run_id, env)
    until(
        lambda: (
            {k: len(v) for k, v in _series(project, run_id).items()}
            == {"loss": 5, "runs/exp1/acc": 5}
        ),
        timeout=120,
        what="the first steps imported by the first supervisor",
    )
    _kill_supervisor(project, run_id)
    Path(cwd, "go").touch()
    run = wait_run(project, run_id, env, timeout=600)
    log = run_logs(project, run_id, env)
    series = _series(project, run_id)
    print(f"\n[faults] TensorBoard across a take-over: {run['status']}; {series}")
    assert run["status"] == "completed", run
    assert "took the run over" in log
    # the steps written to the same files after the take-over arrive, none twice
    assert series == {"loss": list(range(12)), "runs/exp1/acc": list(range(12))}, series
