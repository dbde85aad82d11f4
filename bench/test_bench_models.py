"""Whole networks: one training epoch of the digits CNN (pydl.examples.digits_cnn) in
pydl and the same network in PyTorch, at the same thread count.

There is no NumPy member: the reference twins are per op, not per network.
"""

import math

import numpy as np
import pytest

from pydl import nn
from pydl.examples.digits_cnn import build_model
from pydl.optim import SGD

from conftest import setup_bench, torch

EPOCH = 1347          # the training split of scikit-learn's digits
BATCH = 32


def _data():
    rng = np.random.default_rng(0)
    x = rng.random((EPOCH, 1, 8, 8), dtype=np.float32)
    y = rng.integers(0, 10, EPOCH)
    return x, y


def _torch_model(w=16):
    tnn = torch.nn
    return tnn.Sequential(
        tnn.Conv2d(1, w, 3, padding=1), tnn.ReLU(),
        tnn.Conv2d(w, 2 * w, 3, padding=1), tnn.ReLU(), tnn.MaxPool2d(2),
        tnn.Conv2d(2 * w, 4 * w, 3, padding=1), tnn.ReLU(), tnn.MaxPool2d(2),
        tnn.Flatten(), tnn.Linear(16 * w, 128), tnn.ReLU(), tnn.Dropout(0.3),
        tnn.Linear(128, 10))


@pytest.mark.parametrize("impl", ["pydl", "torch"])
def test_digits_cnn_epoch(benchmark, impl):
    """One epoch (43 steps of 32 images, 8x8): forward, loss, backward, SGD step."""
    if impl == "torch" and torch is None:
        pytest.skip("PyTorch is not installed")
    x, y = _data()
    setup_bench(benchmark, "digits_cnn_epoch", impl)
    benchmark.extra_info["suite"] = "e2e"   # aggregated by report.py (issue 13)
    batches = [slice(i, i + BATCH) for i in range(0, EPOCH, BATCH)]
    assert len(batches) == math.ceil(EPOCH / BATCH)
    if impl == "torch":
        model = _torch_model()
        loss_fn = torch.nn.CrossEntropyLoss()
        opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True,
                              weight_decay=1e-4)
        tx, ty = torch.from_numpy(x), torch.from_numpy(y)

        def run():
            for s in batches:
                loss = loss_fn(model(tx[s]), ty[s])
                opt.zero_grad()
                loss.backward()
                opt.step()
    else:
        model = build_model()
        crit = nn.CrossEntropyLoss()
        opt = SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-4)

        def run():
            for s in batches:
                crit(model(x[s]), y[s])
                # the images need no gradient (PyTorch skips it for them too)
                model.backward(crit.backward(), need_input_grad=False)
                opt.step()
                opt.zero_grad()
    benchmark(run)
