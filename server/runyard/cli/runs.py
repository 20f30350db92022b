"""`runyard runs ...`: list, show, follow, wait for, cancel, compare, restore and diff
runs.

Commands that only read (list, show, metrics, restore) open the store read-only when
the state folder cannot be written (`common.reading_store`), so runs can still be
looked at on a read-only mount; the others bring live runs' statuses up to date first.
Text that came from a run is printed through `printable`; `--json` keeps it exact.
Details, compare, restore and diff come from `runyard.runner.operations`, where their
rules live (what differs in a compare, and the best run); this module parses the
arguments and renders the operations' dataclasses as text or `--json`. `runs compare`
heads its columns with the run ids as they are.
"""

from __future__ import annotations

import argparse
import sys
import textwrap
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from runyard.cli.common import (
    STATUS_MARK,
    follow_log,
    open_store,
    project_of,
    reading_store,
    reconcile,
    say_outcome,
)
from runyard.cli.output import (
    NO_VALUE,
    emit_json,
    fmt_duration,
    fmt_time,
    fmt_value,
    info,
    printable,
    table,
)
from runyard.core.errors import UsageError
from runyard.core.project import Project
from runyard.core.store import STATUSES, Run, RunLock, Store, json_number
from runyard.core.store.identity import user_filter
from runyard.runner import operations, runs

# The tag a Spark run carries when its lock is the driver's only, or missing, and why
# (`runyard.targets.spark.LOCK_TAG`; that module is not imported for one name).
SPARK_LOCK_TAG = "spark.lock"


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
) -> argparse._SubParsersAction[argparse.ArgumentParser]:
    """Add `runs` to the CLI's subcommands; its subcommands, for other modules to add to
    (`runyard runs rerun`)."""
    r = sub.add_parser("runs", help="list and inspect runs").add_subparsers(
        dest="sub", metavar="ACTION"
    )
    r.required = True
    s = r.add_parser("list", help="list runs, newest first")
    s.add_argument("--experiment")
    s.add_argument("--status")
    s.add_argument("--sort", help="METRIC[:asc|desc], or created/duration")
    s.add_argument("--limit", type=int, help="show at most this many runs")
    s.add_argument("--offset", type=int, default=0, help="skip this many runs first")
    s.add_argument("--user", metavar="U", help="only the runs of this git email or name")
    s.add_argument("--mine", action="store_true", help="only the runs of your git identity")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_runs_list)
    s = r.add_parser("show", help="a run's details")
    s.add_argument("id")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_runs_show)
    s = r.add_parser("logs", help="a run's output")
    s.add_argument("id")
    s.add_argument("-f", "--follow", action="store_true")
    s.set_defaults(func=cmd_runs_logs)
    s = r.add_parser("metrics", help="a run's metrics")
    s.add_argument("id")
    s.add_argument("--key", "-k")
    s.add_argument("--json", action="store_true")
    s.add_argument("-f", "--follow", action="store_true")
    s.set_defaults(func=cmd_runs_metrics)
    s = r.add_parser("wait", help="wait for a run to end; exits with its status")
    s.add_argument("id")
    s.add_argument("--timeout", type=float)
    s.set_defaults(func=cmd_runs_wait)
    s = r.add_parser("cancel", help="cancel a run (SIGTERM, then SIGKILL after a grace period)")
    s.add_argument("id")
    s.add_argument("--no-wait", action="store_true")
    s.set_defaults(func=cmd_runs_cancel)
    s = r.add_parser("compare", help="params and metrics of runs side by side")
    s.add_argument("ids", nargs="+", metavar="ID")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_runs_compare)
    s = r.add_parser("restore", help="write a run's code snapshot out")
    s.add_argument("id")
    s.add_argument("--to", help="folder (default: the project, which needs --force to overwrite)")
    s.add_argument("--force", action="store_true")
    s.set_defaults(func=cmd_runs_restore)
    s = r.add_parser(
        "diff",
        help="two runs: every cause they differ by (code, environment, parameters, target, "
        "host, metrics), then the code diff; one run: its code against the working folder",
    )
    s.add_argument("id")
    s.add_argument("other", nargs="?")
    s.add_argument("--stat", action="store_true", help="the code diff's summary only")
    s.add_argument("--json", action="store_true", help="two runs: the causes as JSON")
    s.set_defaults(func=cmd_runs_diff)
    s = r.add_parser(
        "push",
        help="push the snapshots a background push could not send to snapshots_remote",
    )
    s.set_defaults(func=cmd_runs_push)
    return r


# A page with no --limit: every run (the store pages in SQL either way).
ALL_RUNS = 2**62


def _store_sort(sort: str | None) -> tuple[str, bool]:
    """`--sort KEY[:asc|desc]` as the store's sort and direction: created (ascending
    unless told), duration, or else a metric (both descending unless told); runs
    without a value come last."""
    if not sort:
        return "created", True
    key, _, direction = sort.partition(":")
    direction = direction or ("asc" if key == "created" else "desc")
    if direction not in ("asc", "desc"):
        raise UsageError(f"--sort {sort!r}: the direction must be asc or desc.")
    if not key:
        raise UsageError(f"--sort {sort!r}: name a metric, created or duration.")
    column = key if key in ("created", "duration") else f"metric:{key}"
    return column, direction == "desc"


def _user_cell(run: Run) -> str:
    return run.user_email or run.user_name or NO_VALUE


def cmd_runs_list(args: argparse.Namespace) -> int:
    """A page of runs, sorted and paged by the store (in SQL: fast at 100,000 runs)."""
    project = project_of(args)
    if args.status and args.status not in STATUSES:
        raise UsageError(
            f"--status {args.status!r} is not a run status.", hint="one of: " + ", ".join(STATUSES)
        )
    for option in ("limit", "offset"):
        if (getattr(args, option) or 0) < 0:
            raise UsageError(f"--{option} {getattr(args, option)}: give a number >= 0.")
    sort, descending = _store_sort(args.sort)
    user = user_filter(project.root, args.user, args.mine)
    with reading_store(project) as store:
        reconcile(project, store)
        items, _ = store.query_runs(
            experiment=args.experiment,
            statuses=[args.status] if args.status else None,
            sort=sort,
            descending=descending,
            limit=ALL_RUNS if args.limit is None else args.limit,
            offset=args.offset,
            user=user,
        )
    if args.json:
        emit_json([r.to_json() for r in items])
        return 0
    sort_key = args.sort.partition(":")[0] if args.sort else None

    def metrics_cell(run: Run) -> str:
        keys = sorted(run.metrics)
        if sort_key in run.metrics:
            keys.remove(sort_key)
            keys.insert(0, sort_key)
        shown = [f"{k}={fmt_value(run.metrics[k])}" for k in keys[:4]]
        return " ".join(shown) + (" …" if len(keys) > 4 else "")

    rows = [
        (
            r.id,
            r.experiment,
            f"{STATUS_MARK.get(r.status, '')} {r.status}",
            r.target,
            printable(_user_cell(r)),
            fmt_time(r.created),
            fmt_duration(r.duration),
            metrics_cell(r),
        )
        for r in items
    ]
    if not rows:
        info("no runs yet: runyard submit train.py")
        return 0
    print(
        table(
            ["id", "experiment", "status", "target", "user", "created", "duration", "metrics"],
            rows,
        )
    )
    return 0


def _details_json(d: operations.RunDetails) -> dict[str, Any]:
    data = d.run.to_json()
    data["params"] = dict(d.params)
    data["tags"] = dict(d.tags)
    data["history"] = [{"status": h.status, "time": h.time, "reason": h.reason} for h in d.history]
    data["artifacts"] = [{"path": p, "size": s} for p, s in d.artifacts]
    data["outputs_dir"] = str(d.outputs_dir)
    data["log"] = str(d.log_path)
    data["metrics_summary"] = [
        {k: (json_number(v) if isinstance(v, float) else v) for k, v in asdict(m).items()}
        for m in d.metrics
    ]
    data["lock"] = d.lock.to_json() if d.lock else None
    return data


def _lock_lines(lock: RunLock) -> list[str]:
    """The lock as `runs show` prints it: a summary line, then the pins, wrapped."""
    built = f"built by {lock.installer}" if lock.installer else "not built by Runyard"
    count = len(lock.packages)
    lines = [f"  lock:       python {lock.python}, {built}, {count} package{'s' * (count != 1)}"]
    pins = "  ".join(printable(pin) for pin in lock.requirements())
    lines += textwrap.wrap(
        pins,
        width=92,
        initial_indent="    ",
        subsequent_indent="    ",
        break_long_words=False,
        break_on_hyphens=False,
    )
    return lines


def cmd_runs_show(args: argparse.Namespace) -> int:
    project = project_of(args)
    with reading_store(project) as store:
        reconcile(project, store)
        d = operations.run_details(project, store, args.id)
    if args.json:
        emit_json(_details_json(d))
        return 0
    run = d.run
    out = printable  # names and values come from the run: no raw control characters
    print(f"run {run.id}  {STATUS_MARK.get(run.status, '')} {run.status}")
    if run.reason:
        print(f"  reason:     {out(run.reason)}")
    print(f"  experiment: {out(run.experiment)}")
    print(f"  target:     {out(run.target)} ({run.target_type})")
    if run.job:
        print(f"  job:        {out(run.job)}")
    print(f"  command:    {out(' '.join(run.command))}")
    print(f"  snapshot:   {run.snapshot_commit or NO_VALUE}  ({run.snapshot_ref or NO_VALUE})")
    print(f"  env:        {run.env_hash or NO_VALUE}")
    lock_note = d.tags.get(SPARK_LOCK_TAG)  # what a Spark run's lock does not cover
    if d.lock:
        print("\n".join(_lock_lines(d.lock)))
        if lock_note:
            print(f"    ({out(lock_note)})")
        host = d.lock.host.summary() if d.lock.host else "not recorded"
        print(f"  host:       {out(host)}")
    elif lock_note:
        print(f"  lock:       {out(lock_note)}")
    print(f"  created:    {fmt_time(run.created)}")
    print(f"  duration:   {fmt_duration(run.duration)}")
    if run.exit_code is not None:
        print(f"  exit code:  {run.exit_code}")
    if d.params:
        print("  params:")
        for k, v in d.params.items():
            print(f"    {out(k)} = {out(v)}")
    if d.tags:
        print("  tags:")
        for k, v in d.tags.items():
            print(f"    {out(k)} = {out(v)}")
    if d.metrics:
        print("  metrics:")
        for m in d.metrics:
            print(
                f"    {out(m.key)} = {fmt_value(m.last)} (step {m.step}, "
                f"min {fmt_value(m.min)}, max {fmt_value(m.max)}, {m.count} points)"
            )
    if d.artifacts:
        print(f"  outputs:    {out(project.relpath(d.outputs_dir))}/")
        for p, s in d.artifacts[:20]:
            print(f"    {out(p)} ({s} bytes)")
        if len(d.artifacts) > 20:
            print(f"    … and {len(d.artifacts) - 20} more")
    print("  history:")
    for h in d.history:
        print(f"    {fmt_time(h.time)}  {h.status}" + (f"  {out(h.reason)}" if h.reason else ""))
    return 0


def cmd_runs_logs(args: argparse.Namespace) -> int:
    project = project_of(args)
    with open_store(project) as store:
        run = runs.get_run(project, store, args.id)
        if args.follow:
            try:
                final = follow_log(project, store, run.id, sys.stdout.buffer)
            except KeyboardInterrupt:
                return 130
            say_outcome(final)
            return 0
        data, _ = runs.read_log(project, run.id)
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    return 0


def cmd_runs_metrics(args: argparse.Namespace) -> int:
    project = project_of(args)
    with reading_store(project) as store:
        run = runs.get_run(project, store, args.id)
        if args.follow:
            return _follow_metrics(project, store, run, args.key)
        if args.json:
            points = store.metric_points(run.id, key=args.key)
            emit_json(
                [
                    {"key": k, "step": s, "time": w, "value": json_number(v)}
                    for _c, k, s, w, v in points
                ]
            )
            return 0
        if args.key:
            points = store.metric_points(run.id, key=args.key)
            if not points:
                raise UsageError(
                    f"Run {run.id} has no metric {args.key!r}.",
                    hint="see `runyard runs metrics " + run.id + "` for its keys",
                )
            print(
                table(
                    ["step", "value", "time"],
                    [(s, fmt_value(v), fmt_time(w)) for _c, _k, s, w, v in points],
                )
            )
            return 0
        summary = store.metric_summary(run.id)
        if not summary:
            info(f"run {run.id} has logged no metrics yet")
            return 0
        print(
            table(
                ["key", "last", "step", "min", "max", "points"],
                [
                    (
                        m["key"],
                        fmt_value(m["last"]),
                        m["step"],
                        fmt_value(m["min"]),
                        fmt_value(m["max"]),
                        m["count"],
                    )
                    for m in summary
                ],
            )
        )
    return 0


def _follow_metrics(project: Project, store: Store, run: Run, key: str | None) -> int:
    cursor = 0
    checks = 0
    try:
        while True:
            live = store.get_run(run.id).live
            points = store.metric_points(run.id, key=key, after=cursor)
            for c, k, s, _w, v in points:
                print(f"{printable(k)}\t{s}\t{fmt_value(v)}", flush=True)
                cursor = c
            if not live and not points:
                break
            checks += 1
            if checks % 10 == 0 and not store.read_only:
                runs.reconcile(project, store)
            time.sleep(0.25)
    except KeyboardInterrupt:
        return 130
    say_outcome(store.get_run(run.id))
    return 0


def cmd_runs_wait(args: argparse.Namespace) -> int:
    project = project_of(args)
    with open_store(project) as store:
        run = runs.get_run(project, store, args.id)
        try:
            final = runs.wait(project, store, run.id, timeout=args.timeout)
        except KeyboardInterrupt:
            return 130
    if final.live:
        info(f"run {final.id} is still {final.status} after {args.timeout:g}s")
        return 124
    say_outcome(final)
    return runs.exit_code_of(final)


def cmd_runs_cancel(args: argparse.Namespace) -> int:
    project = project_of(args)
    with open_store(project) as store:
        run = runs.get_run(project, store, args.id)
        if not runs.cancel(project, store, run.id):
            info(f"run {run.id} already ended ({run.status}); nothing to cancel")
            return 0
        info(f"canceling run {run.id}…")
        if args.no_wait:
            return 0
        grace = float(run.options.get("cancel_grace_seconds", 10))
        final = runs.wait(project, store, run.id, timeout=grace + 30)
    say_outcome(final)
    return 0 if not final.live else 1


def _field(key: str, value: operations.Value) -> str:
    """A run's field in `runs compare`: a duration as one, a snapshot commit shortened."""
    if key == "duration":
        return fmt_duration(None if isinstance(value, str) else value)
    if key == "snapshot":
        return value[:10] if isinstance(value, str) else NO_VALUE
    return NO_VALUE if value is None else str(value)


def cmd_runs_compare(args: argparse.Namespace) -> int:
    project = project_of(args)
    with open_store(project) as store:
        found = operations.compare(project, store, args.ids, snapshots=not args.json)
    if args.json:
        emit_json(
            [
                r.to_json() | {"params": dict(ps)}
                for r, ps in zip(found.runs, found.run_params, strict=True)
            ]
        )
        return 0
    rows: list[tuple[str, ...]] = []
    for row in found.fields:
        rows.append(
            ("*" if row.differs else "", row.key, *[_field(row.key, v) for v in row.values])
        )
    for row in found.params:
        values = [NO_VALUE if v is None else str(v) for v in row.values]
        rows.append(("*" if row.differs else "", f"param {row.key}", *values))
    for row in found.metrics:
        values = [fmt_value(None if isinstance(v, str) else v) for v in row.values]
        rows.append(("*" if row.differs else "", f"metric {row.key}", *values))
    # run ids head their columns as they are: `table` upper-cases headers, so the ids
    # go in as the first row under an empty header line, which is then dropped
    ids = ("", "", *[r.id for r in found.runs])
    print(table(["" for _ in ids], [ids, *rows]).split("\n", 1)[1])
    return 0


def cmd_runs_restore(args: argparse.Namespace) -> int:
    project = project_of(args)
    with reading_store(project) as store:
        run = runs.get_run(project, store, args.id)
    runs.ensure_snapshots(project, run)  # (a teammate's run: fetched from the team's remote)
    dest = Path(args.to).resolve() if args.to else None
    done = operations.restore(project, run, dest, force=args.force)
    info(f"restored {len(done.written)} files of run {run.id} into {done.dest}")
    return 0


def cmd_runs_push(args: argparse.Namespace) -> int:
    project = project_of(args)
    remote, pushed = runs.push_snapshots(project)
    if remote is None:
        raise UsageError(
            "No remote to push snapshots to: .runyard/config.yml sets no snapshots_remote.",
            hint="add `snapshots_remote: origin` (the git remote your team shares)",
        )
    info(f"{len(pushed)} snapshot(s) pushed to {remote}" if pushed else "nothing to push")
    return 0


def cmd_runs_diff(args: argparse.Namespace) -> int:
    project = project_of(args)
    with open_store(project) as store:
        a = runs.get_run(project, store, args.id)
        b = runs.get_run(project, store, args.other) if args.other else None
        runs.ensure_snapshots(project, a, b)
        whole = operations.run_diff(project, store, a, b) if b and not args.stat else None
    if whole is not None and args.json:
        emit_json(_diff_json(whole))
        return 0
    if whole is not None:
        print("\n".join(_diff_lines(whole)))
        text = whole.code_diff
        if text:
            print()
    else:
        text = operations.diff(project, a, b, stat=args.stat).text
    if not text and whole is None:
        info("no differences")
    elif text:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return 0


def _shown(value: str | float | None) -> str:
    if value is None:
        return NO_VALUE
    return fmt_value(value) if isinstance(value, float) else printable(str(value))


def _change_text(c: operations.Change, section: str) -> str:
    if section == "code":
        return f"{printable(c.name)} ({c.after})"
    if c.before is None:
        return f"+ {printable(c.name)} {_shown(c.after)}"
    if c.after is None:
        return f"- {printable(c.name)} {_shown(c.before)}"
    return f"{printable(c.name)} {_shown(c.before)} → {_shown(c.after)}"


def _diff_lines(d: operations.RunDiff) -> list[str]:
    """One line per cause: what differs, or that nothing does."""
    lines = [f"runs {d.a.id} → {d.b.id}"]
    sections: list[tuple[str, tuple[operations.Change, ...] | None, str]] = [
        ("code", d.code, ""),
        ("environment", d.environment, "unknown: a run has no lock recorded"),
        ("parameters", d.params, ""),
        ("target", d.target, ""),
        ("host", d.host, "unknown: a run has no host facts recorded"),
        ("metrics", d.metrics, ""),
    ]
    for name, changes, unknown in sections:
        if changes is None:
            text = unknown
        elif not changes:
            text = "same"
        else:
            shown = [_change_text(c, name) for c in changes]
            text = ", ".join(shown[:12]) + (
                f" and {len(shown) - 12} more" if len(shown) > 12 else ""
            )
        lines.append(f"  {name:<12} {text}")
    return lines


def _diff_json(d: operations.RunDiff) -> dict[str, Any]:
    def listed(changes: tuple[operations.Change, ...] | None) -> list[dict[str, Any]] | None:
        if changes is None:
            return None
        return [
            {
                "name": c.name,
                "before": json_number(c.before) if isinstance(c.before, float) else c.before,
                "after": json_number(c.after) if isinstance(c.after, float) else c.after,
            }
            for c in changes
        ]

    return {
        "a": d.a.id,
        "b": d.b.id,
        "code": [{"path": c.name, "status": c.after} for c in d.code],
        "environment": listed(d.environment),
        "params": listed(d.params),
        "target": listed(d.target),
        "host": listed(d.host),
        "metrics": listed(d.metrics),
        "code_diff": d.code_diff,
    }
