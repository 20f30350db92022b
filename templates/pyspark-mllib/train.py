"""Train a Spark MLlib pipeline on 8x8 handwritten digits, logging to Runyard from the driver.

The images ship with scikit-learn (`load_digits`, 1,797 of them); the driver turns
them into a Spark DataFrame, so nothing is downloaded. The pipeline assembles the
64 pixel columns into a vector, standardises it and fits a multinomial logistic
regression. Spark runs on `SPARK_MASTER` (default `local[*]`, this machine's cores);
the fitted pipeline goes to `outputs/model`:

    runyard submit train.py --reg-param 0.01 --max-iter 100
"""

import argparse
import os
import time

from pyspark.ml import Pipeline
from pyspark.ml.classification import LogisticRegression
from pyspark.ml.evaluation import MulticlassClassificationEvaluator
from pyspark.ml.feature import StandardScaler, VectorAssembler
from pyspark.sql import SparkSession
from sklearn.datasets import load_digits

import runyard

PIXELS = [f"pixel_{i}" for i in range(64)]

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--reg-param", type=float, default=0.01, help="regularisation strength")
parser.add_argument("--elastic-net", type=float, default=0.0, help="0: L2 penalty, 1: L1")
parser.add_argument("--max-iter", type=int, default=100)
parser.add_argument("--test-fraction", type=float, default=0.25)
parser.add_argument("--seed", type=int, default=0)
args = parser.parse_args()

master = os.environ.get("SPARK_MASTER", "local[*]")
spark = (
    SparkSession.builder.master(master)
    .appName("runyard-pyspark-mllib")
    .config("spark.ui.showConsoleProgress", "false")
    .config("spark.sql.shuffle.partitions", "4")
    .config("spark.sql.debug.maxToStringFields", "100")
    .getOrCreate()
)
spark.sparkContext.setLogLevel("WARN")
runyard.log_params({**vars(args), "spark_master": master, "spark_version": spark.version})
runyard.set_tag("framework", "pyspark")

digits = load_digits()
rows = [
    (*(float(v) for v in image), int(label))
    for image, label in zip(digits.data, digits.target, strict=True)
]
df = spark.createDataFrame(rows, [*PIXELS, "label"])
train, test = df.randomSplit([1 - args.test_fraction, args.test_fraction], seed=args.seed)
train.cache()

pipeline = Pipeline(
    stages=[
        VectorAssembler(inputCols=PIXELS, outputCol="pixels"),
        StandardScaler(inputCol="pixels", outputCol="features", withMean=True, withStd=True),
        LogisticRegression(
            featuresCol="features",
            labelCol="label",
            family="multinomial",
            regParam=args.reg_param,
            elasticNetParam=args.elastic_net,
            maxIter=args.max_iter,
        ),
    ]
)
started = time.perf_counter()
model = pipeline.fit(train)
fit_seconds = time.perf_counter() - started

# The training objective at each optimizer iteration, as a curve.
for step, loss in enumerate(model.stages[-1].summary.objectiveHistory):
    runyard.log_metric("loss", loss, step=step)

predictions = model.transform(test)
evaluate = MulticlassClassificationEvaluator(labelCol="label", predictionCol="prediction")
metrics = {
    "accuracy": evaluate.evaluate(predictions, {evaluate.metricName: "accuracy"}),
    "f1": evaluate.evaluate(predictions, {evaluate.metricName: "f1"}),
    "train_accuracy": model.stages[-1].summary.accuracy,
    "fit_seconds": fit_seconds,
}
runyard.log_metrics(metrics)
for name, value in metrics.items():
    print(f"{name:15s} {value:.4f}")

model.write().overwrite().save(os.path.abspath("outputs/model"))
print("pipeline model written to outputs/model")
spark.stop()
