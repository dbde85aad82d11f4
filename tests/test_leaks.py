"""No memory leaks: 1,000 forward/backward steps of each layer family leave RSS flat.

A kernel that forgets to free its workspace, or a module that keeps a reference per
step, grows the resident set by at least its size every step; 1,000 steps turn even
a few kilobytes into megabytes. Each family registers a step function in STEPS.
"""

import gc
import sys

import numpy as np
import pytest

import pydl
from pydl import nn
from pydl.optim import SGD

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="reads /proc/self/statm")

WARMUP, STEPS_PER_CHECK = 200, 1000
# Allocator noise stays well under this; a leak of 2 KiB per step would exceed it.
MAX_GROWTH_BYTES = 2 * 2**20


def _rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


def _mlp_step():
    pydl.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 64), nn.Tanh(),
                          nn.Linear(64, 32), nn.SiLU(), nn.Linear(32, 10))
    crit = nn.CrossEntropyLoss(label_smoothing=0.1)
    opt = SGD(model.parameters(), lr=0.01, momentum=0.9)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, 64)).astype(np.float32)
    t = rng.integers(0, 10, 32)

    def step():
        crit(model(x), t)
        model.backward(crit.backward())
        opt.step()
        opt.zero_grad()
    return step


def _activation_step():
    layers = [nn.Sigmoid(), nn.ELU(), nn.LeakyReLU(0.1), nn.Softmax(dim=1), nn.LogSoftmax(dim=1)]
    x = np.random.default_rng(0).standard_normal((64, 300)).astype(np.float32)

    def step():
        for m in layers:
            m.backward(np.ones_like(m(x)))
    return step


def _loss_step():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 50)).astype(np.float32)
    y = rng.random((64, 50)).astype(np.float32)
    losses = [(nn.BCEWithLogitsLoss(pos_weight=np.ones(50)), y), (nn.MSELoss(), y),
              (nn.CrossEntropyLoss(reduction="none"), rng.integers(0, 50, 64))]

    def step():
        for crit, target in losses:
            out = crit(x, target)
            crit.backward(np.ones_like(out) if np.ndim(out) else 1.0)
    return step


STEPS = {"mlp+sgd": _mlp_step, "activations": _activation_step, "losses": _loss_step}


@pytest.mark.parametrize("family", sorted(STEPS))
def test_rss_stays_flat(family):
    step = STEPS[family]()
    for _ in range(WARMUP):
        step()
    gc.collect()
    before = _rss_bytes()
    for _ in range(STEPS_PER_CHECK):
        step()
    gc.collect()
    growth = _rss_bytes() - before
    assert growth < MAX_GROWTH_BYTES, (f"{family}: RSS grew by {growth / 2**20:.1f} MiB over "
                                       f"{STEPS_PER_CHECK} steps")
