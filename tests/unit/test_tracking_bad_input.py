"""Bad input to the tracking client: refused at the call with a clear error, or
sanitised when written, and never at the cost of the other points.

Like ``test_tracking.py``, each test runs a small script in a real child process
with the environment the runner sets, and reads the tracking file back.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.unit.test_tracking import _attempts, _env, _ok, _points, _records, _run

INT64_MAX = 2**63 - 1


def test_a_step_outside_int64_is_refused_at_the_call_naming_the_metric_and_the_range(
    tmp_path: Path,
) -> None:
    script = """
        class Index:  # a numpy-like integer: only __index__
            def __init__(self, n):
                self.n = n
            def __index__(self):
                return self.n

        results = {
            "2**64": attempt(runyard.log_metric, "loss", 1.0, step=2**64),
            "2**63": attempt(runyard.log_metric, "loss", 1.0, step=2**63),
            "-(2**63)": attempt(runyard.log_metric, "loss", 1.0, step=-(2**63)),
            "-(2**64)": attempt(runyard.log_metric, "loss", 1.0, step=-(2**64)),
            "int value, big step": attempt(runyard.log_metric, "loss", 1, step=2**64),
            "index 2**64": attempt(runyard.log_metric, "loss", 1.0, step=Index(2**64)),
            "batch 2**64": attempt(runyard.log_metrics, {"a": 1.0, "b": 2.0}, step=2**64),
            "batch -(2**63)": attempt(runyard.log_metrics, {"a": 1.0}, step=-(2**63)),
            "max": attempt(runyard.log_metric, "edge", 1.0, step=2**63 - 1),
            "min": attempt(runyard.log_metric, "edge", 2.0, step=-(2**63) + 1),
            "index max": attempt(runyard.log_metric, "edge", 3.0, step=Index(2**63 - 1)),
        }
    """
    results = _attempts(script, tmp_path)
    print({k: v for k, v in results.items() if k in ("2**64", "-(2**63)")})
    for case in ("2**64", "2**63", "-(2**63)", "-(2**64)", "int value, big step", "index 2**64"):
        assert results[case] is not None, f"{case}: accepted"
        kind, message = results[case]
        assert kind == "ValueError", (case, kind, message)
        assert "'loss'" in message and "step" in message, message
        assert str(-(2**63) + 1) in message and str(INT64_MAX) in message, message
    for case in ("batch 2**64", "batch -(2**63)"):
        assert results[case] is not None and results[case][0] == "ValueError", case
        assert str(INT64_MAX) in results[case][1]
    assert "no step" in results["-(2**63)"][1], "say why the lowest int64 is not a step"
    for case in ("max", "min", "index max"):
        assert results[case] is None, (case, results[case])
    # The edges are stored as they were given; nothing refused was recorded.
    points = [p[:3] for p in _points(_records(tmp_path))]
    assert points == [
        ["edge", 1.0, INT64_MAX],
        ["edge", 2.0, -(2**63) + 1],
        ["edge", 3.0, INT64_MAX],
    ]


def test_one_out_of_range_step_never_costs_the_other_points_of_the_flush(
    tmp_path: Path,
) -> None:
    script = """
        import runyard
        for i in range(100):
            runyard.log_metric("loss", float(i), step=i)
        try:
            runyard.log_metric("loss", -1.0, step=2**64)
        except ValueError as exc:
            print("refused:", exc)
        for i in range(100, 200):
            runyard.log_metric("loss", float(i), step=i)
        runyard.log_metric("auto", 1.0)
        runyard.flush()
    """
    proc = _ok(_run(script, _env(tmp_path), tmp_path))
    print(proc.stdout.strip()[:200], proc.stderr.strip()[:200])
    points = [p[:3] for p in _points(_records(tmp_path))]
    assert points == [["loss", float(i), i] for i in range(200)] + [["auto", 1.0, None]]
    assert "tracking writer error" not in proc.stderr


def test_names_and_values_with_lone_surrogates_are_written_with_a_replacement_character(
    tmp_path: Path,
) -> None:
    script = r"""
        import runyard
        runyard.log_metric("bad\ud800", 1.0, step=0)
        runyard.log_metric("good", 2.0, step=0)
        runyard.log_metrics({"bad\udcff/x": 3.0, "ok ü 🚀": 4.0}, step=1)
        runyard.log_param("p\udc80", "v\ud800")
        runyard.set_tag("t", "\udfff")
        runyard.log_metric("bad\ud800", 5.0, step=1)  # warned about once
        runyard.flush()
    """
    proc = _ok(_run(script, _env(tmp_path), tmp_path))
    data = (tmp_path / "tracking.jsonl").read_bytes()
    print(data[:300])
    records = _records(tmp_path)
    # Every name and value in the file is text UTF-8 can hold (the store's encoding).
    json.dumps(records, ensure_ascii=False).encode("utf-8")
    points = [p[:3] for p in _points(records)]
    assert points == [
        ["bad\ufffd", 1.0, 0],
        ["good", 2.0, 0],
        ["bad\ufffd/x", 3.0, 1],
        ["ok ü 🚀", 4.0, 1],
        ["bad\ufffd", 5.0, 1],
    ]
    params = {k: v for rec in records for k, v in rec.get("p", {}).items()}
    tags = {k: v for rec in records for k, v in rec.get("t", {}).items()}
    assert params == {"p\ufffd": "v\ufffd"}
    assert tags == {"t": "\ufffd"}
    warnings = [line for line in proc.stderr.splitlines() if "surrogate" in line]
    assert any("'bad\\ud800'" in line and "'bad\\ufffd'" in line for line in warnings), warnings
    assert sum("'bad\\ud800'" in line for line in warnings) == 1, warnings
