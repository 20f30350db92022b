"""Scheduling overhead of a sweep on the local target.

A sweep of `--trials` trials (default 100) of a script that sleeps `--seconds` (0.1 s)
and logs its objective, `--parallel` (4) at a time, random sampler, started with
`runyard sweep start` and followed to its end. The overhead per trial is the sweep's
wall time less the trials' own time (each run's start to its end, summed, over the
parallel slots), divided by the trials (goal: at most 50 ms). Beside it, the bare cost:
the same script started `--trials` times by a pool of `--parallel` threads with
`subprocess.run`, and by Optuna alone (`study.optimize(n_jobs=parallel)` calling the
script the same way), the peer that tracks nothing; and the overhead again against the
script's bare time (a run's own time, started to ended, also holds its supervisor's and
wrapper's work). Then where a slot's time goes per trial: the run's start-up (created
to started: its supervisor, its environment), the run, and what is left (the sweep's
asking, starting and telling, and noticing ends). No assertions: this is a
measurement.

    .venv/bin/python tests/bench/bench_sweeps.py [--trials 100] [--parallel 4]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

# same folder: the same project and the same measurement environment
from bench_submit import RUNYARD, bench_project

TRIAL = """\
import sys, time
import runyard

x = float(sys.argv[sys.argv.index("--x") + 1])
time.sleep({seconds})
runyard.log_metric("loss", (x - 0.3) ** 2)
"""

SWEEP = """\
script: trial.py
space:
  x: {{uniform: [0.0, 1.0]}}
sampler: random
seed: 1
objective: {{metric: loss}}
max_trials: {trials}
parallel: {parallel}
"""


def script(root: Path, env: dict[str, str], x: float) -> None:
    """The trial script outside any run (it says it records nothing: not shown)."""
    subprocess.run(
        [sys.executable, "trial.py", "--x", str(x)],
        cwd=root,
        env=env,
        check=True,
        stderr=subprocess.DEVNULL,
    )


def bare(root: Path, env: dict[str, str], trials: int, parallel: int) -> tuple[float, float]:
    """(wall, summed own time) of the script started `trials` times, `parallel` at once."""

    def one(i: int) -> float:
        start = time.perf_counter()
        script(root, env, i / trials)
        return time.perf_counter() - start

    start = time.perf_counter()
    with ThreadPoolExecutor(parallel) as pool:
        own = sum(pool.map(one, range(trials)))
    return time.perf_counter() - start, own


def optuna_alone(root: Path, env: dict[str, str], trials: int, parallel: int) -> float:
    """Wall time of Optuna's own loop running the script as its objective."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)

    def objective(trial: optuna.Trial) -> float:
        x = trial.suggest_float("x", 0.0, 1.0)
        script(root, env, x)
        return (x - 0.3) ** 2

    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    start = time.perf_counter()
    study.optimize(objective, n_trials=trials, n_jobs=parallel)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--parallel", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=0.1)
    args = parser.parse_args()
    n, p = args.trials, args.parallel
    with tempfile.TemporaryDirectory() as tmp:
        root, env = bench_project(tmp)
        (root / "trial.py").write_text(TRIAL.format(seconds=args.seconds))
        sweeps = root / ".runyard" / "sweeps"
        sweeps.mkdir()
        (sweeps / "bench.yml").write_text(SWEEP.format(trials=n, parallel=p))
        (sweeps / "warm.yml").write_text(SWEEP.format(trials=2, parallel=2))
        # warm the environment cache, the config validation cache and bytecode caches
        subprocess.run(
            [*RUNYARD, "sweep", "start", "warm"], cwd=root, env=env, check=True, capture_output=True
        )
        bare_wall, bare_own = bare(root, env, n, p)
        alone = optuna_alone(root, env, n, p)

        start = time.perf_counter()
        proc = subprocess.run(
            [*RUNYARD, "sweep", "start", "bench"],
            cwd=root,
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        wall = time.perf_counter() - start
        sweep_id = proc.stdout.splitlines()[0]
        shown = subprocess.run(
            [*RUNYARD, "sweep", "show", sweep_id, "--json"],
            cwd=root,
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        trials = json.loads(shown.stdout)["trials"]
        from runyard.core.store import Store

        with Store(root / ".runyard" / "state" / "runyard.db") as store:
            runs = [store.get_run(t["run_id"]) for t in trials]
            start_up = [r.started - r.created for r in runs if r.started is not None]
        own = [r.ended - r.started for r in runs if r.started is not None and r.ended]
        done = sum(1 for t in trials if t["status"] == "completed")

        # the brief's measure: the wall time less the trials' own time (each run's start
        # to its end, as the store records it) over the slots, per trial; and the same
        # with the script's own time measured bare, which leaves the run's supervisor
        # and wrapper out of "own" and so counts them as overhead
        per_trial = (wall - sum(own) / p) / n
        per_trial_bare = (wall - bare_own / p) / n
        verdict = "met" if per_trial <= 0.05 else "NOT met"
        print(f"{n} trials of a {args.seconds:g} s script, {p} at a time ({done} completed)")
        print(f"{'':46}{'wall':>9}{'per trial':>11}")
        for label, seconds in (
            ("bare: the script, a pool of threads", bare_wall),
            ("Optuna alone: optimize(n_jobs) runs the script", alone),
            ("runyard sweep start, followed to its end", wall),
        ):
            print(f"{label:46}{seconds:>8.2f}s{seconds / n * 1000:>9.0f}ms")
        print(
            f"scheduling overhead per trial: {per_trial * 1000:.0f} ms (goal <= 50 ms: "
            f"{verdict}): wall {wall:.2f} s less the runs' own {sum(own):.2f} s over {p} slots"
        )
        print(
            f"  against the script's bare time ({bare_own:.2f} s in all): "
            f"{per_trial_bare * 1000:.0f} ms per trial; bare itself: "
            f"{(bare_wall - bare_own / p) / n * 1000:.0f} ms"
        )
        print(
            f"ratio sweep / bare: {wall / bare_wall:.1f}x, sweep / Optuna alone: {wall / alone:.1f}x"
        )
        slot = wall * p / n
        median_start, median_own = statistics.median(start_up), statistics.median(own)
        print("where a slot's time per trial goes (medians):")
        for label, seconds in (
            ("its run starting (created -> started)", median_start),
            ("its run (started -> ended)", median_own),
            ("  of which the script's own, bare", bare_own / n),
            ("the rest: ask, start, tell, noticing ends", slot - median_start - median_own),
            ("a slot per trial (wall x parallel / trials)", slot),
        ):
            print(f"  {label:46}{seconds:>8.3f}s")


if __name__ == "__main__":
    main()
