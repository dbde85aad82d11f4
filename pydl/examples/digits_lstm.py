"""Handwritten digits as sequences: an LSTM reads each 8x8 image row by row.

scikit-learn's digits (1,797 images of 8x8 pixels, 10 classes) are fed to an LSTM one
row per time step: 8 steps of 8 features. The last hidden state goes through a linear
layer to the class logits. Plain SGD with momentum and gradient-norm clipping, a
hand-written training loop; a held-out quarter of the images measures accuracy.

Run: ``python -m pydl.examples.digits_lstm`` (needs scikit-learn).
"""

import argparse
import time

import numpy as np

import pydl
from pydl import nn
from pydl.nn.utils import clip_grad_norm_
from pydl.optim import SGD


def load_digits_sequences(test_fraction=0.25, seed=0):
    """((x_train, y_train), (x_test, y_test)): images (n, 8 rows, 8 pixels) in [0, 1],
    split at random with the same share of every class on both sides."""
    try:
        from sklearn.datasets import load_digits
    except ImportError as exc:  # pragma: no cover - scikit-learn is an optional extra
        raise SystemExit("this example needs scikit-learn: pip install scikit-learn") from exc
    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)
    y = digits.target.astype(np.int64)
    rng = np.random.default_rng(seed)
    test = np.zeros(len(y), bool)
    for c in range(10):
        members = rng.permutation(np.flatnonzero(y == c))
        test[members[:int(round(test_fraction * len(members)))]] = True
    return (x[~test], y[~test]), (x[test], y[test])


class DigitsLSTM(nn.Module):
    """LSTM over the image rows, then a linear classifier on the last hidden state."""

    def __init__(self, hidden_size=64, num_layers=1):
        super().__init__()
        self.lstm = nn.LSTM(8, hidden_size, num_layers=num_layers, batch_first=True)
        self.head = nn.Linear(hidden_size, 10)

    def forward(self, x):
        _, (h_n, _) = self.lstm(x)           # x: (batch, 8 rows, 8 pixels)
        return self.head(h_n[-1])            # the top layer's last state

    def backward(self, grad_logits):
        grad_h = np.zeros((self.lstm.num_layers, *grad_logits.shape[:1],
                           self.lstm.hidden_size), grad_logits.dtype)
        grad_h[-1] = self.head.backward(grad_logits)
        return self.lstm.backward(None, grad_h)   # nothing flows into the outputs


def accuracy(model, x, y, batch_size=512):
    with pydl.no_grad():
        pred = np.concatenate([model(x[i:i + batch_size]).argmax(axis=1)
                               for i in range(0, len(x), batch_size)])
    return float(np.mean(pred == y))


def train(model, train_data, epochs=30, lr=0.2, momentum=0.9, batch_size=32, clip=1.0,
          seed=0, log=None):
    """Mini-batch SGD; returns the mean training loss of each epoch."""
    x, y = train_data
    criterion = nn.CrossEntropyLoss()
    optimizer = SGD(model.parameters(), lr=lr, momentum=momentum)
    rng = np.random.default_rng(seed)
    history = []
    for epoch in range(epochs):
        model.train()
        order = rng.permutation(len(x))
        losses = []
        for i in range(0, len(x), batch_size):
            idx = order[i:i + batch_size]
            loss = criterion(model(x[idx]), y[idx])
            model.backward(criterion.backward())
            clip_grad_norm_(model.parameters(), clip)
            optimizer.step()
            optimizer.zero_grad()
            losses.append(loss)
        history.append(float(np.mean(losses)))
        if log is not None:
            log(epoch, history[-1])
    return history


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--lr", type=float, default=0.2)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    pydl.manual_seed(args.seed)
    train_data, test_data = load_digits_sequences(seed=args.seed)
    model = DigitsLSTM(args.hidden)
    print(f"{len(train_data[1])} training and {len(test_data[1])} test images, "
          f"each 8 steps of 8 pixels; {model}")
    start = time.perf_counter()

    def log(epoch, loss):
        if epoch % 5 == 4 or epoch == args.epochs - 1:
            print(f"epoch {epoch + 1:3d}  train loss {loss:.4f}  test accuracy "
                  f"{accuracy(model.eval(), *test_data):.2%}")

    train(model, train_data, epochs=args.epochs, lr=args.lr, batch_size=args.batch_size,
          seed=args.seed, log=log)
    acc = accuracy(model.eval(), *test_data)
    print(f"test accuracy {acc:.2%} after {args.epochs} epochs "
          f"({time.perf_counter() - start:.1f} s)")
    return acc


if __name__ == "__main__":
    main()
