"""Optimizer updates: one step over 10M float32 parameters in one tensor."""

import numpy as np

from pydl import functional as F
from pydl import reference as R

from conftest import setup_bench, torch

SIZE = 10_000_000


def _arrays(n_state):
    rng = np.random.default_rng(0)
    p = rng.standard_normal(SIZE, dtype=np.float32)
    g = rng.standard_normal(SIZE, dtype=np.float32)
    state = [np.abs(rng.standard_normal(SIZE, dtype=np.float32)) * 0.01
             for _ in range(n_state)]
    return p, g, state


def test_adam_step(benchmark, impl):
    """Adam (lr 1e-3, betas (0.9, 0.999)), one step, exp_avg and exp_avg_sq given.

    PyTorch: ``Adam(foreach=True).step()`` with the gradient set once beforehand."""
    p, g, (m, v) = _arrays(2)
    setup_bench(benchmark, "adam_step", impl)
    if impl == "torch":
        tp = torch.from_numpy(p).requires_grad_()
        tp.grad = torch.from_numpy(g)
        opt = torch.optim.Adam([tp], lr=1e-3, foreach=True)
        opt.step()  # creates the state; the timed steps continue from it
        benchmark(opt.step)
    else:
        ops = F if impl == "pydl" else R
        benchmark(lambda: ops.adam_step(p, g, m, v, step=10, lr=1e-3))


def test_sgd_momentum_step(benchmark, impl):
    """SGD with momentum 0.9 and weight decay 1e-4, one step, buffer given.

    PyTorch: ``SGD(foreach=True).step()`` with the gradient set once beforehand."""
    p, g, (buf,) = _arrays(1)
    setup_bench(benchmark, "sgd_momentum_step", impl)
    kw = dict(lr=0.01, momentum=0.9, weight_decay=1e-4)
    if impl == "torch":
        tp = torch.from_numpy(p).requires_grad_()
        tp.grad = torch.from_numpy(g)
        opt = torch.optim.SGD([tp], foreach=True, **kw)
        opt.step()
        benchmark(opt.step)
    else:
        ops = F if impl == "pydl" else R
        benchmark(lambda: ops.sgd_step(p, g, buf, **kw))
