"""No memory leaks: 1,000 forward/backward steps of each layer family leave RSS flat.

A kernel that forgets to free its workspace, or a module that keeps a reference per
step, grows the resident set by at least its size every step; 1,000 steps turn even
a few kilobytes into megabytes. Each family registers a step function in STEPS (or
LEAK_STEPS of its ``tests/cases_<family>.py``).

RSS is read after each of five blocks of 200 steps. A leak grows it in every block;
the allocator does not: it may grow its arenas once (a CI run once saw a 137 MiB jump
during the loss steps that a rerun did not show) and then stays flat. So the test
demands that the median block grows by less than a leak of 1 KiB per step would cause,
and reports every block's growth when it fails.
"""

import gc
import sys

import numpy as np
import pytest

import pydl
from pydl import nn
from pydl.optim import SGD

from ._registry import collect

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="reads /proc/self/statm")

WARMUP, BLOCKS, STEPS_PER_BLOCK = 200, 5, 200
# A leak of 1 KiB per step grows every block by this much.
MAX_MEDIAN_BLOCK_GROWTH = STEPS_PER_BLOCK * 1024


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
STEPS.update(collect("LEAK_STEPS"))


def _block_growth(step):
    for _ in range(WARMUP):
        step()
    gc.collect()
    samples = [_rss_bytes()]
    for _ in range(BLOCKS):
        for _ in range(STEPS_PER_BLOCK):
            step()
        gc.collect()
        samples.append(_rss_bytes())
    return np.diff(samples)


def test_a_leak_of_4_kib_per_step_is_caught():
    kept = []
    growth = _block_growth(lambda: kept.append(np.ones(512)))  # 4 KiB per step
    assert np.median(growth) >= MAX_MEDIAN_BLOCK_GROWTH


@pytest.mark.parametrize("family", sorted(STEPS))
def test_rss_stays_flat(family):
    growth = _block_growth(STEPS[family]())
    assert np.median(growth) < MAX_MEDIAN_BLOCK_GROWTH, (
        f"{family}: RSS grew in every block of {STEPS_PER_BLOCK} steps: "
        f"{[f'{g / 2**10:.0f} KiB' for g in growth]}")
