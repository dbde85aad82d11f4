"""Why cross-entropy: the learning slowdown of the quadratic cost on a sigmoid neuron.

One sigmoid neuron, input 1, target 0, starting from w = b = 2 (output 0.98, badly
wrong), learning rate 0.15. With the quadratic cost C = (a - y)^2 / 2 the gradient is
(a - y) sigma'(z): sigma'(z) is tiny when the neuron saturates, so the cost barely
moves for the first epochs, however wrong the output. With cross-entropy the gradient
is (a - y): the more wrong, the faster it learns, from the first epoch on.

Run: ``python -m pydl.examples.cost_functions [--epochs 300] [--out costs.png]``
"""

import argparse

import numpy as np

import pydl
from pydl import nn
from pydl.optim import SGD

X = np.array([[1.0]], dtype=np.float32)
Y = np.array([[0.0]], dtype=np.float32)


class QuadraticCost(nn.MSELoss):
    """(a - y)^2 / 2: MSELoss halved, as in the source notes."""

    def forward(self, input, target):
        return 0.5 * super().forward(input, target)

    def backward(self, grad_output=1.0):
        return super().backward(0.5 * grad_output)


def neuron(sigmoid_output):
    """One neuron with w = b = 2; with a Sigmoid when the cost takes probabilities."""
    linear = nn.Linear(1, 1)
    linear.weight.data[...] = 2.0
    linear.bias.data[...] = 2.0
    return nn.Sequential(linear, nn.Sigmoid()) if sigmoid_output else nn.Sequential(linear)


def train(cost, epochs=300, lr=0.15):
    """Per-epoch cost (at the start of each epoch) for ``"quadratic"`` or ``"cross_entropy"``."""
    quadratic = cost == "quadratic"
    model = neuron(sigmoid_output=quadratic)
    # BCEWithLogitsLoss is the sigmoid and cross-entropy fused: the neuron's own output.
    loss = QuadraticCost() if quadratic else nn.BCEWithLogitsLoss()
    history = pydl.fit(model, X, Y, loss=loss, optimizer=SGD(model.parameters(), lr=lr),
                       epochs=epochs, batch_size=1, shuffle=False, verbose=0)
    return np.array(history.history["loss"])


def plot(curves, path):
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError("plotting needs matplotlib: pip install matplotlib") from None
    fig = Figure(figsize=(10, 3.8))
    FigureCanvasAgg(fig)
    for i, (name, curve) in enumerate(curves.items()):
        ax = fig.add_subplot(1, 2, i + 1)
        ax.plot(np.arange(len(curve)), curve)
        ax.set_title(f"{name} cost")
        ax.set_xlabel("epoch")
        ax.set_ylabel("cost")
        ax.grid(True, alpha=0.3)
    fig.suptitle("one sigmoid neuron, input 1, target 0, w = b = 2, learning rate 0.15")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return path


def main(argv=None):
    """Train both ways; returns ``{"quadratic": costs, "cross_entropy": costs, "plot": path}``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--out", default="cost_functions.png")
    parser.add_argument("--no-plot", action="store_true")
    args = parser.parse_args(argv)
    results = {name: train(name, args.epochs) for name in ("quadratic", "cross_entropy")}
    for name, c in results.items():
        marks = [e for e in (0, 10, 50, 100, 200, 299) if e < len(c)]
        print(f"{name:14s} cost " + "  ".join(f"epoch {e}: {c[e]:.4f}" for e in marks))
    results["plot"] = None if args.no_plot else plot(
        {"quadratic": results["quadratic"], "cross-entropy": results["cross_entropy"]},
        args.out)
    if results["plot"]:
        print(f"curves written to {results['plot']}")
    return results


if __name__ == "__main__":
    main()
