"""The `runyard` command line: a thin face over `runyard.runner` and `runyard.core`.

This module is the entry point (the `runyard` console script is `main`): it builds the
argparse tree from the command modules' `register` functions and dispatches to the
chosen command's `func`. The commands live by noun: `targets` (init, target, jobs),
`gallery` (gallery, new), `env`, `submit`, `runs`, `models`, `deploy` and
`tensorboard`; what they share is in `common`, human output in `output`. Command
modules never import `main` or each other.

Errors a user can hit (`RunyardError`) are printed as one message with its hint and
leave with the error's exit code; anything else is reported as an internal error, with
the traceback only when `RUNYARD_DEBUG` is set.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Sequence

from runyard.cli import deploy, env, gallery, models, runs, submit, targets, tensorboard
from runyard.core.errors import RunyardError


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="runyard",
        description="Run scripts as tracked runs with exact code snapshots, live logs and metrics.",
    )
    p.add_argument("--project", help="project folder (default: found from the current folder)")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    tensorboard.register(sub)
    deploy.register(sub, models.register(sub))
    sub.required = True
    targets.register(sub)
    gallery.register(sub)
    env.register(sub)
    targets.register_jobs(sub)
    submit.register(sub)
    submit.register_rerun(runs.register(sub))
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except RunyardError as exc:
        sys.stderr.write(f"runyard: error: {exc}\n")
        return exc.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("runyard: interrupted\n")
        return 130
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as exc:
        if os.environ.get("RUNYARD_DEBUG"):
            traceback.print_exc()
        sys.stderr.write(
            f"runyard: internal error: {type(exc).__name__}: {exc}\n"
            "  set RUNYARD_DEBUG=1 to see where it happened, and please report it\n"
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
