"""Train a small Keras convolutional network on 8x8 handwritten digits, logging to Runyard.

The data ships with scikit-learn (`load_digits`, 1,797 images), so nothing is
downloaded. Two callbacks watch training: `runyard.tracking.keras.Callback` logs
`loss`, `accuracy`, `val_loss` and `val_accuracy` at every epoch to the run, and
Keras's TensorBoard callback writes event files to `logs/`. The model goes to
`outputs/model.keras`:

    runyard submit train.py --epochs 15
"""

import argparse
import glob
import os
import time

import numpy as np
import tensorflow as tf
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import runyard
from runyard.tracking.keras import Callback

PIXEL_MAX = 16.0  # load_digits pixels are 0..16

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--epochs", type=int, default=15)
parser.add_argument("--batch-size", type=int, default=32)
parser.add_argument("--lr", type=float, default=2e-3, help="Adam learning rate")
parser.add_argument("--filters", type=int, default=32, help="filters of the first conv layer")
parser.add_argument("--dropout", type=float, default=0.25)
parser.add_argument("--seed", type=int, default=0)
args = parser.parse_args()

tf.keras.utils.set_random_seed(args.seed)
runyard.log_params(vars(args))
runyard.set_tag("framework", "tensorflow")

x, y = load_digits(return_X_y=True)
x_train, x_val, y_train, y_val = train_test_split(
    x.astype("float32"), y, test_size=0.25, stratify=y, random_state=args.seed
)

# Raw pixels in (64 values, 0..16), so the saved model takes what score.py is given.
layers = tf.keras.layers
model = tf.keras.Sequential(
    [
        tf.keras.Input(shape=(64,)),
        layers.Rescaling(1.0 / PIXEL_MAX),
        layers.Reshape((8, 8, 1)),
        layers.Conv2D(args.filters, 3, padding="same", activation="relu"),
        layers.MaxPooling2D(),
        layers.Conv2D(args.filters * 2, 3, padding="same", activation="relu"),
        layers.Flatten(),
        layers.Dropout(args.dropout),
        layers.Dense(64, activation="relu"),
        layers.Dense(10, activation="softmax"),
    ]
)
model.compile(
    optimizer=tf.keras.optimizers.Adam(args.lr),
    loss="sparse_categorical_crossentropy",
    metrics=["accuracy"],
)
model.summary()

started = time.perf_counter()
history = model.fit(
    x_train,
    y_train,
    validation_data=(x_val, y_val),
    epochs=args.epochs,
    batch_size=args.batch_size,
    verbose=2,
    callbacks=[Callback(), tf.keras.callbacks.TensorBoard(log_dir="logs")],
)
train_seconds = time.perf_counter() - started

val_accuracy = float(np.mean(np.argmax(model.predict(x_val, verbose=0), axis=1) == y_val))
runyard.log_metrics({"final_val_accuracy": val_accuracy, "train_seconds": train_seconds})
print(f"final val_accuracy {val_accuracy:.4f} after {train_seconds:.1f}s of training")

events = glob.glob("logs/**/events.out.tfevents.*", recursive=True)
print(f"wrote {len(events)} TensorBoard event files to logs/ (tensorboard --logdir logs)")

os.makedirs("outputs", exist_ok=True)
model.save("outputs/model.keras")
print("model written to outputs/model.keras")
