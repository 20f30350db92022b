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
"""

from __future__ import annotations

import json
import platform
import re
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


def main() -> None:
    doc: dict[str, object] = {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "packages": sorted(installed().items()),
    }
    args = sys.argv[1:]
    if len(args) == 2 and args[0] == "--installer":
        doc["installer"] = args[1]
    print(json.dumps(doc))


if __name__ == "__main__":
    main()
