"""Overfitting and a cure: L2 regularization on a small training set.

Train an MLP on only 100 of scikit-learn's digits until it classifies all of them
correctly, and measure it on 500 held-out digits: the train/test gap is overfitting.
The same network with an L2 penalty on its weights (Keras's ``kernel_regularizer``,
here :mod:`pydl.regularizers`) keeps its weights small, fits the training set less
sharply and narrows the gap, in accuracy and even more in loss.

Run: ``python -m pydl.examples.overfitting [--l2 0.01] [--train-size 100]``
"""

import argparse

import pydl
from pydl import nn, regularizers
from pydl.data import StandardScaler, load_digits, train_test_split
from pydl.optim import SGD


def build_model(hidden=100, seed=0):
    pydl.manual_seed(seed)
    return nn.Sequential(nn.Linear(64, hidden), nn.ReLU(), nn.Linear(hidden, 10))


def with_l2(model, l2):
    """Attach L2(l2) to the weight of every Linear layer (biases are left free)."""
    for layer in model.modules():
        if isinstance(layer, nn.Linear):
            regularizers.apply(layer, weight=regularizers.L2(l2))
    return model


def load_data(train_size, test_size, seed):
    x, y = load_digits(flatten=True)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, train_size=train_size, test_size=test_size, stratify=y, seed=seed)
    scaler = StandardScaler().fit(x_train)
    return scaler.transform(x_train), scaler.transform(x_test), y_train, y_test


def train_and_measure(model, data, epochs, seed):
    """Train; returns accuracies and data losses (the penalty left out) on both sets."""
    x_train, x_test, y_train, y_test = data
    pydl.fit(model, x_train, y_train, loss="cross_entropy",
             optimizer=SGD(model.parameters(), lr=0.05, momentum=0.9), epochs=epochs,
             batch_size=10, verbose=0, seed=seed)
    penalty = regularizers.penalty(model)
    out = {}
    for split, x, y in (("train", x_train, y_train), ("test", x_test, y_test)):
        res = pydl.evaluate(model, x, y, loss="cross_entropy", metrics=["accuracy"])
        out[f"{split}_accuracy"] = res["accuracy"]
        out[f"{split}_loss"] = res["loss"] - penalty
    out["accuracy_gap"] = out["train_accuracy"] - out["test_accuracy"]
    out["loss_gap"] = out["test_loss"] - out["train_loss"]
    return out


def main(argv=None):
    """Train with and without L2; returns ``{"none": {...}, "l2": {...}}`` of results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-size", type=int, default=100)
    parser.add_argument("--test-size", type=int, default=500)
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--l2", type=float, default=0.01)
    parser.add_argument("--hidden", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    data = load_data(args.train_size, args.test_size, args.seed)
    variants = {
        "none": build_model(args.hidden, args.seed),
        "l2": with_l2(build_model(args.hidden, args.seed), args.l2),
    }
    print(f"{args.train_size} training digits, {args.test_size} test digits, "
          f"{args.epochs} epochs, hidden layer of {args.hidden}")
    print(f"{'regularization':>16s} {'train acc':>10s} {'test acc':>9s} {'gap':>7s} "
          f"{'train loss':>11s} {'test loss':>10s} {'gap':>7s}")
    results = {}
    for name, model in variants.items():
        r = results[name] = train_and_measure(model, data, args.epochs, args.seed)
        label = "none" if name == "none" else f"L2({args.l2:g})"
        print(f"{label:>16s} {r['train_accuracy']:10.1%} {r['test_accuracy']:9.1%} "
              f"{r['accuracy_gap']:7.1%} {r['train_loss']:11.4f} {r['test_loss']:10.4f} "
              f"{r['loss_gap']:7.4f}")
    return results


if __name__ == "__main__":
    main()
