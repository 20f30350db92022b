"""Submit overhead on the local target with a warm environment.

Time from starting `runyard submit train.py` to the script's first line on the
terminal, against a bare `python train.py` started the same way (the peer). Prints
medians and the difference (goal: at most 0.1 s). No assertions: this is a measurement.
Submits in a row go through the submit server (`runyard.cli.quick`: the second plain
submit starts it, the warm-up here does), as they do for users; the plain command
(`RUNYARD_SUBMIT_SERVER=0`: a fresh interpreter importing the CLI) is timed beside it.
The run's supervisor is a fork of the CLI (`runs.start_ahead(fork=True)`): what it
imports beyond the CLI's modules is the difference of the last two lines of the
breakdown. On a machine shared with other work, compare CPU time too (`perf stat -e
task-clock` around a submit counts its supervisor, git and the script as well).

    .venv/bin/python tests/bench/bench_submit.py [--repeat 15] [--against DIR]

`--against DIR` times a second Runyard too, the package under DIR (a copy of `server/`
from another commit, say), in turns with this one on the same project, so that a
before/after comparison on a busy machine sees the same load.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SCRIPT = "print('first line', flush=True)\n"
RUNYARD = [sys.executable, "-m", "runyard.cli"]


def bench_project(tmp: str) -> tuple[Path, dict[str, str]]:
    """A git repository in `tmp` holding train.py (SCRIPT), made a Runyard project, and
    the environment to run in: what users get, with bytecode caching on (some shells
    here turn it off)."""
    root = Path(tmp) / "proj"
    root.mkdir()
    (root / "train.py").write_text(SCRIPT)
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    for who in ("AUTHOR", "COMMITTER"):
        env[f"GIT_{who}_NAME"] = "bench"
        env[f"GIT_{who}_EMAIL"] = "bench@localhost"
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    subprocess.run(["git", "add", "-A"], cwd=root, check=True)
    subprocess.run(["git", "commit", "-qm", "x"], cwd=root, check=True, env=env)
    subprocess.run([*RUNYARD, "init"], cwd=root, check=True, capture_output=True, env=env)
    return root, env


def with_path(env: dict[str, str], folder: str | None) -> dict[str, str]:
    """`env` running the Runyard package found in `folder` (None: this one)."""
    if folder is None:
        return env
    return {**env, "PYTHONPATH": os.pathsep.join(p for p in (folder, env.get("PYTHONPATH")) if p)}


def time_to_first_line(cmd: list[str], cwd: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    proc = subprocess.Popen(
        cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.strip() == b"first line":
            elapsed = time.perf_counter() - start
            break
    else:
        raise SystemExit(f"no first line from {cmd}")
    proc.communicate()
    return elapsed


def median_run(cmd: list[str], cwd: Path, env: dict[str, str], times: int = 5) -> float:
    """Median wall time of running `cmd` to its end."""
    spent = []
    for _ in range(times):
        start = time.perf_counter()
        subprocess.run(cmd, cwd=cwd, env=env, check=True, capture_output=True)
        spent.append(time.perf_counter() - start)
    return statistics.median(spent)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--against", metavar="DIR", help="another Runyard's server/ folder")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root, env = bench_project(tmp)
        # warm the environment cache, the config validation cache and bytecode caches
        for _ in range(2):
            subprocess.run(
                [*RUNYARD, "submit", "train.py"], cwd=root, check=True, capture_output=True, env=env
            )
        time.sleep(1.0)  # the submit server the second one started, importing the CLI
        plain_env = {**env, "RUNYARD_SUBMIT_SERVER": "0"}
        other = with_path(env, str(Path(args.against).resolve())) if args.against else None
        if other is not None:
            subprocess.run(
                [*RUNYARD, "submit", "train.py"],
                cwd=root,
                check=True,
                capture_output=True,
                env=other,
            )
        bare: list[float] = []
        submit: list[float] = []
        against: list[float] = []
        plain: list[float] = []
        for _ in range(args.repeat):
            bare.append(time_to_first_line([sys.executable, "train.py"], root, env))
            submit.append(time_to_first_line([*RUNYARD, "submit", "train.py"], root, env))
            plain.append(time_to_first_line([*RUNYARD, "submit", "train.py"], root, plain_env))
            if other is not None:
                against.append(time_to_first_line([*RUNYARD, "submit", "train.py"], root, other))
        b, s = statistics.median(bare), statistics.median(submit)
        print(f"{'':34}{'median':>10}{'min':>10}")
        print(f"{'bare python train.py':34}{b:>9.3f}s{min(bare):>9.3f}s")
        print(f"{'runyard submit train.py':34}{s:>9.3f}s{min(submit):>9.3f}s")
        p = statistics.median(plain)
        print(f"{'  the same, plain (no server)':34}{p:>9.3f}s{min(plain):>9.3f}s")
        print(f"overhead of the plain command (median difference): {p - b:.3f}s")
        if against:
            a = statistics.median(against)
            print(f"{'  the same, --against Runyard':34}{a:>9.3f}s{min(against):>9.3f}s")
            print(f"overhead --against (median difference): {a - b:.3f}s")
        verdict = "met" if s - b <= 0.1 else "NOT met"
        print(f"submit overhead (median difference): {s - b:.3f}s   (goal: <= 0.1 s: {verdict})")
        print(f"ratio submit / bare: {s / b:.1f}x   ({args.repeat} runs each)")
        print("where the plain command's time goes (each in a fresh interpreter, median of 5):")
        for label, code in (
            ("interpreter start", "pass"),
            ("the CLI's modules for submit", "import runyard.cli.common, runyard.cli.submit"),
            ("the snapshot module", "import runyard.core.snapshot"),
            ("the supervisor's modules", "import runyard.runner.supervisor"),
            (
                "  the CLI's and the supervisor's",  # (the supervisor is a fork of the CLI)
                "import runyard.cli.common, runyard.cli.submit, runyard.runner.supervisor",
            ),
        ):
            print(f"  {label:32}{median_run([sys.executable, '-c', code], root, env):>9.3f}s")


if __name__ == "__main__":
    main()
