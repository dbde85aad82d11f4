"""XOR: what one layer cannot learn and one hidden layer can.

A single-layer perceptron draws one straight line, and no line separates XOR's
classes: it cannot classify more than 3 of the 4 points (75%), and its cross-entropy
cannot drop below log 2. One hidden layer of 4 tanh units bends the boundary and gets
all four right.

Run: ``python -m pydl.examples.xor``
"""

import argparse
import time

import numpy as np

import pydl
from pydl import nn
from pydl.optim import SGD

X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
Y = np.array([[0], [1], [1], [0]], dtype=np.float32)


def train(model, epochs=2000, lr=0.5, momentum=0.9):
    """Full-batch training with BCE-with-logits; returns (accuracy, final loss)."""
    criterion = nn.BCEWithLogitsLoss()
    optimizer = SGD(model.parameters(), lr=lr, momentum=momentum)
    loss = float("nan")
    for _ in range(epochs):
        logits = model(X)
        loss = criterion(logits, Y)
        model.backward(criterion.backward())
        optimizer.step()
        optimizer.zero_grad()
    with pydl.no_grad():
        predicted = (model(X) > 0).astype(np.float32)
    return float(np.mean(predicted == Y)), loss


def perceptron(seed=0):
    pydl.manual_seed(seed)
    return nn.Sequential(nn.Linear(2, 1))


def mlp(seed=0, hidden=4):
    pydl.manual_seed(seed)
    return nn.Sequential(nn.Linear(2, hidden), nn.Tanh(), nn.Linear(hidden, 1))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    for name, model in (("single-layer perceptron", perceptron(args.seed)),
                        ("MLP, one hidden layer of 4", mlp(args.seed))):
        start = time.perf_counter()
        acc, loss = train(model, epochs=args.epochs)
        print(f"{name:28s} accuracy {acc:5.0%}   loss {loss:.4f}   "
              f"({time.perf_counter() - start:.2f} s)")


if __name__ == "__main__":
    main()
