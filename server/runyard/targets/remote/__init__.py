"""The programs the `ssh` target runs on the remote machine, as real modules.

Each module here is a small program that `runyard.targets.ssh` sends as the argument of
``python -c`` (stdin stays free for data), or, for `monitor`, writes into the run's
folder there and starts with ``python monitor.py``. They are read as text with
`importlib.resources` (`source`), never imported by the server: each does its work in
`main()`, behind ``if __name__ == "__main__"``.

They run on the remote host's own interpreter, which may be as old as Python 3.8 (the
ssh target's `MIN_PYTHON`) and have nothing but the standard library. So: standard
library only, no syntax or library call newer than 3.8 (annotations are fine, being
strings under ``from __future__ import annotations``), and nothing of runyard.
`tests/unit/test_ssh_remote_programs.py` parses each as Python 3.8 and checks its imports.
"""

from __future__ import annotations

from importlib import resources

PROGRAMS = (
    "probe",
    "build_env",
    "prune_envs",
    "prune_runs",
    "extract",
    "pack",
    "tbfiles",
    "monitor",
    "follow",
)


def source(name: str) -> str:
    """The text of the remote program `name` (one of `PROGRAMS`)."""
    if name not in PROGRAMS:
        raise ValueError(f"no remote program {name!r}")
    return resources.files(__name__).joinpath(f"{name}.py").read_text(encoding="utf-8")
