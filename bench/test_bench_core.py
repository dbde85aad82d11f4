"""Foundation ops: dense layer, softmax cross-entropy, relu (forward + backward)."""

import numpy as np

from pydl import functional as F
from pydl import reference as R

from conftest import setup_bench, torch


def test_dense_fwd_bwd(benchmark, impl):
    """Batch 256, 1024 -> 1024, float32: y = x W^T + b, then dx, dW, db."""
    n, k, m = 256, 1024, 1024
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, k), dtype=np.float32)
    w = rng.standard_normal((m, k), dtype=np.float32) * 0.03
    b = rng.standard_normal(m, dtype=np.float32)
    g = rng.standard_normal((n, m), dtype=np.float32)
    setup_bench(benchmark, "dense_fwd_bwd", impl, flops=3 * 2 * n * k * m)
    if impl == "torch":
        tx, tw, tb = (torch.from_numpy(a).requires_grad_() for a in (x, w, b))
        tg = torch.from_numpy(g)

        def run():
            y = torch.nn.functional.linear(tx, tw, tb)
            return torch.autograd.grad(y, (tx, tw, tb), tg)
    else:
        ops = F if impl == "pydl" else R

        def run():
            ops.linear_forward(x, w, b)
            return ops.linear_backward(g, x, w)
    benchmark(run)


def test_softmax_ce_fwd_bwd(benchmark, impl):
    """4096 x 1000 logits, float32, mean reduction: loss and d loss / d logits."""
    n, c = 4096, 1000
    rng = np.random.default_rng(0)
    z = rng.standard_normal((n, c), dtype=np.float32) * 3
    t = rng.integers(0, c, n)
    setup_bench(benchmark, "softmax_ce_fwd_bwd", impl)
    if impl == "torch":
        tz = torch.from_numpy(z).requires_grad_()
        tt = torch.from_numpy(t)

        def run():
            loss = torch.nn.functional.cross_entropy(tz, tt)
            return torch.autograd.grad(loss, tz)
    else:
        ops = F if impl == "pydl" else R

        def run():
            loss, grad = ops.softmax_cross_entropy_forward(z, t)
            return ops.softmax_cross_entropy_backward(grad, 1.0)
    benchmark(run)


def test_relu_fwd_bwd(benchmark, impl):
    """16M float32 elements: y = relu(x), then dx from the upstream gradient."""
    size = 16 * 1024 * 1024
    rng = np.random.default_rng(0)
    x = rng.standard_normal(size, dtype=np.float32)
    g = rng.standard_normal(size, dtype=np.float32)
    setup_bench(benchmark, "relu_fwd_bwd", impl)
    if impl == "torch":
        tx = torch.from_numpy(x).requires_grad_()
        tg = torch.from_numpy(g)

        def run():
            y = torch.relu(tx)
            return torch.autograd.grad(y, tx, tg)
    else:
        ops = F if impl == "pydl" else R

        def run():
            y = ops.relu_forward(x)
            return ops.relu_backward(g, y)
    benchmark(run)
