"""Runyard: runs with git snapshots, live metrics, compare and restore.

Inside a run, ``import runyard`` gives the tracking calls::

    import runyard

    runyard.log_params({"lr": 3e-4, "batch_size": 64})
    for step in range(1000):
        runyard.log_metric("train/loss", loss, step=step)

This module imports only ``runyard.tracking`` (standard library only), so it
costs a few milliseconds and works where Runyard itself is not installed.
"""

from runyard.tracking import (
    active_run_id,
    flush,
    log_artifact,
    log_metric,
    log_metrics,
    log_param,
    log_params,
    set_tag,
)

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "active_run_id",
    "flush",
    "log_artifact",
    "log_metric",
    "log_metrics",
    "log_param",
    "log_params",
    "set_tag",
]
