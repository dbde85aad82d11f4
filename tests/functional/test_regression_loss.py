import numpy as np
import pytest

from pydl import functional as F
from pydl import reference as R
from tests.helpers import as64, assert_close, randn

OPS = [
    ("mse_loss", {}),
    ("l1_loss", {}),
    ("smooth_l1_loss", {"beta": 0.7}),
    ("smooth_l1_loss", {"beta": 0.0}),
    ("huber_loss", {"delta": 0.6}),
    ("huber_loss", {"delta": 3.0}),
]


@pytest.mark.parametrize("name,kw", OPS, ids=lambda v: str(v))
@pytest.mark.parametrize("shape", [(7, 3), (20001,), (1,), (0, 2)], ids=str)
def test_matches_reference(name, kw, shape, dtype, rng):
    a, b = randn(rng, shape, dtype, 2.0), randn(rng, shape, dtype, 2.0)
    for reduction in ("mean", "sum", "none"):
        _check_reduction(name, kw, a, b, reduction, dtype, rng)


def _check_reduction(name, kw, a, b, reduction, dtype, rng):
    shape = a.shape
    fwd, bwd = getattr(F, name + "_forward"), getattr(F, name + "_backward")
    loss, grad = fwd(a, b, reduction, **kw)
    rloss, rgrad = getattr(R, name + "_forward")(*as64(a, b), reduction, **kw)
    if a.size == 0 and reduction == "mean":
        assert np.isnan(loss) and np.isnan(rloss)
    else:
        assert_close(loss, rloss, dtype)
    assert grad.dtype == dtype and grad.shape == shape
    assert_close(grad, rgrad, dtype)
    up = randn(rng, shape, dtype) if reduction == "none" else 1.7
    assert_close(bwd(grad, up, reduction),
                 getattr(R, name + "_backward")(rgrad, np.asarray(up, np.float64), reduction),
                 dtype)


def test_known_values():
    x = np.array([0.0, 0.5, -2.0, 3.0, 1.0])
    y = np.zeros(5)
    l1, g1 = F.l1_loss_forward(x, y, "none")
    np.testing.assert_array_equal(l1, [0, 0.5, 2, 3, 1])
    np.testing.assert_array_equal(g1, [0, 1, -1, 1, 1])          # sign(0) = 0
    h, gh = F.huber_loss_forward(x, y, "none", delta=1.0)
    np.testing.assert_allclose(h, [0, 0.125, 1.5, 2.5, 0.5])
    np.testing.assert_allclose(gh, [0, 0.5, -1, 1, 1])            # continuous at |d| = delta
    s, gs = F.smooth_l1_loss_forward(x, y, "none", beta=2.0)
    np.testing.assert_allclose(s, [0, 0.0625, 1.0, 2.0, 0.25])
    np.testing.assert_allclose(gs, [0, 0.25, -1, 1, 0.5])


def test_huber_is_delta_times_smooth_l1(rng):
    x, y = randn(rng, (50,), np.float64, 3), randn(rng, (50,), np.float64, 3)
    h, gh = F.huber_loss_forward(x, y, "none", delta=1.5)
    s, gs = F.smooth_l1_loss_forward(x, y, "none", beta=1.5)
    np.testing.assert_allclose(h, 1.5 * s, rtol=1e-14)
    np.testing.assert_allclose(gh, 1.5 * gs, rtol=1e-14)


def test_smooth_l1_beta_zero_and_tiny_is_l1(rng):
    x, y = randn(rng, (40,), np.float32), randn(rng, (40,), np.float32)
    l1 = F.l1_loss_forward(x, y, "none")
    for beta in (0.0, 1e-40):
        s = F.smooth_l1_loss_forward(x, y, "none", beta=beta)
        np.testing.assert_array_equal(s[0], l1[0])
        np.testing.assert_array_equal(s[1], l1[1])


def test_extreme_values_finite(dtype):
    x = np.array([1e4, -1e4, 0.0], dtype)
    y = np.array([-1e4, 1e4, 0.0], dtype)
    for name in ("l1_loss", "huber_loss", "smooth_l1_loss", "mse_loss"):
        loss, grad = getattr(F, name + "_forward")(x, y, "none")
        assert np.all(np.isfinite(loss)) and np.all(np.isfinite(grad))


def test_no_grad_same_loss(rng):
    x, y = randn(rng, (30000,), np.float32), randn(rng, (30000,), np.float32)
    a, _ = F.huber_loss_forward(x, y, delta=0.5)
    b, g = F.huber_loss_forward(x, y, delta=0.5, need_grad=False)
    assert a == b and g is None


class TestValidation:
    def test_hyper_parameters(self):
        x = np.zeros(3, np.float32)
        with pytest.raises(ValueError, match="delta must be > 0"):
            F.huber_loss_forward(x, x, delta=0.0)
        with pytest.raises(ValueError, match="delta must be > 0"):
            F.huber_loss_forward(x, x, delta=-1.0)
        with pytest.raises(ValueError, match="beta must be >= 0"):
            F.smooth_l1_loss_forward(x, x, beta=-0.5)
        with pytest.raises(ValueError, match="beta must be finite"):
            F.smooth_l1_loss_forward(x, x, beta=float("inf"))
        with pytest.raises(ValueError, match="reduction must be one of"):
            F.l1_loss_forward(x, x, reduction="batchmean")

    def test_shapes_and_dtypes(self):
        x = np.zeros((3, 1), np.float32)
        with pytest.raises(ValueError, match=r"target has shape \(3,\) but input has shape"):
            F.l1_loss_forward(x, np.zeros(3, np.float32))
        with pytest.raises(TypeError, match="target has dtype float64 but input"):
            F.huber_loss_forward(x, np.zeros((3, 1)))
        with pytest.raises(TypeError, match="input must be a float32 or float64"):
            F.smooth_l1_loss_forward(np.zeros(3, int), np.zeros(3, int))
        with pytest.raises(ValueError, match="grad is None"):
            F.huber_loss_backward(None)
        with pytest.raises(ValueError, match="grad_loss has shape"):
            F.l1_loss_backward(np.zeros(3), np.zeros(4), "none")
