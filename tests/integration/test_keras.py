"""Real TensorFlow: a Keras model trained as a Runyard run, in an environment Runyard
builds from the project's requirements.txt, tracked by runyard.tracking.keras.Callback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import runyard

pytestmark = pytest.mark.integration

TRAIN = """\
import os
import numpy as np
import keras
import runyard
from runyard.tracking.keras import Callback

rng = np.random.RandomState(0)
x = rng.rand(512, 8).astype("float32")
y = (x.sum(axis=1) > 4).astype("int32")
model = keras.Sequential(
    [keras.Input((8,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(2, activation="softmax")]
)
model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
runyard.log_params({"epochs": 3, "batch_size": 32})
model.fit(
    x, y, epochs=3, batch_size=32, validation_split=0.25, verbose=0,
    callbacks=[Callback(batch_every=4), keras.callbacks.TensorBoard(log_dir="logs")],
)
os.makedirs("outputs", exist_ok=True)
model.save("outputs/model.keras")
print("keras", keras.__version__, "done")
"""


def test_keras_fit_is_tracked_by_the_callback(project: Path) -> None:
    (project / "requirements.txt").write_text("tensorflow-cpu\ntensorboard\n")
    (project / "train_keras.py").write_text(TRAIN)
    proc = runyard(project, "submit", "train_keras.py", timeout=1200)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "building environment" in proc.stdout and " done" in proc.stdout
    run_id = proc.stdout.splitlines()[0]
    show = json.loads(runyard(project, "runs", "show", run_id, "--json", check=True).stdout)
    assert show["status"] == "completed"
    assert show["params"] == {"epochs": "3", "batch_size": "32"}
    points = json.loads(runyard(project, "runs", "metrics", run_id, "--json", check=True).stdout)
    by_key: dict[str, list[int]] = {}
    for p in points:
        by_key.setdefault(p["key"], []).append(p["step"])
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        assert by_key[key] == [0, 1, 2], (key, by_key)
    # 384 training rows / batch 32 = 12 batches an epoch; every 4th batch is logged
    assert len(by_key["batch/loss"]) == 3 * 12 // 4
    assert all(0.0 <= p["value"] <= 1.0 for p in points if p["key"] == "accuracy")
    assert any(a["path"] == "model.keras" and a["size"] > 0 for a in show["artifacts"])
