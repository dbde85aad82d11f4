"""Convolution kernels against the NumPy reference: every path (stride-1 slabs, im2col
tiles, pointwise, direct/depthwise, transposed), both dtypes, odd sizes, exactness on
small integers, thread-count determinism and bad input."""

import numpy as np
import pytest

import pydl
from pydl import functional as F
from pydl import reference as R
from pydl._ext import conv as _conv
from tests.cases_conv import (conv_args, draw_arrays, random_conv_config,
                              random_conv_transpose_config)
from tests.helpers import as64, assert_close, randn

NDS = [1, 2, 3]
CONFIGS_PER_ND = {1: 12, 2: 16, 3: 6}


@pytest.fixture(params=["default-tiles", "one-row-tiles"])
def tiles(request, monkeypatch):
    """Default tiles, and tiles of one output row (every tile boundary exercised), with
    few weight-gradient chunks (partials added across uneven chunks) and Winograd blocks
    of 16 tiles (several blocks per plane, a short last one; weight-gradient blocks that
    span samples) on planes of any size, F(4x4) weight gradients on small planes too.
    (By default the forward's Winograd blocks span samples where a plane has few tiles,
    and a strided depthwise forward splits whole planes into stride phases; here it
    takes a row and a tap at a time.)"""
    if request.param == "one-row-tiles":
        monkeypatch.setattr(_conv, "TILE_ELEMENTS", 1)
        monkeypatch.setattr(_conv, "SLAB_ELEMENTS", 1)
        monkeypatch.setattr(_conv, "MAX_CHUNKS", 3)
        monkeypatch.setattr(_conv, "CHUNK_MIN_MACS", 1)
        monkeypatch.setattr(_conv, "WINOGRAD_ELEMENTS", 1)
        monkeypatch.setattr(_conv, "WINOGRAD_MIN_BLOCK", 1)
        monkeypatch.setattr(_conv, "DIRECT_PHASES_MAX", 0)
        monkeypatch.setattr(_conv, "WINOGRAD_MIN_TILES", 1)
        monkeypatch.setattr(_conv, "WINOGRAD4_WEIGHT_MIN_TILES", 1)
    return request.param


def _ops(nd, transposed=False):
    name = f"conv_transpose{nd}d" if transposed else f"conv{nd}d"
    return (getattr(F, name + "_forward"), getattr(F, name + "_backward"),
            getattr(R, name + "_forward"), getattr(R, name + "_backward"))


def check_against_reference(nd, config, dtype, rng, transposed=False):
    f_fwd, f_bwd, r_fwd, r_bwd = _ops(nd, transposed)
    out_channels = (config["w_shape"][1] * config["groups"] if transposed
                    else config["w_shape"][0])
    x, w, b = draw_arrays(rng, config, dtype, out_channels)
    kwargs = conv_args(config)
    y = f_fwd(x, w, b, **kwargs)
    assert y.dtype == dtype
    want = r_fwd(*as64(x, w, b), **kwargs)
    assert y.shape == want.shape
    assert_close(y, want, dtype)
    g = randn(rng, y.shape, dtype)
    got = f_bwd(g, x, w, **kwargs, need_bias_grad=config["bias"])
    want = r_bwd(*as64(g, x, w), **kwargs, need_bias_grad=config["bias"])
    for name, a, e in zip(("grad_x", "grad_weight", "grad_bias"), got, want):
        if e is None:
            assert a is None, name
            continue
        assert a.shape == e.shape and a.dtype == dtype, name
        assert_close(a, e, dtype)


@pytest.mark.parametrize("nd", NDS)
def test_conv_random_configs_match_reference(nd, dtype, tiles):
    rng = np.random.default_rng(100 + nd)
    for _ in range(CONFIGS_PER_ND[nd]):
        check_against_reference(nd, random_conv_config(rng, nd), dtype, rng)


@pytest.mark.parametrize("nd", NDS)
def test_conv_transpose_random_configs_match_reference(nd, dtype, tiles):
    rng = np.random.default_rng(200 + nd)
    for _ in range(CONFIGS_PER_ND[nd]):
        check_against_reference(nd, random_conv_transpose_config(rng, nd), dtype, rng,
                                transposed=True)


@pytest.mark.parametrize("nd", NDS)
def test_conv_transpose_1x1_with_output_padding_writes_every_output(nd, dtype):
    # A 1x1 stride-1 kernel took the pointwise (plain GEMM) path, which assumes input
    # and output planes of one size, and left output_padding's trailing positions
    # unwritten (found by the ONNX export sweep against onnxruntime)
    rng = np.random.default_rng(300 + nd)
    config = dict(x_shape=(2, 4) + (3,) * nd, w_shape=(4, 3) + (1,) * nd, bias=True,
                  stride=1, padding=0, output_padding=(1,) * nd, groups=1,
                  dilation=(2,) * nd)
    check_against_reference(nd, config, dtype, rng, transposed=True)


# Each path of the kernels, named: (nd, x shape, w shape, keyword arguments).
PATHS = {
    # stride 1 with fewer than 16 channels in or out per group: in 2-D (and 1-D) an
    # implicit GEMM over a padded window, in 3-D im2col
    "stride1-window": (2, (3, 6, 9, 8), (5, 6, 3, 3), dict(padding=1)),
    "stride1-dilated-asym-same": (2, (2, 4, 9, 10), (3, 4, 4, 3),
                                  dict(padding="same", dilation=(1, 2))),
    "stride1-big-padding": (2, (2, 3, 5, 4), (4, 3, 2, 2), dict(padding=(3, 2))),
    "stride1-3d": (3, (2, 3, 5, 4, 6), (4, 3, 3, 2, 3), dict(padding=(1, 0, 2))),
    "stride1-1d": (1, (3, 5, 17), (4, 5, 5), dict(padding=2)),
    # stride 1 with >= 16 channels per group in and out (3-D: in): the slab path
    "stride1-slab": (2, (3, 16, 9, 8), (17, 16, 3, 2), dict(padding=1)),
    "stride1-slab-dilated-asym-same": (2, (2, 16, 9, 10), (17, 16, 4, 3),
                                       dict(padding="same", dilation=(1, 2))),
    "stride1-slab-big-padding": (2, (2, 16, 5, 4), (17, 16, 2, 2), dict(padding=(3, 2))),
    "stride1-slab-3d": (3, (2, 16, 5, 4, 6), (4, 16, 3, 2, 3), dict(padding=(1, 0, 2))),
    "stride1-slab-1d": (1, (3, 16, 17), (17, 16, 5), dict(padding=2)),
    "stride1-slab-grouped": (2, (2, 32, 7, 7), (34, 16, 3, 3), dict(groups=2, padding=1)),
    # 2-D strided: the implicit GEMM over a phase-split window where every phase is
    # read, else im2col (a dilation that skips phases, a 1x1 kernel)
    "strided-2d": (2, (3, 4, 11, 9), (6, 4, 3, 3), dict(stride=(2, 3), padding=1)),
    "strided-dilated": (2, (2, 3, 13, 12), (5, 3, 3, 3), dict(stride=2, dilation=3, padding=2)),
    "strided-dilated-im2col": (2, (2, 3, 11, 10), (4, 3, 3, 3),
                               dict(stride=2, dilation=2, padding=1)),
    "strided-3d": (3, (2, 3, 6, 5, 7), (4, 3, 2, 3, 3), dict(stride=2, dilation=(1, 2, 1))),
    "pointwise": (2, (3, 7, 5, 6), (4, 7, 1, 1), {}),
    "pointwise-grouped": (2, (2, 6, 4, 5), (9, 2, 1, 1), dict(groups=3)),
    "1x1-strided": (2, (2, 3, 7, 7), (4, 3, 1, 1), dict(stride=2)),
    "depthwise": (2, (3, 5, 8, 7), (5, 1, 3, 3), dict(groups=5, padding=1)),
    "depthwise-multiplier-strided": (2, (2, 3, 9, 8), (6, 1, 3, 2),
                                     dict(groups=3, stride=2, dilation=2)),
    "depthwise-3d": (3, (2, 4, 4, 5, 6), (4, 1, 3, 3, 3), dict(groups=4, padding=1)),
    "depthwise-1d-multiplier-dilated": (1, (2, 3, 20), (6, 1, 5),
                                        dict(groups=3, padding=4, dilation=2)),
    "one-input-channel": (2, (2, 1, 8, 8), (6, 1, 5, 5), dict(padding=2)),
    "grouped": (2, (2, 6, 7, 7), (4, 3, 3, 3), dict(groups=2, padding=1)),
    "batch-1": (2, (1, 4, 6, 6), (3, 4, 3, 3), {}),
    "batch-17-uneven-chunks": (1, (17, 3, 9), (2, 3, 3), dict(padding=1)),
    # Winograd F(2x2, 3x3): 2-D 3x3 stride 1, >= 16 channels in and out, >= 16 tiles
    # of 2x2 outputs. Odd output sizes (tiles past the edge), K not a multiple of the
    # register block, no padding, padding past the kernel; a plane smaller than one
    # tile (Winograd only under the one-row-tiles fixture, which lifts the tile minimum).
    "winograd": (2, (3, 16, 9, 8), (17, 16, 3, 3), dict(padding=1)),
    "winograd-valid": (2, (2, 18, 11, 10), (16, 18, 3, 3), {}),
    "winograd-big-padding": (2, (2, 16, 7, 6), (20, 16, 3, 3), dict(padding=(3, 2))),
    "winograd-tiny-plane": (2, (2, 16, 1, 2), (16, 16, 3, 3), dict(padding=1)),
    # Winograd F(4x4, 3x3): planes with >= 16 tiles of 4x4 outputs (>= 32 for its weight
    # gradient, else F(2x2)'s: the "winograd4-valid" and "-many-tiles" cases); the same
    # cases as above.
    "winograd4": (2, (3, 16, 18, 17), (17, 16, 3, 3), dict(padding=1)),
    "winograd4-valid": (2, (2, 18, 26, 27), (16, 18, 3, 3), {}),
    "winograd4-big-padding": (2, (2, 16, 15, 14), (20, 16, 3, 3), dict(padding=(3, 2))),
    "winograd4-many-tiles": (2, (2, 16, 40, 37), (16, 16, 3, 3), dict(padding="same")),
}


def _transposed_x_shape(xs, ws, kwargs):
    """x's shape for the transposed convolution of the same geometry, or None where its
    output would be empty (or padding is a string)."""
    padding = kwargs.get("padding", 0)
    if isinstance(padding, str):
        return None
    nd = len(ws) - 2
    tup = (lambda v: v if isinstance(v, tuple) else (v,) * nd)
    for i, s, k, p, d in zip(xs[2:], tup(kwargs.get("stride", 1)), ws[2:], tup(padding),
                             tup(kwargs.get("dilation", 1))):
        if (i - 1) * s - 2 * p + d * (k - 1) + 1 < 1:
            return None
    return (xs[0], ws[0], *xs[2:])


@pytest.mark.parametrize("path", sorted(PATHS))
def test_each_kernel_path_matches_reference(path, dtype, tiles):
    nd, xs, ws, kwargs = PATHS[path]
    rng = np.random.default_rng(5)
    config = dict(x_shape=xs, w_shape=ws, bias=True, **kwargs)
    config.setdefault("groups", 1)
    check_against_reference(nd, config, dtype, rng)
    # the transposed convolution of the same geometry
    xt_shape = _transposed_x_shape(xs, ws, kwargs)
    if xt_shape is not None:
        t_config = dict(x_shape=xt_shape, w_shape=ws, bias=True, **kwargs)
        t_config.setdefault("groups", 1)
        check_against_reference(nd, t_config, dtype, rng, transposed=True)


def _sparse_ints(rng, shape, density=0.3):
    values = rng.integers(-32, 33, shape)
    return (values * (rng.random(shape) < density)).astype(np.float32)


# F(4x4, 3x3)'s weight transform has thirds and fifteenths (not exact in binary): it
# is held to an error bound instead (test_winograd_4x4_float32_error below).
EXACT_PATHS = sorted(p for p in PATHS if not p.startswith("winograd4"))


@pytest.mark.parametrize("path", EXACT_PATHS)
def test_exact_on_small_integers(path):
    """Small integers, mostly zeros: every partial sum is exact in float32, so any
    summation order gives the float64 reference's values bit for bit."""
    nd, xs, ws, kwargs = PATHS[path]
    rng = np.random.default_rng(9)
    f_fwd, f_bwd, r_fwd, r_bwd = _ops(nd)
    x, w, b = _sparse_ints(rng, xs), _sparse_ints(rng, ws), _sparse_ints(rng, ws[0], 1.0)
    y = f_fwd(x, w, b, **kwargs)
    assert np.array_equal(y, r_fwd(*as64(x, w, b), **kwargs))
    g = _sparse_ints(rng, y.shape)
    for got, want in zip(f_bwd(g, x, w, **kwargs), r_bwd(*as64(g, x, w), **kwargs)):
        assert np.array_equal(got, want)
    xt_shape = _transposed_x_shape(xs, ws, kwargs)
    if xt_shape is None:
        return
    ft_fwd, ft_bwd, rt_fwd, rt_bwd = _ops(nd, transposed=True)
    xt = _sparse_ints(rng, xt_shape)
    y = ft_fwd(xt, w, None, **kwargs)
    assert np.array_equal(y, rt_fwd(*as64(xt, w), **kwargs))
    g = _sparse_ints(rng, y.shape)
    for got, want in zip(ft_bwd(g, xt, w, **kwargs), rt_bwd(*as64(g, xt, w), **kwargs)):
        assert np.array_equal(got, want)


@pytest.mark.parametrize("path", ["stride1-slab", "strided-2d", "pointwise",
                                  "depthwise-multiplier-strided", "batch-17-uneven-chunks",
                                  "winograd", "winograd4", "winograd4-many-tiles"])
def test_bitwise_same_at_any_thread_count(path):
    nd, xs, ws, kwargs = PATHS[path]
    rng = np.random.default_rng(3)
    f_fwd, f_bwd, _, _ = _ops(nd)
    xs = (19,) + xs[1:]   # uneven weight-gradient chunks
    x, w, b = randn(rng, xs, np.float32), randn(rng, ws, np.float32), randn(rng, ws[0],
                                                                            np.float32)
    g = randn(rng, f_fwd(x, w, b, **kwargs).shape, np.float32)
    results = []
    for n in (1, 2, 3, 8, 16):
        with pydl.threads(n):
            results.append([f_fwd(x, w, b, **kwargs), *f_bwd(g, x, w, **kwargs)])
    for other in results[1:]:
        for a, b_ in zip(results[0], other):
            assert a.tobytes() == b_.tobytes()


@pytest.mark.parametrize("xs", [(7, 16, 9, 8), (5, 24, 14, 14), (9, 16, 8, 10),
                                (21, 16, 4, 4), (12, 16, 5, 3)])
def test_winograd_blocks_across_samples_do_not_change_a_sample(xs, dtype):
    """Planes of few tiles share a Winograd block with other samples' (packed one after
    another, across panel boundaries; the last block short of samples): a sample's
    output and input gradient do not depend on where in a block it sits (the batch
    rolled by one and by three), nor, where a lone sample takes Winograd too, on the
    batch (a column's sums do not depend on its block or lane)."""
    rng = np.random.default_rng(11)
    ws = (17, xs[1], 3, 3)
    assert _path_of(2, xs, ws, dict(padding=1)).startswith("winograd")
    x, w, b = randn(rng, xs, dtype), randn(rng, ws, dtype), randn(rng, ws[0], dtype)
    y = F.conv2d_forward(x, w, b, padding=1)
    g = randn(rng, y.shape, dtype)

    def grad_x(g_, x_):
        return F.conv2d_backward(g_, x_, w, padding=1, need_weight_grad=False,
                                 need_bias_grad=False)[0]

    gx = grad_x(g, x)
    for shift in (1, 3):
        xr, gr = np.roll(x, shift, axis=0), np.roll(g, shift, axis=0)
        assert F.conv2d_forward(xr, w, b, padding=1).tobytes() == \
            np.roll(y, shift, axis=0).tobytes()
        assert grad_x(gr, xr).tobytes() == np.roll(gx, shift, axis=0).tobytes()
    if _path_of(2, (1,) + xs[1:], ws, dict(padding=1)).startswith("winograd"):
        for i in range(xs[0]):
            one = slice(i, i + 1)
            assert F.conv2d_forward(x[one], w, b, padding=1).tobytes() == y[one].tobytes()
            assert grad_x(g[one], x[one]).tobytes() == gx[one].tobytes()


@pytest.mark.parametrize("nd, xs, ws, kwargs", [
    (2, (2, 4, 11, 9), (4, 1, 3, 3), dict(stride=2, padding=1, groups=4)),
    (2, (2, 3, 12, 13), (6, 1, 3, 3), dict(stride=(2, 3), padding=(1, 0), dilation=(2, 1),
                                          groups=3)),
    (2, (1, 2, 7, 7), (2, 1, 5, 5), dict(stride=3, padding=2, groups=2)),
    (2, (2, 2, 5, 5), (2, 1, 3, 3), dict(stride=2, padding=3, groups=2)),
    (2, (2, 4, 8, 8), (4, 1, 1, 1), dict(stride=2, groups=4)),
    (1, (2, 4, 15), (4, 1, 3), dict(stride=2, padding=1, groups=4)),
])
def test_strided_depthwise_matches_reference(nd, xs, ws, kwargs, dtype, tiles):
    """Strided depthwise forward: stride phases of whole planes by default, a row and a
    tap at a time under one-row-tiles; stride per axis, dilation, channel multiplier,
    padding past the kernel, a 1x1 kernel (phases never read), 1-D; the same bits at
    any thread count."""
    rng = np.random.default_rng(17)
    x, w, b = randn(rng, xs, dtype), randn(rng, ws, dtype), randn(rng, ws[0], dtype)
    f_fwd = getattr(F, f"conv{nd}d_forward")
    y = f_fwd(x, w, b, **kwargs)
    assert_close(y, getattr(R, f"conv{nd}d_forward")(*as64(x, w, b), **kwargs), dtype)
    with pydl.threads(3):
        assert f_fwd(x, w, b, **kwargs).tobytes() == y.tobytes()


def test_unbatched_input_equals_batch_of_one(rng):
    x, w, b = randn(rng, (3, 7, 6), np.float32), randn(rng, (4, 3, 3, 3), np.float32), None
    y = F.conv2d_forward(x, w, b, padding=1)
    assert y.shape == (4, 7, 6)
    assert np.array_equal(y, F.conv2d_forward(x[None], w, b, padding=1)[0])
    g = randn(rng, y.shape, np.float32)
    got = F.conv2d_backward(g, x, w, padding=1)
    batched = F.conv2d_backward(g[None], x[None], w, padding=1)
    assert got[0].shape == x.shape
    assert np.array_equal(got[0], batched[0][0])
    assert np.array_equal(got[1], batched[1]) and np.array_equal(got[2], batched[2])
    wt = randn(rng, (3, 2, 3, 3), np.float32)
    yt = F.conv_transpose2d_forward(x, wt, stride=2)
    assert np.array_equal(yt, F.conv_transpose2d_forward(x[None], wt, stride=2)[0])


def test_same_padding_odd_total_pads_the_high_side(rng):
    """A 4-wide kernel pads 1 before and 2 after (as PyTorch); the output keeps the size."""
    x, w = randn(rng, (2, 3, 9), np.float64), randn(rng, (2, 3, 4), np.float64)
    y = F.conv1d_forward(x, w, padding="same")
    assert y.shape == (2, 2, 9)
    xp = np.pad(x, [(0, 0), (0, 0), (1, 2)])
    assert_close(y, R.conv1d_forward(xp, w), np.float64)


def test_empty_batch_and_zero_channels(rng):
    w, b = randn(rng, (4, 3, 3, 3), np.float32), randn(rng, (4,), np.float32)
    x = np.zeros((0, 3, 5, 5), np.float32)
    y = F.conv2d_forward(x, w, b, padding=1)
    assert y.shape == (0, 4, 5, 5)
    gx, gw, gb = F.conv2d_backward(y, x, w, padding=1)
    assert gx.shape == x.shape and not gw.any() and not gb.any()
    # no input channels: the output is the bias
    x0, w0 = np.ones((2, 0, 5, 5), np.float32), np.ones((4, 0, 3, 3), np.float32)
    y0 = F.conv2d_forward(x0, w0, b)
    assert np.array_equal(y0, np.broadcast_to(b[:, None, None], (2, 4, 3, 3)))
    g = randn(rng, y0.shape, np.float32)
    gx, gw, gb = F.conv2d_backward(g, x0, w0)
    assert gx.shape == x0.shape and gw.shape == w0.shape
    assert_close(gb, g.astype(np.float64).sum(axis=(0, 2, 3)), np.float32)
    xt = np.zeros((0, 4, 3, 3), np.float32)
    assert F.conv_transpose2d_forward(xt, w, stride=2).shape == (0, 3, 7, 7)


def test_backward_skips_unrequested(rng):
    x, w = randn(rng, (2, 3, 6, 6), np.float32), randn(rng, (4, 3, 3, 3), np.float32)
    g = randn(rng, (2, 4, 4, 4), np.float32)
    full = F.conv2d_backward(g, x, w)
    for flags in [dict(need_input_grad=False), dict(need_weight_grad=False),
                  dict(need_bias_grad=False)]:
        got = F.conv2d_backward(g, x, w, **flags)
        for a, full_a, key in zip(got, full, ("need_input_grad", "need_weight_grad",
                                              "need_bias_grad")):
            if key in flags:
                assert a is None
            else:
                assert np.array_equal(a, full_a)
    wt = randn(rng, (3, 2, 3, 3), np.float32)
    gt = randn(rng, (2, 2, 8, 8), np.float32)
    gx, gw, gb = F.conv_transpose2d_backward(gt, x, wt, need_weight_grad=False)
    assert gw is None and gx.shape == x.shape and gb.shape == (2,)


def test_accepts_noncontiguous_fortran_and_readonly(rng):
    x = randn(rng, (2, 3, 7, 14), np.float32)[..., ::2]
    w = np.asfortranarray(randn(rng, (4, 3, 3, 3), np.float32))
    w.setflags(write=False)
    assert_close(F.conv2d_forward(x, w, padding=1), R.conv2d_forward(*as64(x, w), padding=1))


class TestConvValidation:
    def setup_method(self):
        rng = np.random.default_rng(0)
        self.x = randn(rng, (2, 4, 6, 6), np.float32)
        self.w = randn(rng, (6, 2, 3, 3), np.float32)

    def test_ndim(self):
        with pytest.raises(ValueError, match=r"x must be 3-D \(unbatched.*or 4-D"):
            F.conv2d_forward(self.x[0, 0], self.w, groups=2)
        with pytest.raises(ValueError, match="weight must be 4-D"):
            F.conv2d_forward(self.x, self.w[0], groups=2)
        with pytest.raises(ValueError, match="x must be 4-D .* or 5-D"):
            F.conv3d_forward(self.x[0], self.w[..., None])

    def test_dtypes(self):
        with pytest.raises(TypeError, match="x has dtype float64 but weight has dtype float32"):
            F.conv2d_forward(self.x.astype(np.float64), self.w, groups=2)
        with pytest.raises(TypeError, match="x must be a float32 or float64 array"):
            F.conv2d_forward(self.x.astype(np.int32), self.w, groups=2)
        with pytest.raises(TypeError, match="bias has dtype float64"):
            F.conv2d_forward(self.x, self.w, np.zeros(6), groups=2)
        with pytest.raises(TypeError, match="weight must be a float32 or float64"):
            F.conv2d_forward(self.x, self.w.astype(np.complex64), groups=2)

    def test_channels_and_groups(self):
        with pytest.raises(ValueError, match="expects x to have 2 channels"):
            F.conv2d_forward(self.x, self.w)
        with pytest.raises(ValueError, match="out_channels = 6 must be divisible by groups = 4"):
            F.conv2d_forward(self.x, self.w[:, :1], groups=4)
        with pytest.raises(ValueError, match="groups must be >= 1"):
            F.conv2d_forward(self.x, self.w, groups=0)
        with pytest.raises(ValueError, match=r"bias has shape \(5,\), expected \(6,\)"):
            F.conv2d_forward(self.x, self.w, np.zeros(5, np.float32), groups=2)
        with pytest.raises(ValueError, match="at least one output channel"):
            F.conv2d_forward(self.x, self.w[:0], groups=2)

    def test_hyper_parameters(self):
        kw = dict(groups=2)
        with pytest.raises(ValueError, match="stride must be >= 1"):
            F.conv2d_forward(self.x, self.w, stride=0, **kw)
        with pytest.raises(ValueError, match="dilation must be >= 1"):
            F.conv2d_forward(self.x, self.w, dilation=(1, 0), **kw)
        with pytest.raises(ValueError, match="padding must be >= 0"):
            F.conv2d_forward(self.x, self.w, padding=-1, **kw)
        with pytest.raises(ValueError, match="stride must be an int or a tuple of 2"):
            F.conv2d_forward(self.x, self.w, stride=(1, 1, 1), **kw)
        with pytest.raises(TypeError, match="stride must be an int, got float"):
            F.conv2d_forward(self.x, self.w, stride=1.0, **kw)
        with pytest.raises(TypeError, match="padding must be an int, got bool"):
            F.conv2d_forward(self.x, self.w, padding=True, **kw)
        with pytest.raises(ValueError, match="padding must be <= 2147483647"):
            F.conv2d_forward(self.x, self.w, padding=10**12, **kw)
        with pytest.raises(ValueError, match="padding='same' is not supported for strided"):
            F.conv2d_forward(self.x, self.w, stride=2, padding="same", **kw)
        with pytest.raises(ValueError, match="padding must be 'same', 'valid'"):
            F.conv2d_forward(self.x, self.w, padding="full", **kw)

    def test_sizes(self):
        with pytest.raises(ValueError, match=r"kernel size 3 \(dilated: 7\) is larger than "
                                             r"the padded input size 6"):
            F.conv2d_forward(self.x, self.w, dilation=3, groups=2)
        with pytest.raises(ValueError, match="spatial dimensions must be non-zero"):
            F.conv2d_forward(self.x[:, :, :0], self.w, padding=2, groups=2)
        with pytest.raises(ValueError, match="kernel size must be >= 1"):
            F.conv2d_forward(self.x, self.w[:, :, :0], groups=2)
        with pytest.raises(ValueError, match="exceeds 2147483647, the largest size BLAS"):
            F.conv2d_forward(self.x, self.w, padding=2**31 - 1, groups=2)
        with pytest.raises(ValueError, match="convolution too large: a padded row"):
            F.conv2d_forward(self.x[:, :, :1, :1], self.w, padding=2**31 - 1,
                             dilation=2**31 - 1, groups=2)
        x1 = np.zeros((64, 4, 6), np.float32)   # a (64, 6, 2**30) output: 1.5 TiB
        with pytest.raises(ValueError, match="would need .* GiB"):
            F.conv1d_forward(x1, self.w[..., 0], padding=2**29, groups=2)

    def test_grad_out_shape(self):
        with pytest.raises(ValueError, match=r"grad_out has shape \(2, 6, 6, 6\), expected "
                                             r"\(2, 6, 4, 4\)"):
            F.conv2d_backward(np.zeros((2, 6, 6, 6), np.float32), self.x, self.w, groups=2)
        with pytest.raises(TypeError, match="grad_out has dtype float64"):
            F.conv2d_backward(np.zeros((2, 6, 4, 4)), self.x, self.w, groups=2)

    def test_transposed(self):
        wt = np.ones((4, 3, 3, 3), np.float32)
        with pytest.raises(ValueError, match="output_padding must be smaller than either "
                                             "stride or dilation"):
            F.conv_transpose2d_forward(self.x, wt, stride=2, output_padding=2)
        F.conv_transpose2d_forward(self.x, wt, stride=1, dilation=2, output_padding=1)
        with pytest.raises(ValueError, match="output size -3 in spatial dimension 0 is below 1"):
            F.conv_transpose2d_forward(self.x[:, :, :1], wt, padding=3)
        with pytest.raises(ValueError, match="not supported by conv_transpose2d"):
            F.conv_transpose2d_forward(self.x, wt, padding="same")
        with pytest.raises(ValueError, match=r"weight of shape \(2, 3, 3, 3\) expects "
                                             r"weight.shape\[0\] = in_channels = 2"):
            F.conv_transpose2d_forward(self.x, wt[:2])
        with pytest.raises(ValueError, match="in_channels = 4 must be divisible by groups = 3"):
            F.conv_transpose2d_forward(self.x, wt, groups=3)
        with pytest.raises(ValueError, match=r"bias has shape \(3,\), expected \(6,\)"):
            F.conv_transpose2d_forward(self.x, wt, np.zeros(3, np.float32), groups=2)


def _path_of(nd, xs, ws, kwargs):
    """The forward kernel path pydl takes for this convolution."""
    spec = F.conv._conv_spec(nd, np.empty(xs, np.float32), np.empty(ws, np.float32), None,
                             kwargs.get("stride", 1), kwargs.get("padding", 0),
                             kwargs.get("dilation", 1), kwargs.get("groups", 1))
    return _conv.forward_path(spec.in5, spec.w5, spec.out5, spec.stride, spec.padding,
                              spec.dilation, spec.groups)


@pytest.mark.parametrize("path", sorted(PATHS))
def test_named_paths_take_their_kernel_path(path):
    """The PATHS above exercise the kernels they are named after (the Winograd ones in
    particular: a 3x3 convolution with fewer channels silently takes another path)."""
    nd, xs, ws, kwargs = PATHS[path]
    expected = ("shifted" if path == "winograd-tiny-plane" else
                "winograd-4x4" if path.startswith("winograd4") else
                "winograd-2x2" if path.startswith("winograd") else
                "direct" if "depthwise" in path or path == "one-input-channel" else
                "pointwise" if path.startswith("pointwise") else
                "shifted" if "-slab" in path else
                "im2col" if path in ("strided-3d", "1x1-strided", "stride1-3d",
                                     "strided-dilated-im2col")
                else "implicit")
    assert _path_of(nd, xs, ws, kwargs) == expected


def test_winograd_serves_the_benchmark_and_not_small_or_other_convolutions():
    assert _path_of(2, (32, 64, 32, 32), (64, 64, 3, 3), dict(padding=1)) == "winograd-4x4"
    assert _path_of(2, (32, 64, 16, 16), (64, 64, 3, 3), dict(padding=1)) == "winograd-4x4"
    assert _path_of(2, (32, 64, 12, 16), (64, 64, 3, 3), dict(padding=1)) == "winograd-2x2"
    assert _path_of(2, (32, 15, 32, 32), (64, 15, 3, 3), dict(padding=1)) == "implicit"
    assert _path_of(2, (32, 32, 8, 8), (64, 32, 3, 3), dict(padding=1)) == "winograd-2x2"
    # 4x4 planes (4 tiles of 2x2) where the batch fills a block of 64 tiles
    assert _path_of(2, (32, 32, 4, 4), (64, 32, 3, 3), dict(padding=1)) == "winograd-2x2"
    assert _path_of(2, (16, 32, 4, 4), (64, 32, 3, 3), dict(padding=1)) == "winograd-2x2"
    assert _path_of(2, (15, 32, 4, 4), (64, 32, 3, 3), dict(padding=1)) == "shifted"
    assert _path_of(2, (32, 32, 2, 2), (64, 32, 3, 3), dict(padding=1)) == "shifted"
    assert _path_of(2, (32, 64, 32, 32), (64, 64, 3, 3), dict(dilation=2)) == "shifted"
    assert _path_of(2, (32, 64, 32, 32), (64, 32, 3, 3), dict(groups=2)) == "shifted"
    assert _path_of(2, (32, 64, 32, 32), (64, 64, 3, 3), dict(stride=2)) == "im2col"
    assert _path_of(2, (8, 3, 224, 224), (32, 3, 3, 3), dict(stride=2, padding=1)) == "implicit"
    assert _path_of(3, (2, 64, 3, 8, 8), (64, 64, 1, 3, 3), {}) == "shifted"


def test_winograd_4x4_float32_error():
    """F(4x4, 3x3) trades exactness for speed: its transforms multiply by up to 8 and
    its weight transform divides by 6 and 30. The float32 error, relative to the
    largest value, measured 4.4e-6 (forward), 1.8e-6 (input gradient) and 1.3e-6
    (weight gradient) on this case with 256 input channels (F(2x2, 3x3), 16x16 planes:
    6e-7 or less); the bound leaves 4x for other data and compilers."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 256, 24, 24))     # 36 tiles: F(4x4) weight gradient too
    w = rng.standard_normal((32, 256, 3, 3)) / np.sqrt(9 * 256)
    assert _path_of(2, x.shape, w.shape, dict(padding=1)) == "winograd-4x4"
    y = F.conv2d_forward(x.astype(np.float32), w.astype(np.float32), None, padding=1)
    g = rng.standard_normal(y.shape)
    got = [y, *F.conv2d_backward(g.astype(np.float32), x.astype(np.float32),
                                 w.astype(np.float32), padding=1, need_bias_grad=False)[:2]]
    want = [R.conv2d_forward(x, w, None, padding=1),
            *R.conv2d_backward(g, x, w, padding=1, need_bias_grad=False)[:2]]
    for name, a, e in zip(("y", "grad_x", "grad_weight"), got, want):
        assert np.abs(a - e).max() <= 2e-5 * np.abs(e).max(), name


def test_kept_workspace_is_reused_and_released():
    """The kernels keep workspace blocks between calls: a call on blocks full of another
    shape's data (another path) gives the bits of a call on fresh blocks, and
    release_workspace frees the idle blocks."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((8, 16, 12, 12)).astype(np.float32)
    w = rng.standard_normal((32, 16, 3, 3)).astype(np.float32)
    g = rng.standard_normal((8, 32, 12, 12)).astype(np.float32)

    def run():
        return (F.conv2d_forward(x, w, None, padding=1),
                *F.conv2d_backward(g, x, w, padding=1))

    _conv.release_workspace()
    fresh = run()
    assert _conv.release_workspace() > 0
    assert _conv.release_workspace() == 0
    big_x = rng.standard_normal((4, 24, 30, 30)).astype(np.float32) * 1e30
    big_w = rng.standard_normal((24, 24, 5, 5)).astype(np.float32)
    big_y = F.conv2d_forward(big_x, big_w, None, stride=2, padding=2)
    F.conv2d_backward(big_y, big_x, big_w, stride=2, padding=2)
    reused = run()
    assert len(fresh) == len(reused)
    for a, b in zip(fresh, reused):
        assert np.array_equal(a, b)


def test_workspace_does_not_grow_with_batch():
    shapes = dict(w_shape=(64, 64, 1, 3, 3), stride=(1, 1, 1), padding=(0, 1, 1),
                  dilation=(1, 1, 1), groups=1, n_threads=2)
    sizes = [_conv.workspace_elements((n, 64, 1, 32, 32), out_shape=(n, 64, 1, 32, 32),
                                      **shapes) for n in (32, 256, 4096)]
    assert sizes[0] == sizes[1] == sizes[2]
    strided = dict(shapes, stride=(1, 2, 2))
    sizes = [_conv.workspace_elements((n, 64, 1, 32, 32), out_shape=(n, 64, 1, 16, 16),
                                      **strided) for n in (32, 256, 4096)]
    assert sizes[0] == sizes[1] == sizes[2]
