"""A sweep of ~50 convolution and pooling problems (issue 7): 1x1, 3x3, 5x5, stride 2,
padding 0 to k+2, 17 channels, batch 1 and odd, 1x1 spatial, grouped, depthwise,
dilated, transposed, 1-D/2-D/3-D. Each runs forward and both backward directions in
float32 against the NumPy reference in float64, with outputs poisoned (NaN) so an
element a kernel skips fails."""

import numpy as np
import pytest

from pydl import functional as F
from pydl import reference as R

from .helpers import as64, assert_close

# (dims, N, C_in, C_out, spatial, kernel, stride, padding, dilation, groups)
CONV = [
    (2, 2, 8, 8, 7, 1, 1, 0, 1, 1),        # 1x1: straight to GEMM
    (2, 3, 17, 5, 9, 1, 2, 0, 1, 1),       # strided 1x1 (no GEMM shortcut)
    (2, 2, 4, 6, 8, 3, 1, 1, 1, 1),        # 3x3 same
    (2, 1, 3, 4, 8, 3, 1, 0, 1, 1),        # 3x3 valid, batch 1
    (2, 5, 3, 4, 9, 3, 2, 1, 1, 1),        # stride 2, odd size, odd batch
    (2, 2, 3, 4, 9, 3, 2, 0, 1, 1),        # stride 2 valid
    (2, 2, 2, 3, 6, 3, 1, 5, 1, 1),        # padding k+2
    (2, 3, 2, 3, 7, 5, 1, 0, 1, 1),        # 5x5 valid
    (2, 2, 3, 2, 7, 5, 1, 2, 1, 1),        # 5x5 same
    (2, 2, 3, 2, 5, 5, 1, 7, 1, 1),        # 5x5, padding k+2
    (2, 2, 3, 4, 11, 5, 3, 2, 1, 1),       # 5x5 stride 3
    (2, 2, 17, 17, 6, 3, 1, 1, 1, 1),      # 17 channels
    (2, 3, 17, 17, 5, 3, 1, 1, 1, 17),     # 17-channel depthwise
    (2, 2, 8, 8, 8, 3, 2, 1, 1, 8),        # depthwise stride 2
    (2, 2, 8, 16, 7, 3, 1, 1, 1, 8),       # depthwise with multiplier 2
    (2, 2, 6, 9, 7, 3, 1, 1, 1, 3),        # grouped
    (2, 1, 8, 4, 9, 3, 2, 2, 2, 2),        # grouped, strided, dilated
    (2, 2, 3, 4, 9, 3, 1, 2, 2, 1),        # dilation 2
    (2, 2, 2, 3, 11, 3, 1, 0, 3, 1),       # dilation 3 valid
    (2, 2, 3, 5, 1, 1, 1, 0, 1, 1),        # 1x1 spatial
    (2, 2, 3, 5, 1, 3, 1, 1, 1, 1),        # 1x1 spatial, 3x3 kernel, padding 1
    (2, 7, 1, 1, 3, 3, 1, 0, 1, 1),        # single channel, output 1x1
    (1, 2, 4, 5, 17, 5, 1, 2, 1, 1),       # conv1d k5 same
    (1, 3, 17, 3, 13, 3, 2, 0, 1, 1),      # conv1d stride 2
    (1, 2, 6, 6, 10, 3, 1, 1, 1, 6),       # conv1d depthwise
    (1, 1, 4, 4, 15, 3, 1, 2, 2, 2),       # conv1d grouped dilated
    (1, 2, 3, 2, 1, 1, 1, 0, 1, 1),        # conv1d length 1
    (3, 2, 2, 3, 5, 3, 1, 1, 1, 1),        # conv3d 3x3x3 same
    (3, 1, 3, 2, 6, 3, 2, 0, 1, 1),        # conv3d stride 2
    (3, 2, 4, 4, 4, 1, 1, 0, 1, 1),        # conv3d 1x1x1
    (3, 2, 4, 4, 5, 3, 1, 1, 1, 4),        # conv3d depthwise
]
# (dims, N, C_in, C_out, spatial, kernel, stride, padding, output_padding, groups)
TRANSPOSED = [
    (2, 2, 4, 3, 5, 3, 2, 1, 1, 1),
    (2, 1, 6, 4, 4, 4, 2, 1, 0, 2),
    (2, 3, 3, 5, 1, 3, 1, 0, 0, 1),
    (1, 2, 4, 4, 7, 5, 3, 2, 2, 4),
    (3, 1, 2, 3, 3, 3, 2, 0, 1, 1),
]
# (kind, dims, N, C, spatial, kernel, stride, padding, ceil_mode)
POOL = [
    ("max", 2, 2, 3, 8, 2, 2, 0, False),
    ("max", 2, 3, 17, 9, 3, 2, 1, False),
    ("max", 2, 1, 2, 9, 3, 2, 1, True),
    ("max", 2, 2, 2, 7, 3, 1, 1, False),
    ("max", 2, 2, 3, 1, 1, 1, 0, False),
    ("max", 1, 2, 3, 11, 3, 2, 1, False),
    ("max", 3, 1, 2, 6, 2, 2, 0, False),
    ("avg", 2, 2, 3, 8, 2, 2, 0, False),
    ("avg", 2, 3, 17, 9, 3, 2, 1, False),
    ("avg", 2, 1, 2, 10, 3, 3, 1, True),
    ("avg", 1, 2, 3, 11, 5, 2, 2, False),
    ("avg", 3, 1, 2, 5, 3, 2, 1, False),
]


def _distinct(rng, shape):
    """Values with no ties (max pooling's argmax is then unambiguous)."""
    return (rng.permutation(int(np.prod(shape))).reshape(shape) / 7.0 - 3.0).astype(np.float32)


def _ops(dims, transposed=False):
    name = f"conv_transpose{dims}d" if transposed else f"conv{dims}d"
    return [getattr(m, f"{name}_{d}") for m in (F, R) for d in ("forward", "backward")]


def _check(fwd, bwd, ref_fwd, ref_bwd, x, w, b, **kw):
    y = fwd(x, w, b, **kw)
    x64, w64, b64 = as64(x, w, b)
    assert_close(y, ref_fwd(x64, w64, b64, **kw), np.float32)
    g = np.random.default_rng(1).standard_normal(y.shape).astype(np.float32)
    for actual, expected in zip(bwd(g, x, w, **kw), ref_bwd(g.astype(np.float64), x64, w64,
                                                           **kw)):
        assert_close(actual, expected, np.float32)


@pytest.mark.parametrize("case", CONV, ids=[f"conv{c[0]}d-" + "-".join(map(str, c[1:]))
                                            for c in CONV])
def test_conv(case):
    dims, n, c_in, c_out, size, k, stride, pad, dil, groups = case
    rng = np.random.default_rng(sum(case))
    x = rng.standard_normal((n, c_in) + (size,) * dims).astype(np.float32)
    w = rng.standard_normal((c_out, c_in // groups) + (k,) * dims).astype(np.float32)
    b = rng.standard_normal(c_out).astype(np.float32)
    _check(*_ops(dims), x, w, b, stride=stride, padding=pad, dilation=dil, groups=groups)


@pytest.mark.parametrize("case", TRANSPOSED,
                         ids=[f"convT{c[0]}d-" + "-".join(map(str, c[1:])) for c in TRANSPOSED])
def test_conv_transpose(case):
    dims, n, c_in, c_out, size, k, stride, pad, out_pad, groups = case
    rng = np.random.default_rng(sum(case))
    x = rng.standard_normal((n, c_in) + (size,) * dims).astype(np.float32)
    w = rng.standard_normal((c_in, c_out // groups) + (k,) * dims).astype(np.float32)
    b = rng.standard_normal(c_out).astype(np.float32)
    _check(*_ops(dims, transposed=True), x, w, b, stride=stride, padding=pad,
           output_padding=out_pad, groups=groups)


@pytest.mark.parametrize("case", POOL, ids=["-".join(map(str, c)) for c in POOL])
def test_pool(case):
    kind, dims, n, c, size, k, stride, pad, ceil = case
    rng = np.random.default_rng(len(str(case)))
    x = _distinct(rng, (n, c) + (size,) * dims)
    args = dict(kernel_size=k, stride=stride, padding=pad, ceil_mode=ceil)
    f_fwd, f_bwd = (getattr(F, f"{kind}_pool{dims}d_{d}") for d in ("forward", "backward"))
    r_fwd, r_bwd = (getattr(R, f"{kind}_pool{dims}d_{d}") for d in ("forward", "backward"))
    if kind == "max":
        y, idx = f_fwd(x, **args)
        y_ref, idx_ref = r_fwd(x.astype(np.float64), **args)
        assert np.array_equal(y, y_ref) and np.array_equal(idx, idx_ref)
        g = rng.standard_normal(y.shape).astype(np.float32)
        # overlapping windows add several gradients into one input: float32 rounding
        assert_close(f_bwd(g, idx, x.shape), r_bwd(g.astype(np.float64), idx_ref, x.shape),
                     np.float32)
    else:
        y = f_fwd(x, **args)
        assert_close(y, r_fwd(x.astype(np.float64), **args), np.float32)
        g = rng.standard_normal(y.shape).astype(np.float32)
        assert_close(f_bwd(g, x.shape, **args), r_bwd(g.astype(np.float64), x.shape, **args),
                     np.float32)


def test_the_sweep_has_about_fifty_problems():
    assert len(CONV) + len(TRANSPOSED) + len(POOL) >= 48
