import numpy as np
import pytest

import pydl
from pydl import functional as F
from pydl import reference as R
from tests.helpers import as64, assert_close, randn

CE_CASES = [
    # logits shape, weighted, ignore some, label_smoothing
    ((8, 5), False, False, 0.0),
    ((8, 5), True, False, 0.0),
    ((8, 5), False, True, 0.0),
    ((8, 5), True, True, 0.1),
    ((33, 1000), False, False, 0.2),
    ((4, 3, 6, 2), True, True, 0.05),
    ((6,), False, False, 0.0),
    ((1, 1), False, False, 0.3),
]


def _ce_inputs(rng, shape, weighted, ignore, dtype):
    logits = randn(rng, shape, dtype, scale=3.0)
    c = shape[1] if len(shape) > 1 else shape[0]
    tshape = (shape[0], *shape[2:]) if len(shape) > 1 else ()
    target = rng.integers(0, c, size=tshape)
    if ignore and target.size > 1:
        target.reshape(-1)[::3] = -100
    weight = (rng.random(c) + 0.5).astype(dtype) if weighted else None
    return logits, target, weight


@pytest.mark.parametrize("shape,weighted,ignore,eps", CE_CASES, ids=str)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_matches_reference(shape, weighted, ignore, eps, reduction, dtype, rng):
    logits, target, weight = _ce_inputs(rng, shape, weighted, ignore, dtype)
    loss, grad = F.softmax_cross_entropy_forward(logits, target, weight, reduction=reduction,
                                                 label_smoothing=eps)
    rloss, rgrad = R.softmax_cross_entropy_forward(*as64(logits), target, *as64(weight),
                                                   reduction=reduction, label_smoothing=eps)
    assert grad.shape == logits.shape and grad.dtype == dtype
    if reduction == "none":
        assert loss.shape == target.shape and loss.dtype == dtype
    else:
        assert isinstance(loss, float)
    assert_close(loss, rloss, dtype)
    assert_close(grad, rgrad, dtype)
    up = 0.7 if reduction != "none" else randn(rng, target.shape, dtype)
    got = F.softmax_cross_entropy_backward(grad, up, reduction)
    want = R.softmax_cross_entropy_backward(rgrad, np.asarray(up, np.float64), reduction)
    assert_close(got, want, dtype)


def test_cross_entropy_extreme_logits(dtype):
    logits = np.array([[1e4, -1e4, 0], [-1e4, 1e4, 1e4], [0, 0, -1e4], [1e4, 1e4, 1e4]], dtype)
    target = np.array([0, 0, 2, 1])
    loss, grad = F.softmax_cross_entropy_forward(logits, target, reduction="none")
    assert np.all(np.isfinite(loss)) and np.all(np.isfinite(grad))
    # row 0: correct and confident -> 0; row 1: wrong by 2e4 -> 2e4 + log 2
    np.testing.assert_allclose(loss, [0, 2e4 + np.log(2), 1e4 + np.log(2), np.log(3)],
                               rtol=1e-6)
    np.testing.assert_allclose(grad[1], [-1, 0.5, 0.5], atol=1e-6)
    np.testing.assert_allclose(grad[3], [1 / 3, -2 / 3, 1 / 3], rtol=1e-6)
    mixed = np.array([[1e4, -3.5, 2.0, -1e4]], dtype)
    lm, gm = F.softmax_cross_entropy_forward(mixed, np.array([3]))
    assert np.isfinite(lm) and np.isfinite(gm).all()
    np.testing.assert_allclose(gm, [[1, 0, 0, -1]], atol=1e-6)


def test_cross_entropy_all_ignored_mean_is_nan():
    loss, grad = F.softmax_cross_entropy_forward(np.ones((2, 3), np.float32),
                                                 np.array([-100, -100]))
    assert np.isnan(loss)
    assert np.all(grad == 0)


def test_cross_entropy_empty_batch():
    loss, grad = F.softmax_cross_entropy_forward(np.ones((0, 3), np.float32),
                                                 np.zeros(0, np.int64), reduction="sum")
    assert loss == 0 and grad.shape == (0, 3)


def test_cross_entropy_no_grad_same_loss(rng):
    logits, target, _ = _ce_inputs(rng, (50, 7), False, False, np.float32)
    a, _ = F.softmax_cross_entropy_forward(logits, target, label_smoothing=0.1)
    b, g = F.softmax_cross_entropy_forward(logits, target, label_smoothing=0.1,
                                           need_grad=False)
    assert a == b and g is None


@pytest.mark.parametrize("shape", [(10,), (7, 3), (2, 3, 4), (20000,), (0,)], ids=str)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weights", [False, True])
def test_bce_with_logits_matches_reference(shape, reduction, weights, dtype, rng):
    x = randn(rng, shape, dtype, scale=5.0)
    y = rng.random(shape).astype(dtype)
    w = pw = None
    if weights and len(shape) >= 2:
        w = (rng.random(shape[-1]) + 0.5).astype(dtype)
        pw = (rng.random(shape[-1]) * 3).astype(dtype)
    loss, grad = F.binary_cross_entropy_with_logits_forward(x, y, w, pw, reduction)
    rloss, rgrad = R.binary_cross_entropy_with_logits_forward(*as64(x, y, w, pw),
                                                              reduction=reduction)
    if shape == (0,) and reduction == "mean":
        assert np.isnan(loss) and np.isnan(rloss)
    else:
        assert_close(loss, rloss, dtype)
    assert_close(grad, rgrad, dtype)


def test_bce_extreme_logits(dtype):
    x = np.array([1e4, -1e4, 1e4, -1e4, 0], dtype)
    y = np.array([1, 0, 0, 1, 0.5], dtype)
    loss, grad = F.binary_cross_entropy_with_logits_forward(x, y, reduction="none")
    np.testing.assert_allclose(loss, [0, 0, 1e4, 1e4, np.log(2)], rtol=1e-6)
    np.testing.assert_allclose(grad, [0, 0, 1, -1, 0], atol=1e-7)


@pytest.mark.parametrize("shape", [(10,), (7, 3), (20001,), (0, 2)], ids=str)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_mse_matches_reference(shape, reduction, dtype, rng):
    a, b = randn(rng, shape, dtype), randn(rng, shape, dtype)
    loss, grad = F.mse_loss_forward(a, b, reduction)
    rloss, rgrad = R.mse_loss_forward(*as64(a, b), reduction=reduction)
    if a.size == 0 and reduction == "mean":
        assert np.isnan(loss)
    else:
        assert_close(loss, rloss, dtype)
    assert_close(grad, rgrad, dtype)
    up = randn(rng, shape, dtype) if reduction == "none" else 2.0
    assert_close(F.mse_loss_backward(grad, up, reduction),
                 R.mse_loss_backward(rgrad, np.asarray(up, np.float64), reduction), dtype)


def test_losses_bitwise_same_at_any_thread_count():
    rng = np.random.default_rng(1)
    logits = randn(rng, (513, 129), np.float32, 3)
    target = rng.integers(0, 129, 513)
    x = randn(rng, (100003,), np.float32, 3)
    y = rng.random(100003).astype(np.float32)
    results = []
    for n in (1, 2, 3, 8):
        with pydl.threads(n):
            results.append([*F.softmax_cross_entropy_forward(logits, target, label_smoothing=0.1),
                            *F.binary_cross_entropy_with_logits_forward(x, y),
                            *F.mse_loss_forward(x, y)])
    for other in results[1:]:
        for a, b in zip(results[0], other):
            assert np.array_equal(a, b)


class TestLossValidation:
    def test_labels(self):
        z = np.zeros((3, 4), np.float32)
        with pytest.raises(ValueError, match=r"class index 4, outside \[0, 4\)"):
            F.softmax_cross_entropy_forward(z, np.array([0, 1, 4]))
        with pytest.raises(ValueError, match=r"class index -1, outside"):
            F.softmax_cross_entropy_forward(z, np.array([0, -1, 2]))
        # a float target means class probabilities: it must then have logits' shape
        with pytest.raises(ValueError, match="class probabilities, so it must have"):
            F.softmax_cross_entropy_forward(z, np.array([0.0, 1.0, 2.0], np.float32))
        with pytest.raises(TypeError, match="integer class indices"):
            F.softmax_cross_entropy_forward(z, np.array([True, False, True]))
        with pytest.raises(ValueError, match="target has shape"):
            F.softmax_cross_entropy_forward(z, np.array([0, 1]))
        with pytest.raises(ValueError, match="target has shape"):
            F.softmax_cross_entropy_forward(z, np.zeros((3, 1), np.int64))
        # the ignore label is allowed even though it is out of range
        F.softmax_cross_entropy_forward(z, np.array([0, -100, 2]))

    def test_hyper_parameters(self):
        z = np.zeros((3, 4), np.float32)
        t = np.array([0, 1, 2])
        with pytest.raises(ValueError, match="label_smoothing must be <= 1"):
            F.softmax_cross_entropy_forward(z, t, label_smoothing=1.5)
        with pytest.raises(ValueError, match="label_smoothing must be finite"):
            F.softmax_cross_entropy_forward(z, t, label_smoothing=float("nan"))
        with pytest.raises(ValueError, match="reduction must be one of"):
            F.softmax_cross_entropy_forward(z, t, reduction="avg")
        with pytest.raises(ValueError, match=r"weight has shape \(3,\)"):
            F.softmax_cross_entropy_forward(z, t, weight=np.ones(3, np.float32))
        with pytest.raises(TypeError, match="weight has dtype float64"):
            F.softmax_cross_entropy_forward(z, t, weight=np.ones(4))

    def test_shapes(self):
        a = np.zeros((3, 1), np.float32)
        with pytest.raises(ValueError, match=r"target has shape \(3,\) but input has shape"):
            F.mse_loss_forward(a, np.zeros(3, np.float32))
        with pytest.raises(ValueError, match="target has shape"):
            F.binary_cross_entropy_with_logits_forward(a, np.zeros(3, np.float32))
        with pytest.raises(ValueError, match="pos_weight has shape"):
            F.binary_cross_entropy_with_logits_forward(a, a, pos_weight=np.ones(2, np.float32))
        with pytest.raises(ValueError, match="grad is None"):
            F.mse_loss_backward(None)
