"""The submit server (`runyard.cli.quick`): the second plain `runyard submit` within a
minute starts it, and the submits after it go through it, with the same output, exit
status and Ctrl-C as the plain command. It steps aside for another environment, for
changed Runyard code, and leaves when idle.

The rest of the suite runs with `RUNYARD_SUBMIT_SERVER=0` (tests/conftest.py): tests
there kill or signal the `runyard` process itself and mean the plain command."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import runyard, show_run, until

pytestmark = pytest.mark.integration

SERVER_ROOT = Path(__file__).resolve().parents[2] / "server"


@pytest.fixture
def quick_env() -> Iterator[dict[str, str]]:
    """An environment with the submit server on, its sockets in a folder of this test's
    own (short: a socket's path has a length limit); the servers started in it are
    stopped at the end."""
    runtime = Path(tempfile.mkdtemp(prefix="ry-"))
    env = {k: v for k, v in os.environ.items() if k != "RUNYARD_SUBMIT_SERVER"}
    env["XDG_RUNTIME_DIR"] = str(runtime)
    env["RUNYARD_SUBMIT_SERVER_IDLE"] = "60"
    yield env
    for log in runtime.glob("runyard-*/*.sock.log"):
        first = log.read_text().splitlines()[:1]
        if first and first[0].startswith("server "):
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(first[0].split()[1]), signal.SIGTERM)
    shutil.rmtree(runtime, ignore_errors=True)


def _folder(env: dict[str, str]) -> Path:
    return Path(env["XDG_RUNTIME_DIR"]) / f"runyard-{os.getuid()}"


def _served(env: dict[str, str]) -> list[str]:
    """The submits the servers in `env` served (their logs, less each server's own line)."""
    lines: list[str] = []
    for log in sorted(_folder(env).glob("*.sock.log")):
        lines += [ln for ln in log.read_text().splitlines() if not ln.startswith("server ")]
    return lines


def _start_server(project: Path, env: dict[str, str]) -> Path:
    """Two plain submits in a row, then the server's socket, once it listens."""
    for _ in range(2):
        runyard(project, "submit", "-d", "hello.py", env=env, check=True)
    assert not _served(env)
    socket: Path = until(lambda: next(_folder(env).glob("*.sock"), None), 30, "the submit server")
    return socket


def _run_id(proc: subprocess.CompletedProcess[str]) -> str:
    return proc.stdout.strip().splitlines()[0]


@pytest.fixture
def scripts(project: Path) -> Path:
    (project / "hello.py").write_text("import sys\nprint('hello', sys.argv[1:])\n")
    (project / "fail.py").write_text("import sys\nprint('failing')\nsys.exit(3)\n")
    return project


def test_the_third_submit_in_a_row_goes_through_the_server_and_prints_what_a_plain_one_does(
    scripts: Path, quick_env: dict[str, str]
) -> None:
    _start_server(scripts, quick_env)
    served = runyard(scripts, "submit", "hello.py", "a b", "--x=1", env=quick_env)
    plain = runyard(
        scripts,
        "submit",
        "hello.py",
        "a b",
        "--x=1",
        env={**quick_env, "RUNYARD_SUBMIT_SERVER": "0"},
    )
    assert served.returncode == plain.returncode == 0, served.stderr
    assert [line.split(" ", 1)[1] for line in _served(quick_env)] == ["submit hello.py a b --x=1"]
    for proc in (served, plain):
        assert "hello ['a b', '--x=1']" in proc.stdout
        assert "✓ completed" in proc.stderr
    run = show_run(scripts, _run_id(served))
    assert run["status"] == "completed" and run["script"] == "hello.py"


def test_a_failing_script_and_a_bad_request_end_as_they_do_without_the_server(
    scripts: Path, quick_env: dict[str, str]
) -> None:
    _start_server(scripts, quick_env)
    plain_env = {**quick_env, "RUNYARD_SUBMIT_SERVER": "0"}
    for args in (("fail.py",), ("no_such.py",), ("--target", "nowhere", "hello.py")):
        served = runyard(scripts, "submit", *args, env=quick_env)
        plain = runyard(scripts, "submit", *args, env=plain_env)
        assert served.returncode == plain.returncode != 0, (args, served.stderr)
        if args == ("fail.py",):
            assert "failing" in served.stdout and "failing" in plain.stdout
            outcome = [ln for ln in served.stderr.splitlines() if ln.startswith("run ")][-1]
            expected = [ln for ln in plain.stderr.splitlines() if ln.startswith("run ")][-1]
            assert _plain(outcome, _run_id(served)) == _plain(expected, _run_id(plain))
        else:
            assert served.stderr == plain.stderr  # the same message naming what is wrong
    assert len(_served(quick_env)) == 3


def test_ctrl_c_through_the_server_detaches_and_the_run_goes_on(
    scripts: Path, quick_env: dict[str, str], tmp_path: Path
) -> None:
    go = tmp_path / "go"
    (scripts / "wait.py").write_text(
        "import pathlib, time, runyard\n"
        "print('waiting', flush=True)\n"
        f"while not pathlib.Path({str(go)!r}).exists():\n    time.sleep(0.05)\n"
        "runyard.log_metric('done', 1)\n"
    )
    _start_server(scripts, quick_env)
    proc = subprocess.Popen(
        [sys.executable, "-m", "runyard.cli", "submit", "wait.py"],
        cwd=scripts,
        env=quick_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    run_id = proc.stdout.readline().strip()
    for line in iter(proc.stdout.readline, ""):  # the log, followed
        if line.strip() == "waiting":
            break
    assert any(line.endswith("submit wait.py") for line in _served(quick_env))
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert "detached" in err and f"runyard runs cancel {run_id}" in err
    assert show_run(scripts, run_id)["status"] == "running"
    go.touch()
    assert runyard(scripts, "runs", "wait", run_id, timeout=60).returncode == 0
    assert show_run(scripts, run_id)["metrics"] == {"done": 1}


def test_another_environment_gets_no_answer_from_this_server_and_runs_plainly(
    scripts: Path, quick_env: dict[str, str]
) -> None:
    _start_server(scripts, quick_env)
    other = runyard(scripts, "submit", "hello.py", env={**quick_env, "SOME_SETTING": "1"})
    assert other.returncode == 0 and "hello []" in other.stdout
    assert not _served(quick_env)
    # what differs between two commands of one shell does not count
    same = runyard(scripts, "submit", "hello.py", env={**quick_env, "SHLVL": "7", "_": "x"})
    assert same.returncode == 0 and len(_served(quick_env)) == 1


def test_changed_runyard_code_makes_the_server_decline_and_leave(
    scripts: Path, quick_env: dict[str, str], tmp_path: Path
) -> None:
    copy = tmp_path / "server"
    shutil.copytree(
        SERVER_ROOT / "runyard", copy / "runyard", ignore=shutil.ignore_patterns("__pycache__")
    )
    env = {**quick_env, "PYTHONPATH": str(copy)}
    socket = _start_server(scripts, env)
    assert runyard(scripts, "submit", "hello.py", env=env).returncode == 0
    assert len(_served(env)) == 1
    changed = copy / "runyard" / "core" / "snapshot.py"
    os.utime(changed, ns=(time.time_ns(), time.time_ns() + 10**9))
    proc = runyard(scripts, "submit", "hello.py", env=env)
    assert proc.returncode == 0 and "hello []" in proc.stdout
    assert len(_served(env)) == 1  # declined: the plain command ran it
    until(lambda: not socket.exists(), 15, "the server to leave")


def test_the_server_leaves_when_idle_and_is_never_started_when_turned_off(
    scripts: Path, quick_env: dict[str, str]
) -> None:
    env = {**quick_env, "RUNYARD_SUBMIT_SERVER_IDLE": "1"}
    socket = _start_server(scripts, env)
    log = Path(f"{socket}.log")
    pid = int(log.read_text().split()[1])
    until(lambda: not socket.exists(), 30, "the idle server to leave")
    until(lambda: not Path(f"/proc/{pid}").exists() or "Z" in _state(pid), 30, "its process to end")
    off = {**quick_env, "RUNYARD_SUBMIT_SERVER": "0"}
    for _ in range(3):
        assert runyard(scripts, "submit", "-d", "hello.py", env=off).returncode == 0
    time.sleep(1)
    assert not list(_folder(off).glob("*.sock"))


def _plain(line: str, run_id: str) -> str:
    """An outcome line without what differs between two runs (id, duration)."""
    return re.sub(r" in [0-9.]+s", " in Ns", line.replace(run_id, "ID"))


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return "Z"


def test_a_caller_that_connects_and_says_nothing_holds_up_no_one(
    scripts: Path, quick_env: dict[str, str]
) -> None:
    import socket as sockets

    path = _start_server(scripts, quick_env)
    silent = sockets.socket(sockets.AF_UNIX, sockets.SOCK_STREAM)
    silent.connect(str(path))  # and never sends its request
    try:
        proc = runyard(scripts, "submit", "hello.py", env=quick_env, timeout=60)
    finally:
        silent.close()
    assert proc.returncode == 0 and "hello []" in proc.stdout, proc.stderr
    assert [line.split(" ", 1)[1] for line in _served(quick_env)] == ["submit hello.py"]
