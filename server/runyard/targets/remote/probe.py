"""Prints what Runyard needs to know of the remote interpreter, as JSON: its version,
its executable, whether it can build virtual environments, and the workdir (argv[1],
created 0700 when missing) resolved, and whether it is writable."""

from __future__ import annotations

import json
import os
import sys
from typing import Any


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
    try:
        os.makedirs(wd, mode=0o700, exist_ok=True)
        info["writable"] = os.access(wd, os.W_OK)
    except OSError as exc:
        info["writable"] = False
        info["workdir_error"] = str(exc)
    print(json.dumps(info))


if __name__ == "__main__":
    main()
