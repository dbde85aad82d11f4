"""Pooling kernels against their NumPy twins, exactness, indices and bad input."""

import numpy as np
import pytest

import pydl
from pydl import functional as F
from pydl import reference as R
from tests.helpers import as64, assert_close, randn


def _distinct(rng, shape, dtype):
    """Values without ties (a permutation, scaled), so argmax positions are unique."""
    n = int(np.prod(shape))
    return (rng.permutation(n).reshape(shape) * 0.01 - n * 0.005).astype(dtype)


def _random_pool_config(rng, nd, dilation=True):
    spatial = tuple(int(v) for v in rng.integers(1, 10, nd))
    k = tuple(int(v) for v in rng.integers(1, 4, nd))
    s = tuple(int(v) for v in rng.integers(1, 4, nd))
    p = tuple(int(rng.integers(0, ki // 2 + 1)) for ki in k)
    d = tuple(int(v) for v in rng.integers(1, 3, nd)) if dilation else (1,) * nd
    return spatial, k, s, p, d, bool(rng.integers(2))


def _configs(nd, count, seed, dilation=True):
    """Random valid configurations (the invalid ones the op refuses are skipped)."""
    rng = np.random.default_rng(seed)
    found = []
    while len(found) < count:
        cfg = _random_pool_config(rng, nd, dilation)
        spatial, k, s, p, d, ceil = cfg
        try:
            getattr(F, f"max_pool{nd}d_forward")(np.zeros((1, 1) + spatial), k, s, p, d, ceil)
        except ValueError:
            continue
        found.append(cfg)
    return found


@pytest.mark.parametrize("nd", [1, 2, 3])
def test_max_pool_matches_reference(nd, dtype):
    rng = np.random.default_rng(nd)
    for spatial, k, s, p, d, ceil in _configs(nd, 12, nd):
        batch = [(2, 3), (3,), (1, 1)][int(rng.integers(3))]
        x = _distinct(rng, batch + spatial, dtype)
        y, idx = getattr(F, f"max_pool{nd}d_forward")(x, k, s, p, d, ceil)
        ry, ridx = getattr(R, f"max_pool{nd}d_forward")(x, k, s, p, d, ceil)
        assert y.dtype == dtype and idx.dtype == np.int64
        np.testing.assert_array_equal(y, ry)
        np.testing.assert_array_equal(idx, ridx)
        g = randn(rng, y.shape, dtype)
        gx = getattr(F, f"max_pool{nd}d_backward")(g, idx, x.shape)
        assert_close(gx, getattr(R, f"max_pool{nd}d_backward")(*as64(g), ridx, x.shape), dtype)


@pytest.mark.parametrize("nd", [1, 2, 3])
def test_avg_pool_matches_reference(nd, dtype):
    rng = np.random.default_rng(10 + nd)
    for spatial, k, s, p, _, ceil in _configs(nd, 12, 10 + nd, dilation=False):
        include = bool(rng.integers(2))
        div = [None, None, 3, -2][int(rng.integers(4))]
        x = randn(rng, (2, 3) + spatial, dtype)
        args = (k, s, p, ceil, include, div)
        y = getattr(F, f"avg_pool{nd}d_forward")(x, *args)
        assert_close(y, getattr(R, f"avg_pool{nd}d_forward")(*as64(x), *args), dtype)
        g = randn(rng, y.shape, dtype)
        gx = getattr(F, f"avg_pool{nd}d_backward")(g, x.shape, *args)
        assert_close(gx, getattr(R, f"avg_pool{nd}d_backward")(*as64(g), x.shape, *args), dtype)


@pytest.mark.parametrize("nd", [1, 2, 3])
def test_adaptive_pools_match_reference(nd, dtype):
    rng = np.random.default_rng(20 + nd)
    for _ in range(6):
        spatial = tuple(int(v) for v in rng.integers(1, 11, nd))
        outs = tuple(int(v) for v in rng.integers(1, 8, nd))
        x = _distinct(rng, (2, 3) + spatial, dtype)
        y = getattr(F, f"adaptive_avg_pool{nd}d_forward")(x, outs)
        assert_close(y, getattr(R, f"adaptive_avg_pool{nd}d_forward")(*as64(x), outs), dtype)
        g = randn(rng, y.shape, dtype)
        assert_close(getattr(F, f"adaptive_avg_pool{nd}d_backward")(g, x.shape),
                     getattr(R, f"adaptive_avg_pool{nd}d_backward")(*as64(g), x.shape), dtype)
        m, idx = getattr(F, f"adaptive_max_pool{nd}d_forward")(x, outs)
        rm, ridx = getattr(R, f"adaptive_max_pool{nd}d_forward")(x, outs)
        np.testing.assert_array_equal(m, rm)
        np.testing.assert_array_equal(idx, ridx)
        assert_close(getattr(F, f"adaptive_max_pool{nd}d_backward")(g, idx, x.shape),
                     getattr(R, f"adaptive_max_pool{nd}d_backward")(*as64(g), idx, x.shape),
                     dtype)


def test_adaptive_output_size_none_and_global_average(dtype):
    rng = np.random.default_rng(0)
    x = randn(rng, (2, 3, 5, 7), dtype)
    assert F.adaptive_avg_pool2d_forward(x, (None, 2)).shape == (2, 3, 5, 2)
    assert_close(F.adaptive_avg_pool2d_forward(x, 1)[..., 0, 0],
                 x.astype(np.float64).mean(axis=(2, 3)), dtype)


@pytest.mark.parametrize("nd", [1, 2, 3])
def test_global_adaptive_average_matches_reference(nd, dtype):
    """Output size 1 on every axis takes its own path (a row sum per plane): batched,
    unbatched, non-contiguous input and a plane of 12544 values, both directions."""
    rng = np.random.default_rng(40 + nd)
    big = {1: (12544,), 2: (112, 112), 3: (8, 28, 56)}[nd]
    for shape in [(2, 3) + (5, 7, 3)[:nd], (4,) + (6, 2, 5)[:nd], (2, 3) + big]:
        x = randn(rng, shape, dtype)
        for xin in (x, np.flip(x, -1)):  # the flipped view is not contiguous
            y = getattr(F, f"adaptive_avg_pool{nd}d_forward")(xin, 1)
            assert y.shape == xin.shape[:-nd] + (1,) * nd and y.dtype == dtype
            assert_close(y, getattr(R, f"adaptive_avg_pool{nd}d_forward")(*as64(xin), 1),
                         dtype)
            g = randn(rng, y.shape, dtype)
            gx = getattr(F, f"adaptive_avg_pool{nd}d_backward")(g, xin.shape)
            assert_close(gx, getattr(R, f"adaptive_avg_pool{nd}d_backward")(*as64(g), xin.shape),
                         dtype)
            # a non-contiguous grad_out (reversed batch) gives the reversed gradient
            np.testing.assert_array_equal(
                getattr(F, f"adaptive_avg_pool{nd}d_backward")(np.flip(g, 0), xin.shape),
                np.flip(gx, 0))
            with pydl.threads(1):
                y1 = getattr(F, f"adaptive_avg_pool{nd}d_forward")(xin, 1)
            np.testing.assert_array_equal(y, y1)


@pytest.mark.parametrize("nd", [1, 2, 3])
def test_max_unpool_matches_reference_and_inverts_pooling(nd, dtype):
    rng = np.random.default_rng(30 + nd)
    spatial = (6, 5, 4)[:nd]
    x = _distinct(rng, (2, 3) + spatial, dtype)
    y, idx = getattr(F, f"max_pool{nd}d_forward")(x, 2)
    out = getattr(F, f"max_unpool{nd}d_forward")(y, idx, 2, output_size=spatial)
    np.testing.assert_array_equal(out, getattr(R, f"max_unpool{nd}d_forward")(y, idx, 2,
                                                                              None, 0, spatial))
    # every pooled value is back at its argmax; all else is zero
    flat = out.reshape(6, -1)
    np.testing.assert_array_equal(np.take_along_axis(flat, idx.reshape(6, -1), 1),
                                  y.reshape(6, -1))
    assert np.count_nonzero(flat) == np.count_nonzero(y)
    g = randn(rng, out.shape, dtype)
    gx = getattr(F, f"max_unpool{nd}d_backward")(g, idx)
    np.testing.assert_array_equal(gx, getattr(R, f"max_unpool{nd}d_backward")(g, idx))


def test_max_unpool_repeated_index_last_value_wins():
    x = np.array([[[1.0, 2.0, 3.0]]])
    idx = np.array([[[1, 1, 0]]])
    out = F.max_unpool1d_forward(x, idx, 2, 1)
    np.testing.assert_array_equal(out, [[[3.0, 2.0, 0.0, 0.0]]])
    np.testing.assert_array_equal(out, R.max_unpool1d_forward(x, idx, 2, 1))


def test_max_pool_ties_nan_and_padding_follow_pytorch():
    x = np.array([[[1.0, 3.0, 3.0, 2.0, np.nan, 5.0, np.nan, 0.0]]])
    y, idx = F.max_pool1d_forward(x, 4)
    np.testing.assert_array_equal(idx, [[[1, 6]]])           # first max; last NaN
    assert y[0, 0, 0] == 3 and np.isnan(y[0, 0, 1])
    y, idx = F.max_pool1d_forward(np.full((1, 1, 4), -np.inf), 2, padding=1)
    np.testing.assert_array_equal(idx, [[[0, 1, 3]]])       # padding never wins
    assert np.all(y == -np.inf)


@pytest.mark.parametrize("nd", [1, 2, 3])
def test_max_pool_exact_on_small_integers(nd):
    """With small-integer inputs and gradients (and ties!), float32 and float64 forward
    and backward equal the float64 reference bit for bit."""
    rng = np.random.default_rng(40 + nd)
    for spatial, k, s, p, d, ceil in _configs(nd, 8, 40 + nd):
        x64 = rng.integers(-4, 5, (2, 3) + spatial).astype(np.float64)
        ry, ridx = getattr(R, f"max_pool{nd}d_forward")(x64, k, s, p, d, ceil)
        g64 = rng.integers(-8, 9, ry.shape).astype(np.float64)
        rgx = getattr(R, f"max_pool{nd}d_backward")(g64, ridx, x64.shape)
        for dt in (np.float32, np.float64):
            y, idx = getattr(F, f"max_pool{nd}d_forward")(x64.astype(dt), k, s, p, d, ceil)
            np.testing.assert_array_equal(y, ry)
            np.testing.assert_array_equal(idx, ridx)
            gx = getattr(F, f"max_pool{nd}d_backward")(g64.astype(dt), idx, x64.shape)
            np.testing.assert_array_equal(gx, rgx)


def test_avg_pool_divisors_follow_pytorch():
    x = np.ones((1, 1, 5))
    # kernel 3, padding 1, ceil_mode: the last window overhangs past the padding
    np.testing.assert_allclose(F.avg_pool1d_forward(x, 3, 2, 1, True, True),
                               [[[2 / 3, 1, 2 / 3]]])
    np.testing.assert_allclose(F.avg_pool1d_forward(x, 3, 2, 1, True, False), [[[1, 1, 1]]])
    np.testing.assert_allclose(F.avg_pool2d_forward(np.ones((1, 2, 2)), 2, divisor_override=3),
                               [[[4 / 3]]])


def test_empty_batch_and_unbatched_input(dtype):
    x = np.zeros((0, 3, 4, 4), dtype)
    y, idx = F.max_pool2d_forward(x, 2)
    assert y.shape == idx.shape == (0, 3, 2, 2)
    assert F.max_pool2d_backward(y, idx, x.shape).shape == x.shape
    assert F.avg_pool2d_forward(x, 2).shape == (0, 3, 2, 2)
    assert F.avg_pool2d_backward(y, x.shape, 2).shape == x.shape
    assert F.adaptive_avg_pool2d_forward(x, 3).shape == (0, 3, 3, 3)
    u = randn(np.random.default_rng(0), (3, 4, 4), dtype)
    y, idx = F.max_pool2d_forward(u, 2)
    assert y.shape == (3, 2, 2)
    assert_close(F.max_pool2d_backward(np.ones_like(y), idx, u.shape),
                 F.max_pool2d_backward(np.ones((1,) + y.shape, dtype), idx[None],
                                       (1,) + u.shape)[0], dtype)


def test_accepts_noncontiguous_and_readonly():
    rng = np.random.default_rng(0)
    x = randn(rng, (2, 3, 8, 10), np.float32)[:, :, :, ::2]
    x.setflags(write=False)
    y, idx = F.max_pool2d_forward(x, 2)
    ry, _ = R.max_pool2d_forward(np.ascontiguousarray(x), 2)
    np.testing.assert_array_equal(y, ry)
    g = np.asfortranarray(randn(rng, y.shape, np.float32))
    assert_close(F.max_pool2d_backward(g, idx, x.shape),
                 R.max_pool2d_backward(*as64(g), idx, x.shape))


def test_backward_bitwise_same_at_any_thread_count():
    rng = np.random.default_rng(1)
    x = randn(rng, (4, 33, 17, 19), np.float32)
    g = randn(rng, (4, 33, 17, 19), np.float32)
    results = []
    for n in (1, 2, 3):
        with pydl.threads(n):
            y, idx = F.max_pool2d_forward(x, 3, 1, 1)
            results.append((y, F.max_pool2d_backward(g, idx, x.shape),
                            F.avg_pool2d_backward(g, x.shape, 3, 1, 1)))
    for r in results[1:]:
        for a, b in zip(results[0], r):
            assert a.tobytes() == b.tobytes()


# ------------------------------------------------------------------------ bad input

@pytest.mark.parametrize("call,exc,match", [
    (lambda x: F.max_pool2d_forward(x[0, 0], 2), ValueError, r"x must be \(C, H, W\) or"),
    (lambda x: F.max_pool2d_forward(x, 3, padding=2), ValueError, "at most half"),
    (lambda x: F.max_pool2d_forward(x, 9), ValueError, "larger than the padded input"),
    (lambda x: F.max_pool2d_forward(x, 2, stride=0), ValueError, "stride must be >= 1"),
    (lambda x: F.max_pool2d_forward(x, 2, stride=-1), ValueError, "stride must be >= 1"),
    (lambda x: F.max_pool2d_forward(x, 0), ValueError, "kernel_size must be >= 1"),
    (lambda x: F.max_pool2d_forward(x, 2, dilation=0), ValueError, "dilation must be >= 1"),
    (lambda x: F.max_pool2d_forward(x, (2, 2, 2)), ValueError, "sequence of 2 ints"),
    (lambda x: F.max_pool2d_forward(x, 2.5), TypeError, "kernel_size must be an int"),
    (lambda x: F.max_pool2d_forward(x, 2, ceil_mode="yes"), TypeError, "ceil_mode must be"),
    (lambda x: F.max_pool2d_forward(x.astype(np.int32), 2), TypeError, "float32 or float64"),
    (lambda x: F.max_pool1d_forward(np.zeros((1, 1, 2)), 2, 1, 1, 3), ValueError,
     "entirely in the padding"),
    (lambda x: F.max_pool2d_forward(np.zeros((1, 1, 0, 4)), 1), ValueError, "non-empty"),
    (lambda x: F.avg_pool2d_forward(x, 2, divisor_override=0), ValueError, "must not be 0"),
    (lambda x: F.avg_pool2d_forward(x, 2, count_include_pad=1), TypeError, "must be a bool"),
    (lambda x: F.avg_pool2d_backward(np.zeros((1, 2, 3, 3)), x.shape, 2), ValueError,
     r"expected \(1, 2, 4, 4\)"),
    (lambda x: F.avg_pool2d_backward(np.zeros((1, 2, 4, 4)), (8,), 2), ValueError,
     "input_shape must be a shape"),
    (lambda x: F.avg_pool2d_backward(np.zeros((1, 2, 4, 4)), "shape", 2), TypeError,
     "input_shape must be a tuple"),
    (lambda x: F.adaptive_avg_pool2d_forward(x, 0), ValueError, "output_size must be >= 1"),
    (lambda x: F.adaptive_avg_pool2d_forward(x, (1, 2, 3)), ValueError, "sequence of 2"),
    (lambda x: F.max_pool2d_backward(np.zeros((1, 2, 4, 4)), np.zeros((1, 2, 4, 4)),
                                     x.shape), TypeError, "integer array"),
    (lambda x: F.max_pool2d_backward(np.zeros((1, 2, 4, 4)), np.zeros((1, 2, 4, 3), int),
                                     x.shape), ValueError, "indices has shape"),
    (lambda x: F.max_pool2d_backward(np.zeros((1, 2, 4, 4)), np.full((1, 2, 4, 4), 64),
                                     x.shape), ValueError, r"outside \[0, 64\)"),
    (lambda x: F.max_pool2d_backward(np.zeros((1, 2, 4, 4)), np.full((1, 2, 4, 4), -1),
                                     x.shape), ValueError, r"outside \[0, 64\)"),
    (lambda x: F.max_pool2d_backward(np.zeros((1, 2, 4, 4)), np.zeros((1, 2, 4, 4), int),
                                     (2, 2, 8, 8)), ValueError, "must agree"),
    (lambda x: F.max_unpool2d_forward(x, np.full(x.shape, 1000), 2), ValueError,
     r"outside \[0, 256\)"),
    (lambda x: F.max_unpool2d_forward(x, np.zeros(x.shape, np.float32), 2), TypeError,
     "integer array"),
    (lambda x: F.max_unpool2d_forward(x, np.zeros((1, 2, 8, 7), int), 2), ValueError,
     "indices has shape"),
    (lambda x: F.max_unpool2d_forward(x, np.zeros(x.shape, int), 2, output_size=(20, 16)),
     ValueError, "strictly between"),
    (lambda x: F.max_unpool2d_forward(x, np.zeros(x.shape, int), 1, 1, 5), ValueError,
     "below 1"),
    (lambda x: F.max_unpool2d_backward(np.zeros((1, 2, 4, 4)), np.full(x.shape, 16)),
     ValueError, r"outside \[0, 16\)"),
    (lambda x: F.max_unpool2d_backward(np.zeros((1, 3, 4, 4)), np.zeros(x.shape, int)),
     ValueError, "must agree"),
])
def test_bad_input_raises(call, exc, match):
    x = np.zeros((1, 2, 8, 8), np.float32)
    with pytest.raises(exc, match=match):
        call(x)


# ------------------------------------------------- the 2x2 stride-2 kernel's fast path

def _max2x2_rule(x):
    """The general kernel's rule on 2x2 windows, stride 2, as NumPy: start from the
    window's first element, take each next one (row-major) when it is greater or NaN."""
    H, W = x.shape[-2:]
    OH, OW = H // 2, W // 2
    xs = x[..., :2 * OH, :2 * OW]
    base = (2 * np.arange(OH)[:, None]) * W + 2 * np.arange(OW)[None, :]
    best = xs[..., 0::2, 0::2].copy()
    idx = np.broadcast_to(base, best.shape).copy()
    for c, off in ((xs[..., 0::2, 1::2], 1), (xs[..., 1::2, 0::2], W),
                   (xs[..., 1::2, 1::2], W + 1)):
        take = (c > best) | np.isnan(c)
        best = np.where(take, c, best)
        idx = np.where(take, base + off, idx)
    return best, idx


@pytest.mark.parametrize("dt", [np.float32, np.float64])
def test_max_pool_2x2_fast_path_ties_nan_signed_zero_bitwise(dt):
    """The 2x2/2 kernel picks the same element, bits (NaN payloads, the sign of zero)
    and index as the general rule, on data full of ties, NaNs and infinities, at odd
    and even sizes, narrow and wide rows, and any thread count."""
    rng = np.random.default_rng(7)
    ui = np.uint32 if dt == np.float32 else np.uint64
    nans = np.array([np.nan, -np.nan], dt)
    payload = nans.copy().view(ui)
    payload[1] |= 5                                  # a second NaN pattern
    pool = np.concatenate([np.array([-np.inf, -1.0, -0.0, 0.0, 1.0, 2.0, np.inf], dt),
                           payload.view(dt)])
    # W = 4 and 8 with H even take the narrow AVX2 form where the CPU has it (row
    # pairs two at a time for W = 4: odd counts per thread leave a tail)
    for shape in [(2, 3, 4, 4), (3, 2, 8, 8), (3, 1, 4, 4), (1, 1, 6, 4), (5, 1, 2, 4),
                  (1, 3, 6, 8), (1, 2, 5, 7), (2, 1, 6, 34), (1, 1, 9, 40), (4, 8, 2, 2),
                  (1, 3, 3, 17), (2, 2, 7, 8)]:
        x = pool[rng.integers(0, len(pool), shape)]
        ry, ridx = _max2x2_rule(x)
        for n in (1, 2, 3):
            with pydl.threads(n):
                y, idx = F.max_pool2d_forward(x, 2)
            assert y.dtype == dt
            assert y.tobytes() == ry.tobytes()
            np.testing.assert_array_equal(idx, ridx)
        nonan = np.where(np.isnan(x), dt(0.5), x)
        y, idx = F.max_pool2d_forward(nonan, 2)
        ry, ridx = R.max_pool2d_forward(nonan, 2)
        np.testing.assert_array_equal(idx, ridx)
        assert y.tobytes() == np.asarray(ry, dt).tobytes()
