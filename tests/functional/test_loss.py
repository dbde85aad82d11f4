import warnings

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


# ---------------------------------------------------------------- soft-label CE, NLL
SOFT_SHAPES = [(8, 5), (6,), (1, 1), (4, 3, 6, 2), (0, 4)]


@pytest.mark.parametrize("shape", SOFT_SHAPES, ids=str)
@pytest.mark.parametrize("weighted,eps", [(False, 0.0), (True, 0.0), (True, 0.2)], ids=str)
def test_soft_cross_entropy_matches_reference(shape, weighted, eps, dtype, rng):
    logits = randn(rng, shape, dtype, 3.0)
    axis = 1 if len(shape) > 1 else 0
    e = np.exp(randn(rng, shape, np.float64, 2.0))
    target = (e / e.sum(axis=axis, keepdims=True)).astype(dtype)
    c = shape[axis]
    weight = (rng.random(c) + 0.5).astype(dtype) if weighted else None
    for reduction in ("mean", "sum", "none"):
        loss, grad = F.softmax_cross_entropy_forward(logits, target, weight,
                                                     reduction=reduction, label_smoothing=eps)
        rloss, rgrad = R.softmax_cross_entropy_forward(*as64(logits, target, weight),
                                                       reduction=reduction,
                                                       label_smoothing=eps)
        if logits.size == 0 and reduction == "mean":
            assert np.isnan(loss)
        else:
            assert_close(loss, rloss, dtype)
        assert_close(grad, rgrad, dtype)
        if reduction == "none":
            assert loss.shape == (shape[0], *shape[2:]) if len(shape) > 1 else loss.shape == ()


def test_soft_cross_entropy_one_hot_equals_index_target(rng):
    logits = randn(rng, (9, 4), np.float64, 3.0)
    t = rng.integers(0, 4, 9)
    w = rng.random(4) + 0.5
    onehot = np.eye(4)[t]
    for kw in ({}, {"label_smoothing": 0.3}):
        a = F.softmax_cross_entropy_forward(logits, t, reduction="none", **kw)
        b = F.softmax_cross_entropy_forward(logits, onehot, reduction="none", **kw)
        np.testing.assert_allclose(a[0], b[0], rtol=1e-13)
        np.testing.assert_allclose(a[1], b[1], atol=1e-15)
    # with weights the per-sample losses agree, the means differ: sum(w_t) vs N
    a = F.softmax_cross_entropy_forward(logits, t, w)
    b = F.softmax_cross_entropy_forward(logits, onehot, w)
    per = F.softmax_cross_entropy_forward(logits, t, w, reduction="none")[0]
    np.testing.assert_allclose(a[0], per.sum() / w[t].sum(), rtol=1e-13)
    np.testing.assert_allclose(b[0], per.sum() / 9, rtol=1e-13)


def test_cross_entropy_weighted_mean_is_pytorchs():
    # hand-computed: two samples, logits 0 -> loss log 3 each, weights of targets 1 and 3
    logits = np.zeros((2, 3))
    w = np.array([1.0, 2.0, 3.0])
    loss, grad = F.softmax_cross_entropy_forward(logits, np.array([0, 2]), w)
    np.testing.assert_allclose(loss, (1 * np.log(3) + 3 * np.log(3)) / 4, rtol=1e-14)
    np.testing.assert_allclose(grad[1], np.array([1, 1, -2]) / 3 * 3 / 4, rtol=1e-14)


@pytest.mark.parametrize("shape", [(8, 5), (6,), (1, 1), (4, 3, 6, 2), (0, 4)], ids=str)
@pytest.mark.parametrize("weighted,ignore", [(False, False), (True, True)], ids=str)
def test_nll_matches_reference(shape, weighted, ignore, dtype, rng):
    logp = F.log_softmax_forward(randn(rng, shape, dtype, 3.0), dim=1 if len(shape) > 1 else 0)
    c = shape[1] if len(shape) > 1 else shape[0]
    tshape = (shape[0], *shape[2:]) if len(shape) > 1 else ()
    target = rng.integers(0, c, size=tshape)
    if ignore and target.size > 1:
        target.reshape(-1)[::3] = -100
    weight = (rng.random(c) + 0.5).astype(dtype) if weighted else None
    for reduction in ("mean", "sum", "none"):
        loss, grad = F.nll_loss_forward(logp, target, weight, reduction=reduction)
        rloss, rgrad = R.nll_loss_forward(*as64(logp), target, *as64(weight),
                                          reduction=reduction)
        if target.size == 0 and reduction == "mean":
            assert np.isnan(loss)
        else:
            assert_close(loss, rloss, dtype)
        assert_close(grad, rgrad, dtype)
        up = randn(rng, target.shape, dtype) if reduction == "none" else 0.3
        assert_close(F.nll_loss_backward(grad, up, reduction),
                     R.nll_loss_backward(rgrad, np.asarray(up, np.float64), reduction), dtype)


def test_log_softmax_then_nll_is_cross_entropy(rng):
    z = randn(rng, (7, 5), np.float64, 2.0)
    t = rng.integers(0, 5, 7)
    w = rng.random(5) + 0.5
    lp = F.log_softmax_forward(z, dim=1)
    nll, g = F.nll_loss_forward(lp, t, w)
    ce, gce = F.softmax_cross_entropy_forward(z, t, w)
    np.testing.assert_allclose(nll, ce, rtol=1e-13)
    np.testing.assert_allclose(F.log_softmax_backward(g, lp, dim=1), gce, atol=1e-15)


# -------------------------------------------------------------------------- BCE, KL
@pytest.mark.parametrize("shape", [(10,), (7, 3), (20001,), (0,)], ids=str)
@pytest.mark.parametrize("weighted", [False, True])
def test_bce_matches_reference(shape, weighted, dtype, rng):
    x = rng.random(shape).astype(dtype)
    if x.size > 4:
        x.reshape(-1)[:4] = [0, 1, 1e-30, 1 - 1e-7]    # log clamps and the 1e-12 floor
    y = rng.random(shape).astype(dtype)
    w = (rng.random(shape[-1]) + 0.5).astype(dtype) if weighted and len(shape) >= 1 else None
    for reduction in ("mean", "sum", "none"):
        loss, grad = F.binary_cross_entropy_forward(x, y, w, reduction)
        rloss, rgrad = R.binary_cross_entropy_forward(*as64(x, y, w), reduction=reduction)
        if x.size == 0 and reduction == "mean":
            assert np.isnan(loss)
        else:
            assert_close(loss, rloss, dtype)
        assert_close(grad, rgrad, dtype, rtol=2e-4)


def test_bce_clamps_like_pytorch():
    x = np.array([0.0, 1.0, 0.0, 1.0, 0.5])
    y = np.array([1.0, 0.0, 0.0, 1.0, 1.0])
    loss, grad = F.binary_cross_entropy_forward(x, y, reduction="none")
    np.testing.assert_allclose(loss, [100, 100, 0, 0, np.log(2)], rtol=1e-15)
    # the gradient's denominator is floored at float32(1e-12), as PyTorch
    np.testing.assert_allclose(grad, [-1e12, 1e12, 0, 0, -2], rtol=1e-8)


@pytest.mark.parametrize("shape", [(6, 5), (4, 3, 2), (20001,), (1,), ()], ids=str)
@pytest.mark.parametrize("log_target", [False, True])
def test_kl_div_matches_reference(shape, log_target, dtype, rng):
    x = randn(rng, shape, dtype, 2.0)
    t = rng.random(shape).astype(dtype)
    if t.size > 3:
        t.reshape(-1)[:3] = 0                         # 0 log 0 = 0
    if log_target:
        t = np.log(t + 0.1).astype(dtype)
    for reduction in ("batchmean", "sum", "none", "mean"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            loss, grad = F.kl_div_forward(x, t, reduction, log_target)
        rloss, rgrad = R.kl_div_forward(*as64(x, t), reduction=reduction,
                                        log_target=log_target)
        assert_close(loss, rloss, dtype)
        assert_close(grad, rgrad, dtype)
        up = randn(rng, shape, dtype) if reduction == "none" else 0.5
        assert_close(F.kl_div_backward(grad, up, reduction),
                     R.kl_div_backward(rgrad, np.asarray(up, np.float64), reduction), dtype)


def test_kl_div_mean_warns_batchmean_does_not():
    x = np.log(np.full((2, 4), 0.25))
    t = np.array([[0.1, 0.2, 0.3, 0.4], [0.25, 0.25, 0.25, 0.25]])
    with pytest.warns(UserWarning, match="'batchmean' divides only by the batch size"):
        mean, _ = F.kl_div_forward(x, t, "mean")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        batchmean, _ = F.kl_div_forward(x, t, "batchmean")
    kl0 = float(np.sum(t[0] * np.log(t[0] / 0.25)))
    np.testing.assert_allclose(batchmean, kl0 / 2, rtol=1e-14)
    np.testing.assert_allclose(mean, kl0 / 8, rtol=1e-14)


def test_classification_losses_extreme_scores_finite(dtype):
    z = np.array([[1e4, -1e4, 0], [-1e4, 1e4, 1e4]], dtype)
    t = np.array([1, 0])
    soft = np.array([[0.2, 0.8, 0.0], [1.0, 0.0, 0.0]], dtype)
    results = [F.softmax_cross_entropy_forward(z, soft, label_smoothing=0.1),
               F.nll_loss_forward(z, t),
               F.binary_cross_entropy_with_logits_forward(z, (soft > 0.5).astype(dtype)),
               F.kl_div_forward(z, soft, "batchmean")]
    for loss, grad in results:
        assert np.all(np.isfinite(loss)) and np.all(np.isfinite(grad))
    # -log p = [0, 2e4, 1e4] and [2e4 + log 2, log 2, log 2]; y' = 0.9 y + 0.1 / 3
    row0 = (0.72 + 0.1 / 3) * 2e4 + 0.1 / 3 * 1e4
    row1 = (0.9 + 0.1 / 3) * 2e4 + np.log(2)
    np.testing.assert_allclose(results[0][0], (row0 + row1) / 2, rtol=1e-6)


class TestNewLossValidation:
    def test_soft_targets(self):
        z = np.zeros((3, 4), np.float32)
        with pytest.raises(ValueError, match="ignore_index is not supported"):
            F.softmax_cross_entropy_forward(z, z, ignore_index=0)
        with pytest.raises(TypeError, match="target has dtype float64 but logits"):
            F.softmax_cross_entropy_forward(z, np.zeros((3, 4)))

    def test_nll(self):
        z = np.zeros((3, 4), np.float32)
        with pytest.raises(ValueError, match=r"class index 4, outside \[0, 4\)"):
            F.nll_loss_forward(z, np.array([0, 1, 4]))
        with pytest.raises(ValueError, match="target has shape"):
            F.nll_loss_forward(z, np.array([0, 1]))
        with pytest.raises(ValueError, match=r"weight has shape \(5,\)"):
            F.nll_loss_forward(z, np.array([0, 1, 2]), np.ones(5, np.float32))
        with pytest.raises(ValueError, match="class dimension must be non-empty"):
            F.nll_loss_forward(np.zeros((0, 0), np.float32), np.zeros(0, np.int64))
        with pytest.raises(ValueError, match="reduction must be one of"):
            F.nll_loss_forward(z, np.array([0, 1, 2]), reduction="batchmean")

    def test_bce(self):
        x = np.array([0.5, 1.5], np.float32)
        y = np.array([0.5, 1.0], np.float32)
        with pytest.raises(ValueError, match="all elements of input must be between 0 and 1"):
            F.binary_cross_entropy_forward(x, y)
        with pytest.raises(ValueError, match="all elements of input must be between 0 and 1"):
            F.binary_cross_entropy_forward(np.array([np.nan, 0.5], np.float32), y)
        with pytest.raises(ValueError, match="all elements of target must be between 0 and 1"):
            F.binary_cross_entropy_forward(y, x)
        with pytest.raises(ValueError, match="weight has shape"):
            F.binary_cross_entropy_forward(y, y, weight=np.ones(3, np.float32))

    def test_kl(self):
        x = np.zeros((2, 3), np.float32)
        with pytest.raises(ValueError, match="reduction must be one of"):
            F.kl_div_forward(x, x, "avg")
        with pytest.raises(TypeError, match="log_target must be a bool"):
            F.kl_div_forward(x, x, "sum", log_target=1)
        with pytest.raises(ValueError, match="target has shape"):
            F.kl_div_forward(x, x[0], "sum")
