"""Azure ML Workbench's ``azureml.logging`` shim (``runyard/tracking/azureml``) in real
child interpreters, with a run's lib folder as the runner writes it and the tracking
file read back. Whole runs: tests/integration/test_azureml_logging.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

from runyard.runner.runs import _write_tracking_shim
from runyard.tracking.wire import decode_points


def _run(tmp_path: Path, code: str, *more: Path) -> tuple[subprocess.CompletedProcess[str], Path]:
    _write_tracking_shim(tmp_path / "run")
    tracking = tmp_path / "tracking.jsonl"
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("RUNYARD_") and k != "PYTHONPATH"
    }
    env.update(
        {
            "PYTHONPATH": os.pathsep.join(str(p) for p in (tmp_path / "run" / "lib", *more)),
            "RUNYARD_RUN_ID": "r1",
            "RUNYARD_TRACKING_URI": tracking.as_uri(),
            "RUNYARD_OUTPUTS": str(tmp_path / "outputs"),
        }
    )
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return proc, tracking


def _records(tracking: Path) -> tuple[dict[str, list[tuple[int, float]]], dict[str, Any]]:
    lines = [json.loads(line) for line in tracking.read_text().splitlines()]
    points: dict[str, list[tuple[int, float]]] = {}
    for line in lines:
        if "mc" in line or "m" in line:
            for key, value, step, _wall in decode_points(line):
                assert step is not None
                points.setdefault(key, []).append((step, value))
    tags = {k: v for line in lines for k, v in line.get("t", {}).items()}
    return points, tags


def test_scalars_are_points_at_the_next_step_and_lists_one_point_a_step(tmp_path: Path) -> None:
    proc, tracking = _run(
        tmp_path,
        """
        from azureml.logging import get_azureml_logger
        logger = get_azureml_logger()
        assert logger is get_azureml_logger()
        logger.log("Regularization Rate", 0.1)
        logger.log("Accuracy", 0.5)
        logger.log("Accuracy", 1)
        logger.log("Loss", [0.9, 0.5, 0.25])
        logger.log("Loss", (0.125,))
        logger.log("Converged", True)
        logger.log("Cell", "Set up run")
        logger.log("Cell", "Train")
        logger.log("Confusion", [[5, 1], [0, 4]])
        print("logged")
        """,
    )
    assert proc.returncode == 0, proc.stderr
    points, tags = _records(tracking)
    assert points == {
        "Regularization Rate": [(0, 0.1)],
        "Accuracy": [(0, 0.5), (1, 1.0)],
        "Loss": [(0, 0.9), (1, 0.5), (2, 0.25), (3, 0.125)],
        "Converged": [(0, 1.0)],
    }
    assert tags == {"Cell": "Train", "Confusion": "[[5, 1], [0, 4]]"}


def test_a_name_that_is_not_text_raises_and_what_was_logged_stays(tmp_path: Path) -> None:
    proc, tracking = _run(
        tmp_path,
        """
        from azureml.logging import get_azureml_logger
        logger = get_azureml_logger()
        logger.log("kept", 1.5)
        try:
            logger.log(3, 1.0)
        except TypeError as exc:
            print("refused:", exc)
        """,
    )
    assert proc.returncode == 0, proc.stderr
    assert "refused: azureml.logging: the name must be a non-empty string, got 3" in proc.stdout
    assert _records(tracking)[0] == {"kept": [(0, 1.5)]}


def test_the_shim_hides_no_other_azureml_package_only_its_logging(tmp_path: Path) -> None:
    site = tmp_path / "site"
    (site / "azureml" / "core").mkdir(parents=True)
    (site / "azureml" / "__init__.py").write_text("SDK_NAME = 'installed'\n")
    (site / "azureml" / "core" / "__init__.py").write_text("WORKSPACE = 'ws'\n")
    (site / "azureml" / "logging.py").write_text("raise ImportError('Workbench only')\n")
    proc, _ = _run(
        tmp_path,
        """
        import azureml, azureml.core, azureml.logging
        print(azureml.SDK_NAME, azureml.core.WORKSPACE, azureml.logging.get_azureml_logger)
        """,
        site,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("installed ws <function get_azureml_logger")
