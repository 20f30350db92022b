"""`runyard submit`: run a script (or a module, or a job) as a tracked run.

A Jupyter notebook is submitted the same way (`runyard submit analysis.ipynb -p lr=0.1`):
what follows it are its parameters, `-p NAME=VALUE` (typed) or `-r NAME=VALUE` (text),
injected papermill-style (`runyard.tracking.notebooks`); the run executes it in a real
kernel and keeps the executed notebook in its outputs (`runner/notebook_runner.py`).

The run is submitted through `runyard.runner.runs.submit` (snapshot, queued run, its
supervisor), whose warnings (files that look like secrets going into the snapshot) are
printed to stderr. The run's id goes to stdout; the command then follows the run's log
until it ends and exits with the run's status (`--detach` returns at once). Ctrl-C
detaches: the run goes on under its supervisor.

`runyard runs rerun RUN` runs a run again (`runs.rerun`: its snapshot, command line and
settings, and the packages of its lock) and follows it the same way; `--check` then
compares the final metrics with the original's (`operations.check_rerun`) and exits 1
when they differ.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runyard.cli.common import follow_log, open_store, project_of, say_outcome
from runyard.cli.output import NO_VALUE, emit_json, fmt_value, info, table
from runyard.core.errors import UsageError
from runyard.core.project import Project
from runyard.core.store import Run, json_number
from runyard.runner import runs

if TYPE_CHECKING:
    from runyard.runner import operations


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `submit` to the CLI's subcommands."""
    s = sub.add_parser("submit", help="run a script as a tracked run")
    s.add_argument("--target", help="target name (default: the project's default target)")
    s.add_argument("--job", help="job name from .runyard/jobs/")
    s.add_argument("--experiment", help="experiment name (default: the script's name)")
    s.add_argument("--module", "-m", help="run a module instead of a script")
    s.add_argument("--detach", "-d", action="store_true", help="print the run id and return")
    s.add_argument(
        "script",
        nargs="?",
        help="the script or notebook (.ipynb), relative to the current folder",
    )
    s.add_argument(
        "args",
        nargs=argparse.REMAINDER,
        help="arguments for the script; for a notebook, its parameters: -p NAME=VALUE "
        "(typed: True/False, None, int, float, else text) or -r NAME=VALUE (text)",
    )
    s.set_defaults(func=cmd_submit)


def register_rerun(
    runs_actions: argparse._SubParsersAction[argparse.ArgumentParser],
) -> None:
    """Add `rerun` to the `runs` command's subcommands."""
    s = runs_actions.add_parser(
        "rerun", help="run a run again: its snapshot, command, settings and locked packages"
    )
    s.add_argument("id", metavar="RUN", help="run id (or a unique part of it)")
    s.add_argument("--target", help="another target (default: the run's own)")
    s.add_argument(
        "--check",
        action="store_true",
        help="wait for the rerun, compare its final metrics with the original's; "
        "exit 1 when they differ",
    )
    s.add_argument(
        "--tolerance",
        type=float,
        default=0.0,
        help="with --check: the largest difference still equal (default 0: bit-identical)",
    )
    s.add_argument(
        "--ignore",
        action="append",
        default=[],
        metavar="METRIC",
        help="with --check: a metric not to compare (repeatable; timings such as "
        "fit_seconds never are)",
    )
    s.add_argument("--detach", "-d", action="store_true", help="print the run id and return")
    s.add_argument("--json", action="store_true", help="with --check: the comparison as JSON")
    s.set_defaults(func=cmd_rerun)


def show_progress(message: str) -> None:
    """The progress of a rerun: its warnings and what it reuses go to stderr."""
    if message.startswith(runs.WARNING) or message.startswith("environment:"):
        info(message)


def show_warnings(message: str) -> None:
    """The progress of a submission, for `runs.submit`: its warnings go to stderr (the
    stages are not shown)."""
    if message.startswith(runs.WARNING):
        info(message)


# `submit`'s own options: after a notebook, they would be read as its parameters.
_OWN_OPTIONS = ("--target", "--job", "--experiment", "--module", "-m", "--detach", "-d")


def cmd_submit(args: argparse.Namespace) -> int:
    if args.script and runs.is_notebook(args.script):
        misplaced = [a for a in args.args if a.split("=", 1)[0] in _OWN_OPTIONS]
        if misplaced:
            raise UsageError(
                f"{misplaced[0]} comes after the notebook, where only its parameters go.",
                hint=f"put it before the notebook: runyard submit {misplaced[0]} ... "
                f"{args.script} -p NAME=VALUE",
            )
    project = project_of(args)
    req = runs.SubmitRequest(
        script=args.script,
        args=list(args.args),
        target=args.target,
        job=args.job,
        experiment=args.experiment,
        module=args.module,
        cwd=Path.cwd(),
    )
    run = runs.submit(project, req, show_warnings, fork=True)
    return _follow(project, run, args.detach)


def _follow(project: Project, run: Run, detach: bool, out: Any = None) -> int:
    """Say where the run went (its id on stdout, unless the log goes to `out`), then
    (unless `detach`) copy its log to `out` (stdout by default) until it ends; the exit
    status is the run's."""
    if out is None:
        print(run.id, flush=True)
    commit = (run.snapshot_commit or "")[:10]
    info(
        f"run {run.id} queued on target {run.target!r}, experiment {run.experiment!r}, "
        f"snapshot {commit}"
    )
    if detach:
        info(f"follow: runyard runs logs -f {run.id}    cancel: runyard runs cancel {run.id}")
        return 0
    store = open_store(project)
    try:
        final = follow_log(project, store, run.id, out or sys.stdout.buffer)
    except KeyboardInterrupt:
        info(
            f"\ndetached: run {run.id} goes on.\n"
            f"  follow: runyard runs logs -f {run.id}\n"
            f"  cancel: runyard runs cancel {run.id}"
        )
        return 130
    finally:
        store.close()
    say_outcome(final)
    return runs.exit_code_of(final)


def cmd_rerun(args: argparse.Namespace) -> int:
    from runyard.runner import operations

    if args.check and args.detach:
        raise UsageError("--check waits for the rerun; it cannot go with --detach.")
    if args.tolerance < 0 or not math.isfinite(args.tolerance):
        raise UsageError(f"--tolerance {args.tolerance}: give a finite number >= 0.")
    project = project_of(args)
    with open_store(project) as store:
        original_id = runs.get_run(project, store, args.id).id
        run = runs.rerun(project, store, original_id, args.target, show_progress)
    if args.check and args.json:  # the comparison alone goes to stdout
        with open(os.devnull, "wb") as sink:
            status = _follow(project, run, args.detach, out=sink)
    else:
        status = _follow(project, run, args.detach)
    if not args.check or status == 130:
        return status
    with open_store(project) as store:
        original = store.get_run(original_id)
        again = store.get_run(run.id)
    check = operations.check_rerun(original, again, args.tolerance, args.ignore)
    if args.json:
        emit_json(_check_json(check))
    else:
        print("\n".join(_check_lines(check)))
    return 0 if check.same else 1


def _check_json(check: operations.RerunCheck) -> dict[str, Any]:
    return {
        "original": check.original.id,
        "rerun": check.rerun.id,
        "status": [check.original.status, check.rerun.status],
        "same": check.same,
        "tolerance": check.tolerance,
        "largest_difference": check.largest_difference,
        "metrics": [
            {
                "key": m.key,
                "original": None if m.original is None else json_number(m.original),
                "rerun": None if m.rerun is None else json_number(m.rerun),
                "difference": m.difference,
                "equal": m.equal,
                "compared": m.compared,
            }
            for m in check.metrics
        ],
    }


def _check_lines(check: operations.RerunCheck) -> list[str]:
    rows = [
        [
            m.key,
            fmt_value(m.original),
            fmt_value(m.rerun),
            NO_VALUE if m.difference is None else f"{m.difference:.3g}",
            ("equal" if m.equal else "DIFFERENT") if m.compared else "not compared",
        ]
        for m in check.metrics
    ]
    lines = [
        f"original {check.original.id}, rerun {check.rerun.id}",
        table(["metric", "original", "rerun", "difference", ""], rows),
    ]
    within = "bit-identical" if check.tolerance == 0 else f"within {check.tolerance:g}"
    if check.rerun.status != "completed" or check.original.status != "completed":
        lines.append(
            f"not reproduced: the original {check.original.status}, the rerun {check.rerun.status}"
        )
    elif check.same:
        left = [m.key for m in check.metrics if not m.compared]
        but = f" ({', '.join(left)} not compared)" if left else ""
        lines.append(f"reproduced: every final metric is {within}{but}")
    else:
        differ = [m.key for m in check.metrics if m.compared and not m.equal]
        largest = check.largest_difference
        by = f" (largest difference {largest:.3g})" if largest is not None else ""
        lines.append(f"not reproduced: {', '.join(differ)} differ{'s' * (len(differ) == 1)}{by}")
    return lines
