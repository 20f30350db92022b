"""Classify 8x8 handwritten digits with a support vector machine, logging to Runyard.

The data ships with scikit-learn (`load_digits`, 1,797 images), so nothing is
downloaded. `--C` is the SVM's regularisation strength: submit a few values and
compare the runs:

    runyard submit train.py --C 0.1
    runyard submit train.py --C 1.0
    runyard submit train.py --C 10
    runyard runs list --sort accuracy:desc
"""

import argparse
import os
import time

import joblib
from sklearn.datasets import load_digits
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

import runyard

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--C", type=float, default=1.0, help="regularisation strength (larger: less)")
parser.add_argument("--kernel", default="rbf", choices=["linear", "poly", "rbf", "sigmoid"])
parser.add_argument("--gamma", default="scale", help="kernel coefficient: scale, auto or a number")
parser.add_argument("--test-size", type=float, default=0.25, help="share of images held out")
parser.add_argument("--seed", type=int, default=0)
args = parser.parse_args()
gamma = args.gamma if args.gamma in ("scale", "auto") else float(args.gamma)

runyard.log_params(vars(args))
runyard.set_tag("framework", "scikit-learn")

# Pixels are 0..16; the pipeline scales them itself, so the saved model takes raw pixels.
x, y = load_digits(return_X_y=True)
x_train, x_test, y_train, y_test = train_test_split(
    x, y, test_size=args.test_size, stratify=y, random_state=args.seed
)
runyard.log_params({"n_train": len(x_train), "n_test": len(x_test)})

model = make_pipeline(StandardScaler(), SVC(C=args.C, kernel=args.kernel, gamma=gamma))
started = time.perf_counter()
model.fit(x_train, y_train)
fit_seconds = time.perf_counter() - started

predicted = model.predict(x_test)
metrics = {
    "accuracy": accuracy_score(y_test, predicted),
    "f1_macro": f1_score(y_test, predicted, average="macro"),
    "train_accuracy": accuracy_score(y_train, model.predict(x_train)),
    "fit_seconds": fit_seconds,
}
runyard.log_metrics(metrics)
for name, value in metrics.items():
    print(f"{name:15s} {value:.4f}")

os.makedirs("outputs", exist_ok=True)
joblib.dump(model, "outputs/model.joblib")
print("model written to outputs/model.joblib")
