"""The language server's warm start (`runyard.lsp.warm`): a plain start leaves a warm
server behind, and the next start in the same environment is forked from it, in the
caller's folder and environment, answering as a plain server does. It ends with its
caller, steps aside for another environment and for changed Runyard code, and leaves
once idle. Real servers over real stdio (`raw_lsp`).

The rest of the suite runs with `RUNYARD_SERVER_WARM=0` (tests/conftest.py)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import until
from tests.integration.raw_lsp import RawServer

pytestmark = pytest.mark.integration

SERVER_ROOT = Path(__file__).resolve().parents[2] / "server"


@pytest.fixture
def warm_env() -> Iterator[dict[str, str]]:
    """An environment with warm starts on, their sockets in a folder of this test's own
    (short: a socket's path has a length limit); what was started in it is ended."""
    runtime = Path(tempfile.mkdtemp(prefix="ry-"))
    env = {k: v for k, v in os.environ.items() if k != "RUNYARD_SERVER_WARM"}
    env["XDG_RUNTIME_DIR"] = str(runtime)
    env["RUNYARD_SERVER_WARM_IDLE"] = "60"
    yield env
    for log in runtime.glob("runyard-*/lsp-*.sock.log"):
        for pid in _pids(log):
            if _is_warm(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
    shutil.rmtree(runtime, ignore_errors=True)


def _pids(log: Path) -> list[int]:
    """The warm server's pid, then those of the servers it forked."""
    return [int(line.split()[-1] if line.startswith("server ") else line.split()[0])
            for line in log.read_text().splitlines() if line.strip()]  # fmt: skip


def _running(pid: int) -> bool:
    """Whether `pid` runs (a zombie does not: a process that left and is not reaped yet)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def _is_warm(pid: int) -> bool:
    try:
        return b"runyard.lsp.warm" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def _folder(env: dict[str, str]) -> Path:
    return Path(env["XDG_RUNTIME_DIR"]) / f"runyard-{os.getuid()}"


def _logs(env: dict[str, str]) -> list[Path]:
    return sorted(_folder(env).glob("lsp-*.sock.log"))


def _socket(env: dict[str, str]) -> Path:
    found: Path = until(
        lambda: next(_folder(env).glob("lsp-*.sock"), None), 30, "the warm server listening"
    )
    return found


def _served(env: dict[str, str]) -> list[int]:
    return [pid for log in _logs(env) for pid in _pids(log)[1:]]


@contextlib.asynccontextmanager
async def _server(
    project: Path, log: Path, env: dict[str, str]
) -> AsyncIterator[tuple[RawServer, dict[str, Any]]]:
    raw = RawServer(project, log, env=env)
    init = await raw.start()
    try:
        yield raw, init
    finally:
        await raw.stop()


async def test_the_next_server_is_forked_from_the_warm_server_and_answers_as_a_plain_one(
    project: Path, tmp_path: Path, warm_env: dict[str, str]
) -> None:
    (project / "mark.py").write_text(
        "import os\nprint('window:', os.environ.get('VSCODE_WINDOW_MARK'))\n"
    )
    async with _server(project, tmp_path / "plain.log", warm_env) as (plain, plain_init):
        plain_targets = await plain.request("runyard/targets/list", {})
        _socket(warm_env)
        assert _served(warm_env) == []
        # what an editor sets per window does not count
        env = {**warm_env, "VSCODE_PID": "4242", "VSCODE_WINDOW_MARK": "second"}
        async with _server(project, tmp_path / "warm.log", env) as (warm, warm_init):
            [child] = _served(warm_env)
            assert warm.proc is not None and child != warm.proc.pid
            assert warm_init["result"] == plain_init["result"]
            assert await warm.request("runyard/targets/list", {}) == plain_targets
            # the caller's folder and environment, not the warm server's: a run it
            # starts sees this window's variables
            assert Path(f"/proc/{child}/cwd").resolve() == project.resolve()
            run = await warm.request("runyard/runs/submit", {"script": "mark.py"})
            run_id = run["result"]["id"]
            for _ in range(600):
                got = await warm.request("runyard/runs/logs", {"runId": run_id})
                if got["result"]["complete"]:
                    break
                await asyncio.sleep(0.1)
            assert "window: second" in got["result"]["text"], got
        assert warm.proc is not None and warm.proc.returncode == 0
        until(lambda: not _running(child), 15, "the forked server to end")
        assert "Traceback" not in warm.stderr_tail()


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM])
async def test_the_forked_server_ends_with_the_process_the_editor_started(
    project: Path, tmp_path: Path, warm_env: dict[str, str], how: signal.Signals
) -> None:
    async with _server(project, tmp_path / "plain.log", warm_env):
        _socket(warm_env)
        raw = RawServer(project, tmp_path / "warm.log", env=warm_env)
        await raw.start()
        [child] = _served(warm_env)
        assert raw.proc is not None
        raw.proc.send_signal(how)
        await raw.proc.wait()
        until(lambda: not _running(child), 15, "the forked server to end")
        await raw.stop()


async def test_another_environment_and_changed_code_start_plainly(
    project: Path, tmp_path: Path, warm_env: dict[str, str]
) -> None:
    copy = tmp_path / "server"
    shutil.copytree(
        SERVER_ROOT / "runyard", copy / "runyard", ignore=shutil.ignore_patterns("__pycache__")
    )
    env = {**warm_env, "PYTHONPATH": str(copy)}
    async with _server(project, tmp_path / "plain.log", env):
        socket = _socket(env)
        first = _pids(Path(f"{socket}.log"))[0]
        async with _server(project, tmp_path / "other.log", {**env, "OTHER": "1"}):
            assert _served(env) == []  # another environment: its own plain start
        changed = copy / "runyard" / "lsp" / "features" / "__init__.py"
        os.utime(changed, ns=(time.time_ns(), time.time_ns() + 10**9))
        async with _server(project, tmp_path / "changed.log", env) as (again, init):
            assert "capabilities" in init["result"]
            assert await again.request("runyard/targets/list", {})
        assert _served(env) == []  # declined: it started plainly
        # it leaves, and the plain server that started it (still running) reaps it
        until(lambda: not Path(f"/proc/{first}").exists(), 15, "the stale warm server reaped")


async def test_the_warm_server_stays_while_its_servers_run_then_leaves_when_idle(
    project: Path, tmp_path: Path, warm_env: dict[str, str]
) -> None:
    env = {**warm_env, "RUNYARD_SERVER_WARM_IDLE": "4"}
    async with _server(project, tmp_path / "plain.log", env):
        socket = _socket(env)
    async with _server(project, tmp_path / "warm.log", env) as (warm, _):
        assert len(_served(env)) == 1
        time.sleep(6)
        assert socket.exists(), "the warm server left while a server it forked ran"
        assert await warm.request("runyard/targets/list", {})
    until(lambda: not socket.exists(), 30, "the idle warm server to leave")


async def test_no_warm_server_when_turned_off(
    project: Path, tmp_path: Path, warm_env: dict[str, str]
) -> None:
    env = {**warm_env, "RUNYARD_SERVER_WARM": "0"}
    async with _server(project, tmp_path / "plain.log", env):
        time.sleep(6)  # past the warm server's delay and imports
        assert _logs(env) == []
