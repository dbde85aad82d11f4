import math

import numpy as np
import pytest

import pydl
from pydl import functional as F
from pydl import reference as R
from tests.helpers import randn


def _gen(seed=5):
    return np.random.default_rng(seed)


@pytest.mark.parametrize("n", [0, 1, 2, 7, 8193, 20001])
@pytest.mark.parametrize("p", [0.0, 0.3, 0.5, 0.9, 1.0])
def test_dropout_matches_reference_bit_for_bit(n, p, dtype, rng):
    x = randn(rng, (n,), dtype)
    y, mask = F.dropout_forward(x, p, generator=_gen())
    ry, rmask = R.dropout_forward(x, p, generator=_gen())
    if p == 0:
        assert y is x and mask is None and rmask is None
    else:
        assert mask.dtype == np.bool_ and mask.shape == x.shape
        np.testing.assert_array_equal(mask, rmask)
        assert y.dtype == dtype and y.tobytes() == ry.tobytes()
    g = randn(rng, (n,), dtype)
    gi = F.dropout_backward(g, mask, p)
    assert gi.tobytes() == R.dropout_backward(g, rmask, p).tobytes()


def test_dropout_scales_kept_elements_exactly_like_pytorch(dtype):
    x = randn(np.random.default_rng(0), (3, 1000), dtype)
    for p in (0.1, 0.25, 0.3, 0.5, 0.7):
        y, mask = F.dropout_forward(x, p, generator=_gen())
        scale = dtype(1) / dtype(1 - p)      # torch: mask / (1 - p) in the input's dtype
        np.testing.assert_array_equal(y[mask], x[mask] * scale)
        np.testing.assert_array_equal(y[~mask], 0)
        g = np.ones_like(x)
        np.testing.assert_array_equal(F.dropout_backward(g, mask, p),
                                      np.where(mask, scale, dtype(0)))


def test_dropout_mask_statistics():
    n = 1 << 20
    x = np.ones(n, np.float32)
    for p in (0.1, 0.5, 0.8):
        _, mask = F.dropout_forward(x, p, generator=_gen(11))
        kept = mask.mean()
        sd = math.sqrt(p * (1 - p) / n)
        assert abs(kept - (1 - p)) < 5 * sd          # keep rate 1 - p
        m = mask.astype(np.float64) - kept
        for lag in (1, 2, 63, 64, 8192):             # no correlation between neighbours,
            corr = np.mean(m[:-lag] * m[lag:]) / (p * (1 - p))  # 64-bit halves, spans
            assert abs(corr) < 5 / math.sqrt(n)
        blocks = mask.reshape(256, -1).mean(axis=1)  # and none drifting along the array
        assert np.all(np.abs(blocks - (1 - p)) < 6 * math.sqrt(p * (1 - p) / (n / 256)))


def test_dropout_masks_differ_between_calls_and_repeat_with_the_seed():
    x = np.ones(1000, np.float32)
    pydl.manual_seed(3)
    _, a = F.dropout_forward(x, 0.5)
    _, b = F.dropout_forward(x, 0.5)
    assert not np.array_equal(a, b)
    pydl.manual_seed(3)
    _, a2 = F.dropout_forward(x, 0.5)
    np.testing.assert_array_equal(a, a2)
    # the same stream for float32 and float64 inputs of the same size
    _, m32 = F.dropout_forward(x, 0.4, generator=_gen(1))
    _, m64 = F.dropout_forward(x.astype(np.float64), 0.4, generator=_gen(1))
    np.testing.assert_array_equal(m32, m64)


def test_dropout_mask_independent_of_thread_count():
    x = np.ones(300_001, np.float32)
    results = []
    for n in (1, 2, 3, 8):
        with pydl.threads(n):
            results.append(F.dropout_forward(x, 0.3, generator=_gen())[1])
    for r in results[1:]:
        np.testing.assert_array_equal(r, results[0])


def test_dropout_eval_and_p_extremes(dtype):
    x = np.array([1.0, -2.0, np.inf, np.nan, 3.0], dtype)
    y, mask = F.dropout_forward(x, 0.5, training=False)
    assert y is x and mask is None
    assert F.dropout_backward(x, None, 0.5) is x
    y, mask = F.dropout_forward(x, 1.0)
    assert not mask.any()
    np.testing.assert_array_equal(y[[0, 1, 4]], 0)     # zeros; inf * 0 is NaN as in torch
    assert np.isnan(y[2]) and np.isnan(y[3])
    np.testing.assert_array_equal(F.dropout_backward(np.ones_like(x), mask, 1.0), 0)


@pytest.mark.parametrize("shape", [(5, 7, 3, 3), (4, 3, 10), (2, 3), (6, 2, 2, 2, 2),
                                   (0, 3, 4), (3, 2, 0)], ids=str)
def test_channel_dropout_matches_reference(shape, dtype, rng):
    x = randn(rng, shape, dtype)
    y, mask = F.channel_dropout_forward(x, 0.4, generator=_gen())
    ry, rmask = R.channel_dropout_forward(x, 0.4, generator=_gen())
    assert mask.shape == shape[:2]
    np.testing.assert_array_equal(mask, rmask)
    assert y.tobytes() == ry.tobytes()
    # whole channels: every element of a channel kept or dropped together
    flat = y.reshape(shape[0], shape[1], math.prod(shape[2:]))
    assert not flat[~mask].any()
    g = randn(rng, shape, dtype)
    assert F.channel_dropout_backward(g, mask, 0.4).tobytes() == \
        R.channel_dropout_backward(g, rmask, 0.4).tobytes()


def test_channel_dropout_keep_rate():
    x = np.ones((512, 256, 2), np.float32)
    _, mask = F.channel_dropout_forward(x, 0.3, generator=_gen(9))
    assert abs(mask.mean() - 0.7) < 5 * math.sqrt(0.21 / mask.size)


@pytest.mark.parametrize("call, exc, match", [
    (lambda x: F.dropout_forward(x, 1.5), ValueError, "p must be <= 1"),
    (lambda x: F.dropout_forward(x, -0.1), ValueError, "p must be >= 0"),
    (lambda x: F.dropout_forward(x, "0.5"), TypeError, "p must be a real number"),
    (lambda x: F.dropout_forward(x, 0.5, training="yes"), TypeError, "training must be"),
    (lambda x: F.dropout_forward(x, 0.5, generator=42), TypeError, "numpy.random.Generator"),
    (lambda x: F.dropout_forward(x.astype(int), 0.5), TypeError, "x must be a float32"),
    (lambda x: F.dropout_backward(x, np.ones(3, bool), 0.5), ValueError, "mask has shape"),
    (lambda x: F.dropout_backward(x, np.ones(x.shape), 0.5), TypeError, "bool array"),
    (lambda x: F.dropout_backward(x, np.full(x.shape, 2, np.uint8), 0.5), ValueError,
     "only 0 and 1"),
    (lambda x: F.dropout_backward(x, [True] * 12, 0.5), TypeError, "mask must be a numpy"),
    (lambda x: F.channel_dropout_forward(x[0, 0], 0.5), ValueError, "at least 2"),
    (lambda x: F.channel_dropout_backward(x, np.ones((3, 4), bool), 0.5), ValueError,
     r"\(N, C\) = \(3, 2\)"),
])
def test_dropout_bad_input(call, exc, match):
    with pytest.raises(exc, match=match):
        call(np.ones((3, 2, 2), np.float32))
