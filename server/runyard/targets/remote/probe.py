"""Prints what Runyard needs to know of the remote interpreter, as JSON: its version,
its executable, whether it can build virtual environments, where uv is (``uv``: the
interpreter's own `uv` package, else one on PATH or in the usual places it installs
to; null when there is none), and the workdir (argv[1], created 0700 when missing)
resolved, and whether it is writable."""

from __future__ import annotations

import importlib
import json
import os
import shutil
import sys
from typing import Any


def find_uv() -> str | None:
    try:  # (imported by name: an optional package, not the standard library)
        found = str(importlib.import_module("uv").find_uv_bin())
        if os.access(found, os.X_OK):
            return found
    except Exception:
        pass
    home = os.path.expanduser("~")
    for path in (
        shutil.which("uv"),
        os.path.join(home, ".local", "bin", "uv"),
        os.path.join(home, ".cargo", "bin", "uv"),
    ):
        if path and os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    return None


def main() -> None:
    wd = os.path.abspath(os.path.expanduser(sys.argv[1]))
    info: dict[str, Any] = {
        "version": list(sys.version_info[:3]),
        "executable": sys.executable,
        "workdir": wd,
    }
    try:
        import ensurepip  # noqa: F401
        import venv  # noqa: F401

        info["venv"] = True
    except ImportError:
        info["venv"] = False
    info["uv"] = find_uv()
    try:
        os.makedirs(wd, mode=0o700, exist_ok=True)
        info["writable"] = os.access(wd, os.W_OK)
    except OSError as exc:
        info["writable"] = False
        info["workdir_error"] = str(exc)
    print(json.dumps(info))


if __name__ == "__main__":
    main()
