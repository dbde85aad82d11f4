"""Gram matrix, content and style losses: against the NumPy reference (float32 and
float64), against PyTorch autograd (the neural style tutorial's definitions), and
the checks of bad input."""

import numpy as np
import pytest

from pydl import functional as F
from pydl import reference as R
from tests.helpers import as64, assert_close, randn

SHAPES = [(1, 3, 4, 5), (2, 5, 7), (3, 4, 2, 3, 2), (2, 1, 6), (1, 8, 1, 1), (0, 3, 2, 2),
          (2, 3, 0), (1, 64, 33, 17)]


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("normalize", [True, False])
def test_gram_matrix_matches_reference(shape, normalize, dtype, rng):
    x = randn(rng, shape, dtype)
    g = F.gram_matrix_forward(x, normalize)
    assert g.shape == (shape[0], shape[1], shape[1]) and g.dtype == dtype
    assert_close(g, R.gram_matrix_forward(*as64(x), normalize), dtype)
    np.testing.assert_array_equal(g, g.transpose(0, 2, 1))   # symmetric, bit for bit
    up = randn(rng, g.shape, dtype)
    gx = F.gram_matrix_backward(up, x, normalize)
    assert gx.shape == x.shape and gx.dtype == dtype
    assert_close(gx, R.gram_matrix_backward(*as64(up, x), normalize), dtype)


def test_gram_matrix_normalization_is_c_times_s():
    x = np.ones((1, 3, 2, 5))
    np.testing.assert_allclose(F.gram_matrix_forward(x), np.full((1, 3, 3), 10 / 30))
    np.testing.assert_allclose(F.gram_matrix_forward(x, normalize=False),
                               np.full((1, 3, 3), 10.0))


@pytest.mark.parametrize("shape", [(1, 3, 4, 5), (2, 5, 7), (3, 4, 2, 3, 2)], ids=str)
@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("batched_target", [True, False])
def test_style_loss_matches_reference(shape, reduction, batched_target, dtype, rng):
    x = randn(rng, shape, dtype)
    n, c = shape[:2]
    t = randn(rng, (n, c, c) if batched_target else (c, c), dtype, scale=0.5)
    loss, grad = F.style_loss_forward(x, t, reduction=reduction)
    rloss, rgrad = R.style_loss_forward(*as64(x, t), reduction=reduction)
    assert isinstance(loss, float)
    np.testing.assert_allclose(loss, rloss, rtol=1e-5 if dtype == np.float32 else 1e-12)
    assert grad.dtype == dtype
    assert_close(grad, rgrad, dtype)
    assert F.style_loss_forward(x, t, reduction=reduction, need_grad=False)[1] is None
    assert_close(F.style_loss_backward(grad, 2.5, reduction),
                 R.style_loss_backward(rgrad, 2.5, reduction), dtype)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_content_loss_matches_reference(reduction, dtype, rng):
    x, t = randn(rng, (2, 3, 4, 5), dtype), randn(rng, (2, 3, 4, 5), dtype)
    loss, grad = F.content_loss_forward(x, t, reduction=reduction)
    rloss, rgrad = R.content_loss_forward(*as64(x, t), reduction=reduction)
    assert_close(loss, rloss, dtype)
    assert_close(grad, rgrad, dtype)


@pytest.mark.parametrize("dtype_", [np.float32, np.float64])
def test_matches_pytorch_tutorial_definitions(dtype_):
    """gram_matrix / StyleLoss / ContentLoss of the PyTorch neural style tutorial, for a
    batch of one, and their input gradients through torch.autograd."""
    torch = pytest.importorskip("torch")
    tol = {"rtol": 2e-5, "atol": 1e-6} if dtype_ == np.float32 else {"rtol": 1e-10, "atol": 1e-12}
    rng = np.random.default_rng(3)
    x, s, c = (rng.standard_normal((1, 6, 5, 7)).astype(dtype_) for _ in range(3))

    def gram(t):
        a, b, h, w = t.size()
        f = t.view(a * b, h * w)
        return torch.mm(f, f.t()).div(a * b * h * w)

    tx = torch.from_numpy(x).requires_grad_()
    ts, tc = torch.from_numpy(s), torch.from_numpy(c)
    tg = gram(tx)
    np.testing.assert_allclose(F.gram_matrix_forward(x)[0], tg.detach().numpy(), **tol)
    style = torch.nn.functional.mse_loss(tg, gram(ts))
    content = torch.nn.functional.mse_loss(tx, tc)
    (style + 3 * content).backward()
    loss_s, grad_s = F.style_loss_forward(x, F.gram_matrix_forward(s))
    loss_c, grad_c = F.content_loss_forward(x, c)
    np.testing.assert_allclose(loss_s, style.item(), rtol=tol["rtol"])
    np.testing.assert_allclose(loss_c, content.item(), rtol=tol["rtol"])
    np.testing.assert_allclose(grad_s + 3 * grad_c, tx.grad.numpy(), **tol)


# ------------------------------------------------------------------- bad input

def test_gram_matrix_bad_input():
    x = np.ones((2, 3, 4), np.float32)
    with pytest.raises(ValueError, match="x must have at least 3 dimension"):
        F.gram_matrix_forward(np.ones((2, 3), np.float32))
    with pytest.raises(TypeError, match="x must be a float32 or float64"):
        F.gram_matrix_forward(np.ones((2, 3, 4), np.int32))
    with pytest.raises(TypeError, match="normalize must be a bool"):
        F.gram_matrix_forward(x, normalize="yes")
    with pytest.raises(ValueError, match=r"grad_out must have shape \(2, 3, 3\)"):
        F.gram_matrix_backward(np.ones((2, 3, 4), np.float32), x)
    with pytest.raises(TypeError, match="grad_out has dtype float64 but x has dtype float32"):
        F.gram_matrix_backward(np.ones((2, 3, 3)), x)


def test_style_and_content_loss_bad_input():
    x = np.ones((2, 3, 4), np.float32)
    with pytest.raises(ValueError, match=r"target must be a Gram matrix of shape \(3, 3\)"):
        F.style_loss_forward(x, np.ones((3, 4), np.float32))
    with pytest.raises(ValueError, match=r"or \(2, 3, 3\)"):
        F.style_loss_forward(x, np.ones((3, 3, 3), np.float32))
    with pytest.raises(TypeError, match="target has dtype float64 but input has dtype float32"):
        F.style_loss_forward(x, np.ones((3, 3)))
    with pytest.raises(ValueError, match="reduction must be one of"):
        F.style_loss_forward(x, np.ones((3, 3), np.float32), reduction="none")
    with pytest.raises(ValueError, match="reduction must be one of"):
        F.style_loss_backward(x, 1.0, reduction="none")
    with pytest.raises(ValueError, match="input must have at least 3 dimension"):
        F.style_loss_forward(np.ones((2, 3), np.float32), np.ones((3, 3), np.float32))
    with pytest.raises(ValueError, match="shape"):
        F.content_loss_forward(x, np.ones((2, 3, 5), np.float32))
