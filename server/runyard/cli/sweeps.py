"""`runyard sweep ...`: start, list, show, cancel and resume sweeps.

`sweep start NAME` checks `.runyard/sweeps/NAME.yml` with what it names (every problem
with its file, line and field, before any run starts), starts the sweep's supervisor
(`runner.sweeps.start_sweep`) and prints the sweep's id on stdout; then, unless
`--detach`, it follows the sweep's log (one line per trial start and end, and the
supervisor's notes) until the sweep ends, and exits with its status (0 completed, 130
canceled, 1 otherwise). Ctrl-C detaches: the sweep goes on under its supervisor.
`sweep resume ID` follows the same way.

`sweep show ID` is the sweep and a table of its trials, best first (`sort_trials`):
trial, run, status, each parameter, the objective; `sweep list` one line per sweep.
Both take `--json` (the views' `to_json`). `sweep cancel ID` cancels the live trials and
stops the sweep, and waits for it to end (`--no-wait` returns at once).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from runyard.cli.common import open_store, project_of, reading_store, tail
from runyard.cli.output import NO_VALUE, emit_json, fmt_time, fmt_value, info, printable, table
from runyard.core.config import param_argument
from runyard.core.project import Project
from runyard.runner import runs
from runyard.runner import sweeps as sweeps_api
from runyard.runner.sweeps import SweepView, TrialView

_MARK = {
    "completed": "✓",
    "running": "▶",
    "queued": "…",
    "preparing": "…",
    "starting": "…",
    "pruned": "✂",
    "failed": "✗",
    "canceled": "■",
    "lost": "?",
    "interrupted": "?",
}
_EXIT = {"completed": 0, "canceled": 130}


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `sweep` and its subcommands to the CLI's subcommands."""
    p = sub.add_parser("sweep", help="search a parameter space: many runs of a job")
    actions = p.add_subparsers(dest="sweep_command", metavar="ACTION")
    actions.required = True

    s = actions.add_parser("start", help="start the sweep .runyard/sweeps/NAME.yml")
    s.add_argument("name", metavar="NAME", help="the sweep file's name, without .yml")
    s.add_argument("--detach", "-d", action="store_true", help="print the sweep id and return")
    s.set_defaults(func=cmd_start)

    s = actions.add_parser("list", help="the sweeps, newest first")
    s.add_argument("--json", action="store_true", help="as JSON")
    s.set_defaults(func=cmd_list)

    s = actions.add_parser("show", help="a sweep and its trials, best first")
    s.add_argument("id", metavar="ID", help="sweep id (or a unique part of it)")
    s.add_argument("--json", action="store_true", help="as JSON")
    s.set_defaults(func=cmd_show)

    s = actions.add_parser("cancel", help="cancel a sweep's live trials and stop it")
    s.add_argument("id", metavar="ID", help="sweep id (or a unique part of it)")
    s.add_argument("--no-wait", action="store_true", help="return without waiting for the end")
    s.set_defaults(func=cmd_cancel)

    s = actions.add_parser(
        "resume", help="carry on a sweep whose supervisor stopped (finished trials are kept)"
    )
    s.add_argument("id", metavar="ID", help="sweep id (or a unique part of it)")
    s.add_argument("--detach", "-d", action="store_true", help="return once it goes on")
    s.set_defaults(func=cmd_resume)


def _progress(message: str) -> None:
    if message.startswith(runs.WARNING):
        info(message)


def cmd_start(args: argparse.Namespace) -> int:
    project = project_of(args)
    sweep_id = sweeps_api.start_sweep(project, args.name, _progress)
    print(sweep_id, flush=True)
    return _follow(project, sweep_id, args.detach)


def cmd_resume(args: argparse.Namespace) -> int:
    project = project_of(args)
    sweep_id = sweeps_api.resolve_sweep_id(project, args.id)
    _, offset = sweeps_api.read_log(project, sweep_id)  # what came before is in `sweep show`
    with open_store(project) as store:
        sweeps_api.resume_sweep(project, store, sweep_id)
    print(sweep_id, flush=True)
    return _follow(project, sweep_id, args.detach, offset)


def _follow(project: Project, sweep_id: str, detach: bool, offset: int = 0) -> int:
    """Copy the sweep's log from `offset` to stdout until the sweep ends; its status as
    an exit status."""
    hints = f"  show: runyard sweep show {sweep_id}\n  cancel: runyard sweep cancel {sweep_id}"
    if detach:
        info(f"sweep {sweep_id} runs under its own supervisor\n{hints}")
        return 0
    try:
        with open_store(project) as store:

            def ended() -> SweepView | None:
                now = sweeps_api.get_sweep(project, store, sweep_id)
                return None if now.status in ("starting", "running") else now

            view = tail(
                lambda at: sweeps_api.read_log(project, sweep_id, at),
                ended,
                sys.stdout.buffer,
                every=0.25,
                pause=0.05,
                offset=offset,
            )
    except KeyboardInterrupt:
        info(f"\ndetached: sweep {sweep_id} goes on.\n{hints}")
        return 130
    _say_outcome(view)
    return _EXIT.get(view.status, 1)


def _objective(view: SweepView, trial: TrialView | None) -> str:
    if trial is None:
        return NO_VALUE
    if trial.value is not None:
        return fmt_value(trial.value)
    if trial.latest is not None:
        return f"({fmt_value(trial.latest)})"
    return NO_VALUE


def _say_outcome(view: SweepView) -> None:
    counts = ", ".join(f"{n} {s}" for s, n in sorted(view.counts().items())) or "no trials"
    line = f"sweep {view.id} {_MARK.get(view.status, '')} {view.status}: {counts}"
    best = view.best
    if best is not None:
        line += f"; best trial {best.number}, {view.metric}={_objective(view, best)}"
    if view.reason and view.status != "completed":
        line += f" ({printable(view.reason)})"
    info(line)


def cmd_list(args: argparse.Namespace) -> int:
    project = project_of(args)
    with reading_store(project) as store:
        views = sweeps_api.list_sweeps(project, store)
    if args.json:
        emit_json([v.to_json(trials=False) for v in views])
        return 0
    if not views:
        info("no sweeps yet: add .runyard/sweeps/<name>.yml, then runyard sweep start <name>")
        return 0
    rows = []
    for v in views:
        done = sum(n for s, n in v.counts().items() if s not in ("queued", "preparing", "running"))
        best = v.best
        rows.append(
            (
                v.id,
                v.name,
                f"{_MARK.get(v.status, '')} {v.status}",
                f"{done}/{v.max_trials}",
                f"{v.metric}={_objective(v, best)}" if best else NO_VALUE,
                fmt_time(v.created),
            )
        )
    print(table(["id", "name", "status", "trials", "best", "started"], rows))
    return 0


def _params_cell(value: Any) -> str:
    """A parameter in the table: a float shortened (`sweep show --json` has it exact)."""
    if value is None:
        return NO_VALUE
    if isinstance(value, float):
        return fmt_value(value)
    return param_argument(value)


def cmd_show(args: argparse.Namespace) -> int:
    project = project_of(args)
    with reading_store(project) as store:
        view = sweeps_api.get_sweep(project, store, args.id)
    if args.json:
        emit_json(view.to_json())
        return 0
    stop = "" if view.early_stopping == "none" else f", early stopping {view.early_stopping}"
    spread = ", ".join(f"{n} on {t}" for t, n in view.parallel.items())
    lines = [
        f"sweep {view.id} ({view.name}): {_MARK.get(view.status, '')} {view.status}"
        + (f": {printable(view.reason)}" if view.reason else ""),
        f"  {view.sampler} sampler, {view.direction} {view.metric}, {view.max_trials} trials, "
        f"{spread} at a time{stop}",
        f"  started {fmt_time(view.created)}"
        + (f", ended {fmt_time(view.ended)}" if view.ended else "")
        + (f", snapshot {view.snapshot_commit[:10]}" if view.snapshot_commit else ""),
    ]
    lines += [f"  note: {printable(n)}" for n in view.notes]
    print("\n".join(lines))
    if not view.trials:
        info("no trials yet")
        return 0
    names: list[str] = []
    for trial in view.trials:
        names += [k for k in trial.params if k not in names]
    rows = [
        (
            t.number,
            t.run_id or NO_VALUE,
            f"{_MARK.get(t.status, '')} {t.status}",
            *(_params_cell(t.params.get(k)) for k in names),
            _objective(view, t),
        )
        for t in view.trials
    ]
    print()
    print(table(["trial", "run", "status", *names, view.metric], rows))
    why = [t for t in view.trials if t.reason and t.status not in ("completed",)]
    for t in sorted(why, key=lambda t: t.number):
        print(f"  trial {t.number}: {printable(t.reason or '')}")
    return 0


def cmd_cancel(args: argparse.Namespace) -> int:
    project = project_of(args)
    with open_store(project) as store:
        sweep_id = sweeps_api.resolve_sweep_id(project, args.id)
        if not sweeps_api.cancel_sweep(project, store, sweep_id):
            status = sweeps_api.get_sweep(project, store, sweep_id).status
            info(f"sweep {sweep_id} already ended ({status}); nothing to cancel")
            return 0
        info(f"canceling sweep {sweep_id} and its live trials…")
        if args.no_wait:
            return 0
        status = sweeps_api.wait_sweep(project, store, sweep_id, timeout=120)
        view = sweeps_api.get_sweep(project, store, sweep_id)
    _say_outcome(view)
    return 0 if status in ("canceled", "completed", "failed") else 1
