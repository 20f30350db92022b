"""Benchmark: a run environment built with pip and with uv, for the same spec.

Run:  .venv/bin/python tests/bench/bench_envs.py [--packages "scikit-learn pandas matplotlib"]
                                                  [--repeat 1]

Each build is Runyard's own (`runyard.core.envs.ensure_env`, as a local run makes its
environment) into a fresh folder, from the same requirements.txt, once with pip
(`python -m venv` + `pip install`) and once with uv (`uv venv` + `uv pip install`):

- cold: the installer's cache is empty (a new cache folder: every wheel is downloaded),
- warm: the same build again into a new folder, with the cache the cold build filled.

Both installers take packages from the same sources (pip's configuration, told to uv by
`runyard.core.pip_sources`). Prints the median seconds of `--repeat` builds side by
side, the pip/uv ratio of each, and checks that both resolved the same packages (pip's
own seed packages aside), and how much of uv's cold build was downloading (uv's own
"Prepared N packages in X": the network's share, which bounds any installer). Goal: uv
at least 10x faster than pip for a first (cold) build. Then environments shared by their
lock: a second spec that names the same set another way (the first's pins) is made in
the same cache of environments, where uv resolves it ahead and finds the first's
environment (no build), beside a build of the same. No assertions: a measurement.
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
from pathlib import Path

from runyard.core import envs

SEEDED = {"pip", "setuptools", "wheel"}


PREPARED = re.compile(r"Prepared \d+ packages? in ([\d.]+)(ms|s)\b")


def build(installer: str, work: Path, envs_dir: Path, log: Path) -> tuple[float, envs.EnvLock]:
    """One build of work/requirements.txt into `envs_dir` (new), its output in `log`:
    (seconds, its lock)."""
    spec = envs.find_spec(work, None)
    with log.open("wb") as out:
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
    assert not env.reused and env.installer == installer, env
    return seconds, envs.read_lock(env.python, installer)


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


def shared_by_lock(base: Path, work: Path, lock: envs.EnvLock) -> tuple[float, float]:
    """(seconds to make an environment for a second spec that pins exactly what `work`'s
    resolved to, in the cache where `work`'s was built: shared; seconds of a warm build
    of the first spec, for scale)."""
    with_cache("uv", base / "cache-shared")()
    envs_dir = base / "envs-shared"
    build("uv", work, envs_dir, base / "shared-first.log")  # cold: fills the cache
    built, _lock = build("uv", work, base / "envs-shared-warm", base / "shared-warm.log")
    pinned = base / "work-pinned"
    pinned.mkdir()
    (pinned / "requirements.txt").write_text("\n".join(lock.requirements()) + "\n")
    spec = envs.find_spec(pinned, None)
    with open(os.devnull, "wb") as null:
        start = time.perf_counter()
        env = envs.ensure_env(
            envs_dir, spec, pinned, index_url=None, system_site_packages=False,
            log=lambda _line: None, log_fd=null.fileno(), installer="uv",
        )  # fmt: skip
        seconds = time.perf_counter() - start
    assert env.reused and env.prefix is not None and env.prefix.parent == envs_dir, env
    return seconds, built


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--packages", default="scikit-learn pandas matplotlib")
    parser.add_argument("--repeat", type=int, default=1)
    opts = parser.parse_args()
    if envs.find_uv() is None:
        raise SystemExit("bench_envs: uv is not installed (pip install uv)")
    base = Path(tempfile.mkdtemp(prefix="runyard-bench-envs-"))
    try:
        work = base / "work"
        work.mkdir()
        (work / "requirements.txt").write_text("\n".join(opts.packages.split()) + "\n")
        print(f"spec: {opts.packages}; Python {platform.python_version()}; repeat {opts.repeat}")
        results: dict[tuple[str, str], list[float]] = {}
        locks: dict[str, envs.EnvLock] = {}
        fetching: list[float] = []
        n = 0
        for _ in range(opts.repeat):
            for installer in ("pip", "uv"):
                cache = base / f"cache-{installer}-{n}"  # new and empty: cold
                with_cache(installer, cache)()
                for state in ("cold", "warm"):
                    n += 1
                    log = base / f"build-{n}.log"
                    seconds, lock = build(installer, work, base / f"envs-{n}", log)
                    results.setdefault((installer, state), []).append(seconds)
                    locks[installer] = lock
                    if (installer, state) == ("uv", "cold"):
                        fetched = uv_fetch_seconds(log)
                        if fetched is not None:
                            fetching.append(fetched)
                    shutil.rmtree(base / f"envs-{n}", ignore_errors=True)
                shutil.rmtree(cache, ignore_errors=True)
        med = {key: statistics.median(values) for key, values in results.items()}
        print()
        print(f"{'build':10} {'pip (s)':>9} {'uv (s)':>9} {'pip/uv':>8}")
        for state in ("cold", "warm"):
            pip, uv = med[("pip", state)], med[("uv", state)]
            print(f"{state:10} {pip:9.2f} {uv:9.2f} {pip / uv:7.1f}x")
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
                "unpacking the wheels (the network's share, which no installer avoids)"
            )
        shared, built = shared_by_lock(base, work, locks["uv"])
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
