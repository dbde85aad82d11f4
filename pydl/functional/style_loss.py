"""Neural style transfer (Gatys, Ecker and Bethge, 2016): the Gram matrix of feature
maps, and the content and style losses built on it.

The Gram matrix is one GEMM per sample, run by the dense kernels (OpenMP over output
tiles, BLAS held at one thread), so its bits do not depend on the thread count as a
threaded BLAS's would; the content loss is the MSE kernel.
"""

import numpy as np

from .._ext import dense as _dense
from .._threading import blas_single_threaded, get_num_threads
from ._alloc import empty
from ._loss_util import elementwise_backward
from ._validation import as_float_array, check_blas_dims
from .regression_loss import mse_loss_backward, mse_loss_forward

__all__ = [
    "content_loss_backward",
    "content_loss_forward",
    "gram_matrix_backward",
    "gram_matrix_forward",
    "style_loss_backward",
    "style_loss_forward",
]

STYLE_REDUCTIONS = ("mean", "sum")


def _check_normalize(normalize):
    if not isinstance(normalize, (bool, np.bool_)):
        raise TypeError(f"normalize must be a bool, got {type(normalize).__name__}")
    return bool(normalize)


def _features(x, name="x"):
    """x (N, C, *spatial), checked, and its (N, C, S) view."""
    x = as_float_array(x, name, min_ndim=3)
    f = x.reshape(x.shape[0], x.shape[1], int(np.prod(x.shape[2:])))
    check_blas_dims(name, *f.shape[1:])
    return x, f


def _divisor(f, normalize):
    return float(max(f.shape[1] * f.shape[2], 1)) if normalize else 1.0


def _gram(f, normalize):
    n, c, _ = f.shape
    g = empty((n, c, c), f.dtype)
    n_threads = get_num_threads()
    with blas_single_threaded(n_threads):
        for i in range(n):          # g[i] = f[i] @ f[i].T
            _dense.linear_forward(f[i], f[i], None, g[i], n_threads)
    # the GEMM's tiles may sum G[i, j] and G[j, i] in different orders: mirror the upper
    # triangle so that G is symmetric bit for bit
    lower = np.tril_indices(c, -1)
    g[:, lower[0], lower[1]] = g[:, lower[1], lower[0]]
    d = _divisor(f, normalize)
    if d != 1.0:
        g /= f.dtype.type(d)
    return g


def _gram_grad(grad_gram, f, normalize, shape):
    """dx of the Gram matrix: (dG + dG^T) F / divisor, as x's shape."""
    sym = np.ascontiguousarray(grad_gram + grad_gram.transpose(0, 2, 1))
    gx = empty(f.shape, f.dtype)
    n_threads = get_num_threads()
    with blas_single_threaded(n_threads):
        for i in range(f.shape[0]):  # gx[i] = sym[i] @ f[i], linear's input gradient
            _dense.linear_backward(sym[i], f[i], f[i], gx[i], None, None, n_threads)
    d = _divisor(f, normalize)
    if d != 1.0:
        gx /= f.dtype.type(d)
    return gx.reshape(shape)


def gram_matrix_forward(x, normalize=True):
    """Gram matrix of each sample's feature maps: ``G[n, i, j] = sum_s x[n, i, s] x[n, j, s]``.

    Parameters
    ----------
    x : ndarray (N, C, *spatial)
        float32 or float64 feature maps, at least one spatial axis.
    normalize : bool
        Divide by C * S (S the number of spatial positions), as the PyTorch neural
        style tutorial does for a batch of one, so that the Gram matrices of layers of
        different sizes have comparable scale. False: the raw inner products of Gatys
        et al., whose style loss carries the ``1 / (4 C^2 S^2)`` instead.

    Returns
    -------
    gram : ndarray (N, C, C), x's dtype, symmetric
    """
    normalize = _check_normalize(normalize)
    _, f = _features(x)
    return _gram(f, normalize)


def gram_matrix_backward(grad_out, x, normalize=True):
    """Gradient of :func:`gram_matrix_forward` with respect to x.

    Parameters
    ----------
    grad_out : ndarray (N, C, C)
    x : ndarray (N, C, *spatial), the forward input

    Returns
    -------
    grad_in : ndarray, x's shape: ``(grad_out + grad_out^T) @ x / divisor`` per sample
    """
    normalize = _check_normalize(normalize)
    x, f = _features(x)
    grad_out = as_float_array(grad_out, "grad_out", like=x, like_name="x")
    n, c = f.shape[:2]
    if grad_out.shape != (n, c, c):
        raise ValueError(f"grad_out must have shape {(n, c, c)} (N, C, C) for x of shape "
                         f"{x.shape}, got {grad_out.shape}")
    return _gram_grad(grad_out, f, normalize, x.shape)


def content_loss_forward(input, target, reduction="mean", need_grad=True):
    """Content loss of neural style transfer: the squared error between the feature
    maps of the generated image (input) and of the content image (target), averaged
    (``reduction="mean"``, the PyTorch tutorial's ``F.mse_loss``) or summed.

    Parameters
    ----------
    input, target : ndarray, one shape (typically (N, C, H, W) features)
    reduction : {"mean", "sum", "none"}
    need_grad : bool

    Returns
    -------
    loss : float, or ndarray of input's shape for ``reduction="none"``
    grad : ndarray of input's shape, or None
    """
    return mse_loss_forward(input, target, reduction=reduction, need_grad=need_grad)


def content_loss_backward(grad, grad_loss=1.0, reduction="mean"):
    """Scale the gradient from :func:`content_loss_forward` by ``grad_loss``."""
    return mse_loss_backward(grad, grad_loss, reduction)


def _style_target(target, x, n, c):
    target = as_float_array(target, "target", like=x, like_name="input")
    if target.shape not in ((c, c), (n, c, c)):
        raise ValueError(f"target must be a Gram matrix of shape ({c}, {c}) or "
                         f"({n}, {c}, {c}) for input of shape {x.shape}, got {target.shape}")
    return target


def style_loss_forward(input, target, reduction="mean", normalize=True, need_grad=True):
    """Style loss of neural style transfer: the squared error between the Gram matrix
    of the input's feature maps and a target Gram matrix (the style image's).

    Parameters
    ----------
    input : ndarray (N, C, *spatial)
        Feature maps of the generated image.
    target : ndarray (C, C) or (N, C, C)
        The style's Gram matrix (:func:`gram_matrix_forward` of the style image's
        features, with the same ``normalize``); (C, C) applies to every sample.
    reduction : {"mean", "sum"}
        Mean or sum over the N * C * C entries of the Gram matrices.
    normalize : bool
        As :func:`gram_matrix_forward`.
    need_grad : bool

    Returns
    -------
    loss : float
    grad : ndarray of input's shape, or None
    """
    if reduction not in STYLE_REDUCTIONS:
        raise ValueError(f"reduction must be one of {STYLE_REDUCTIONS}, got {reduction!r}")
    normalize = _check_normalize(normalize)
    x, f = _features(input, "input")
    n, c = f.shape[:2]
    target = _style_target(target, x, n, c)
    gram = _gram(f, normalize)
    diff = gram - target
    total = float(np.square(diff, dtype=np.float64).sum())   # pairwise, thread-free
    count = diff.size
    loss = total if reduction == "sum" else (total / count if count else float("nan"))
    if not need_grad:
        return loss, None
    scale = 2.0 if reduction == "sum" else 2.0 / max(count, 1)
    return loss, _gram_grad(diff * x.dtype.type(scale), f, normalize, x.shape)


def style_loss_backward(grad, grad_loss=1.0, reduction="mean"):
    """Scale the gradient from :func:`style_loss_forward` by ``grad_loss``."""
    if reduction not in STYLE_REDUCTIONS:
        raise ValueError(f"reduction must be one of {STYLE_REDUCTIONS}, got {reduction!r}")
    return elementwise_backward(grad, grad_loss, reduction, "style_loss_backward")
