"""Pooling and resampling (forward + backward), N=32, C=64, 32x32, float32."""

import numpy as np

from pydl import functional as F
from pydl import reference as R

from conftest import setup_bench, torch

N, C, H, W = 32, 64, 32, 32


def _bench(benchmark, impl, group, out_hw, torch_forward, run_ops):
    """Time forward + backward: torch_forward(tensor) under autograd, or
    run_ops(ops, x, g) with ops the pydl functional module or its NumPy twin."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((N, C, H, W), dtype=np.float32)
    g = rng.standard_normal((N, C) + out_hw, dtype=np.float32)
    setup_bench(benchmark, group, impl)
    if impl == "torch":
        tx = torch.from_numpy(x).requires_grad_()
        tg = torch.from_numpy(g)

        def run():
            return torch.autograd.grad(torch_forward(tx), tx, tg)
    else:
        ops = F if impl == "pydl" else R

        def run():
            return run_ops(ops, x, g)
    benchmark(run)


def _maxpool(ops, x, g):
    _, idx = ops.max_pool2d_forward(x, 2)
    return ops.max_pool2d_backward(g, idx, x.shape)


def _avgpool(ops, x, g):
    ops.avg_pool2d_forward(x, 2)
    return ops.avg_pool2d_backward(g, x.shape, 2)


def _bilinear(ops, x, g):
    args = dict(scale_factor=2, mode="bilinear", align_corners=False)
    ops.interpolate_forward(x, **args)
    return ops.interpolate_backward(g, x.shape, **args)


def test_maxpool2d_fwd_bwd(benchmark, impl):
    """2x2 max pooling, stride 2: output and argmax indices, then the input gradient."""
    _bench(benchmark, impl, "maxpool2d_fwd_bwd", (H // 2, W // 2),
           lambda t: torch.nn.functional.max_pool2d(t, 2), _maxpool)


def test_avgpool2d_fwd_bwd(benchmark, impl):
    """2x2 average pooling, stride 2."""
    _bench(benchmark, impl, "avgpool2d_fwd_bwd", (H // 2, W // 2),
           lambda t: torch.nn.functional.avg_pool2d(t, 2), _avgpool)


def test_upsample_bilinear_fwd_bwd(benchmark, impl):
    """Bilinear x2 upsampling (align_corners=False), 32x32 -> 64x64."""
    _bench(benchmark, impl, "upsample_bilinear_fwd_bwd", (2 * H, 2 * W),
           lambda t: torch.nn.functional.interpolate(t, scale_factor=2, mode="bilinear",
                                                     align_corners=False), _bilinear)
