"""A LeNet-style CNN learns scikit-learn's handwritten digits (8x8 images, 10 classes).

1,797 images; a stratified quarter is held out for testing and never trained on. The
network is :class:`pydl.models.LeNet5` sized for 8x8 inputs (two padded 5x5
convolutions with 2x2 max pooling, then 120-84-10 fully connected), trained with
SGD + Nesterov momentum and a cosine learning-rate decay, written out step by step::

    logits = model(x); loss = criterion(logits, y)
    model.backward(criterion.backward()); optimizer.step(); optimizer.zero_grad()

Run: ``python -m pydl.examples.digits_cnn`` (needs scikit-learn).
"""

import argparse
import math
import time

import numpy as np

import pydl
from pydl import nn
from pydl.models import LeNet5
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


def accuracy(model, x, y, batch_size=256):
    model.eval()
    with pydl.no_grad():
        pred = np.concatenate([model(x[i:i + batch_size]).argmax(1)
                               for i in range(0, len(x), batch_size)])
    model.train()
    return float(np.mean(pred == y))


def train(epochs=30, batch_size=32, lr=0.05, seed=0, verbose=True):
    """Train LeNet-5 on the digits; returns a dict of results."""
    x_train, y_train, x_test, y_test = load(seed=seed)
    pydl.manual_seed(seed)
    model = LeNet5(num_classes=10, in_channels=1, input_size=8)
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
            loss = criterion(model(x_train[idx]), y_train[idx])
            model.backward(criterion.backward())
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
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    r = train(args.epochs, args.batch_size, args.lr, args.seed)
    print(f"test accuracy {r['test_accuracy']:.2%} (train {r['train_accuracy']:.2%}); "
          f"{r['seconds']:.1f} s, {r['samples_per_second']:.0f} samples/s "
          f"on {r['threads']} threads")
    return r


if __name__ == "__main__":
    main()
