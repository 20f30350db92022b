"""Sweep files, `.runyard/sweeps/<name>.yml`: what a sweep is once read (`SweepConfig`,
its `Param`s and `EarlyStopping`), and the checks of a sweep document that its JSON
Schema (core/schemas/sweep.schema.json) cannot express.

A sweep names what each trial runs (a `job`, or a `script` with `args`), the `space` of
parameters, the `sampler` (grid, random, tpe), the `objective` (a metric and a
direction), `max_trials`, `parallel` (a number, or target -> number) and
`early_stopping` (none, median, hyperband). Each trial is a run of the job with the
trial's parameters appended to its arguments as `--name value` (`Param.argument`).

The checks come in two sets, called by `checks` for documents of kind "sweep":
- `semantic_errors`: the space can be sampled (a choice is not empty and lists no value
  twice; a range's low is not above its high and both are finite; a log range starts
  above 0; `step` goes with `int`), the grid sampler gets lists only and a grid of a
  sane size, a sampler with no end of its own gets `max_trials`, and `early_stopping`'s
  settings belong to its rule;
- `reference_errors`: what the sweep names exists in the project (its job, the targets
  of `parallel`); `checks` adds the `script` file.

Both report through a `Reporter` (the checks' context), so every problem names the file,
line and field. This module imports nothing of `checks` (which imports it).

The defaults live here too: the sampler is grid when every parameter is a `grid`, tpe
otherwise; the grid sampler runs every combination once unless `max_trials` says fewer.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from runyard.core.config.errors import ConfigError
from runyard.core.config.layout import job_names, target_names
from runyard.core.config.schema import suggest
from runyard.core.config.settings import is_name, name_too_long
from runyard.core.project import Project
from runyard.core.yamlpos import PathKey

ParamKind = Literal["choice", "grid", "uniform", "loguniform", "int"]
PARAM_KINDS: tuple[ParamKind, ...] = ("choice", "grid", "uniform", "loguniform", "int")
RANGE_KINDS = ("uniform", "loguniform", "int")
Sampler = Literal["grid", "random", "tpe"]
Rule = Literal["none", "median", "hyperband"]

# The most combinations a grid sweep may have: beyond it the file most likely has a
# range written where a list was meant.
MAX_GRID = 100_000

_RULE_SETTINGS = {
    "none": frozenset(),
    "median": frozenset({"startup_trials", "warmup_steps"}),
    "hyperband": frozenset({"min_steps", "max_steps", "reduction_factor"}),
}


class Reporter(Protocol):
    """Where the checks put a problem: on the value at a path, or on its key."""

    def at_value(
        self, path: PathKey, problem: str, expected: str | None = None, hint: str | None = None
    ) -> ConfigError: ...

    def at_key(
        self, path: PathKey, problem: str, expected: str | None = None, hint: str | None = None
    ) -> ConfigError: ...


def param_argument(value: Any) -> str:
    """A parameter's value as the script receives it on its command line: a number as
    Python writes it (`0.001`, `1e-05`, `32`), true/false as `true`/`false`."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)  # 2.0 stays "2.0", 1e-05 stays "1e-05"


@dataclass(frozen=True)
class Param:
    """One parameter of the space: `values` for a choice or grid, `low`/`high` (and
    `step`) for a range."""

    name: str
    kind: ParamKind
    values: tuple[Any, ...] = ()
    low: float = 0.0
    high: float = 0.0
    step: int = 1

    def listed(self) -> list[Any] | None:
        """Every value the parameter can take, for the grid sampler; None for the
        continuous ranges (uniform, loguniform)."""
        if self.kind in ("choice", "grid"):
            return list(self.values)
        if self.kind == "int":
            return list(range(int(self.low), int(self.high) + 1, self.step))
        return None

    def argument(self, value: Any) -> list[str]:
        """The two command-line arguments a trial gets for this parameter."""
        return [f"--{self.name}", param_argument(value)]


@dataclass(frozen=True)
class EarlyStopping:
    """When trials are stopped early (Optuna's MedianPruner or HyperbandPruner)."""

    rule: Rule = "none"
    startup_trials: int = 5
    warmup_steps: int = 0
    min_steps: int = 1
    max_steps: int | None = None
    reduction_factor: int = 3

    def words(self) -> str:
        return {"none": "none", "median": "median rule", "hyperband": "Hyperband"}[self.rule]


@dataclass(frozen=True)
class SweepConfig:
    """A sweep, from `.runyard/sweeps/<name>.yml` (checked before it is built).
    `parallel` is (target, trials at a time) pairs in the file's order; the target None
    means the job's target, else the project's default target. `raw` is the file's data
    as is (kept with each start of the sweep)."""

    name: str
    path: Path | None
    space: tuple[Param, ...]
    metric: str
    direction: Literal["minimize", "maximize"] = "minimize"
    job: str | None = None
    script: str | None = None
    args: tuple[str, ...] = ()
    sampler: Sampler = "tpe"
    seed: int | None = None
    max_trials: int = 1
    parallel: tuple[tuple[str | None, int], ...] = ((None, 1),)
    early_stopping: EarlyStopping = field(default_factory=EarlyStopping)
    description: str | None = None
    raw: dict[str, Any] = field(default_factory=dict)

    def param(self, name: str) -> Param | None:
        return next((p for p in self.space if p.name == name), None)

    def arguments(self, params: dict[str, Any]) -> list[str]:
        """The command-line arguments of a trial with `params`, in the space's order."""
        out: list[str] = []
        for p in self.space:
            if p.name in params:
                out += p.argument(params[p.name])
        return out


def grid_size(space: Sequence[Param]) -> int | None:
    """How many combinations the grid sampler has for `space`; None when a parameter
    is a continuous range."""
    size = 1
    for p in space:
        listed = p.listed()
        if listed is None:
            return None
        size *= len(listed)
    return size


def default_sampler(data: dict[str, Any]) -> Sampler:
    """grid when every parameter of the space is a `grid`, tpe otherwise."""
    space = data.get("space")
    if (
        isinstance(space, dict)
        and space
        and all(isinstance(s, dict) and "grid" in s for s in space.values())
    ):
        return "grid"
    return "tpe"


def _param(name: str, spec: dict[str, Any]) -> Param:
    kind: ParamKind = next(k for k in PARAM_KINDS if k in spec)
    value = spec[kind]
    step = spec.get("step", 1)
    if kind in ("choice", "grid"):
        return Param(name, kind, values=tuple(value))
    low, high = value
    if kind == "int":
        return Param(name, kind, low=int(low), high=int(high), step=int(step))
    return Param(name, kind, low=float(low), high=float(high))


def sweep_config(name: str, path: Path | None, data: dict[str, Any]) -> SweepConfig:
    """The sweep a checked document describes, its defaults filled in."""
    space = tuple(_param(str(k), v) for k, v in data["space"].items())
    sampler: Sampler = data.get("sampler") or default_sampler(data)
    size = grid_size(space) if sampler == "grid" else None
    max_trials = data.get("max_trials")
    if size is not None:
        max_trials = min(max_trials or size, size)
    parallel = data.get("parallel", 1)
    pairs: tuple[tuple[str | None, int], ...] = (
        tuple((str(k), int(v)) for k, v in parallel.items())
        if isinstance(parallel, dict)
        else ((None, int(parallel)),)
    )
    stop = data.get("early_stopping", "none")
    early = EarlyStopping(**({"rule": stop} if isinstance(stop, str) else stop))
    objective = data["objective"]
    return SweepConfig(
        name=name,
        path=path,
        space=space,
        metric=str(objective["metric"]),
        direction=objective.get("direction", "minimize"),
        job=data.get("job"),
        script=data.get("script"),
        args=tuple(str(a) for a in data.get("args") or ()),
        sampler=sampler,
        seed=data.get("seed"),
        max_trials=int(max_trials or 1),
        parallel=pairs,
        early_stopping=early,
        description=data.get("description"),
        raw=data,
    )


# --------------------------------------------------------------------------- checks


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _written(value: Any) -> str:
    if isinstance(value, str):
        return f"'{value}'"
    return param_argument(value)


def _list_errors(name: str, kind: str, values: list[Any], report: Reporter) -> list[ConfigError]:
    path: PathKey = ("space", name, kind)
    if not values:
        example = "[0.1, 0.01]" if kind == "grid" else "[adam, sgd]"
        return [
            report.at_value(
                path,
                "the list is empty, so there is nothing to sample",
                f"Expected at least one value, like `{kind}: {example}`",
            )
        ]
    out = []
    seen: list[Any] = []
    for i, value in enumerate(values):
        # compared as the script receives them: 1 and "1" are both `--x 1`; 1 and 1.0
        # are not (`--x 1.0`)
        key = param_argument(value)
        if key in seen:
            out.append(
                report.at_value(
                    (*path, i),
                    f"the value {_written(value)} is listed twice",
                    "Expected each value once: a repeated value would run the same trial twice",
                )
            )
        seen.append(key)
    return out


def _range_errors(
    name: str, kind: str, spec: dict[str, Any], report: Reporter
) -> list[ConfigError]:
    path: PathKey = ("space", name, kind)
    bounds = spec.get(kind)
    out: list[ConfigError] = []
    if "step" in spec and kind != "int":
        out.append(
            report.at_key(
                ("space", name, "step"),
                f"`step` goes with `int` ranges, not with `{kind}`",
                "Remove it, or write the parameter as `int: [low, high]`",
            )
        )
    if not (isinstance(bounds, list) and len(bounds) == 2 and all(map(_number, bounds))):
        return out  # the schema says what is wrong with its shape
    low, high = bounds
    example = {"uniform": "[0.0, 0.5]", "loguniform": "[0.0001, 0.1]", "int": "[1, 8]"}[kind]
    for i, value in enumerate(bounds):
        if not math.isfinite(value):
            out.append(
                report.at_value(
                    (*path, i),
                    f"{'low' if i == 0 else 'high'} is {param_argument(value)}",
                    f"Expected finite numbers [low, high], like `{kind}: {example}`",
                )
            )
    if out:
        return out
    if low > high:
        out.append(
            report.at_value(
                path,
                f"low ({param_argument(low)}) is above high ({param_argument(high)}), so "
                "there is nothing to sample",
                f"Expected [low, high] with low <= high, like `{kind}: {example}`",
                f"swap them: `{kind}: [{param_argument(high)}, {param_argument(low)}]`",
            )
        )
    if kind == "loguniform" and low <= 0:
        out.append(
            report.at_value(
                (*path, 0),
                f"low is {param_argument(low)}, and a log scale has no values at or below 0",
                f"Expected a low above 0, like `loguniform: {example}`",
                "use `uniform:` for a range that includes 0",
            )
        )
    return out


def _grid_errors(
    data: dict[str, Any], space: dict[str, Any], report: Reporter
) -> list[ConfigError]:
    out = []
    for name, spec in space.items():
        if isinstance(spec, dict) and ("uniform" in spec or "loguniform" in spec):
            kind = "uniform" if "uniform" in spec else "loguniform"
            out.append(
                report.at_key(
                    ("space", name, kind),
                    f"the grid sampler tries listed values, and `{kind}` is a continuous range",
                    "Expected a list for every parameter of a grid sweep: `grid: [...]`, "
                    "`choice: [...]` or `int: [low, high]`",
                    "list the values to try, or choose `sampler: tpe` or `sampler: random`",
                )
            )
    if out:
        return out
    size = 1
    for name, spec in space.items():
        if not isinstance(spec, dict):
            return []
        try:
            listed = _param(str(name), spec).listed()
        except (StopIteration, TypeError, ValueError):
            return []  # reported by the other checks
        size *= len(listed or [])
    if size > MAX_GRID:
        out.append(
            report.at_key(
                ("space",),
                f"the grid has {size:,} combinations",
                f"Expected at most {MAX_GRID:,}: list fewer values, or use `step:` on `int` ranges",
                "or choose `sampler: tpe` with `max_trials`",
            )
        )
    return out


def _early_stopping_errors(data: dict[str, Any], report: Reporter) -> list[ConfigError]:
    stop = data.get("early_stopping")
    if not isinstance(stop, dict) or stop.get("rule") not in _RULE_SETTINGS:
        return []
    rule = stop["rule"]
    allowed = _RULE_SETTINGS[rule]
    out = []
    for key in stop:
        if key == "rule" or key in allowed:
            continue
        owner = next((r for r, keys in _RULE_SETTINGS.items() if key in keys), None)
        if owner is None:
            continue  # an unknown field: the schema reports it
        expected = (
            f"Valid settings of the {rule} rule: {', '.join(sorted(allowed))}"
            if allowed
            else "The rule `none` has no settings"
        )
        out.append(
            report.at_key(
                ("early_stopping", key),
                f"`{key}` is a setting of the {owner} rule, not of `{rule}`",
                expected,
            )
        )
    low, high = stop.get("min_steps"), stop.get("max_steps")
    if isinstance(low, int) and isinstance(high, int) and low > high:
        out.append(
            report.at_value(
                ("early_stopping", "max_steps"),
                f"max_steps ({high}) is below min_steps ({low})",
                "Expected max_steps >= min_steps",
            )
        )
    return out


def semantic_errors(data: dict[str, Any], report: Reporter) -> list[ConfigError]:
    """What the schema cannot say about a sweep document (see the module docstring)."""
    out: list[ConfigError] = []
    space = data.get("space")
    if isinstance(space, dict):
        for name, spec in space.items():
            if not isinstance(spec, dict):
                continue
            for kind in ("choice", "grid"):
                if isinstance(spec.get(kind), list):
                    out.extend(_list_errors(str(name), kind, spec[kind], report))
            for kind in RANGE_KINDS:
                if kind in spec:
                    out.extend(_range_errors(str(name), kind, spec, report))
    sampler = data.get("sampler")
    if sampler is None:
        sampler = default_sampler(data)
    if sampler == "grid" and isinstance(space, dict):
        out.extend(_grid_errors(data, space, report))
    if sampler in ("random", "tpe") and "max_trials" not in data:
        place: PathKey = ("sampler",) if "sampler" in data else ()
        chosen = "" if "sampler" in data else " (the default when a parameter is not a `grid`)"
        out.append(
            report.at_key(
                place,
                f"max_trials is missing, and the {sampler} sampler{chosen} has no end of its own",
                "Add `max_trials: 20` (how many trials to run in all)",
            )
        )
    out.extend(_early_stopping_errors(data, report))
    return out


def _unknown(kind: str, name: str, names: list[str], folder: str, add: str) -> tuple[str, str, str]:
    suggestion = suggest(name, names)
    listed = ", ".join(names)
    if suggestion:
        expected = f"Did you mean '{suggestion}'? The project's {kind}s: {listed}"
    elif names:
        expected = f"Expected one of the project's {kind}s: {listed}"
    else:
        expected = f"The project has no {kind}s yet"
    return f"there is no {kind} named '{name}' (no {folder}/{name}.yml)", expected, add


def reference_errors(data: dict[str, Any], report: Reporter, project: Project) -> list[ConfigError]:
    """What the sweep names must exist in the project: its job and the targets of
    `parallel`."""
    out: list[ConfigError] = []
    job = data.get("job")
    if isinstance(job, str) and is_name(job) and not name_too_long(job):
        names = job_names(project)
        if job not in names:
            problem, expected, hint = _unknown(
                "job", job, names, ".runyard/jobs", f"add .runyard/jobs/{job}.yml"
            )
            out.append(report.at_value(("job",), problem, expected, hint))
    parallel = data.get("parallel")
    if isinstance(parallel, dict):
        targets = target_names(project)
        for name in parallel:
            if isinstance(name, str) and is_name(name) and not name_too_long(name):
                if name in targets:
                    continue
                problem, expected, hint = _unknown(
                    "target",
                    name,
                    targets,
                    ".runyard/targets",
                    f"add it with `runyard target add {name} --type local`",
                )
                out.append(report.at_key(("parallel", name), problem, expected, hint))
    return out
