import numpy as np
import pytest

from pydl import functional as F
from pydl import reference as R
from tests.helpers import as64, assert_close, randn

REDUCTIONS = ("mean", "sum", "none")


def _signs(rng, shape):
    return np.where(rng.random(shape) > 0.5, 1, -1)


@pytest.mark.parametrize("shape", [(7, 3), (20001,), (1,), (0,)], ids=str)
@pytest.mark.parametrize("name,kw", [("hinge_loss", {"margin": 0.5}), ("hinge_loss", {}),
                                     ("perceptron_loss", {})], ids=str)
def test_binary_margin_losses_match_reference(shape, name, kw, dtype, rng):
    x = randn(rng, shape, dtype, 2.0)
    y = _signs(rng, shape).astype(dtype)
    for reduction in REDUCTIONS:
        loss, grad = getattr(F, name + "_forward")(x, y, reduction=reduction, **kw)
        rloss, rgrad = getattr(R, name + "_forward")(*as64(x, y), reduction=reduction, **kw)
        if x.size == 0 and reduction == "mean":
            assert np.isnan(loss)
        else:
            assert_close(loss, rloss, dtype)
        assert_close(grad, rgrad, dtype)
        up = randn(rng, shape, dtype) if reduction == "none" else 2.0
        assert_close(getattr(F, name + "_backward")(grad, up, reduction),
                     getattr(R, name + "_backward")(rgrad, np.asarray(up, np.float64),
                                                    reduction), dtype)


def test_hinge_known_values():
    x = np.array([2.0, 0.5, -1.0, 1.0, 0.0])
    y = np.array([1, 1, 1, -1, -1])                # integer labels are accepted
    loss, grad = F.hinge_loss_forward(x, y, reduction="none")
    np.testing.assert_array_equal(loss, [0, 0.5, 2, 2, 1])
    np.testing.assert_array_equal(grad, [0, -1, -1, 1, 1])
    # at the kink margin - y x = 0 the (sub)gradient is 0
    assert F.hinge_loss_forward(np.array([1.0]), np.array([1.0]), reduction="sum")[1][0] == 0
    loss, grad = F.perceptron_loss_forward(x, y, reduction="none")
    np.testing.assert_array_equal(loss, [0, 0, 1, 1, 0])
    np.testing.assert_array_equal(grad, [0, 0, -1, 1, 0])


@pytest.mark.parametrize("shape", [(9, 5), (6,), (1, 1), (0, 3)], ids=str)
@pytest.mark.parametrize("p,margin,weighted", [(1, 1.0, False), (2, 0.7, True),
                                               (1, -0.3, True)], ids=str)
def test_multi_margin_matches_reference(shape, p, margin, weighted, dtype, rng):
    x = randn(rng, shape, dtype)
    c = shape[-1]
    t = rng.integers(0, c, shape[:-1])
    w = (rng.random(c) + 0.5).astype(dtype) if weighted else None
    for reduction in REDUCTIONS:
        loss, grad = F.multi_margin_loss_forward(x, t, p, margin, w, reduction)
        rloss, rgrad = R.multi_margin_loss_forward(*as64(x), t, p, margin, *as64(w),
                                                   reduction=reduction)
        if x.size == 0 and reduction == "mean":
            assert np.isnan(loss)
        else:
            assert_close(loss, rloss, dtype)
        assert_close(grad, rgrad, dtype)
        up = randn(rng, t.shape, dtype) if reduction == "none" else 0.4
        assert_close(F.multi_margin_loss_backward(grad, up, reduction),
                     R.multi_margin_loss_backward(rgrad, np.asarray(up, np.float64),
                                                  reduction), dtype)


def test_multi_margin_known_value():
    # x = [0.1, 0.2, 0.4, 0.8], y = 3: terms max(0, 1 - 0.8 + x_j) = 0.3, 0.4, 0.6
    x = np.array([[0.1, 0.2, 0.4, 0.8]])
    loss, grad = F.multi_margin_loss_forward(x, np.array([3]))
    np.testing.assert_allclose(loss, (0.3 + 0.4 + 0.6) / 4, rtol=1e-14)
    np.testing.assert_allclose(grad, [[0.25, 0.25, 0.25, -0.75]], rtol=1e-14)


TRIPLET = [dict(), dict(p=1.0, margin=0.5), dict(p=3.0, swap=True), dict(swap=True, eps=0.0)]


@pytest.mark.parametrize("shape", [(9, 4), (5,), (1, 1), (0, 3)], ids=str)
@pytest.mark.parametrize("kw", TRIPLET, ids=str)
def test_triplet_matches_reference(shape, kw, dtype, rng):
    a = randn(rng, shape, dtype)
    p = (a + randn(rng, shape, dtype, 0.8)).astype(dtype)
    n = (a + randn(rng, shape, dtype, 1.0)).astype(dtype)
    for reduction in REDUCTIONS:
        loss, grads = F.triplet_margin_loss_forward(a, p, n, reduction=reduction, **kw)
        rloss, rgrads = R.triplet_margin_loss_forward(*as64(a, p, n), reduction=reduction,
                                                      **kw)
        if a.size == 0 and reduction == "mean":
            assert np.isnan(loss)
        else:
            assert_close(loss, rloss, dtype)
        for g, rg in zip(grads, rgrads):
            assert g.shape == shape and g.dtype == dtype
            assert_close(g, rg, dtype)
        up = randn(rng, shape[:-1], dtype) if reduction == "none" else 1.5
        got = F.triplet_margin_loss_backward(grads, up, reduction)
        want = R.triplet_margin_loss_backward(rgrads, np.asarray(up, np.float64), reduction)
        for g, rg in zip(got, want):
            assert_close(g, rg, dtype)


def test_triplet_eps_is_added_to_the_difference():
    a, p, n = np.zeros((1, 2)), np.zeros((1, 2)), np.array([[3.0, 4.0]])
    loss, _ = F.triplet_margin_loss_forward(a, p, n, margin=10.0, eps=0.5, reduction="sum")
    # d(a, p) = ||(0.5, 0.5)|| and d(a, n) = ||(-2.5, -3.5)||
    np.testing.assert_allclose(loss, np.sqrt(0.5) - np.sqrt(2.5 ** 2 + 3.5 ** 2) + 10,
                               rtol=1e-14)


@pytest.mark.parametrize("shape", [(9, 4), (5,), (1, 1), (0, 3)], ids=str)
@pytest.mark.parametrize("margin", [0.0, 0.3, -0.2])
def test_cosine_embedding_matches_reference(shape, margin, dtype, rng):
    x1 = randn(rng, shape, dtype)
    x2 = randn(rng, shape, dtype)
    y = _signs(rng, shape[:-1])
    for reduction in REDUCTIONS:
        loss, grads = F.cosine_embedding_loss_forward(x1, x2, y, margin, reduction)
        rloss, rgrads = R.cosine_embedding_loss_forward(*as64(x1, x2), y, margin, reduction)
        if x1.size == 0 and reduction == "mean":
            assert np.isnan(loss)
        else:
            assert_close(loss, rloss, dtype)
        for g, rg in zip(grads, rgrads):
            assert g.shape == shape and g.dtype == dtype
            assert_close(g, rg, dtype)
        up = randn(rng, shape[:-1], dtype) if reduction == "none" else 1.5
        got = F.cosine_embedding_loss_backward(grads, up, reduction)
        want = R.cosine_embedding_loss_backward(rgrads, np.asarray(up, np.float64), reduction)
        for g, rg in zip(got, want):
            assert_close(g, rg, dtype)


def test_cosine_embedding_known_values():
    x1 = np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 0.0]])
    x2 = np.array([[0.0, 2.0], [2.0, 2.0], [0.0, 0.0]])
    loss, (g1, g2) = F.cosine_embedding_loss_forward(x1, x2, np.array([1, -1, 1]),
                                                     reduction="none")
    np.testing.assert_allclose(loss, [1, 1, 1], rtol=1e-10)    # cos = 0, 1, 0 (zero vectors)
    assert np.all(np.isfinite(g1)) and np.all(np.isfinite(g2))


def test_margin_losses_extreme_scores_finite(dtype):
    x = np.array([[1e4, -1e4, 0], [-1e4, 1e4, 1e4]], dtype)
    y = np.array([[1, -1, 1], [1, 1, -1]], dtype)
    t = np.array([1, 0])
    for loss, grad in [F.hinge_loss_forward(x, y), F.perceptron_loss_forward(x, y),
                       F.multi_margin_loss_forward(x, t, p=2),
                       F.triplet_margin_loss_forward(x, -x, x * 0.5),
                       F.cosine_embedding_loss_forward(x, x[::-1].copy(), np.array([1, -1]))]:
        grads = grad if isinstance(grad, tuple) else (grad,)
        assert np.isfinite(loss) and all(np.all(np.isfinite(g)) for g in grads)


class TestValidation:
    def test_sign_labels(self):
        x = np.zeros(3, np.float32)
        with pytest.raises(ValueError, match="target must hold only -1 and \\+1, found 0"):
            F.hinge_loss_forward(x, np.array([1, 0, -1]))
        with pytest.raises(ValueError, match="target must hold only -1 and \\+1, found 0.5"):
            F.perceptron_loss_forward(x, np.array([1, 0.5, -1]))
        with pytest.raises(ValueError, match="found nan"):
            F.hinge_loss_forward(x, np.array([1, np.nan, -1]))
        with pytest.raises(TypeError, match="numeric array of -1/\\+1 labels"):
            F.hinge_loss_forward(x, np.array([True, False, True]))
        with pytest.raises(ValueError, match=r"target has shape \(2,\), expected \(3,\)"):
            F.hinge_loss_forward(x, np.array([1, -1]))
        with pytest.raises(ValueError, match="margin must be >= 0"):
            F.hinge_loss_forward(x, np.ones(3), margin=-1.0)
        e = np.zeros((2, 3), np.float32)
        with pytest.raises(ValueError, match="target must hold only -1 and \\+1, found 2"):
            F.cosine_embedding_loss_forward(e, e, np.array([1, 2]))
        with pytest.raises(ValueError, match=r"target has shape \(3,\), expected \(2,\)"):
            F.cosine_embedding_loss_forward(e, e, np.array([1, 1, 1]))

    def test_multi_margin(self):
        x = np.zeros((2, 3), np.float32)
        t = np.array([0, 2])
        with pytest.raises(ValueError, match="p must be 1 or 2, got 3"):
            F.multi_margin_loss_forward(x, t, p=3)
        with pytest.raises(TypeError, match="p must be an int"):
            F.multi_margin_loss_forward(x, t, p=1.5)
        with pytest.raises(ValueError, match=r"class index 3, outside \[0, 3\)"):
            F.multi_margin_loss_forward(x, np.array([0, 3]))
        with pytest.raises(ValueError, match="must be 1-D \\(C,\\) or 2-D"):
            F.multi_margin_loss_forward(np.zeros((2, 3, 4), np.float32), np.zeros((2, 4), int))
        with pytest.raises(ValueError, match=r"weight has shape \(2,\)"):
            F.multi_margin_loss_forward(x, t, weight=np.ones(2, np.float32))

    def test_embeddings(self):
        a = np.zeros((2, 3), np.float32)
        with pytest.raises(ValueError, match="margin must be > 0"):
            F.triplet_margin_loss_forward(a, a, a, margin=0.0)
        with pytest.raises(ValueError, match="margin must be > 0"):
            F.triplet_margin_loss_forward(a, a, a, margin=-1.0)
        with pytest.raises(ValueError, match="p must be > 0"):
            F.triplet_margin_loss_forward(a, a, a, p=0.0)
        with pytest.raises(TypeError, match="swap must be a bool"):
            F.triplet_margin_loss_forward(a, a, a, swap="yes")
        with pytest.raises(ValueError, match=r"negative has shape \(2, 4\) but anchor"):
            F.triplet_margin_loss_forward(a, a, np.zeros((2, 4), np.float32))
        with pytest.raises(TypeError, match="positive has dtype float64"):
            F.triplet_margin_loss_forward(a, np.zeros((2, 3)), a)
        with pytest.raises(ValueError, match=r"anchor must be \(N, D\) or \(D,\)"):
            F.triplet_margin_loss_forward(a[None], a[None], a[None])
        with pytest.raises(TypeError, match="tuple of 3 gradients"):
            F.triplet_margin_loss_backward(a)
        with pytest.raises(ValueError, match="grad_loss has shape"):
            F.cosine_embedding_loss_backward((a, a), np.ones(3, np.float32), "none")
