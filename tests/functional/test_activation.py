import numpy as np
import pytest

import pydl
from pydl import functional as F
from pydl import reference as R
from tests.helpers import as64, assert_close, randn

ELEMENTWISE = [
    # name, hyper-parameters, what backward takes ("out" or "x")
    ("relu", (), "out"),
    ("leaky_relu", (0.1,), "x"),
    ("leaky_relu", (-0.3,), "x"),
    ("elu", (1.0,), "x"),
    ("elu", (0.5,), "x"),
    ("sigmoid", (), "out"),
    ("tanh", (), "out"),
    ("silu", (), "x"),
]
SHAPES = [(), (1,), (7,), (3, 5), (2, 3, 4, 5), (40000,), (0,), (3, 0)]


@pytest.mark.parametrize("name,hyper,saved", ELEMENTWISE)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_elementwise_matches_reference(name, hyper, saved, shape, dtype, rng):
    x = randn(rng, shape, dtype, scale=4.0)
    fwd, bwd = getattr(F, name + "_forward"), getattr(F, name + "_backward")
    rfwd, rbwd = getattr(R, name + "_forward"), getattr(R, name + "_backward")
    y = fwd(x, *hyper)
    assert y.shape == x.shape and y.dtype == dtype
    (x64,) = as64(x)
    assert_close(y, rfwd(x64, *hyper), dtype)
    g = randn(rng, shape, dtype)
    s, s64 = (y, rfwd(x64, *hyper)) if saved == "out" else (x, x64)
    gi = bwd(g, s, *hyper)
    assert gi.shape == x.shape and gi.dtype == dtype
    assert_close(gi, rbwd(*as64(g), s64.astype(np.float64), *hyper), dtype)


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@pytest.mark.parametrize("shape,dim", [((4, 10), -1), ((4, 10), 0), ((2, 3, 5), 1),
                                       ((1, 1), -1), ((3, 1000), 1), ((7,), 0),
                                       ((2, 17, 3, 3), 1), ((0, 5), 1)], ids=str)
def test_softmax_family_matches_reference(name, shape, dim, dtype, rng):
    x = randn(rng, shape, dtype, scale=3.0)
    y = getattr(F, name + "_forward")(x, dim)
    (x64,) = as64(x)
    ref = getattr(R, name + "_forward")(x64, dim)
    assert_close(y, ref, dtype)
    g = randn(rng, shape, dtype)
    gi = getattr(F, name + "_backward")(g, y, dim)
    assert_close(gi, getattr(R, name + "_backward")(*as64(g), ref, dim), dtype)


def test_softmax_rows_sum_to_one_and_extreme_logits(dtype):
    x = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4], [5e3, 5e3, -5e3], [0, 0, 88.0]],
                 dtype)
    y = F.softmax_forward(x, -1)
    assert np.all(np.isfinite(y))
    np.testing.assert_allclose(y.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(y[0], [1, 0, 0])
    np.testing.assert_allclose(y[1], [1 / 3] * 3, rtol=1e-6)
    np.testing.assert_allclose(y[2], [0.5, 0.5, 0], rtol=1e-6)
    ly = F.log_softmax_forward(x, -1)
    assert np.all(np.isfinite(ly))
    np.testing.assert_allclose(ly[0], [0, -2e4, -1e4], rtol=1e-6)


def test_sigmoid_tanh_saturate_without_overflow(dtype):
    x = np.array([-1e4, -100, -30, 0, 30, 100, 1e4], dtype)
    with np.errstate(all="raise"):
        s = F.sigmoid_forward(x)
        t = F.tanh_forward(x)
    np.testing.assert_array_equal(s[[0, -2, -1]], [0, 1, 1])
    assert 0 <= s[1] < 1e-40
    assert s[3] == 0.5
    np.testing.assert_array_equal(t[[0, 1, -2, -1]], [-1, -1, 1, 1])
    e = F.elu_forward(x)
    np.testing.assert_allclose(e[:2], [-1, -1])


def test_nan_propagates(dtype):
    x = np.array([np.nan, 1.0, -1.0], dtype)
    for name in ("relu", "sigmoid", "tanh", "silu", "elu", "leaky_relu"):
        y = getattr(F, name + "_forward")(x)
        assert np.isnan(y[0]), name
    assert np.all(np.isnan(F.softmax_forward(x, 0)))


def test_float32_transcendentals_accurate_over_range():
    # csrc/_vmath.h: a few ulp against float64 over the useful range
    x = np.linspace(-90, 90, 400001).astype(np.float32)
    x64 = x.astype(np.float64)
    ulp = lambda v: np.spacing(np.abs(v).astype(np.float32)).astype(np.float64)  # noqa: E731
    sig = F.sigmoid_forward(x)
    ref = 1 / (1 + np.exp(-x64))
    mask = ref > 1.2e-38
    assert np.max(np.abs(sig[mask] - ref[mask]) / ulp(ref[mask])) <= 4
    th = F.tanh_forward(x)
    ref = np.tanh(x64)
    assert np.max(np.abs(th - ref) / np.maximum(ulp(ref), 1e-45)) <= 4
    small = np.logspace(-20, 0, 2001).astype(np.float32)
    np.testing.assert_allclose(F.tanh_forward(small), np.tanh(small.astype(np.float64)),
                               rtol=3e-7)
    sm = F.softmax_forward(np.stack([x[:1000], np.zeros(1000, np.float32)]), 0)
    ref = np.exp(x64[:1000]) / (np.exp(x64[:1000]) + 1)
    np.testing.assert_allclose(sm[0], ref, rtol=5e-7, atol=1e-37)


@pytest.mark.parametrize("name", ["relu", "sigmoid", "tanh", "silu", "elu"])
def test_elementwise_bitwise_same_at_any_thread_count(name):
    x = randn(np.random.default_rng(0), (100003,), np.float32, 3.0)
    outs = []
    for n in (1, 2, 3, 8):
        with pydl.threads(n):
            y = getattr(F, name + "_forward")(x)
            outs.append((y, getattr(F, name + "_backward")(x, y if name in
                                                             ("relu", "sigmoid", "tanh") else x)))
    for o in outs[1:]:
        assert np.array_equal(o[0], outs[0][0]) and np.array_equal(o[1], outs[0][1])


class TestActivationValidation:
    def test_dtype_and_shape(self):
        with pytest.raises(TypeError, match="x must be a float32 or float64"):
            F.relu_forward(np.arange(3))
        with pytest.raises(TypeError, match="x must be a float32 or float64"):
            F.sigmoid_forward(np.array([True, False]))
        with pytest.raises(TypeError, match="x must be a float32 or float64"):
            F.tanh_forward(np.array([1 + 2j]))
        with pytest.raises(TypeError, match="x must be a float32 or float64"):
            F.tanh_forward(np.array(["a"], dtype=object))
        with pytest.raises(ValueError, match="grad_out has shape"):
            F.relu_backward(np.ones(3, np.float32), np.ones(4, np.float32))
        with pytest.raises(TypeError, match="grad_out has dtype float64 but out"):
            F.relu_backward(np.ones(3), np.ones(3, np.float32))

    def test_hyper_parameters(self):
        x = np.ones(3, np.float32)
        with pytest.raises(ValueError, match="negative_slope must be finite"):
            F.leaky_relu_forward(x, float("nan"))
        with pytest.raises(ValueError, match="alpha must be finite"):
            F.elu_forward(x, float("inf"))
        with pytest.raises(TypeError, match="alpha must be a real number"):
            F.elu_forward(x, "1")

    def test_softmax_dim(self):
        with pytest.raises(ValueError, match="dim must be in"):
            F.softmax_forward(np.ones((2, 3), np.float32), 2)
        with pytest.raises(TypeError, match="dim must be an int"):
            F.softmax_forward(np.ones((2, 3), np.float32), 1.0)
        with pytest.raises(ValueError, match="at least 1 dimension"):
            F.softmax_forward(np.float32(1.0), 0)
