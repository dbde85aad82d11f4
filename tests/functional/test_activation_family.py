"""PReLU, softplus, hardtanh and GELU (the activations that complete the family)."""

import numpy as np
import pytest

from pydl import functional as F
from pydl import reference as R
from tests.helpers import as64, assert_close, randn

ELEMENTWISE = [
    ("softplus", (1.0, 20.0)),
    ("softplus", (2.0, 3.0)),
    ("softplus", (-0.5, 20.0)),
    ("hardtanh", (-1.0, 1.0)),
    ("hardtanh", (0.0, 6.0)),
    ("gelu", ("none",)),
    ("gelu", ("tanh",)),
]
SHAPES = [(), (1,), (7,), (3, 5), (2, 3, 4, 5), (40000,), (0,), (3, 0)]


@pytest.mark.parametrize("name, hyper", ELEMENTWISE, ids=str)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_elementwise_matches_reference(name, hyper, shape, dtype, rng):
    x = randn(rng, shape, dtype, scale=4.0)
    y = getattr(F, name + "_forward")(x, *hyper)
    assert y.shape == x.shape and y.dtype == dtype
    assert_close(y, getattr(R, name + "_forward")(*as64(x), *hyper), dtype)
    g = randn(rng, shape, dtype)
    gi = getattr(F, name + "_backward")(g, x, *hyper)
    assert gi.shape == x.shape and gi.dtype == dtype
    assert_close(gi, getattr(R, name + "_backward")(*as64(g, x), *hyper), dtype)


def test_softplus_extremes_and_threshold(dtype):
    x = np.array([-1e4, -100, -20, 0, 9.99, 10.01, 100, 1e4, np.nan], dtype)
    with np.errstate(all="raise"):
        y = F.softplus_forward(x, 2.0, 20.0)
        g = F.softplus_backward(np.ones_like(x), x, 2.0, 20.0)
    assert y[0] == 0 and 0 <= y[1] < 1e-40
    assert_close(y[3], np.log(2) / 2, dtype)
    assert y[5] == x[5] and y[6] == x[6] and y[7] == x[7]    # beta * x > threshold: x
    assert_close(y[4], np.logaddexp(0, 2 * 9.99) / 2, dtype)
    np.testing.assert_array_equal(g[5:8], 1)
    assert g[0] == 0 and g[3] == 0.5
    assert np.isnan(y[8]) and np.isnan(g[8])


def test_hardtanh_gradient_is_zero_at_the_edges_as_in_pytorch(dtype):
    x = np.array([-2, -1, -0.5, 0, 0.5, 1, 2, np.nan], dtype)
    y = F.hardtanh_forward(x)
    np.testing.assert_array_equal(y[:7], [-1, -1, -0.5, 0, 0.5, 1, 1])
    assert np.isnan(y[7])
    g = F.hardtanh_backward(np.full_like(x, 3), x)
    np.testing.assert_array_equal(g[:7], [0, 0, 3, 3, 3, 0, 0])


def test_gelu_known_values(dtype):
    x = np.array([-1e4, -10, -1, 0, 1, 10, 1e4], dtype)
    with np.errstate(all="raise"):
        y = F.gelu_forward(x)
        yt = F.gelu_forward(x, "tanh")
    np.testing.assert_array_equal(y[[0, 3]], 0)
    assert y[-1] == x[-1] and yt[-1] == x[-1] and yt[0] == 0
    assert_close(y[4], 0.8413447460685429, dtype)       # Phi(1)
    assert_close(y[2], -0.15865525393145707, dtype)
    assert_close(yt[4], 0.8411919906082768, dtype)


PRELU_CASES = [((7,), 1), ((), 1), ((4, 3), 1), ((4, 3), 3), ((5, 3, 7), 3),
               ((2, 3, 4, 5), 3), ((2, 3, 4, 5), 1), ((100, 50, 3), 50), ((0, 4), 4),
               ((3, 2, 0), 2), ((2, 700, 9), 700)]


@pytest.mark.parametrize("shape, n_params", PRELU_CASES, ids=str)
def test_prelu_matches_reference(shape, n_params, dtype, rng):
    x = randn(rng, shape, dtype, scale=3.0)
    w = randn(rng, (n_params,), dtype, scale=0.5)
    y = F.prelu_forward(x, w)
    assert_close(y, R.prelu_forward(*as64(x, w)), dtype)
    g = randn(rng, shape, dtype)
    gi, gw = F.prelu_backward(g, x, w)
    rgi, rgw = R.prelu_backward(*as64(g, x, w))
    assert gw.shape == w.shape and gw.dtype == dtype
    assert_close(gi, rgi, dtype)
    assert_close(gw, rgw, dtype, scale=max(1.0, np.sqrt(x.size)))
    gi2, gw2 = F.prelu_backward(g, x, w, need_input_grad=False)
    assert gi2 is None and gw2.tobytes() == gw.tobytes()


@pytest.mark.parametrize("call, exc, match", [
    (lambda x: F.prelu_forward(x, np.ones(2, np.float32)), ValueError, "1 or 3"),
    (lambda x: F.prelu_forward(x, np.ones((3, 1), np.float32)), ValueError, "must be 1-D"),
    (lambda x: F.prelu_forward(x, np.ones(3)), TypeError, "weight has dtype float64"),
    (lambda x: F.prelu_forward(x[0, 0], np.ones(3, np.float32)), ValueError, "1 channel"),
    (lambda x: F.prelu_backward(x, x[:1], np.ones(1, np.float32)), ValueError, "grad_out"),
    (lambda x: F.softplus_forward(x, 0.0), ValueError, "beta must be non-zero"),
    (lambda x: F.softplus_forward(x, 1.0, np.nan), ValueError, "threshold must be finite"),
    (lambda x: F.hardtanh_forward(x, 1.0, 1.0), ValueError, "greater than min_val"),
    (lambda x: F.hardtanh_backward(x, x, 2.0, -2.0), ValueError, "greater than min_val"),
    (lambda x: F.gelu_forward(x, "erf"), ValueError, "'none' or 'tanh'"),
    (lambda x: F.gelu_backward(x, x.astype(np.float64)), TypeError, "grad_out has dtype"),
])
def test_bad_input(call, exc, match):
    with pytest.raises(exc, match=match):
        call(np.ones((2, 3, 4), np.float32))
