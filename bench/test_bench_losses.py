"""Loss kernels (forward + backward) on 16M float32 elements, mean reduction."""

import numpy as np

from pydl import functional as F
from pydl import reference as R

from conftest import setup_bench, torch

SIZE = 16 * 1024 * 1024


def _data():
    rng = np.random.default_rng(0)
    x = rng.standard_normal(SIZE, dtype=np.float32) * 2
    y = rng.standard_normal(SIZE, dtype=np.float32) * 2
    return x, y


def test_huber_fwd_bwd(benchmark, impl):
    """Huber loss (delta 1) and d loss / d input."""
    x, y = _data()
    setup_bench(benchmark, "huber_fwd_bwd", impl)
    if impl == "torch":
        tx = torch.from_numpy(x).requires_grad_()
        ty = torch.from_numpy(y)

        def run():
            loss = torch.nn.functional.huber_loss(tx, ty, delta=1.0)
            return torch.autograd.grad(loss, tx)
    else:
        ops = F if impl == "pydl" else R

        def run():
            loss, grad = ops.huber_loss_forward(x, y, delta=1.0)
            return ops.huber_loss_backward(grad, 1.0)
    benchmark(run)


def test_bce_with_logits_fwd_bwd(benchmark, impl):
    """Binary cross-entropy on logits, targets in [0, 1], and d loss / d logits."""
    x, y = _data()
    y = np.abs(y) / (1 + np.abs(y))
    setup_bench(benchmark, "bce_with_logits_fwd_bwd", impl)
    if impl == "torch":
        tx = torch.from_numpy(x).requires_grad_()
        ty = torch.from_numpy(y)

        def run():
            loss = torch.nn.functional.binary_cross_entropy_with_logits(tx, ty)
            return torch.autograd.grad(loss, tx)
    else:
        ops = F if impl == "pydl" else R

        def run():
            loss, grad = ops.binary_cross_entropy_with_logits_forward(x, y)
            return ops.binary_cross_entropy_with_logits_backward(grad, 1.0)
    benchmark(run)
