"""Convolutions (float32): pydl vs the NumPy reference vs PyTorch.

``conv2d_fwd`` and ``sgemm`` share a FLOP count: the forward pass of the 3x3
convolution is one (64 x 576) @ (576 x 32768) product once the input is unfolded, and
``sgemm`` times that product alone, so the report compares their GFLOP/s.
"""

import numpy as np

from pydl import functional as F
from pydl import reference as R

from conftest import setup_bench, torch


def _conv_fwd_bwd(benchmark, impl, group, nd, n, c_in, c_out, spatial, kernel, stride=1,
                  padding=0, groups=1):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, c_in, *spatial), dtype=np.float32)
    w = rng.standard_normal((c_out, c_in // groups, *(kernel,) * nd), dtype=np.float32) * 0.05
    b = rng.standard_normal(c_out, dtype=np.float32)
    kwargs = dict(stride=stride, padding=padding, groups=groups)
    y = getattr(F, f"conv{nd}d_forward")(x, w, b, **kwargs)
    g = rng.standard_normal(y.shape, dtype=np.float32)
    macs = y.size * (c_in // groups) * kernel ** nd
    setup_bench(benchmark, group, impl, flops=2 * macs * 3)
    if impl == "torch":
        tx, tw, tb = (torch.from_numpy(a).requires_grad_() for a in (x, w, b))
        tg = torch.from_numpy(g)
        conv = getattr(torch.nn.functional, f"conv{nd}d")

        def run():
            out = conv(tx, tw, tb, **kwargs)
            return torch.autograd.grad(out, (tx, tw, tb), tg)
    else:
        ops = F if impl == "pydl" else R
        forward = getattr(ops, f"conv{nd}d_forward")
        backward = getattr(ops, f"conv{nd}d_backward")

        def run():
            forward(x, w, b, **kwargs)
            return backward(g, x, w, **kwargs)
    benchmark(run)


def test_conv2d_fwd_bwd(benchmark, impl):
    """N=32, 64 -> 64 channels, 32x32, 3x3, padding 1: y, then dx, dW, db."""
    _conv_fwd_bwd(benchmark, impl, "conv2d_fwd_bwd", 2, 32, 64, 64, (32, 32), 3, padding=1)


def test_conv2d_fwd(benchmark, impl):
    """The forward pass of conv2d_fwd_bwd alone."""
    n, c, k, h, w_ = 32, 64, 64, 32, 32
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, c, h, w_), dtype=np.float32)
    w = rng.standard_normal((k, c, 3, 3), dtype=np.float32) * 0.05
    b = rng.standard_normal(k, dtype=np.float32)
    setup_bench(benchmark, "conv2d_fwd", impl, flops=2 * n * k * h * w_ * c * 9)
    if impl == "torch":
        tx, tw, tb = (torch.from_numpy(a) for a in (x, w, b))

        def run():
            with torch.no_grad():
                return torch.nn.functional.conv2d(tx, tw, tb, padding=1)
    else:
        ops = F if impl == "pydl" else R

        def run():
            return ops.conv2d_forward(x, w, b, padding=1)
    benchmark(run)


def test_sgemm(benchmark, impl):
    """One plain (64 x 576) @ (576 x 32768) float32 product: conv2d_fwd's GEMM."""
    m, k, n = 64, 64 * 9, 32 * 32 * 32
    rng = np.random.default_rng(0)
    cols = rng.standard_normal((n, k), dtype=np.float32)   # one row per output position
    w = rng.standard_normal((m, k), dtype=np.float32)
    setup_bench(benchmark, "sgemm", impl, flops=2 * m * k * n)
    if impl == "torch":
        tc, tw = torch.from_numpy(cols), torch.from_numpy(w)

        def run():
            return torch.mm(tc, tw.T)
    elif impl == "pydl":
        def run():
            return F.linear_forward(cols, w)
    else:
        def run():
            return cols @ w.T
    benchmark(run)


def test_conv1x1_fwd_bwd(benchmark, impl):
    """Pointwise: N=32, 256 -> 64 channels, 16x16."""
    _conv_fwd_bwd(benchmark, impl, "conv1x1_fwd_bwd", 2, 32, 256, 64, (16, 16), 1)


def test_depthwise3x3_fwd_bwd(benchmark, impl):
    """Depthwise: N=32, 128 channels (groups=128), 32x32, 3x3, padding 1."""
    _conv_fwd_bwd(benchmark, impl, "depthwise3x3_fwd_bwd", 2, 32, 128, 128, (32, 32), 3,
                  padding=1, groups=128)


def test_conv2d_stride2_fwd_bwd(benchmark, impl):
    """N=32, 64 -> 128 channels, 32x32, 3x3, stride 2, padding 1."""
    _conv_fwd_bwd(benchmark, impl, "conv2d_stride2_fwd_bwd", 2, 32, 64, 128, (32, 32), 3,
                  stride=2, padding=1)


def test_conv1d_fwd_bwd(benchmark, impl):
    """N=32, 64 -> 64 channels, L=1024, kernel 5, padding 2."""
    _conv_fwd_bwd(benchmark, impl, "conv1d_fwd_bwd", 1, 32, 64, 64, (1024,), 5, padding=2)
