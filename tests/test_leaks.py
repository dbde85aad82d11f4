"""No memory leaks: 1,000 forward/backward steps of each layer family leave memory flat.

A kernel that forgets to free its workspace, or a module that keeps a reference per
step, grows memory by at least its size every step; 1,000 steps turn even a few
kilobytes into megabytes. Each family registers a step function in STEPS (or
LEAK_STEPS of its ``tests/cases_<family>.py``).

What is measured: the bytes malloc has handed out and not had back (glibc's
``mallinfo2``: NumPy's array data and every kernel workspace come from malloc) and the
number of live Python objects (``sys.getallocatedblocks``), after each of five blocks
of 200 steps. Not RSS: pages that an earlier test freed stay resident and absorb a
leak without RSS moving (a 4 KiB-per-step leak went unseen after the rest of the
suite), and the allocator may grow its arenas once without any leak (a CI run saw
RSS jump 137 MiB during the loss steps, and no rerun showed it). A leak grows both
figures in every block, so the test demands that the median block grows by less than
a leak of 1 KiB (or one object) per step would cause. RSS is reported beside them.
"""

import ctypes
import gc
import sys

import numpy as np
import pytest

import pydl
from pydl import nn
from pydl.optim import SGD

from ._registry import collect



class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
        "uordblks", "fordblks", "keepcost")]


def _libc_mallinfo2():
    try:
        fn = ctypes.CDLL(None).mallinfo2
    except (OSError, AttributeError):
        return None
    fn.restype = _MallInfo2
    return fn


_MALLINFO2 = _libc_mallinfo2() if sys.platform.startswith("linux") else None


def _malloc_is_glibcs():
    """Whether mallinfo2 sees NumPy's allocations: not when a sanitizer runtime (the
    ASan CI stage, LD_PRELOAD) replaces malloc. Leaks are not checked there."""
    if _MALLINFO2 is None:
        return False
    before = _MALLINFO2().uordblks + _MALLINFO2().hblkhd
    block = np.ones(2**18)  # 2 MiB
    seen = _MALLINFO2().uordblks + _MALLINFO2().hblkhd - before
    del block
    return seen >= 2**20


pytestmark = pytest.mark.skipif(not _malloc_is_glibcs(),
                                reason="needs glibc's malloc and mallinfo2")
# PYTHONMALLOC=malloc (the sanitizer stage) turns object counting off: it reads 0
_COUNTS_OBJECTS = sys.getallocatedblocks() > 0

WARMUP, BLOCKS, STEPS_PER_BLOCK = 200, 5, 200
# A leak of 1 KiB (or one Python object) per step grows every block by this much.
MAX_MEDIAN_BYTES = STEPS_PER_BLOCK * 1024
MAX_MEDIAN_OBJECTS = STEPS_PER_BLOCK


def _heap_bytes():
    """Bytes malloc has handed out and not had back: small chunks plus mmapped ones."""
    info = _MALLINFO2()
    return info.uordblks + info.hblkhd


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
    """Growth of (heap bytes, Python objects, RSS) over each block of steps."""
    for _ in range(WARMUP):
        step()
    samples = []
    for block in range(BLOCKS + 1):
        if block:
            for _ in range(STEPS_PER_BLOCK):
                step()
        gc.collect()
        samples.append((_heap_bytes(), sys.getallocatedblocks(), _rss_bytes()))
    return np.diff(np.array(samples, dtype=np.int64), axis=0)


def _leaks(growth):
    return (np.median(growth[:, 0]) >= MAX_MEDIAN_BYTES
            or (_COUNTS_OBJECTS and np.median(growth[:, 1]) >= MAX_MEDIAN_OBJECTS))


def test_a_leak_of_4_kib_per_step_is_caught():
    kept = []
    assert _leaks(_block_growth(lambda: kept.append(np.ones(512))))


@pytest.mark.skipif(not _COUNTS_OBJECTS, reason="PYTHONMALLOC=malloc: no object count")
def test_a_leak_of_one_small_object_per_step_is_caught():
    kept = []
    assert _leaks(_block_growth(lambda: kept.append((len(kept),))))


@pytest.mark.parametrize("family", sorted(STEPS))
def test_memory_stays_flat(family):
    growth = _block_growth(STEPS[family]())
    assert not _leaks(growth), (
        f"{family}: memory grew in the blocks of {STEPS_PER_BLOCK} steps: heap "
        f"{[f'{g / 2**10:.0f} KiB' for g in growth[:, 0]]}, Python objects "
        f"{growth[:, 1].tolist()}, RSS {[f'{g / 2**10:.0f} KiB' for g in growth[:, 2]]}")
