"""The local target's wrapper (`targets.local.spawn_wrapper`): a fork of the supervisor
that leads the run's process group, starts the script with the run's environment,
records how it ended and keeps none of the supervisor's descriptors."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

from runyard.targets.local import EXIT_FILE, LocalExecution, Wrapper, read_exit_code, spawn_wrapper


def _start(tmp_path: Path, code: str, env: dict[str, str] | None = None) -> tuple[Wrapper, Path]:
    log = tmp_path / "run.log"
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        pid = spawn_wrapper(
            [sys.executable, "-c", code],
            tmp_path,
            env if env is not None else {"PATH": os.environ.get("PATH", "")},
            fd,
            tmp_path / EXIT_FILE,
        )
    finally:
        os.close(fd)
    return Wrapper(pid), log


def test_the_exit_status_is_recorded_and_the_environment_and_folder_are_the_runs(
    tmp_path: Path,
) -> None:
    code = "import os; print(os.environ['ONLY'], os.getcwd(), flush=True); raise SystemExit(3)"
    wrapper, log = _start(tmp_path, code, {"ONLY": "this"})
    assert LocalExecution(wrapper, tmp_path).wait(60) == 3
    assert read_exit_code(tmp_path) == 3
    assert log.read_text().split() == ["this", str(tmp_path)]


def test_it_leads_its_own_group_and_a_signal_reaches_the_script(tmp_path: Path) -> None:
    wrapper, _log = _start(tmp_path, "import time; print('up', flush=True); time.sleep(60)")
    try:
        assert os.getpgid(wrapper.pid) == wrapper.pid
        assert os.getsid(wrapper.pid) == wrapper.pid
        deadline = time.monotonic() + 30
        while "up" not in (tmp_path / "run.log").read_text() and time.monotonic() < deadline:
            time.sleep(0.02)
        execution = LocalExecution(wrapper, tmp_path)
        execution.terminate()  # SIGTERM to the group: the wrapper ignores it, the script not
        assert execution.wait(30) == -signal.SIGTERM
        assert read_exit_code(tmp_path) == -signal.SIGTERM
    finally:
        wrapper.signal_group(signal.SIGKILL)
        wrapper.wait(10)


def test_none_of_the_supervisors_descriptors_reach_the_wrapper_or_the_script(
    tmp_path: Path,
) -> None:
    held = os.open(tmp_path / "supervisor.lock", os.O_RDWR | os.O_CREAT, 0o644)
    os.set_inheritable(held, True)  # (as the supervisor's lock is: passed to it)
    try:
        code = "import os; print(sorted(int(f) for f in os.listdir('/proc/self/fd')))"
        wrapper, log = _start(tmp_path, code)
        assert wrapper.wait(60) == 0
        seen = log.read_text().strip()
        assert held not in eval(seen)  # (0-2 and the listing's own)
    finally:
        os.close(held)


def test_a_command_that_cannot_start_ends_127_with_why_in_the_log(tmp_path: Path) -> None:
    fd = os.open(tmp_path / "run.log", os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        pid = spawn_wrapper(
            ["no-such-program-here"], tmp_path, {"PATH": "/nonexistent"}, fd, tmp_path / EXIT_FILE
        )
    finally:
        os.close(fd)
    assert LocalExecution(Wrapper(pid), tmp_path).wait(30) == 127
    assert "could not start no-such-program-here" in (tmp_path / "run.log").read_text()
