"""Removes the folders of ended runs (ids in argv[2], a JSON list) under `runs`
(argv[1]) whose monitor and script are no longer alive (a `lost` run may still be
going there); prints the removed ids as JSON."""

from __future__ import annotations

import json
import os
import shutil
import sys


def alive(folder: str, name: str) -> bool:
    try:
        with open(os.path.join(folder, name)) as f:
            os.kill(int(f.read().strip()), 0)
        return True
    except (OSError, ValueError):
        return False


def main() -> None:
    runs, ids = sys.argv[1], json.loads(sys.argv[2])
    removed = []
    for run_id in ids:
        folder = os.path.join(runs, run_id)
        if os.path.isdir(folder) and not alive(folder, "monitor.pid") and not alive(folder, "pid"):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(run_id)
    print(json.dumps(removed))


if __name__ == "__main__":
    main()
