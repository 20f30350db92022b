"""A Keras callback that records the training logs of ``model.fit``.

Importing this module does not import Keras or TensorFlow: the ``Callback``
class is built, as a subclass of ``keras.callbacks.Callback``, the first time it
is accessed::

    from runyard.tracking.keras import Callback

    model.fit(x, y, epochs=10, callbacks=[Callback(batch_every=100)])

At each epoch end it logs the ``logs`` dict (``loss``, ``val_loss``, ...) with
``step=epoch``. With ``batch_every=N`` it also logs the batch logs every N
training batches, under ``batch/<name>``, with a global batch counter (counted
over all epochs, starting at 1) as the step. Non-numeric log entries are
skipped. Standalone Keras (``import keras``) is preferred; ``tensorflow.keras``
is used when only TensorFlow is installed.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from runyard.tracking.client import flush, log_metrics

if TYPE_CHECKING:
    Callback: Any  # built on first access by __getattr__ below

__all__ = ["Callback"]

BATCH_PREFIX = "batch/"


def _import_keras_callback_base() -> Any:
    try:
        keras = importlib.import_module("keras")
        return keras.callbacks.Callback
    except ImportError:
        pass
    try:
        tf = importlib.import_module("tensorflow")
    except ImportError:
        raise ImportError(
            "runyard.tracking.keras.Callback needs Keras: install `keras` or `tensorflow`"
        ) from None
    return tf.keras.callbacks.Callback


def _numeric(logs: Any, prefix: str = "") -> dict[str, float]:
    """The entries of ``logs`` that convert to float, keyed ``prefix + name``."""
    out: dict[str, float] = {}
    if not logs:
        return out
    for name, value in dict(logs).items():
        if isinstance(value, (str, bytes)):
            continue
        try:
            out[prefix + str(name)] = float(value)
        except (TypeError, ValueError):
            continue
    return out


def _build_callback_class() -> type:
    base = _import_keras_callback_base()

    class Callback(base):  # type: ignore[misc, valid-type]
        """Logs epoch-end metrics (step=epoch) and, optionally, every N batches."""

        def __init__(self, batch_every: int | None = None) -> None:
            super().__init__()
            if batch_every is not None:
                if isinstance(batch_every, bool) or not isinstance(batch_every, int):
                    raise TypeError(
                        f"batch_every must be a positive int or None, got {batch_every!r}"
                    )
                if batch_every < 1:
                    raise ValueError(
                        f"batch_every must be a positive int or None, got {batch_every}"
                    )
            self.batch_every = batch_every
            self.global_batch = 0

        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            self.global_batch += 1
            every = self.batch_every
            if every and self.global_batch % every == 0:
                metrics = _numeric(logs, BATCH_PREFIX)
                if metrics:
                    log_metrics(metrics, step=self.global_batch)

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            metrics = _numeric(logs)
            if metrics:
                log_metrics(metrics, step=int(epoch))

        def on_train_end(self, logs: Any = None) -> None:
            flush()

    Callback.__module__ = __name__
    Callback.__qualname__ = "Callback"
    return Callback


def __getattr__(name: str) -> Any:
    if name == "Callback":
        cls = _build_callback_class()
        globals()["Callback"] = cls
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
