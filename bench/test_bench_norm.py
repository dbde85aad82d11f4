"""Normalization and dropout: batch norm 2d, group norm 2d, instance norm 2d, layer norm
and dropout (forward + backward)."""

import numpy as np

from pydl import functional as F
from pydl import reference as R

from conftest import setup_bench, torch


def test_batchnorm2d_fwd_bwd(benchmark, impl):
    """N=32, C=64, 32x32, float32, training mode (batch statistics, running stats
    updated): y, then dx, dgamma, dbeta."""
    shape = (32, 64, 32, 32)
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape, dtype=np.float32)
    g = rng.standard_normal(shape, dtype=np.float32)
    w = rng.random(64, dtype=np.float32) + 0.5
    b = rng.standard_normal(64, dtype=np.float32)
    rm, rv = np.zeros(64, np.float32), np.ones(64, np.float32)
    setup_bench(benchmark, "batchnorm2d_fwd_bwd", impl)
    if impl == "torch":
        tx, tw, tb = (torch.from_numpy(a).requires_grad_() for a in (x, w, b))
        trm, trv, tg = torch.from_numpy(rm), torch.from_numpy(rv), torch.from_numpy(g)

        def run():
            y = torch.nn.functional.batch_norm(tx, trm, trv, tw, tb, training=True)
            return torch.autograd.grad(y, (tx, tw, tb), tg)
    else:
        ops = F if impl == "pydl" else R

        def run():
            _, mean, invstd = ops.batch_norm_forward(x, w, b, rm, rv, training=True)
            return ops.batch_norm_backward(g, x, w, mean, invstd, training=True)
    benchmark(run)



def _per_channel_inputs(shape):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape, dtype=np.float32)
    g = rng.standard_normal(shape, dtype=np.float32)
    w = rng.random(shape[1], dtype=np.float32) + 0.5
    b = rng.standard_normal(shape[1], dtype=np.float32)
    return x, g, w, b


def test_groupnorm2d_fwd_bwd(benchmark, impl):
    """N=32, C=64, 32x32 (batch norm's shape), 32 groups, float32: y, then dx, dgamma,
    dbeta."""
    x, g, w, b = _per_channel_inputs((32, 64, 32, 32))
    setup_bench(benchmark, "groupnorm2d_fwd_bwd", impl)
    if impl == "torch":
        tx, tw, tb = (torch.from_numpy(a).requires_grad_() for a in (x, w, b))
        tg = torch.from_numpy(g)

        def run():
            y = torch.nn.functional.group_norm(tx, 32, tw, tb)
            return torch.autograd.grad(y, (tx, tw, tb), tg)
    else:
        ops = F if impl == "pydl" else R

        def run():
            _, mean, rstd = ops.group_norm_forward(x, 32, w, b)
            return ops.group_norm_backward(g, x, 32, w, mean, rstd)
    benchmark(run)


def test_instancenorm2d_fwd_bwd(benchmark, impl):
    """N=32, C=64, 32x32, float32, affine, instance statistics: y, then dx, dgamma,
    dbeta."""
    x, g, w, b = _per_channel_inputs((32, 64, 32, 32))
    setup_bench(benchmark, "instancenorm2d_fwd_bwd", impl)
    if impl == "torch":
        tx, tw, tb = (torch.from_numpy(a).requires_grad_() for a in (x, w, b))
        tg = torch.from_numpy(g)

        def run():
            y = torch.nn.functional.instance_norm(tx, weight=tw, bias=tb)
            return torch.autograd.grad(y, (tx, tw, tb), tg)
    else:
        ops = F if impl == "pydl" else R

        def run():
            _, mean, rstd = ops.instance_norm_forward(x, w, b)
            return ops.instance_norm_backward(g, x, w, mean, rstd)
    benchmark(run)


def test_layernorm_fwd_bwd(benchmark, impl):
    """N=4096 rows of 1024, float32: y, then dx, dgamma, dbeta."""
    n, d = 4096, 1024
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, d), dtype=np.float32)
    g = rng.standard_normal((n, d), dtype=np.float32)
    w = rng.random(d, dtype=np.float32) + 0.5
    b = rng.standard_normal(d, dtype=np.float32)
    setup_bench(benchmark, "layernorm_fwd_bwd", impl)
    if impl == "torch":
        tx, tw, tb = (torch.from_numpy(a).requires_grad_() for a in (x, w, b))
        tg = torch.from_numpy(g)

        def run():
            y = torch.nn.functional.layer_norm(tx, (d,), tw, tb)
            return torch.autograd.grad(y, (tx, tw, tb), tg)
    else:
        ops = F if impl == "pydl" else R

        def run():
            _, mean, rstd = ops.layer_norm_forward(x, d, w, b)
            return ops.layer_norm_backward(g, x, d, w, mean, rstd)
    benchmark(run)


def test_dropout_fwd_bwd(benchmark, impl):
    """16M float32 elements, p=0.5, training: y and its mask, then dx."""
    size = 16 * 1024 * 1024
    rng = np.random.default_rng(0)
    x = rng.standard_normal(size, dtype=np.float32)
    g = rng.standard_normal(size, dtype=np.float32)
    setup_bench(benchmark, "dropout_fwd_bwd", impl)
    if impl == "torch":
        tx = torch.from_numpy(x).requires_grad_()
        tg = torch.from_numpy(g)

        def run():
            y = torch.nn.functional.dropout(tx, 0.5, training=True)
            return torch.autograd.grad(y, tx, tg)
    else:
        ops = F if impl == "pydl" else R
        gen = np.random.default_rng(1)

        def run():
            _, mask = ops.dropout_forward(x, 0.5, generator=gen)
            return ops.dropout_backward(g, mask, 0.5)
    benchmark(run)
