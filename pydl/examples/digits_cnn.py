"""A LeNet-style CNN learns scikit-learn's handwritten digits (8x8 images, 10 classes).

1,797 images; a stratified quarter is held out for testing and never trained on. The
network follows LeNet's plan (convolutions and pooling that trade resolution for
channels, then fully connected layers) sized for 8x8 inputs: 3x3 convolutions
16 -> 32 -> 64 channels with two 2x2 max poolings, then 256 -> 128 -> 10 with dropout.
(The 1998 LeNet-5 itself, :class:`pydl.models.LeNet5`, reaches about 96-97% here: its
second 5x5 convolution leaves a 2x2 map of 16 channels.) Training: SGD with Nesterov
momentum, weight decay, a cosine learning-rate decay and random one-pixel shifts of the
training images, written out step by step::

    logits = model(x); loss = criterion(logits, y)
    model.backward(criterion.backward(), need_input_grad=False)
    optimizer.step(); optimizer.zero_grad()

(``need_input_grad=False``: the images need no gradient, so the first convolution
skips it, as PyTorch does for an input that does not require grad.)

Run: ``python -m pydl.examples.digits_cnn`` (needs scikit-learn). Seeded runs are
bitwise reproducible at any thread count.
"""

import argparse
import math
import time

import numpy as np

import pydl
from pydl import nn
from pydl.data import random_shift
from pydl.optim import SGD


def load(test_fraction=0.25, seed=0):
    """Digits as (N, 1, 8, 8) float32 in [0, 1] and int64 labels, split per class."""
    try:
        from sklearn.datasets import load_digits
    except ImportError as exc:
        raise ImportError("this example needs scikit-learn: pip install scikit-learn") from exc
    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)[:, None]
    y = digits.target.astype(np.int64)
    rng = np.random.default_rng(seed)
    test = np.zeros(len(y), bool)
    for c in range(10):
        idx = rng.permutation(np.flatnonzero(y == c))
        test[idx[:round(len(idx) * test_fraction)]] = True
    return x[~test], y[~test], x[test], y[test]


def build_model(seed=0, width=16, dropout=0.3):
    """The LeNet-style network for (N, 1, 8, 8) images; returns logits (N, 10)."""
    pydl.manual_seed(seed)
    w = width
    return nn.Sequential(
        nn.Conv2d(1, w, 3, padding=1), nn.ReLU(),
        nn.Conv2d(w, 2 * w, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),        # 4x4
        nn.Conv2d(2 * w, 4 * w, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),    # 2x2
        nn.Flatten(),
        nn.Linear(16 * w, 128), nn.ReLU(), nn.Dropout(dropout),
        nn.Linear(128, 10))


def accuracy(model, x, y, batch_size=256):
    model.eval()
    with pydl.no_grad():
        pred = np.concatenate([model(x[i:i + batch_size]).argmax(1)
                               for i in range(0, len(x), batch_size)])
    model.train()
    return float(np.mean(pred == y))


def train(epochs=40, batch_size=32, lr=0.05, seed=0, augment=True, verbose=True):
    """Train the CNN on the digits; returns a dict of results."""
    x_train, y_train, x_test, y_test = load(seed=seed)
    model = build_model(seed)
    criterion = nn.CrossEntropyLoss()
    optimizer = SGD(model.parameters(), lr=lr, momentum=0.9, nesterov=True,
                    weight_decay=1e-4)
    rng = np.random.default_rng(seed)
    steps_per_epoch = math.ceil(len(x_train) / batch_size)
    total, step, losses = epochs * steps_per_epoch, 0, []
    start = time.perf_counter()
    for epoch in range(epochs):
        order = rng.permutation(len(x_train))   # reshuffled every epoch
        epoch_loss = 0.0
        for i in range(0, len(order), batch_size):
            idx = order[i:i + batch_size]
            for group in optimizer.param_groups:   # cosine decay to 0 over the run
                group["lr"] = 0.5 * lr * (1 + math.cos(math.pi * step / total))
            x = x_train[idx]
            if augment:
                x = random_shift(x, max_shift=1, generator=rng)
            loss = criterion(model(x), y_train[idx])
            model.backward(criterion.backward(), need_input_grad=False)
            optimizer.step()
            optimizer.zero_grad()
            epoch_loss += loss * len(idx)
            step += 1
        losses.append(epoch_loss / len(x_train))
        if verbose:
            print(f"epoch {epoch + 1:3d}  loss {losses[-1]:.4f}")
    seconds = time.perf_counter() - start
    result = {"train_accuracy": accuracy(model, x_train, y_train),
              "test_accuracy": accuracy(model, x_test, y_test),
              "losses": losses, "seconds": seconds,
              "samples_per_second": epochs * len(x_train) / seconds,
              "threads": pydl.get_num_threads(), "model": model}
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--no-augment", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    r = train(args.epochs, args.batch_size, args.lr, args.seed, not args.no_augment)
    print(f"test accuracy {r['test_accuracy']:.2%} (train {r['train_accuracy']:.2%}); "
          f"{r['seconds']:.1f} s, {r['samples_per_second']:.0f} samples/s "
          f"on {r['threads']} threads")
    return r


if __name__ == "__main__":
    main()
