"""`runyard submit`: run a script (or a module, or a job) as a tracked run.

The run is submitted through `runyard.runner.runs.submit` (snapshot, queued run, its
supervisor), whose warnings (files that look like secrets going into the snapshot) are
printed to stderr. The run's id goes to stdout; the command then follows the run's log
until it ends and exits with the run's status (`--detach` returns at once). Ctrl-C
detaches: the run goes on under its supervisor.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from runyard.cli.common import follow_log, open_store, project_of, say_outcome
from runyard.cli.output import info
from runyard.runner import runs


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `submit` to the CLI's subcommands."""
    s = sub.add_parser("submit", help="run a script as a tracked run")
    s.add_argument("--target", help="target name (default: the project's default target)")
    s.add_argument("--job", help="job name from .runyard/jobs/")
    s.add_argument("--experiment", help="experiment name (default: the script's name)")
    s.add_argument("--module", "-m", help="run a module instead of a script")
    s.add_argument("--detach", "-d", action="store_true", help="print the run id and return")
    s.add_argument("script", nargs="?", help="the script, relative to the current folder")
    s.add_argument("args", nargs=argparse.REMAINDER, help="arguments for the script")
    s.set_defaults(func=cmd_submit)


def show_warnings(message: str) -> None:
    """The progress of a submission, for `runs.submit`: its warnings go to stderr (the
    stages are not shown)."""
    if message.startswith(runs.WARNING):
        info(message)


def cmd_submit(args: argparse.Namespace) -> int:
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
    run = runs.submit(project, req, show_warnings)
    print(run.id, flush=True)
    commit = (run.snapshot_commit or "")[:10]
    info(
        f"run {run.id} queued on target {run.target!r}, experiment {run.experiment!r}, "
        f"snapshot {commit}"
    )
    if args.detach:
        info(f"follow: runyard runs logs -f {run.id}    cancel: runyard runs cancel {run.id}")
        return 0
    store = open_store(project)
    try:
        final = follow_log(project, store, run.id, sys.stdout.buffer)
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
