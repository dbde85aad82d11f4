import numpy as np
import pytest

from pydl import functional as F
from pydl import reference as R
from tests.helpers import as64, assert_close, randn

REDUCTIONS = ("mean", "sum", "none")


@pytest.mark.parametrize("shape", [(7, 3), (20001,), (1,), (0,)], ids=str)
@pytest.mark.parametrize("alpha,gamma,soft", [(0.25, 2.0, False), (-1.0, 1.5, True),
                                              (0.6, 0.0, False), (0.25, 0.5, True)], ids=str)
def test_sigmoid_focal_matches_reference(shape, alpha, gamma, soft, dtype, rng):
    x = randn(rng, shape, dtype, 3.0)
    y = rng.random(shape) if soft else (rng.random(shape) > 0.7)
    y = y.astype(dtype)
    for reduction in REDUCTIONS:
        loss, grad = F.sigmoid_focal_loss_forward(x, y, alpha, gamma, reduction)
        rloss, rgrad = R.sigmoid_focal_loss_forward(*as64(x, y), alpha, gamma, reduction)
        if x.size == 0 and reduction == "mean":
            assert np.isnan(loss)
        else:
            assert_close(loss, rloss, dtype)
        assert_close(grad, rgrad, dtype)
        up = randn(rng, shape, dtype) if reduction == "none" else 0.9
        assert_close(F.sigmoid_focal_loss_backward(grad, up, reduction),
                     R.sigmoid_focal_loss_backward(rgrad, np.asarray(up, np.float64),
                                                   reduction), dtype)


def test_sigmoid_focal_default_reduction_is_none_as_torchvision(rng):
    x = randn(rng, (4, 2), np.float32)
    loss, _ = F.sigmoid_focal_loss_forward(x, np.ones((4, 2), np.float32))
    assert loss.shape == (4, 2)


def test_sigmoid_focal_gamma0_no_alpha_is_bce(rng):
    x = randn(rng, (50,), np.float64, 3.0)
    y = rng.random(50)
    a = F.sigmoid_focal_loss_forward(x, y, alpha=-1, gamma=0.0, reduction="mean")
    b = F.binary_cross_entropy_with_logits_forward(x, y)
    np.testing.assert_allclose(a[0], b[0], rtol=1e-14)
    np.testing.assert_allclose(a[1], b[1], rtol=1e-13, atol=1e-17)


def test_sigmoid_focal_saturated_logits(dtype):
    # p_t -> 1 (easy examples): loss and gradient vanish, no NaN from 0 ** (gamma - 1)
    x = np.array([1e4, -1e4, 1e4, -1e4, 40.0], dtype)
    y = np.array([1, 0, 0, 1, 1], dtype)
    for gamma in (0.5, 1.0, 2.0):
        loss, grad = F.sigmoid_focal_loss_forward(x, y, gamma=gamma)
        assert np.all(np.isfinite(loss)) and np.all(np.isfinite(grad))
        assert loss[0] == 0 and loss[1] == 0 and grad[0] == 0 and grad[1] == 0
        np.testing.assert_allclose(loss[2:4], [0.75e4, 0.25e4], rtol=1e-6)
        np.testing.assert_allclose(grad[2:4], [0.75, -0.25], rtol=1e-6)


SOFTMAX_SHAPES = [(8, 5), (6,), (1, 1), (4, 3, 6, 2), (0, 4)]


@pytest.mark.parametrize("shape", SOFTMAX_SHAPES, ids=str)
@pytest.mark.parametrize("alpha,gamma,ignore", [(None, 2.0, False), ("array", 1.5, True),
                                                (0.5, 0.5, True), (None, 0.0, False)],
                         ids=str)
def test_softmax_focal_matches_reference(shape, alpha, gamma, ignore, dtype, rng):
    z = randn(rng, shape, dtype, 2.0)
    c = shape[1] if len(shape) > 1 else shape[0]
    t = rng.integers(0, c, (shape[0], *shape[2:]) if len(shape) > 1 else ())
    if ignore and t.size > 1:
        t.reshape(-1)[::3] = -100
    a = (rng.random(c) + 0.2).astype(dtype) if alpha == "array" else alpha
    for reduction in REDUCTIONS:
        loss, grad = F.softmax_focal_loss_forward(z, t, a, gamma, reduction=reduction)
        ra = as64(a)[0] if isinstance(a, np.ndarray) else a
        rloss, rgrad = R.softmax_focal_loss_forward(*as64(z), t, ra, gamma,
                                                    reduction=reduction)
        if t.size == 0 and reduction == "mean":
            assert np.isnan(loss)
        else:
            assert_close(loss, rloss, dtype)
        assert grad.shape == shape and grad.dtype == dtype
        assert_close(grad, rgrad, dtype)
        up = randn(rng, t.shape, dtype) if reduction == "none" else 1.1
        assert_close(F.softmax_focal_loss_backward(grad, up, reduction),
                     R.softmax_focal_loss_backward(rgrad, np.asarray(up, np.float64),
                                                   reduction), dtype)


def test_softmax_focal_gamma0_is_cross_entropy(rng):
    z = randn(rng, (9, 4), np.float64, 2.0)
    t = rng.integers(0, 4, 9)
    a = F.softmax_focal_loss_forward(z, t, gamma=0.0)
    b = F.softmax_cross_entropy_forward(z, t)
    np.testing.assert_allclose(a[0], b[0], rtol=1e-14)
    np.testing.assert_allclose(a[1], b[1], atol=1e-16)


def test_softmax_focal_extreme_logits(dtype):
    z = np.array([[1e4, -1e4, 0], [-1e4, 1e4, 1e4], [0, 0, -1e4]], dtype)
    t = np.array([0, 0, 2])
    loss, grad = F.softmax_focal_loss_forward(z, t, gamma=0.5, reduction="none")
    assert np.all(np.isfinite(loss)) and np.all(np.isfinite(grad))
    np.testing.assert_allclose(loss, [0, 2e4 + np.log(2), 1e4 + np.log(2)], rtol=1e-6)
    np.testing.assert_allclose(grad[0], [0, 0, 0], atol=1e-6)


class TestValidation:
    def test_hyper_parameters(self):
        x = np.zeros(3, np.float32)
        with pytest.raises(ValueError, match="gamma must be >= 0"):
            F.sigmoid_focal_loss_forward(x, x, gamma=-1.0)
        with pytest.raises(ValueError, match="alpha must be <= 1"):
            F.sigmoid_focal_loss_forward(x, x, alpha=1.5)
        with pytest.raises(ValueError, match="reduction must be one of"):
            F.sigmoid_focal_loss_forward(x, x, reduction="avg")
        z = np.zeros((2, 3), np.float32)
        t = np.array([0, 2])
        with pytest.raises(ValueError, match="gamma must be finite"):
            F.softmax_focal_loss_forward(z, t, gamma=float("nan"))
        with pytest.raises(ValueError, match=r"alpha has shape \(2,\), expected \(3,\)"):
            F.softmax_focal_loss_forward(z, t, alpha=np.ones(2, np.float32))
        with pytest.raises(ValueError, match=r"class index 3, outside \[0, 3\)"):
            F.softmax_focal_loss_forward(z, np.array([0, 3]))
        with pytest.raises(ValueError, match="logits has shape"):
            F.sigmoid_focal_loss_forward(z, x)
