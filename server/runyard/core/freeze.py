"""Prints what an interpreter has installed, as JSON: its version and every distribution
it can import (``name`` and ``version``), the exact resolved set a run's lock records.

Run by the environment's own interpreter, isolated (``python -I``) so that no variable
of Runyard's or the user's adds a folder: on this machine (local runs), in a Docker
image as it is built (``/opt/runyard/lock.json``) and on an ``ssh`` target's machine.
So: standard library only, Python 3.8 syntax (annotations are strings here).

Names are normalized as the package index does (PEP 503: lowercase, runs of ``-``,
``_`` and ``.`` become one ``-``). When two copies of one distribution are on the
path (a virtual environment with the system's site-packages), the one found first is
the one that imports, and the one recorded. ``--installer NAME`` adds who built the
environment (``uv`` or ``pip``) to the document.

Host facts (``host``): the machine the interpreter runs on, as this process sees it, so
that in a container they are the container's (its OS distribution, the CPUs and GPUs
it was given) and on an ``ssh`` target the remote machine's: ``os`` and ``release``
(``platform.system()``/``release()``), ``distro`` (``/etc/os-release``'s PRETTY_NAME,
macOS's version), ``machine``, ``cpu`` (the model: ``/proc/cpuinfo``, macOS's sysctl,
else ``platform.processor()``), ``cpus`` (those this process may use: its affinity,
capped by a cgroup CPU quota) and ``gpus`` (the names ``nvidia-smi`` lists; empty when
there is no nvidia-smi or it fails: a machine without NVIDIA GPUs). A fact it cannot
read is null, never a guess. ``--host`` prints only these facts (a Docker run measures
them in its own container as it starts: `runyard.targets.docker`).

``--paths`` adds ``paths``: each place the distributions were looked for in (the
interpreter's absolute path entries) and the interpreter itself, each with its `stamp`,
taken before they are listed: of a folder, a digest of the names of the metadata in it
(``*.dist-info``, ``*.egg-info``, ``*.pth``...: installing, upgrading or removing a
distribution changes them; bytecode written there does not), of a file its modification
time, null when it is not there. The same stamps later say the same distributions are
there (`runyard.core.envs.cached_lock`).
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import subprocess
import sys


def installed() -> dict[str, str]:
    """normalized name -> version of every distribution on sys.path, first found first."""
    from importlib import metadata

    found: dict[str, str] = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if not name or not dist.version:
            continue
        found.setdefault(re.sub(r"[-_.]+", "-", name).lower(), dist.version)
    return found


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def _command(argv: list[str]) -> str | None:
    """What `argv` prints, stripped; None when it is missing, fails or hangs."""
    if shutil.which(argv[0]) is None:
        return None
    try:
        done = subprocess.run(
            argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=15, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:
        return None
    return done.stdout.decode("utf-8", "replace").strip()


def _distro() -> str | None:
    if sys.platform == "darwin":
        version = platform.mac_ver()[0]
        return f"macOS {version}" if version else None
    if sys.platform == "win32":
        return platform.version() or None
    for line in _read("/etc/os-release").splitlines():
        if line.startswith("PRETTY_NAME="):
            return line.split("=", 1)[1].strip().strip("\"'") or None
    return None


def _cpu_model() -> str | None:
    if sys.platform == "darwin":
        return _command(["sysctl", "-n", "machdep.cpu.brand_string"]) or None
    for line in _read("/proc/cpuinfo").splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("model name", "Model", "Hardware", "cpu model") and value.strip():
            return " ".join(value.split())
    return platform.processor() or None


def _cpu_count() -> int | None:
    """The CPUs this process may use: its affinity, capped by a cgroup quota (a
    container started with --cpus)."""
    try:
        count = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        count = os.cpu_count() or 0
    quota = _read("/sys/fs/cgroup/cpu.max").split()  # cgroup v2: "max 100000" or "200000 100000"
    if len(quota) == 2 and quota[0] != "max":
        try:
            limit = -(-int(quota[0]) // int(quota[1]))  # rounded up
        except (ValueError, ZeroDivisionError):
            limit = 0
        if limit > 0:
            count = min(count, limit) if count else limit
    return count or None


def _gpus() -> list[str]:
    out = _command(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"])
    return [line.strip() for line in (out or "").splitlines() if line.strip()]


def host() -> dict[str, object]:
    """The host facts (see the module docstring)."""
    return {
        "os": platform.system() or None,
        "release": platform.release() or None,
        "distro": _distro(),
        "machine": platform.machine() or None,
        "cpu": _cpu_model(),
        "cpus": _cpu_count(),
        "gpus": _gpus(),
    }


METADATA = (".dist-info", ".egg-info", ".egg-link", ".egg", ".pth")  # what says what is there


def stamp(path: str) -> str | None:
    """What tells whether the distributions found in `path` changed (see the module
    docstring); None when there is nothing there."""
    try:
        names = sorted(n for n in os.listdir(path) if n.endswith(METADATA))
    except NotADirectoryError:
        try:
            return f"file {os.stat(path).st_mtime_ns}"
        except OSError:
            return None
    except OSError:
        return None
    import hashlib

    return hashlib.sha256("\n".join(names).encode("utf-8", "surrogateescape")).hexdigest()


def paths() -> dict[str, str | None]:
    """Where the distributions are looked for, and the interpreter (see the module
    docstring): path -> its `stamp`."""
    found: dict[str, str | None] = {}
    for entry in [*sys.path, os.path.realpath(sys.executable)]:
        if entry and os.path.isabs(entry):
            found[entry] = stamp(entry)
    return found


def main() -> None:
    args = sys.argv[1:]
    if args == ["--host"]:
        print(json.dumps(host()))
        return
    stamps = paths() if "--paths" in args else None  # (before the listing: see above)
    doc: dict[str, object] = {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "packages": sorted(installed().items()),
        "host": host(),
    }
    if "--installer" in args[:-1]:
        doc["installer"] = args[args.index("--installer") + 1]
    if stamps is not None:
        doc["paths"] = stamps
    print(json.dumps(doc))


if __name__ == "__main__":
    main()
