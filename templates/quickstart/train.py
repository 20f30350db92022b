"""Fit a line to noisy data with plain gradient descent, logging to Runyard.

No dependencies beyond the standard library, so it runs anywhere:

    runyard submit train.py --lr 0.05 --epochs 40
"""

import argparse
import json
import os
import random

import runyard

parser = argparse.ArgumentParser()
parser.add_argument("--lr", type=float, default=0.05, help="learning rate")
parser.add_argument("--epochs", type=int, default=40)
parser.add_argument("--seed", type=int, default=0)
args = parser.parse_args()

runyard.log_params(vars(args))
rng = random.Random(args.seed)
true_w, true_b = 2.5, -1.0
xs = [rng.uniform(-1, 1) for _ in range(256)]
data = [(x, true_w * x + true_b + rng.gauss(0, 0.1)) for x in xs]

w, b = 0.0, 0.0
for epoch in range(args.epochs):
    grad_w = grad_b = loss = 0.0
    for x, y in data:
        err = (w * x + b) - y
        loss += err * err
        grad_w += 2 * err * x
        grad_b += 2 * err
    n = len(data)
    w -= args.lr * grad_w / n
    b -= args.lr * grad_b / n
    runyard.log_metric("loss", loss / n, step=epoch)
    print(f"epoch {epoch:3d}  loss {loss / n:.4f}  w {w:.3f}  b {b:.3f}")

runyard.log_metrics({"w": w, "b": b, "w_error": abs(w - true_w)})
os.makedirs("outputs", exist_ok=True)
with open("outputs/model.json", "w") as f:
    json.dump({"w": w, "b": b}, f)
print("model written to outputs/model.json")
