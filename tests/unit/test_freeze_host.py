"""`runyard.core.freeze --host`: the host facts a run's environment reports, run as the
program it is (``python -I -c <source> --host``), with a stand-in nvidia-smi on PATH."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from pathlib import Path

from runyard.core import envs


def _host(path: str) -> dict[str, object]:
    source = envs.program_source("freeze")
    env = {**os.environ, "PATH": path}
    out = subprocess.run(
        [sys.executable, "-I", "-c", source, "--host"],
        env=env, capture_output=True, text=True, timeout=60, check=True,
    ).stdout  # fmt: skip
    doc: dict[str, object] = json.loads(out)
    return doc


def _fake_smi(folder: Path, body: str) -> str:
    folder.mkdir()
    smi = folder / "nvidia-smi"
    smi.write_text(f"#!/bin/sh\n{body}\n")
    smi.chmod(0o755)
    return f"{folder}{os.pathsep}{os.environ.get('PATH', '')}"


def test_the_gpus_are_the_names_nvidia_smi_lists(tmp_path: Path) -> None:
    path = _fake_smi(
        tmp_path / "bin",
        'test "$1 $2" = "--query-gpu=name --format=csv,noheader" || exit 9\n'
        "echo 'NVIDIA H100 80GB HBM3'\necho 'NVIDIA H100 80GB HBM3'",
    )
    host = _host(path)
    assert host["gpus"] == ["NVIDIA H100 80GB HBM3", "NVIDIA H100 80GB HBM3"]
    assert (host["os"], host["machine"]) == (platform.system(), platform.machine())
    assert host["release"] == platform.release()
    assert isinstance(host["cpus"], int) and host["cpus"] >= 1


def test_a_failing_or_missing_nvidia_smi_means_no_gpu(tmp_path: Path) -> None:
    path = _fake_smi(tmp_path / "bin", "echo 'NVIDIA-SMI has failed' >&2; exit 9")
    assert _host(path)["gpus"] == []
    empty = tmp_path / "empty"
    empty.mkdir()
    assert _host(str(empty))["gpus"] == []


def test_a_lock_carries_the_host_facts(tmp_path: Path) -> None:
    lock = envs.read_lock(sys.executable, None)
    assert lock.host is not None and lock.host.os == platform.system()
    assert lock.host.cpus == len(os.sched_getaffinity(0))
