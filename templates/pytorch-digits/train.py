"""Train a small PyTorch MLP on 8x8 handwritten digits, logging to Runyard.

The data ships with scikit-learn (`load_digits`, 1,797 images), so nothing is
downloaded. A plain training loop logs `loss` at every step and `accuracy` /
`val_accuracy` at every epoch; the weights go to `outputs/model.pt`:

    runyard submit train.py --epochs 20 --lr 0.003
"""

import argparse
import json
import os
import time

import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn

import runyard

PIXEL_MAX = 16.0  # load_digits pixels are 0..16


def build_model(hidden, dropout=0.0):
    """64 pixels -> hidden layers -> 10 digit logits. score.py builds the same."""
    layers, width = [], 64
    for size in hidden:
        layers += [nn.Linear(width, size), nn.ReLU(), nn.Dropout(dropout)]
        width = size
    layers.append(nn.Linear(width, 10))
    return nn.Sequential(*layers)


def accuracy(model, x, y):
    model.eval()
    with torch.no_grad():
        return (model(x).argmax(dim=1) == y).float().mean().item()


parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--epochs", type=int, default=20)
parser.add_argument("--batch-size", type=int, default=64)
parser.add_argument("--lr", type=float, default=3e-3, help="Adam learning rate")
parser.add_argument("--hidden", default="128,64", help="hidden layer sizes, comma-separated")
parser.add_argument("--dropout", type=float, default=0.1)
parser.add_argument("--seed", type=int, default=0)
parser.add_argument(
    "--threads", type=int, default=1, help="CPU threads (a model this small runs best on one)"
)
args = parser.parse_args()
hidden = [int(size) for size in args.hidden.split(",") if size.strip()]

torch.manual_seed(args.seed)
torch.set_num_threads(args.threads)
runyard.log_params(vars(args))
runyard.set_tag("framework", "pytorch")

x, y = load_digits(return_X_y=True)
x_train, x_val, y_train, y_val = train_test_split(
    x, y, test_size=0.25, stratify=y, random_state=args.seed
)
x_train = torch.tensor(x_train / PIXEL_MAX, dtype=torch.float32)
x_val = torch.tensor(x_val / PIXEL_MAX, dtype=torch.float32)
y_train = torch.tensor(y_train, dtype=torch.long)
y_val = torch.tensor(y_val, dtype=torch.long)

model = build_model(hidden, args.dropout)
optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
loss_fn = nn.CrossEntropyLoss()

started = time.perf_counter()
step = 0
for epoch in range(args.epochs):
    model.train()
    order = torch.randperm(len(x_train))
    for start in range(0, len(order), args.batch_size):
        batch = order[start : start + args.batch_size]
        optimizer.zero_grad()
        loss = loss_fn(model(x_train[batch]), y_train[batch])
        loss.backward()
        optimizer.step()
        step += 1
        runyard.log_metric("loss", loss.item(), step=step)
    train_acc = accuracy(model, x_train, y_train)
    val_acc = accuracy(model, x_val, y_val)
    runyard.log_metrics({"accuracy": train_acc, "val_accuracy": val_acc}, step=epoch)
    print(f"epoch {epoch:3d}  loss {loss.item():.4f}  acc {train_acc:.4f}  val_acc {val_acc:.4f}")
runyard.log_metric("train_seconds", time.perf_counter() - started)

os.makedirs("outputs", exist_ok=True)
torch.save(model.state_dict(), "outputs/model.pt")
with open("outputs/model.json", "w") as f:
    json.dump({"hidden": hidden, "pixel_max": PIXEL_MAX, "classes": list(range(10))}, f)
print("model written to outputs/model.pt (state_dict) and outputs/model.json (its shape)")
