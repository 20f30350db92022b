"""Serve the digits MLP: `init(model_path)` once, then `run(payload)` per request.

`model_path` is the run's `outputs/` folder (or `outputs/model.pt`, with `model.json`
beside it). A payload is a decoded JSON body, `{"inputs": [[64 pixel values, 0..16],
...]}` (one image may also be given as a flat list of 64 values); the answer is
`{"predictions": [digit, ...], "probabilities": [[10 numbers], ...]}`.
"""

import json
from pathlib import Path

import torch
from torch import nn

N_PIXELS = 64
_model = None
_pixel_max = 16.0


def build_model(hidden):
    """The network train.py trains (dropout is inactive when predicting)."""
    layers, width = [], N_PIXELS
    for size in hidden:
        layers += [nn.Linear(width, size), nn.ReLU(), nn.Dropout(0.0)]
        width = size
    layers.append(nn.Linear(width, 10))
    return nn.Sequential(*layers)


def init(model_path):
    """Load the weights and the shape saved by train.py."""
    global _model, _pixel_max
    path = Path(model_path)
    folder = path if path.is_dir() else path.parent
    weights = folder / "model.pt" if path.is_dir() else path
    config = json.loads((folder / "model.json").read_text())
    _pixel_max = float(config["pixel_max"])
    model = build_model(config["hidden"])
    model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    model.eval()
    _model = model


def run(payload):
    """Predict the digit of each input image."""
    if _model is None:
        raise RuntimeError("call init(model_path) first")
    inputs = payload.get("inputs") if isinstance(payload, dict) else None
    if inputs is None:
        raise ValueError('expected a JSON object {"inputs": [[64 numbers], ...]}')
    x = torch.tensor(inputs, dtype=torch.float32)
    if x.ndim == 1:
        x = x.reshape(1, -1)
    if x.ndim != 2 or x.shape[1] != N_PIXELS:
        raise ValueError(f"each input must have {N_PIXELS} pixel values, got {list(x.shape)}")
    with torch.no_grad():
        probabilities = torch.softmax(_model(x / _pixel_max), dim=1)
    return {
        "predictions": probabilities.argmax(dim=1).tolist(),
        "probabilities": [[round(p, 6) for p in row] for row in probabilities.tolist()],
    }
