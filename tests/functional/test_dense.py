import numpy as np
import pytest

import pydl
from pydl import functional as F
from pydl import reference as R
from tests.helpers import as64, assert_close, randn

# Shapes include tiles with remainders (the GEMM is split into tiles of >= 128) and
# degenerate sizes.
SHAPES = [(1, 1, 1), (3, 5, 7), (17, 33, 9), (64, 128, 256), (300, 200, 530),
          (257, 1000, 129), (5, 0, 4), (0, 6, 3), (4, 6, 0)]


@pytest.mark.parametrize("n,k,m", SHAPES)
@pytest.mark.parametrize("bias", [True, False])
def test_linear_forward_matches_reference(n, k, m, bias, dtype, rng):
    x = randn(rng, (n, k), dtype)
    w = randn(rng, (m, k), dtype)
    b = randn(rng, (m,), dtype) if bias else None
    y = F.linear_forward(x, w, b)
    assert y.dtype == dtype and y.shape == (n, m)
    assert_close(y, R.linear_forward(*as64(x, w, b)), dtype)


@pytest.mark.parametrize("n,k,m", SHAPES)
def test_linear_backward_matches_reference(n, k, m, dtype, rng):
    x = randn(rng, (n, k), dtype)
    w = randn(rng, (m, k), dtype)
    g = randn(rng, (n, m), dtype)
    gx, gw, gb = F.linear_backward(g, x, w)
    rx, rw, rb = R.linear_backward(*as64(g, x, w))
    assert gx.dtype == gw.dtype == gb.dtype == dtype
    assert_close(gx, rx, dtype)
    assert_close(gw, rw, dtype)
    assert_close(gb, rb, dtype)


def test_linear_random_shapes(dtype):
    rng = np.random.default_rng(7)
    for _ in range(20):
        n, k, m = rng.integers(1, 400, size=3)
        x, w, b = randn(rng, (n, k), dtype), randn(rng, (m, k), dtype), randn(rng, (m,), dtype)
        assert_close(F.linear_forward(x, w, b), R.linear_forward(*as64(x, w, b)), dtype)
        g = randn(rng, (n, m), dtype)
        for got, want in zip(F.linear_backward(g, x, w), R.linear_backward(*as64(g, x, w))):
            assert_close(got, want, dtype)


def test_linear_batched_leading_dims(rng):
    x = randn(rng, (2, 3, 4, 5), np.float32)
    w = randn(rng, (6, 5), np.float32)
    y = F.linear_forward(x, w)
    assert y.shape == (2, 3, 4, 6)
    assert_close(y, R.linear_forward(*as64(x, w)))
    gx, gw, gb = F.linear_backward(np.ones_like(y), x, w)
    assert gx.shape == x.shape and gw.shape == w.shape and gb.shape == (6,)


def test_linear_backward_skips_unrequested(rng):
    x, w = randn(rng, (4, 3), np.float32), randn(rng, (2, 3), np.float32)
    g = randn(rng, (4, 2), np.float32)
    gx, gw, gb = F.linear_backward(g, x, w, need_input_grad=False, need_bias_grad=False)
    assert gx is None and gb is None and gw.shape == (2, 3)


def test_linear_accepts_noncontiguous_and_readonly(rng):
    x = randn(rng, (10, 8), np.float32)[:, ::2]     # non-contiguous view
    w = randn(rng, (3, 4), np.float32)
    w.setflags(write=False)                          # read-only input
    assert_close(F.linear_forward(x, w), R.linear_forward(*as64(x, w)))
    xf = np.asfortranarray(randn(rng, (6, 4), np.float32))
    assert_close(F.linear_forward(xf, w), R.linear_forward(*as64(xf, w)))


def test_linear_bitwise_same_at_any_thread_count():
    rng = np.random.default_rng(3)
    x = randn(rng, (300, 530), np.float32)
    w = randn(rng, (700, 530), np.float32)
    b = randn(rng, (700,), np.float32)
    g = randn(rng, (300, 700), np.float32)
    results = []
    for n in (1, 2, 3, 8):
        with pydl.threads(n):
            results.append((F.linear_forward(x, w, b), *F.linear_backward(g, x, w)))
    for other in results[1:]:
        for a, b_ in zip(results[0], other):
            assert np.array_equal(a, b_)


class TestLinearValidation:
    def test_wrong_dtype(self, rng):
        w = randn(rng, (3, 4), np.float32)
        with pytest.raises(TypeError, match="x must be a float32 or float64"):
            F.linear_forward(np.ones((2, 4), dtype=np.int64), w)
        with pytest.raises(TypeError, match="x has dtype float64 but weight has dtype float32"):
            F.linear_forward(np.ones((2, 4)), w)
        with pytest.raises(TypeError, match="weight must be a float32 or float64"):
            F.linear_forward(np.ones((2, 4)), w.astype(np.complex64))
        with pytest.raises(TypeError, match="x must be a float32 or float64 numpy array"):
            F.linear_forward("abc", w)

    def test_wrong_shapes(self, rng):
        w = randn(rng, (3, 4), np.float32)
        with pytest.raises(ValueError, match="last dimension must equal.*in_features = 4"):
            F.linear_forward(np.ones((2, 5), np.float32), w)
        with pytest.raises(ValueError, match="weight must be 2-D"):
            F.linear_forward(np.ones((2, 4), np.float32), w[0])
        with pytest.raises(ValueError, match="bias has shape"):
            F.linear_forward(np.ones((2, 4), np.float32), w, np.ones(4, np.float32))
        with pytest.raises(ValueError, match="x must have at least 1"):
            F.linear_forward(np.float32(1.0), w)

    def test_backward_grad_shape(self, rng):
        w = randn(rng, (3, 4), np.float32)
        x = randn(rng, (2, 4), np.float32)
        with pytest.raises(ValueError, match="grad_out has shape"):
            F.linear_backward(np.ones((2, 4), np.float32), x, w)
        with pytest.raises(TypeError, match="grad_out has dtype"):
            F.linear_backward(np.ones((2, 3)), x, w)


@pytest.mark.parametrize("n, k, m", [(1, 1, 1), (33, 97, 65), (130, 300, 17)])
def test_linear_exact_on_small_integers(n, k, m, dtype):
    """Values in [-32, 32], most of them zero: every product and partial sum is an
    integer below 2**24, so float32 arithmetic is exact in any order and the kernel
    must equal the float64 reference bit for bit, forward and backward."""
    rng = np.random.default_rng(n + k + m)

    def small_ints(*shape):
        a = rng.integers(-32, 33, shape) * (rng.random(shape) < 0.3)
        return a.astype(dtype)
    x, w, b, g = small_ints(n, k), small_ints(m, k), small_ints(m), small_ints(n, m)
    y = F.linear_forward(x, w, b)
    dx, dw, db = F.linear_backward(g, x, w)
    x64, w64, g64 = (a.astype(np.float64) for a in (x, w, g))
    assert np.array_equal(y, x64 @ w64.T + b)
    assert np.array_equal(dx, g64 @ w64)
    assert np.array_equal(dw, g64.T @ x64)
    assert np.array_equal(db, g64.sum(axis=0))
