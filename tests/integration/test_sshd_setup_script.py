"""scripts/sshd-setup.sh reports success only for an sshd that takes its key (issue 15,
item 12): an sshd of its own on a free port, checked with a real `ssh -o BatchMode=yes`
login. Each test starts its own sshds in folders of its own (never the shared one the
other tests use) and stops them by their pid files."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import IN_CI

pytestmark = pytest.mark.integration

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "sshd-setup.sh"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _setup(folder: Path, port: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SCRIPT), str(folder), str(port)], capture_output=True, text=True, timeout=120
    )


def _logs_in(key: Path, port: int) -> bool:
    proc = subprocess.run(
        [
            "ssh", "-F", "/dev/null", "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
            "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
            "-o", "ConnectTimeout=10", "-i", str(key), "-p", str(port), "root@127.0.0.1", "true",
        ],
        stdin=subprocess.DEVNULL, capture_output=True, timeout=60,
    )  # fmt: skip
    return proc.returncode == 0


@pytest.fixture
def folders(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    if os.geteuid() != 0 or shutil.which("ssh") is None or not Path("/usr/sbin/sshd").exists():
        message = "root, ssh and /usr/sbin/sshd are needed to start sshds here"
        pytest.fail(message) if IN_CI else pytest.skip(message)
    first, second = tmp_path / "first", tmp_path / "second"
    yield first, second
    for folder in (first, second):
        try:
            pid = int((folder / "sshd.pid").read_text().strip())
        except (OSError, ValueError):
            continue
        os.kill(pid, signal.SIGTERM)  # the sshd this test started, by its own pid file


def test_an_sshd_on_the_port_that_refuses_the_key_is_not_reported_as_ready(
    folders: tuple[Path, Path],
) -> None:
    first, second = folders
    port = _free_port()
    started = _setup(first, port)
    assert started.returncode == 0, started.stderr
    assert (first / "port").read_text().strip() == str(port)
    assert _logs_in(first / "user_key", port)
    pid = (first / "sshd.pid").read_text()

    # Another folder's key, the same port: the sshd there refuses it
    other = _setup(second, port)
    assert other.returncode == 0, other.stderr
    assert f"127.0.0.1:{port} refuses the key {second / 'user_key'}" in other.stderr
    moved = int((second / "port").read_text())
    assert moved != port
    assert _logs_in(second / "user_key", moved)
    assert not _logs_in(second / "user_key", port)

    # Run again: the working sshd is kept, on its port
    again = _setup(first, port)
    assert again.returncode == 0, again.stderr
    assert (first / "port").read_text().strip() == str(port)
    assert (first / "sshd.pid").read_text() == pid
