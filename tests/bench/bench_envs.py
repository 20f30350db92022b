"""Benchmark: a run environment built with pip and with uv, for the same spec.

Run:  .venv/bin/python tests/bench/bench_envs.py [--packages "scikit-learn pandas matplotlib"]
                                                  [--repeat 1] [--dir DIR]

Each build is Runyard's own (`runyard.core.envs.ensure_env`, as a local run makes its
environment) into a fresh folder, from the same requirements.txt, once with pip
(`python -m venv` + `pip install`) and once with uv (`uv venv` + `uv pip install`):

- cold: the installer's cache is empty (a new cache folder: every wheel is downloaded),
- warm: the same build again into a new folder, with the cache the cold build filled.

Both installers take packages from the same sources (pip's configuration, told to uv by
`runyard.core.pip_sources`). Prints the median seconds of `--repeat` builds side by
side, the pip/uv ratio of each, and checks that both resolved the same packages (pip's
own seed packages aside), and how much of uv's cold build was downloading (uv's own
"Prepared N packages in X": fetching and unpacking, which any installer does). Goal: uv
at least 10x faster than pip for a first (cold) build. Then environments shared by their
lock: a second spec that names the same set another way (the first's pins) is made in
the same cache of environments, where uv resolves it ahead and finds the first's
environment (no build), beside a build of the same. No assertions: a measurement.

The disk: a cold build writes every file of every wheel once (uv into its cache, then
hard links; pip into the environment, then its bytecode), so where creating a file is
slow, both installers wait on the disk, and the ratio says more about the disk than the
installers. The benchmark prints the kernel time of each build's installer processes,
measures what making a file costs where it builds (the kernel's time for 2,000 small
files), counts the files a uv-built environment holds, and prints the share of any
cold build there those two set. `--dir` puts everything (caches, environments, the
installers' temporary files) on another file system, for example `--dir /dev/shm`
(memory) beside a run on the disk. Every build is kept until the end (about 1.5 GB a
repeat): deleting one just before the next would slow the next, since ext4 without a
journal looks past each inode freed in the last half minute whenever it makes a file
(10,000 files freed made each new one cost about 1 ms of kernel time instead of
0.1-0.3 ms).
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from runyard.core import envs

SEEDED = {"pip", "setuptools", "wheel"}


PREPARED = re.compile(r"Prepared \d+ packages? in ([\d.]+)(ms|s)\b")


@dataclass
class Build:
    seconds: float
    kernel: float  # seconds the installers' processes spent in the kernel
    lock: envs.EnvLock


def build(installer: str, work: Path, envs_dir: Path, log: Path) -> Build:
    """One build of work/requirements.txt into `envs_dir` (new), its output in `log`."""
    spec = envs.find_spec(work, None)
    with log.open("wb") as out:
        before = os.times()
        start = time.perf_counter()
        env = envs.ensure_env(
            envs_dir,
            spec,
            work,
            index_url=None,
            system_site_packages=False,
            log=lambda _line: None,
            log_fd=out.fileno(),
            installer=installer,
        )
        seconds = time.perf_counter() - start
        kernel = os.times().children_system - before.children_system
    assert not env.reused and env.installer == installer, env
    return Build(seconds, kernel, envs.read_lock(env.python, installer))


def uv_fetch_seconds(log: Path) -> float | None:
    """What uv says it spent downloading and unpacking ("Prepared N packages in X")."""
    m = PREPARED.search(log.read_text(errors="replace"))
    if m is None:
        return None
    return float(m.group(1)) / (1000 if m.group(2) == "ms" else 1)


def with_cache(installer: str, cache: Path) -> Callable[[], None]:
    """Point the installer at `cache` (and only it) for the builds that follow."""

    def apply() -> None:
        for name in ("PIP_NO_CACHE_DIR", "UV_NO_CACHE"):
            os.environ.pop(name, None)
        os.environ["PIP_CACHE_DIR" if installer == "pip" else "UV_CACHE_DIR"] = str(cache)

    return apply


def shared_by_lock(base: Path, work: Path) -> tuple[float, float]:
    """(seconds to make an environment for a second spec that pins exactly what `work`'s
    resolved to, in the cache where `work`'s was built: shared; seconds of a warm build
    of the first spec, for scale)."""
    with_cache("uv", base / "cache-shared")()
    envs_dir = base / "envs-shared"
    first = build("uv", work, envs_dir, base / "shared-first.log")  # cold: fills the cache
    built = build("uv", work, base / "envs-shared-warm", base / "shared-warm.log").seconds
    pinned = base / "work-pinned"
    pinned.mkdir()
    (pinned / "requirements.txt").write_text("\n".join(first.lock.requirements()) + "\n")
    spec = envs.find_spec(pinned, None)
    said: list[str] = []
    with open(os.devnull, "wb") as null:
        start = time.perf_counter()
        env = envs.ensure_env(
            envs_dir, spec, pinned, index_url=None, system_site_packages=False,
            log=said.append, log_fd=null.fileno(), installer="uv",
        )  # fmt: skip
        seconds = time.perf_counter() - start
    if not (env.reused and env.prefix is not None and env.prefix.parent == envs_dir):
        raise SystemExit(f"bench_envs: the pinned spec did not share the environment: {env}")
    if any(line.startswith("building environment") for line in said):
        print("(uv could not resolve the second spec ahead: it was built, then shared by its lock)")
    return seconds, built


def file_cost(folder: Path, count: int = 2000) -> float:
    """Seconds of the kernel's time to create (and write 4 KiB into) one new file in
    `folder` (new; left for the caller to remove after the builds): what every file of a
    cold build costs at least."""
    folder.mkdir()
    data = b"x" * 4096
    before = os.times()
    for i in range(count):
        with open(folder / f"f{i}", "wb") as out:
            out.write(data)
    after = os.times()
    return (after.system - before.system) / count


def files_in(prefix: Path) -> int:
    """Regular files under `prefix` (an environment)."""
    return sum(len(files) for _root, _dirs, files in os.walk(prefix))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--packages", default="scikit-learn pandas matplotlib")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument(
        "--dir", type=Path, default=None, help="where to build (default: the temporary folder)"
    )
    opts = parser.parse_args()
    if envs.find_uv() is None:
        raise SystemExit("bench_envs: uv is not installed (pip install uv)")
    base = Path(tempfile.mkdtemp(prefix="runyard-bench-envs-", dir=opts.dir))
    try:
        (base / "tmp").mkdir()
        os.environ["TMPDIR"] = str(base / "tmp")  # the installers' temporary files too
        work = base / "work"
        work.mkdir()
        (work / "requirements.txt").write_text("\n".join(opts.packages.split()) + "\n")
        print(f"spec: {opts.packages}; Python {platform.python_version()}; repeat {opts.repeat}")
        cost = file_cost(base / "file-cost")
        print(
            f"building in {base.parent}: making a file there costs {cost * 1e6:.0f} µs of kernel time"
        )
        results: dict[tuple[str, str], list[float]] = {}
        kernel: dict[tuple[str, str], list[float]] = {}
        locks: dict[str, envs.EnvLock] = {}
        fetching: list[float] = []
        created = 0
        n = 0
        for _ in range(opts.repeat):
            for installer in ("pip", "uv"):
                cache = base / f"cache-{installer}-{n}"  # new and empty: cold
                with_cache(installer, cache)()
                for state in ("cold", "warm"):
                    n += 1
                    log = base / f"build-{n}.log"
                    done = build(installer, work, base / f"envs-{n}", log)
                    results.setdefault((installer, state), []).append(done.seconds)
                    kernel.setdefault((installer, state), []).append(done.kernel)
                    locks[installer] = done.lock
                    if (installer, state) == ("uv", "cold"):
                        created = files_in(base / f"envs-{n}")
                        fetched = uv_fetch_seconds(log)
                        if fetched is not None:
                            fetching.append(fetched)
        med = {key: statistics.median(values) for key, values in results.items()}
        sys_med = {key: statistics.median(values) for key, values in kernel.items()}
        print()
        print(f"{'build':10} {'pip (s)':>9} {'uv (s)':>9} {'pip/uv':>8}   kernel time: pip, uv (s)")
        for state in ("cold", "warm"):
            pip, uv = med[("pip", state)], med[("uv", state)]
            print(
                f"{state:10} {pip:9.2f} {uv:9.2f} {pip / uv:7.1f}x   "
                f"{sys_med[('pip', state)]:.2f}, {sys_med[('uv', state)]:.2f}"
            )
        pip_set = {k: v for k, v in locks["pip"].packages if k not in SEEDED}
        uv_set = dict(locks["uv"].packages)
        same = "same" if pip_set == uv_set else "DIFFERENT"
        print()
        print(f"resolved: {len(uv_set)} distributions, {same} for pip and uv")
        if pip_set != uv_set:
            for name in sorted(set(pip_set) | set(uv_set)):
                if pip_set.get(name) != uv_set.get(name):
                    print(f"  {name}: pip {pip_set.get(name)}, uv {uv_set.get(name)}")
        if fetching:
            fetched = statistics.median(fetching)
            print(
                f"uv cold: {fetched:.2f} s of its {med[('uv', 'cold')]:.2f} s downloading and "
                "unpacking the wheels (which any installer does)"
            )
        cores = os.cpu_count() or 1
        disk = created * cost / cores  # 0 where the probe was under the clock's tick
        print(
            f"the disk's share: {created} files in the environment x {cost * 1e6:.0f} µs "
            f"/ {cores} cores = {disk:.2f} s of any cold build here, which no installer "
            "avoids" + (f" (pip/that {med[('pip', 'cold')] / disk:.1f}x)" if disk > 0 else "")
        )
        shared, built = shared_by_lock(base, work)
        print(
            f"a second spec of the same set: {shared:.2f} s to share the first's environment "
            f"(uv resolves it ahead), against {built:.2f} s to build it warm"
        )
        ratio = med[("pip", "cold")] / med[("uv", "cold")]
        print(f"goal: uv >= 10x faster than pip cold: {'met' if ratio >= 10 else 'NOT met'}")
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
