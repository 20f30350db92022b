"""A real run, submitted with the real `runyard` command, that logs bad tracking
input (a lone-surrogate name, a step at the top of int64 then an auto-step, a
step of 2**64) and leaves malformed lines in its tracking file: the run completes,
its outputs are kept, every good point is stored, and each bad line is named in
the run's log."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import runyard

pytestmark = pytest.mark.integration

INT64_MAX = 2**63 - 1

SCRIPT = r"""
import os
from urllib.parse import unquote, urlparse

import runyard

for i in range(50):
    runyard.log_metric("loss", 1.0 / (i + 1), step=i)
runyard.log_metric("bad\ud800", 1.0, step=0)  # a lone surrogate in the name
runyard.log_metric("near", 1.0, step=2**63 - 1)
runyard.flush()
runyard.log_metric("near", 2.0)  # an auto-step after the last int64 step
try:
    runyard.log_metric("loss", -1.0, step=2**64)
except ValueError as exc:
    print("refused:", exc)
for i in range(50, 100):
    runyard.log_metric("loss", 1.0 / (i + 1), step=i)
runyard.log_metrics({"acc": 0.75, "acc/top5": 0.875})
runyard.flush()

# What a broken writer could leave in the tracking file.
path = unquote(urlparse(os.environ["RUNYARD_TRACKING_URI"]).path)
with open(path, "ab") as f:
    f.write(b"{not json\n")
    f.write(b'{"m": [["raw\\ud800", 1.0, 1, 1000], ["raw", 2.0, 1, 1000]]}\n')
    f.write(b'{"a": 5}\n')
    f.write(b"[" * 100000 + b"\n")
runyard.log_metric("after", 3.0, step=1)

os.makedirs("outputs", exist_ok=True)
with open("outputs/model.txt", "w") as f:
    f.write("weights")
print("training done")
"""


def _json(proc: subprocess.CompletedProcess[str]) -> Any:
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_bad_tracking_input_never_fails_the_run_nor_costs_a_good_point(project: Path) -> None:
    (project / "train.py").write_text(SCRIPT, encoding="utf-8")
    proc = runyard(project, "submit", "train.py")
    run_id = proc.stdout.splitlines()[0].strip()
    show = _json(runyard(project, "runs", "show", run_id, "--json"))
    logs = runyard(project, "runs", "logs", run_id).stdout
    print(f"status {show['status']!r}, reason {show.get('reason')!r}")
    assert proc.returncode == 0, (proc.stdout, proc.stderr, logs)
    assert show["status"] == "completed", (show["reason"], logs)
    assert show["exit_code"] == 0

    # The outputs are kept.
    assert (Path(show["outputs_dir"]) / "model.txt").read_text() == "weights"
    assert {"path": "model.txt", "size": 7} in show["artifacts"]

    # Every good point is stored.
    points = _json(runyard(project, "runs", "metrics", run_id, "--json"))
    series: dict[str, list[tuple[int, float]]] = {}
    for p in points:
        series.setdefault(p["key"], []).append((p["step"], p["value"]))
    print({key: len(values) for key, values in series.items()})
    assert series["loss"] == [(i, 1.0 / (i + 1)) for i in range(100)]
    assert series["bad\ufffd"] == [(0, 1.0)]
    assert series["near"] == [(INT64_MAX, 1.0), (INT64_MAX, 2.0)]
    assert series["acc"] == [(0, 0.75)] and series["acc/top5"] == [(0, 0.875)]
    assert series["raw"] == [(1, 2.0)]
    assert series["after"] == [(1, 3.0)]
    assert set(series) == {"loss", "bad\ufffd", "near", "acc", "acc/top5", "raw", "after"}

    # The refused call said why; each bad line is named in the run's log.
    assert "refused: runyard: metric 'loss': step 18446744073709551616" in logs, logs
    warnings = [line for line in logs.splitlines() if "tracking.jsonl line" in line]
    print(*warnings, sep="\n")
    assert len(warnings) >= 4, logs
    assert any("'raw\\ud800'" in line for line in warnings), warnings
    assert any("'near'" in line for line in warnings), warnings
    assert "Traceback" not in logs
