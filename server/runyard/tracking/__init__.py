"""Runyard's tracking API, used from inside a run.

Standard library only, and self-contained: the runner copies this folder (with
``runyard/__init__.py``) into a shim directory for run environments that do not
install Runyard, so nothing here imports from ``runyard`` outside ``tracking``.

The transport is an append-only JSON-lines file named by ``RUNYARD_TRACKING_URI``
(``file:///abs/path/tracking.jsonl``); each line is one of
``{"m": [[key, value, step_or_null, wall_time_ns], ...]}``, ``{"p": {...}}``,
``{"t": {...}}`` or ``{"a": [{"path": ..., "size": ...}]}`` (metric points usually
go packed by column, ``{"mc": ...}``: see ``wire``). What cannot be stored is
refused at the call (TypeError/ValueError: a step outside int64, a name that is
not a str...) or, for text UTF-8 cannot hold, written sanitised: see ``client``.
``runyard.tracking.keras`` holds a Keras callback; it imports Keras only when
its ``Callback`` is first used.
"""

from runyard.tracking.client import (
    ENV_OUTPUTS,
    ENV_QUIET,
    ENV_RUN_ID,
    ENV_TRACKING_URI,
    active_run_id,
    flush,
    log_artifact,
    log_metric,
    log_metrics,
    log_param,
    log_params,
    set_tag,
)

__all__ = [
    "ENV_OUTPUTS",
    "ENV_QUIET",
    "ENV_RUN_ID",
    "ENV_TRACKING_URI",
    "active_run_id",
    "flush",
    "log_artifact",
    "log_metric",
    "log_metrics",
    "log_param",
    "log_params",
    "set_tag",
]
