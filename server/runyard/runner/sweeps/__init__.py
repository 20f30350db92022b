"""Sweeps: a search of a parameter space, each trial a run.

A sweep file (`.runyard/sweeps/<name>.yml`, checked by `core.config`) names the job,
the space, the sampler, the objective, `max_trials`, `parallel` per target and early
stopping. Optuna picks the parameters and decides what to stop (its samplers and
pruners, never ours); Runyard runs the trials as ordinary runs on any target.

Processes, like runs (docs/architecture.md):

```
runyard sweep start NAME ── control.start_sweep: check, resolve a spec per target,
                            one snapshot for every trial, the record ──┐
                                                                      ▼
        sweep supervisor (python -m runyard.runner.sweeps.supervisor), detached,
        holding <sweep dir>/supervisor.lock: asks Optuna, starts trials with
        runs.start_run, follows their status and metrics, prunes, tells Optuna
                                                                      │ one per trial,
                                                                      ▼ forked by
        a fork server of run supervisors (runner/supervisor.py --forks), spares
        waiting for the next trials ──▶ run supervisors, the runs themselves
```

- `state`: the sweep's folder (`.runyard/state/sweeps/<id>/`), its record and state
  files, the tags on trial runs, and the views both faces render (`SweepView`,
  `TrialView`, `list_sweeps`, `get_sweep`);
- `control`: `start_sweep`, `resume_sweep`, `cancel_sweep`, `wait_sweep`;
- `supervisor`: the sweep's own process (the only module that imports Optuna). Its
  study lives in Optuna's journal file storage in the sweep's folder: no server, and a
  crash loses nothing (`resume`).

Each trial's run is tagged `sweep` (the sweep's id) and `sweep.trial` (its number),
gets the trial's parameters as its params and as `--name value` arguments, and, when
early stopping stops it, `sweep.pruned=true` with a reason that says so (its status is
`canceled`: run statuses are fixed).

A new kind of target (Ray, say) needs nothing here: trials are runs, started on
whatever targets `parallel` names. An editor view of sweeps reads `list_sweeps` and
`get_sweep` (their `to_json`) and can follow `state.json`'s modification time.
"""

from runyard.runner.sweeps.control import cancel_sweep, resume_sweep, start_sweep, wait_sweep
from runyard.runner.sweeps.state import (
    PRUNED_TAG,
    SWEEP_TAG,
    TRIAL_TAG,
    SweepView,
    TrialView,
    get_sweep,
    list_sweeps,
    read_log,
    resolve_sweep_id,
    sort_trials,
)

__all__ = [
    "PRUNED_TAG",
    "SWEEP_TAG",
    "TRIAL_TAG",
    "SweepView",
    "TrialView",
    "cancel_sweep",
    "get_sweep",
    "list_sweeps",
    "read_log",
    "resolve_sweep_id",
    "resume_sweep",
    "sort_trials",
    "start_sweep",
    "wait_sweep",
]
