"""``runyard/sweeps/...``: list, get and cancel sweeps.

What a sweep shows is decided below the faces, in `runyard.runner.sweeps` (its
`list_sweeps` and `get_sweep` views, the trials sorted best first by `sort_trials`, a
sweep whose supervisor is gone read as ``interrupted``); `runyard sweep list/show`
render the same views. This module only turns them into `protocol` types:

- `SweepInfo` (both requests): a sweep's state and objective, its trials done of its
  total (`max_trials`), the count of trials by status and its best trial so far;
- `SweepDetails` (``get``): that, its space as the sweep file had it when the sweep
  started (read from the sweep's record through `core.config`'s `sweep_config`, the
  parameters in the file's order), and every trial, best first.

Every handler works on the I/O pool (the store and the sweep's files are never read on
the event loop). A project with no store yet has no sweeps (an empty list); ``get`` and
``cancel`` of a sweep that does not exist answer the not-found error
`resolve_sweep_id` gives.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from runyard.core.project import Project
from runyard.lsp import protocol as p
from runyard.lsp.convert import from_fields
from runyard.lsp.features.common import open_store
from runyard.lsp.server import RunyardServer, request

if TYPE_CHECKING:
    from runyard.runner.sweeps import SweepView, TrialView

# Trial statuses that will not change any more.
_DONE = frozenset({"completed", "failed", "canceled", "lost", "pruned"})


def _number(value: float | None) -> float | None:
    """A value JSON can carry (NaN and infinities travel as null)."""
    return None if value is None or not math.isfinite(value) else value


def sweep_info(view: SweepView) -> p.SweepInfo:
    best = view.best
    return from_fields(
        p.SweepInfo,
        view,
        trials_done=sum(1 for t in view.trials if t.status in _DONE),
        trials_total=max(view.max_trials, len(view.trials)),
        counts=view.counts(),
        best_value=_number(best.value) if best else None,
        best_trial=best.number if best else None,
        best_run_id=best.run_id if best else None,
    )


def trial_info(trial: TrialView) -> p.TrialInfo:
    return from_fields(p.TrialInfo, trial, value=_number(trial.value), latest=_number(trial.latest))


def _space(project: Project, sweep_id: str, name: str) -> list[p.SweepSpaceParam]:
    """The sweep's space as its record keeps the sweep file (empty when unreadable)."""
    from runyard.core.config.sweeps import sweep_config
    from runyard.runner.sweeps.state import RECORD, read_json, sweep_dir

    record = read_json(sweep_dir(project, sweep_id) / RECORD) or {}
    config = record.get("config")
    try:
        space = sweep_config(name, None, config).space if isinstance(config, dict) else ()
    except (KeyError, TypeError, ValueError, StopIteration):
        return []  # a record from another version: the trials still show
    out = []
    for param in space:
        listed = param.kind in ("choice", "grid")
        ranged: dict[str, Any] = (
            {}
            if listed
            else {
                "low": param.low,
                "high": param.high,
                "step": param.step if param.kind == "int" else None,
            }
        )
        out.append(
            p.SweepSpaceParam(
                name=param.name,
                kind=param.kind,
                values=list(param.values) if listed else None,
                **ranged,
            )
        )
    return out


def _list(project: Project) -> p.SweepsListResult:
    from runyard.core.store import store_exists
    from runyard.runner.sweeps import list_sweeps

    if not store_exists(project.store_path):
        return p.SweepsListResult(sweeps=[])
    with open_store(project) as store:
        views = list_sweeps(project, store)
    return p.SweepsListResult(sweeps=[sweep_info(v) for v in views])


def _get(project: Project, sweep_id: str) -> p.SweepDetails:
    from runyard.runner.sweeps import get_sweep

    with open_store(project) as store:
        view = get_sweep(project, store, sweep_id)
    return p.SweepDetails(
        sweep=sweep_info(view),
        space=_space(project, view.id, view.name),
        early_stopping=view.early_stopping,
        parallel=dict(view.parallel),
        snapshot_commit=view.snapshot_commit,
        notes=list(view.notes),
        trials=[trial_info(t) for t in view.trials],
    )


def _cancel(project: Project, sweep_id: str) -> p.SweepCancelResult:
    from runyard.runner.sweeps import cancel_sweep, get_sweep

    with open_store(project) as store:
        view = get_sweep(project, store, sweep_id)
        canceled = cancel_sweep(project, store, view.id)
        status = get_sweep(project, store, view.id).status
    return p.SweepCancelResult(sweep_id=view.id, canceled=canceled, status=status)


def register(server: RunyardServer) -> None:
    @request(server, p.SWEEPS_LIST)
    async def sweeps_list(ls: RunyardServer, params: p.ProjectParams) -> p.SweepsListResult:
        return await ls.blocking(_list, ls.project_for(params.project))

    @request(server, p.SWEEPS_GET)
    async def sweeps_get(ls: RunyardServer, params: p.SweepParams) -> p.SweepDetails:
        return await ls.blocking(_get, ls.project_for(params.project), params.sweep_id)

    @request(server, p.SWEEPS_CANCEL)
    async def sweeps_cancel(ls: RunyardServer, params: p.SweepParams) -> p.SweepCancelResult:
        return await ls.blocking(_cancel, ls.project_for(params.project), params.sweep_id)
