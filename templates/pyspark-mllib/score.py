"""Serve the Spark digits pipeline: `init(model_path)` once, then `run(payload)` per request.

`model_path` is the run's `outputs/` folder or the saved pipeline, `outputs/model`.
`init` starts a local Spark session (`SPARK_MASTER`, default `local[1]`). A payload
is a decoded JSON body, `{"inputs": [[64 pixel values, 0..16], ...]}` (one image may
also be given as a flat list of 64 values); the answer is `{"predictions": [digit, ...]}`.
"""

import os
from pathlib import Path

from pyspark.ml import PipelineModel
from pyspark.sql import SparkSession

PIXELS = [f"pixel_{i}" for i in range(64)]
_spark = None
_model = None


def init(model_path):
    """Start Spark and load the pipeline saved by train.py."""
    global _spark, _model
    path = Path(model_path)
    if (path / "model" / "metadata").is_dir():
        path = path / "model"
    _spark = (
        SparkSession.builder.master(os.environ.get("SPARK_MASTER", "local[1]"))
        .appName("runyard-pyspark-mllib-score")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .getOrCreate()
    )
    _spark.sparkContext.setLogLevel("ERROR")
    _model = PipelineModel.load(str(path.resolve()))


def run(payload):
    """Predict the digit of each input image."""
    if _model is None or _spark is None:
        raise RuntimeError("call init(model_path) first")
    inputs = payload.get("inputs") if isinstance(payload, dict) else None
    if inputs is None:
        raise ValueError('expected a JSON object {"inputs": [[64 numbers], ...]}')
    if inputs and not isinstance(inputs[0], list):
        inputs = [inputs]
    rows = []
    for row in inputs:
        if len(row) != len(PIXELS):
            raise ValueError(f"each input must have {len(PIXELS)} pixel values, got {len(row)}")
        rows.append((len(rows), *(float(v) for v in row)))
    df = _spark.createDataFrame(rows, ["row", *PIXELS])
    out = _model.transform(df).select("row", "prediction").orderBy("row").collect()
    return {"predictions": [int(r["prediction"]) for r in out]}
