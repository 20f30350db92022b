"""Benchmark: the packaged extension in a real VS Code (code-server in headless Chromium).

Run:  .venv/bin/python tests/bench/bench_extension.py [--loads 3] [--submits 5]
                                                       [--no-warm-start]

Uses what the end-to-end tests use (tests/e2e/harness.py): code-server from
RUNYARD_VSCODE_DIR, Chromium, the `playwright` package, and the vsix from RUNYARD_VSIX
or built by scripts/build-vsix.sh. Prints:

1. the .vsix size (goal: under 15 MB) and what takes the room in it;
2. activation, over `--loads` fresh windows on a Runyard project (median, min, max):
   page load to the workbench's status bar (VS Code itself, the baseline), and to the
   Compute Targets view showing the `local` target; the difference is what Runyard adds;
   next to it the extension's own log: "activated in N ms" and "Runyard server ready
   in N ms" (its Python server's start, measured by the extension);
   and per window, with how many servers the warm server (runyard.lsp.warm) forked:
   the first window's starts the plain way;
3. submit: "Runyard: Submit Run" chosen in the palette to the run's row in the Runs
   view, the first (builds the run's environment) and the median of the rest, each
   run waited on until it completes before the next.

No assertions: this is a measurement.
"""

from __future__ import annotations

import argparse
import datetime
import re
import statistics
import sys
import tempfile
import time
import zipfile
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root

from tests.e2e import harness
from tests.e2e.harness import CodeServer, Workbench

MB = 1024 * 1024

MILESTONES = {
    "statusbar": "workbench status bar (VS Code itself)",
    "git": "Git's branch in the status bar (a built-in extension)",
    "icon": "Runyard icon in the activity bar",
    "activated": "Runyard activated (its log)",
    "ready": "Runyard server ready (its log)",
    "local": "Compute Targets shows 'local'",
}

# Notes in window.__marks when each milestone is first seen (ms since navigation start),
# so that all are timed in the same load without the test's own polling in the way.
RECORD_MILESTONES = """(() => {
  if (window.top !== window) return;
  window.__marks = {};
  const texts = (sel) => [...document.querySelectorAll(sel)].map((e) => e.textContent.trim());
  const checks = {
    statusbar: () => document.querySelector('.part.statusbar'),
    git: () => texts('.part.statusbar .statusbar-item').some((t) => /\\bmain\\b/.test(t)),
    icon: () => document.querySelector('.activitybar a[aria-label*="Runyard"]'),
    local: () => texts('.part.sidebar .pane .monaco-list-row .label-name').includes('local'),
  };
  const tick = () => {
    for (const [key, check] of Object.entries(checks)) {
      if (!(key in window.__marks) && check()) window.__marks[key] = performance.now();
    }
    if (Object.keys(window.__marks).length < Object.keys(checks).length) setTimeout(tick, 10);
    else window.__marksDone = true;
  };
  setTimeout(tick, 0);
})()"""

# True once the Runs view holds more rows labelled "train.py …" than `before`.
NEW_RUN_ROW = """before => {
  const panes = [...document.querySelectorAll('.part.sidebar .pane')];
  const runs = panes.find(p => (p.querySelector('.pane-header')?.textContent ?? '').trim().startsWith('Runs'));
  if (!runs) return false;
  const rows = [...runs.querySelectorAll('.monaco-list-row .label-name')]
    .filter(e => e.textContent.startsWith('train.py '));
  return rows.length > before;
}"""


def vsix_report(vsix: Path) -> None:
    size = vsix.stat().st_size
    with zipfile.ZipFile(vsix) as z:
        infos = z.infolist()
    by_part: Counter[str] = Counter()
    for info in infos:
        parts = info.filename.split("/")
        key = "/".join(parts[:4]) if parts[1:2] == ["bundled"] else "/".join(parts[:2])
        by_part[key] += info.compress_size
    print(f".vsix: {vsix.name} {size / MB:.2f} MB ({len(infos)} files)   (goal: < 15 MB)")
    for key, n in by_part.most_common(5):
        print(f"  {n / MB:6.2f} MB  {key}")


def stats(xs: list[float]) -> str:
    return f"median {statistics.median(xs):6.2f} s  min {min(xs):6.2f}  max {max(xs):6.2f}"


def log_lines(server: CodeServer) -> list[tuple[float, str]]:
    """(wall-clock time, message) of every line the extension wrote to its Runyard log,
    all windows."""
    found: list[tuple[float, str]] = []
    for path in server.log_files("Runyard.log"):
        for line in path.read_text(errors="replace").splitlines():
            m = re.match(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+) \[\w+\] (.*)", line)
            if m:
                when = datetime.datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S.%f")
                found.append((when.timestamp(), m.group(2)))
    return sorted(found)


def logged(server: CodeServer, pattern: str, since: float = 0.0) -> list[tuple[float, int]]:
    """(time, N) of each log line matching `pattern` (one group: N) written after `since`."""
    out = []
    for when, text in log_lines(server):
        m = re.search(pattern, text)
        if m and when >= since:
            out.append((when, int(m.group(1))))
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--loads", type=int, default=3)
    parser.add_argument("--submits", type=int, default=5)
    parser.add_argument(
        "--no-warm-start",
        action="store_true",
        help="every window starts its server the plain way (runyard.server.warmStart off)",
    )
    args = parser.parse_args()
    try:
        harness.check_playwright()
        harness.check_code_server()
        harness.chromium()
        python = harness.server_python()
        vsix = harness.build_vsix()
    except harness.Unavailable as exc:
        raise SystemExit(f"bench_extension: {exc}") from None
    vsix_report(vsix)

    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        folder = harness.make_project(home / "proj", {"train.py": harness.train_py(0.1)})
        server = CodeServer(
            home=home / "code-server",
            vsix=vsix,
            python=python,
            settings={"runyard.server.warmStart": False} if args.no_warm_start else {},
        )
        # a closed window's extension host (and Runyard server) ends soon after, so
        # earlier loads do not compete with later ones
        with (
            server.serving(["--reconnection-grace-time", "2"]),
            harness.launched_browser() as browser,
        ):
            measure(server, browser, folder, args.loads, args.submits)


def measure(server: CodeServer, browser: object, folder: Path, loads: int, submits: int) -> None:
    marks: dict[str, list[float]] = {name: [] for name in MILESTONES.values()}
    server_ms: list[int] = []
    activate_ms: list[int] = []
    wb: Workbench | None = None
    for i in range(loads):
        page = browser.new_page(viewport={"width": 1440, "height": 900})  # type: ignore[attr-defined]
        page.add_init_script(RECORD_MILESTONES)
        wb = Workbench(page, server, folder)
        page.goto(server.url(folder))
        wb.show_runyard()  # a click as soon as its icon shows
        wb.tree_row("Compute Targets", "local").wait_for(timeout=120_000)
        page.wait_for_function("window.__marksDone === true", timeout=60_000)
        seen: dict[str, float] = page.evaluate("window.__marks")
        origin = float(page.evaluate("performance.timeOrigin")) / 1000  # navigation start
        ready = harness.until(
            lambda since=origin: logged(server, r"server ready in (\d+) ms", since),
            timeout=60,
            what="the extension logging its server start",
        )
        activated = logged(server, r"activated in (\d+) ms", origin)
        for key, name in MILESTONES.items():
            if key == "activated" and activated:
                marks[name].append(activated[0][0] - origin)
            elif key == "ready":
                marks[name].append(ready[0][0] - origin)
            elif key in seen:
                marks[name].append(seen[key] / 1000)
        server_ms.append(ready[0][1])
        if activated:
            activate_ms.append(activated[0][1])
        if i < loads - 1:
            page.close()
    assert wb is not None
    print(f"\nactivation: navigation start -> ..., {loads} fresh windows")
    for name, xs in marks.items():
        if xs:
            print(f"  {name:58}{stats(xs)}")
    base = statistics.median(marks[MILESTONES["git"]])
    ours = statistics.median(marks[MILESTONES["local"]])
    print(
        f"  the target shows {ours - base:+.2f} s after Git's branch "
        f"({ours / base:.2f}x the time to a built-in extension's first UI)"
    )
    # per window: the first starts its server the plain way (and starts the warm
    # server, runyard.lsp.warm); the later ones are forked from it where it is ready
    gaps = [
        t - g for t, g in zip(marks[MILESTONES["local"]], marks[MILESTONES["git"]], strict=False)
    ]
    print(f"  per window, target after Git's branch: {', '.join(f'{g:+.2f}' for g in gaps)} s")
    served = sum(len(log.read_text().splitlines()) - 1 for log in server.warm_logs())
    print(f"  windows whose server the warm server forked: {served} of {loads}")
    if len(gaps) > 1:
        print(f"  later windows (median): {statistics.median(gaps[1:]):+.2f} s")
    if activate_ms:
        print(f"  extension log: activate() took {statistics.median(activate_ms)} ms (median)")
    print(
        f"  extension log: server ready in {statistics.median(server_ms)} ms "
        f"(median; {', '.join(map(str, server_ms))})"
    )

    if submits < 1:
        return
    to_row: list[float] = []
    page = wb.page
    since = time.time()
    for _ in range(submits):
        before = len([x for x in wb.row_labels("Runs") if x.startswith("train.py ")])
        wb.open_file("train.py")
        wb.palette(">Runyard: Submit Run")
        wb.palette_row("Runyard: Submit Run").wait_for(timeout=30_000)
        started = time.perf_counter()
        page.keyboard.press("Enter")
        page.wait_for_function(NEW_RUN_ROW, arg=before, polling="raf", timeout=120_000)
        to_row.append(time.perf_counter() - started)
        newest = (
            wb.view("Runs")
            .locator(".monaco-list-row")
            .filter(has=page.locator(".label-name", has_text=re.compile(r"^train\.py ")))
            .first
        )
        harness.until(
            lambda row=newest: "completed" in wb.row_description(row),
            timeout=180,
            what="the submitted run completing",
        )
    submitted = [ms for _, ms in logged(server, r"Submitted .* in (\d+) ms", since)]
    print(f"\nsubmit: palette Enter -> the run's row in the Runs view, {submits} runs")
    print(f"  first (builds the run's environment): {to_row[0]:.3f} s")
    if len(to_row) > 1:
        print(f"  next {len(to_row) - 1}: {stats(to_row[1:])}")
    if submitted:
        print(f"  extension log: submit request took {', '.join(map(str, submitted))} ms")
    wb.shot("bench-extension")


if __name__ == "__main__":
    main()
