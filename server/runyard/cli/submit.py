"""`runyard submit`: run a script (or a module, or a job) as a tracked run.

The run is submitted through `runyard.runner.runs.submit` (snapshot, queued run, its
supervisor); its id goes to stdout, and the command then follows the run's log until
it ends and exits with the run's status (`--detach` returns at once). Ctrl-C detaches:
the run goes on under its supervisor.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from runyard.cli.common import follow_log, open_store, project_of, say_outcome
from runyard.cli.output import info, printable
from runyard.core.errors import RunyardError
from runyard.core.project import Project
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


def _warn_untracked_secrets(project: Project) -> None:
    """Say which files that look like secrets (.env, id_rsa, *.pem, *.key, credentials)
    the snapshot is about to take although git neither tracks nor ignores them."""
    from runyard.core import snapshot

    try:
        found = snapshot.untracked_secret_files(project)
    except (RunyardError, OSError):
        return  # the snapshot itself reports what is wrong with the repository
    if not found:
        return
    shown = ", ".join(printable(p) for p in found[:10])
    more = f" and {len(found) - 10} more" if len(found) > 10 else ""
    one = len(found) == 1
    info(
        f"warning: {shown}{more} {'looks like a secret' if one else 'look like secrets'}, "
        f"and git neither tracks nor ignores {'it' if one else 'them'}: "
        f"{'it goes' if one else 'they go'} into this run's snapshot (kept in the project's "
        "git objects) and to the target.\n"
        f"  to leave {'it' if one else 'them'} out, add {'it' if one else 'them'} to "
        f"{snapshot.RUNYARDIGNORE} (gitignore syntax), e.g. `{printable(found[0])}`"
    )


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
    _warn_untracked_secrets(project)
    run = runs.submit(project, req)
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
