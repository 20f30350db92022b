"""The `runyard` command line: a thin face over `runyard.runner` and `runyard.core`.

This module is the entry point (the `runyard` console script is `main`): it builds the
argparse tree from the command modules' `register` functions and dispatches to the
chosen command's `func`. The commands live by noun: `targets` (init, target, jobs),
`gallery` (gallery, new), `env`, `submit`, `runs`, `models`, `deploy`, `tensorboard`,
`sweeps` (sweep), `store` and `importers` (import); what they share is in `common`,
human output in `output`. Command modules never import `main` or each other.

Only the module of the command given is imported (`build_parser(command)`; `COMMANDS`
says which module registers which command): `runyard submit` starts without the model,
deployment, gallery or TensorBoard commands. Anything else (`--help`, no command, an
unknown one, an abbreviated global option) builds the whole tree, as before.

Errors a user can hit (`RunyardError`) are printed as one message with its hint and
leave with the error's exit code; anything else is reported as an internal error, with
the traceback only when `RUNYARD_DEBUG` is set.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from runyard.core.errors import RunyardError

# Each command word and the group of commands registered with it (see `_register`).
COMMANDS = {
    "tensorboard": "tensorboard",
    "model": "models",
    "deploy": "models",
    "deployment": "models",
    "init": "targets",
    "target": "targets",
    "gallery": "gallery",
    "new": "gallery",
    "env": "env",
    "jobs": "jobs",
    "submit": "submit",
    "runs": "runs",
    "sweep": "sweeps",
    "store": "store",
    "import": "importers",
}
_GROUPS = (
    "tensorboard",
    "models",
    "targets",
    "gallery",
    "env",
    "jobs",
    "submit",
    "runs",
    "sweeps",
    "store",
    "importers",
)


def _register(group: str, sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add one group of commands, importing only its modules."""

    def cli(name: str) -> object:
        return importlib.import_module(f"runyard.cli.{name}")

    if group == "models":
        cli("deploy").register(sub, cli("models").register(sub))  # type: ignore[attr-defined]
    elif group == "jobs":
        cli("targets").register_jobs(sub)  # type: ignore[attr-defined]
    elif group == "runs":
        cli("submit").register_rerun(cli("runs").register(sub))  # type: ignore[attr-defined]
    else:
        cli(group).register(sub)  # type: ignore[attr-defined]


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The argument parser: the whole tree, or only `command`'s part of it."""
    p = argparse.ArgumentParser(
        prog="runyard",
        description="Run scripts as tracked runs with exact code snapshots, live logs and metrics.",
    )
    p.add_argument("--project", help="project folder (default: found from the current folder)")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    groups = _GROUPS if command not in COMMANDS else (COMMANDS[command],)
    for group in groups:
        _register(group, sub)
    return p


_PARSERS: dict[str | None, argparse.ArgumentParser] = {}


def parser_for(command: str | None) -> argparse.ArgumentParser:
    """`build_parser(command)`, built once per process: the submit server (`quick`)
    builds the submit command's before it forks a child per submit."""
    if command not in _PARSERS:
        _PARSERS[command] = build_parser(command)
    return _PARSERS[command]


def command_word(argv: Sequence[str]) -> str | None:
    """The command `argv` names, when it can be told without parsing (None otherwise)."""
    args = iter(argv)
    for arg in args:
        if arg == "--project":
            next(args, None)
        elif arg.startswith("--project="):
            continue
        elif arg.startswith("-"):
            return None  # --help, or an option only the whole parser knows
        else:
            return arg
    return None


def main(argv: Sequence[str] | None = None) -> int:
    words = sys.argv[1:] if argv is None else argv
    parser = parser_for(command_word(words))
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
            import traceback  # (here: only a failure prints one)

            traceback.print_exc()
        sys.stderr.write(
            f"runyard: internal error: {type(exc).__name__}: {exc}\n"
            "  set RUNYARD_DEBUG=1 to see where it happened, and please report it\n"
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
