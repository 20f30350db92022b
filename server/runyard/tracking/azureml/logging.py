"""Azure ML Workbench's run logger, on Runyard's tracking client.

``from azureml.logging import get_azureml_logger`` then ``get_azureml_logger().log(name,
value)``, as Workbench projects call it, records into the Runyard run:

* a number (int, float, a numpy scalar: anything ``float()`` takes but text) is a
  metric point at the name's next step (0, 1, 2... per name);
* a list or tuple of numbers (or anything with ``tolist()``, a numpy array) is one
  point per element, at the name's next steps: ``log("loss", [0.9, 0.5])`` then
  ``log("loss", 0.3)`` gives steps 0, 1, 2;
* text is a tag (``log("Cell", "Set up run")``: the latest text wins), and so is
  any other value, written as JSON where it can be (a nested list, a dict).

Outside a run the calls do nothing (Runyard's client prints its one notice). A
name that is not a non-empty string raises, as Runyard's ``log_metric`` does.
Standard library only, Python 3.8 syntax.
"""

from __future__ import annotations

import json
import threading

from runyard.tracking import client

__all__ = ["AzureMLLogger", "get_azureml_logger"]


class AzureMLLogger:
    """The object ``get_azureml_logger()`` returns; one per process."""

    def __init__(self) -> None:
        self._steps: dict[str, int] = {}
        self._lock = threading.Lock()

    def log(self, name: str, value: object) -> None:
        """Record ``value`` under ``name``: points for numbers and lists of numbers, a
        tag for anything else."""
        if not isinstance(name, str) or not name:
            raise TypeError(f"azureml.logging: the name must be a non-empty string, got {name!r}")
        numbers = _numbers(value)
        if numbers is None:
            client.set_tag(name, value if isinstance(value, str) else _text(value))
            return
        with self._lock:
            first = self._steps.get(name, 0)
            self._steps[name] = first + len(numbers)
        for i, number in enumerate(numbers):
            client.log_metric(name, number, step=first + i)


def _numbers(value: object) -> list[float] | None:
    """The points ``value`` stands for, or None when it is not numbers."""
    if isinstance(value, (str, bytes, bytearray)):
        return None
    tolist = getattr(value, "tolist", None)
    if callable(tolist) and not isinstance(value, (list, tuple)):
        value = tolist()  # a numpy array or scalar
    if isinstance(value, (list, tuple)):
        if not value:
            return None
        numbers = [_number(v) for v in value]
        return None if any(n is None for n in numbers) else [n for n in numbers if n is not None]
    one = _number(value)
    return None if one is None else [one]


def _number(value: object) -> float | None:
    if isinstance(value, (str, bytes, bytearray, list, tuple, dict)) or value is None:
        return None
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def _text(value: object) -> str:
    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        return str(value)


_logger: AzureMLLogger | None = None
_logger_lock = threading.Lock()


def get_azureml_logger() -> AzureMLLogger:
    """This process's run logger."""
    global _logger
    with _logger_lock:
        if _logger is None:
            _logger = AzureMLLogger()
        return _logger
