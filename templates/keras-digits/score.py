"""Serve the Keras digits model: `init(model_path)` once, then `run(payload)` per request.

`model_path` is the run's `outputs/` folder or `outputs/model.keras` itself. A payload
is a decoded JSON body, `{"inputs": [[64 pixel values, 0..16], ...]}` (one image may
also be given as a flat list of 64 values); the answer is
`{"predictions": [digit, ...], "probabilities": [[10 numbers], ...]}`.
"""

from pathlib import Path

import numpy as np
import tensorflow as tf

N_PIXELS = 64
_model = None


def init(model_path):
    """Load the model saved by train.py."""
    global _model
    path = Path(model_path)
    if path.is_dir():
        path = path / "model.keras"
    _model = tf.keras.models.load_model(path)


def run(payload):
    """Predict the digit of each input image."""
    if _model is None:
        raise RuntimeError("call init(model_path) first")
    inputs = payload.get("inputs") if isinstance(payload, dict) else None
    if inputs is None:
        raise ValueError('expected a JSON object {"inputs": [[64 numbers], ...]}')
    x = np.asarray(inputs, dtype=np.float32)
    if x.ndim == 1:
        x = x.reshape(1, -1)
    if x.ndim != 2 or x.shape[1] != N_PIXELS:
        raise ValueError(f"each input must have {N_PIXELS} pixel values, got shape {x.shape}")
    probabilities = _model.predict(x, verbose=0)
    return {
        "predictions": [int(p) for p in probabilities.argmax(axis=1)],
        "probabilities": [[round(float(p), 6) for p in row] for row in probabilities],
    }
