"""Batch-1 inference latency: one eval-mode forward under no_grad, the cost of a call
that serving a single request pays (issue 13: PyTorch pays about 7 us a layer call).

Groups: the digits CNN (pydl.examples.digits_cnn), an LSTM classifier (embedding-free:
input 32, hidden 128, 50 steps, last step -> Linear 10), one dense layer (256 -> 128)
and one convolution (16 -> 32 channels, 3x3, padding 1, on 8x8: the digits CNN's
second layer). There is no NumPy member: the reference twins are per op.
"""

import numpy as np
import pytest

import pydl
from pydl import nn
from pydl.examples.digits_cnn import build_model

from conftest import setup_bench, torch
from test_bench_models import _torch_model

T, INPUT, HIDDEN, CLASSES = 50, 32, 128, 10


class _LSTMClassifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(INPUT, HIDDEN, batch_first=True)
        self.fc = nn.Linear(HIDDEN, CLASSES)

    def forward(self, x):
        out, _ = self.lstm(x)
        return self.fc(out[:, -1])


def _torch_lstm_classifier():
    class Model(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = torch.nn.LSTM(INPUT, HIDDEN, batch_first=True)
            self.fc = torch.nn.Linear(HIDDEN, CLASSES)

        def forward(self, x):
            out, _ = self.lstm(x)
            return self.fc(out[:, -1])
    return Model()


def _models(case):
    rng = np.random.default_rng(0)
    if case == "digits_cnn":
        return build_model(), _torch_model, rng.random((1, 1, 8, 8), dtype=np.float32)
    if case == "lstm_classifier":
        return (_LSTMClassifier(), _torch_lstm_classifier,
                rng.standard_normal((1, T, INPUT)).astype(np.float32))
    if case == "conv2d":
        return (nn.Conv2d(16, 32, 3, padding=1), lambda: torch.nn.Conv2d(16, 32, 3, padding=1),
                rng.standard_normal((1, 16, 8, 8)).astype(np.float32))
    return (nn.Linear(256, 128), lambda: torch.nn.Linear(256, 128),
            rng.standard_normal((1, 256)).astype(np.float32))


@pytest.mark.parametrize("case", ["digits_cnn", "lstm_classifier", "dense", "conv2d"])
@pytest.mark.parametrize("impl", ["pydl", "torch"])
def test_batch1_latency(benchmark, impl, case):
    if impl == "torch" and torch is None:
        pytest.skip("PyTorch is not installed")
    model, torch_model, x = _models(case)
    setup_bench(benchmark, f"latency_batch1_{case}", impl)
    benchmark.extra_info["suite"] = "e2e"   # aggregated by report.py (issue 13)
    if impl == "torch":
        tm = torch_model().eval()
        tx = torch.from_numpy(x)

        def run():
            with torch.no_grad():
                return tm(tx)
    else:
        model.eval()

        def run():
            with pydl.no_grad():
                return model(x)
    out = run()
    assert np.asarray(out).shape[0] == 1
    benchmark(run)
