"""A script that ends while the tracking client's background writer is writing still
leaves every point in the tracking file (seen in the fault matrix: a whole flush of
30,000 points missing after a normal exit)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

SERVER = Path(__file__).resolve().parents[2] / "server"

SCRIPT = """\
import threading, time
import runyard
from runyard.tracking import client

write = client._append_to_file
writing = threading.Event()


def slow_disk(data):
    writing.set()
    time.sleep(1.0)
    write(data)


client._append_to_file = slow_disk
for i in range(1000):
    runyard.log_metric("x", float(i), step=i)
assert writing.wait(60), "the background writer never wrote"
# the writer has taken every point and is writing them: the script ends now
"""


def test_points_the_background_writer_is_writing_at_exit_reach_the_file(tmp_path: Path) -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("RUNYARD_") and k not in ("PYTHONPATH", "PYTHONSTARTUP")
    }
    tracking = tmp_path / "tracking.jsonl"
    env |= {
        "PYTHONPATH": str(SERVER),
        "RUNYARD_RUN_ID": "run-1",
        "RUNYARD_TRACKING_URI": tracking.as_uri(),
        "RUNYARD_OUTPUTS": str(tmp_path / "outputs"),
    }
    (tmp_path / "script.py").write_text(textwrap.dedent(SCRIPT))
    proc = subprocess.run(
        [sys.executable, "script.py"], cwd=tmp_path, env=env, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    import json

    from runyard.tracking.wire import decode_points

    points = [
        p
        for line in (tracking.read_bytes().splitlines() if tracking.exists() else [])
        for p in decode_points(json.loads(line))
    ]
    print(f"\n{len(points)} of 1000 points in the tracking file")
    assert len(points) == 1000
