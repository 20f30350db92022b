"""What the `runyard` subcommands share: finding the project and opening its store,
reading `KEY=VALUE` options, following a run's log and saying how a run ended.

The command modules (`targets`, `gallery`, `env`, `submit`, `runs`, `models`, `deploy`,
`tensorboard`) import these helpers from here and never from each other or from
`main`, so `main` can import every command module to build the parser without an
import circle. Human output (tables, numbers, times, `printable`) is in `output`.
"""

from __future__ import annotations

import argparse
import contextlib
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from runyard.cli.output import fmt_duration, info, printable
from runyard.core.errors import RunyardError, UsageError
from runyard.core.project import Project, find_project
from runyard.core.store import Run, Store, store_writable
from runyard.runner import runs

T = TypeVar("T")

STATUS_MARK = {
    "queued": "…",
    "preparing": "…",
    "running": "▶",
    "completed": "✓",
    "failed": "✗",
    "canceled": "■",
    "lost": "?",
}


def project_of(args: argparse.Namespace) -> Project:
    """The project `--project` names, else the one the current folder is in."""
    return find_project(Path(args.project) if getattr(args, "project", None) else None)


def open_store(project: Project) -> Store:
    return runs.open_store(project)


def reading_store(project: Project) -> Store:
    """The store for commands that only read it (runs list/show/metrics/restore): opened
    read-only when the state folder cannot be written (a read-only mount), so runs can
    still be listed and shown there."""
    if store_writable(project.store_path):
        return runs.open_store(project)
    return Store(project.store_path, read_only=True)


def reconcile(project: Project, store: Store) -> None:
    """Bring the runs' statuses up to date where that can be done (`runs.reconcile`);
    a read-only store, or one that fails to write, is left as it is."""
    if store.read_only:  # nothing can be brought up to date in a read-only store
        return
    with contextlib.suppress(RunyardError):  # a store that fails to write can still be listed
        runs.reconcile(project, store)


def parse_kv(items: Sequence[str] | None, what: str) -> dict[str, str]:
    """`KEY=VALUE` option values (`what` is the option, as in `--env`) as a dict."""
    out: dict[str, str] = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"{what} {item!r} is not KEY=VALUE.", hint=f"for example {what} A=1")
        out[key] = value
    return out


# A log is read this often (seconds) in its first seconds of following, so that a run's
# first line shows as soon as it is written, then every `tail(pause=...)`.
FIRST_PAUSE = 0.002
FIRST_SECONDS = 1.0


def tail(
    read: Callable[[int], tuple[bytes, int]],
    ended: Callable[[], T | None],
    out: Any,
    every: float,
    pause: float = 0.01,
    offset: int = 0,
) -> T:
    """Copy what `read(offset)` gives (bytes, the next offset) to `out` as it grows
    from `offset` (waiting `pause` seconds when there is nothing new, `FIRST_PAUSE` in
    the first `FIRST_SECONDS`, when a run just submitted prints its first line), asking
    `ended()` every `every` seconds; once that answers something, copy the rest and
    return it. The one follow loop of a run's log and a sweep's."""
    last_check = 0.0
    eager_until = time.monotonic() + FIRST_SECONDS
    while True:
        data, offset = read(offset)
        if data:
            out.write(data)
            out.flush()
        now = time.monotonic()
        if now - last_check >= every:
            last_check = now
            done = ended()
            if done is not None:
                data, offset = read(offset)
                if data:
                    out.write(data)
                    out.flush()
                return done
        if data:
            time.sleep(0.0)
        else:
            time.sleep(min(pause, FIRST_PAUSE) if now < eager_until else pause)


def follow_log(project: Project, store: Store, run_id: str, out: Any) -> Run:
    """Copy the run's log to `out` as it grows, until the run ends. Returns the run."""
    checks = 0

    def ended() -> Run | None:
        nonlocal checks
        checks += 1
        if checks % 5 == 0:
            runs.reconcile(project, store)
        run = store.get_run(run_id)
        return None if run.live else run

    return tail(lambda offset: runs.read_log(project, run_id, offset), ended, out, 0.2)


def say_outcome(run: Run) -> None:
    """One line on stderr: the run's status, duration and reason."""
    mark = STATUS_MARK.get(run.status, "")
    line = f"run {run.id} {mark} {run.status}"
    if run.duration is not None:
        line += f" in {fmt_duration(run.duration)}"
    if run.reason:
        line += f": {printable(run.reason)}"
    info(line)
