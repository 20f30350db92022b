"""Benchmark: snapshot a 10,000-file project after one file changed.

Run:  .venv/bin/python tests/bench/bench_snapshot.py [--files 10000] [--repeat 5]

Prints, for a git repository and for a plain folder (shadow repository):
the cold first snapshot, then the median of `--repeat` snapshots each taken right after
changing one file; and, as the peer, plain git on a copy of the repository for the same
change: `git add -A && git commit` and `git stash create`. Goal: under 0.2 s.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from runyard.core.project import Project
from runyard.core.snapshot import take_snapshot

GIT_ID = ["-c", "user.name=Bench", "-c", "user.email=bench@example.com", "-c", "gc.auto=0"]


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *GIT_ID, *args], cwd=cwd, check=True, capture_output=True)


def make_tree(root: Path, n_files: int) -> None:
    """n_files small files in nested folders: 20 top folders x 10 sub-folders x n/200 files."""
    (root / ".runyard" / "targets").mkdir(parents=True)
    (root / ".runyard" / ".gitignore").write_text("state/\n")
    (root / ".runyard" / "targets" / "train.yaml").write_text("cmd: python train.py\n")
    (root / ".gitignore").write_text("*.log\n__pycache__/\n")
    per_leaf = max(1, n_files // 200)
    count = 0
    for a in range(20):
        for b in range(10):
            leaf = root / f"pkg{a:02d}" / f"mod{b}"
            leaf.mkdir(parents=True)
            for c in range(per_leaf):
                if count >= n_files:
                    return
                (leaf / f"file{c:03d}.py").write_text(f"# file {count}\nVALUE = {count}\n")
                count += 1


def median_time(fn: Callable[[int], object], change: Callable[[int], None], repeat: int) -> float:
    times = []
    for i in range(repeat):
        change(i)
        start = time.perf_counter()
        fn(i)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def changer(root: Path) -> Callable[[int], None]:
    def change(i: int) -> None:
        path = root / "pkg07" / "mod3" / "file004.py"
        path.write_text(f"# changed {i} {time.time()}\n")

    return change


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    opts = parser.parse_args()
    goal = 0.2
    base = Path(tempfile.mkdtemp(prefix="runyard-bench-"))
    try:
        print(
            f"git: {subprocess.run(['git', '--version'], capture_output=True, text=True).stdout.strip()}"
        )
        print(f"files: {opts.files}, repeat: {opts.repeat}, folder: {base}")

        # Git repository case.
        repo = base / "repo"
        make_tree(repo, opts.files)
        git(repo, "init", "-q")
        time.sleep(1.1)  # files older than the index, as in real life (no racily clean entries)
        git(repo, "add", "-A")
        git(repo, "commit", "-qm", "base")
        peer = base / "peer"
        shutil.copytree(repo, peer, symlinks=True)
        peer2 = base / "peer2"
        shutil.copytree(repo, peer2, symlinks=True)
        project = Project(repo)
        start = time.perf_counter()
        take_snapshot(project, "cold")
        cold = time.perf_counter() - start
        ours = median_time(lambda i: take_snapshot(project, f"r{i}"), changer(repo), opts.repeat)

        def peer_commit(i: int) -> None:
            git(peer, "add", "-A")
            git(peer, "commit", "-qm", f"c{i}", "--no-verify")

        peer_c = median_time(peer_commit, changer(peer), opts.repeat)
        peer_s = median_time(lambda i: git(peer2, "stash", "create"), changer(peer2), opts.repeat)

        # Plain folder (shadow repository) case.
        plain = base / "plain"
        make_tree(plain, opts.files)
        time.sleep(1.1)
        shadow_project = Project(plain)
        start = time.perf_counter()
        take_snapshot(shadow_project, "cold")
        shadow_cold = time.perf_counter() - start
        shadow = median_time(
            lambda i: take_snapshot(shadow_project, f"r{i}"), changer(plain), opts.repeat
        )

        print()
        print(f"{'case':44} {'seconds':>8}")
        print(f"{'git repo: first snapshot (cold)':44} {cold:8.3f}")
        print(f"{'git repo: snapshot after 1 change (median)':44} {ours:8.3f}")
        print(f"{'peer: git add -A && git commit (median)':44} {peer_c:8.3f}")
        print(f"{'peer: git stash create (median)':44} {peer_s:8.3f}")
        print(f"{'shadow: first snapshot (cold)':44} {shadow_cold:8.3f}")
        print(f"{'shadow: snapshot after 1 change (median)':44} {shadow:8.3f}")
        print()
        print(f"ratio git repo / (add+commit): {ours / peer_c:.2f}x")
        print(f"ratio git repo / stash create: {ours / peer_s:.2f}x")
        print(f"ratio shadow / (add+commit):   {shadow / peer_c:.2f}x")
        worst = max(ours, shadow)
        print(f"goal < {goal:.2f} s: {'met' if worst < goal else 'NOT met'} (worst {worst:.3f} s)")
    finally:
        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("GIT_CONFIG_NOSYSTEM", "1")
    sys.exit(main())
