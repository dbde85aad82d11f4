"""Margin losses: binary hinge and perceptron (labels -1/+1), PyTorch's multi-class
margin loss, and the embedding losses (triplet margin, cosine embedding).

See :mod:`pydl.functional.loss` for the ``(loss, grad)`` / ``*_backward`` convention.
The embedding losses have several inputs and return a tuple of gradients.
"""

import numpy as np

from .._ext import loss as _loss
from .._threading import get_num_threads
from ._alloc import empty, empty_like
from ._loss_util import (class_scores_and_labels, class_weight, elementwise_backward,
                         mean_scale, reduce_rows, rowwise_backward, run_elementwise,
                         sign_target)
from ._validation import as_float_array, check_int, check_real, check_reduction

__all__ = [
    "hinge_loss_forward", "hinge_loss_backward",
    "perceptron_loss_forward", "perceptron_loss_backward",
    "multi_margin_loss_forward", "multi_margin_loss_backward",
    "triplet_margin_loss_forward", "triplet_margin_loss_backward",
    "cosine_embedding_loss_forward", "cosine_embedding_loss_backward",
]

# PyTorch's cosine_embedding_loss adds this to each squared norm.
_COSINE_EPS = 1e-12


def hinge_loss_forward(input, target, margin=1.0, reduction="mean", need_grad=True):
    """Binary hinge loss ``max(0, margin - y * x)`` with labels ``y`` in {-1, +1} (the
    linear SVM loss).

    The gradient is ``-y`` where ``margin - y x > 0`` and 0 elsewhere, including at the
    kink itself.

    Parameters
    ----------
    input : ndarray, any shape
        Raw scores.
    target : ndarray of input's shape, -1 or +1 (integer or float)
    margin : float >= 0
    reduction : {"mean", "sum", "none"}
    need_grad : bool

    Returns
    -------
    loss : float, or ndarray of input's shape for ``reduction="none"``
    grad : ndarray of input's shape, or None
    """
    margin = check_real(margin, "margin", low=0.0)
    check_reduction(reduction)
    input = as_float_array(input, "input")
    y = sign_target(target, "target", input.shape, input.dtype, "input's shape")
    return run_elementwise(_loss.hinge_loss_forward, input, y, margin, reduction=reduction,
                           need_grad=need_grad)


def hinge_loss_backward(grad, grad_loss=1.0, reduction="mean"):
    """Scale the gradient from :func:`hinge_loss_forward` by ``grad_loss``."""
    return elementwise_backward(grad, grad_loss, reduction, "hinge_loss_backward")


def perceptron_loss_forward(input, target, reduction="mean", need_grad=True):
    """Perceptron loss ``max(0, -y * x)``, labels ``y`` in {-1, +1}: the hinge loss with
    margin 0. Zero for every correctly classified sample; the gradient ``-y`` on the
    misclassified ones gives Rosenblatt's update (0 at ``y x = 0``).
    """
    return hinge_loss_forward(input, target, 0.0, reduction, need_grad)


def perceptron_loss_backward(grad, grad_loss=1.0, reduction="mean"):
    """Scale the gradient from :func:`perceptron_loss_forward` by ``grad_loss``."""
    return elementwise_backward(grad, grad_loss, reduction, "perceptron_loss_backward")


def multi_margin_loss_forward(input, target, p=1, margin=1.0, weight=None, reduction="mean",
                              need_grad=True):
    """Multi-class hinge loss (``F.multi_margin_loss``).

    Per sample with target class ``t``:
    ``loss = w[t] / C * sum_{j != t} max(0, margin - x[t] + x[j]) ** p``.

    Parameters
    ----------
    input : ndarray, shape (N, C) or (C,)
    target : integer ndarray, shape (N,) or ()
    p : {1, 2}
    margin : float
    weight : ndarray, shape (C,), optional
        Weight of the target class of each sample.
    reduction : {"mean", "sum", "none"}
        ``"mean"`` divides by N (not by the summed weights), as PyTorch.
    need_grad : bool

    Returns
    -------
    loss : float, or ndarray of target's shape for ``reduction="none"``
    grad : ndarray of input's shape, or None
    """
    p = check_int(p, "p")
    if p not in (1, 2):
        raise ValueError(f"p must be 1 or 2, got {p}")
    margin = check_real(margin, "margin")
    check_reduction(reduction)
    input, t, n_classes = class_scores_and_labels(input, target, "input", max_ndim=2)
    w = class_weight(weight, n_classes, input, "input")
    rows = input.reshape(-1, n_classes)
    n = rows.shape[0]
    loss_rows = empty(n, dtype=input.dtype)
    grad = empty_like(rows) if need_grad else None
    _loss.multi_margin_loss_forward(rows, t.reshape(-1), w, p, margin,
                                    mean_scale(reduction, n), loss_rows, grad,
                                    get_num_threads())
    loss = reduce_rows(loss_rows, reduction, n, t.shape)
    return loss, (grad.reshape(input.shape) if need_grad else None)


def multi_margin_loss_backward(grad, grad_loss=1.0, reduction="mean"):
    """Scale the gradient from :func:`multi_margin_loss_forward` by ``grad_loss``."""
    return rowwise_backward(grad, grad_loss, reduction, "multi_margin_loss_backward")


def _embeddings(arrays, names):
    """Same-shaped (N, D) or (D,) float arrays of one dtype."""
    first = as_float_array(arrays[0], names[0])
    if first.ndim not in (1, 2):
        raise ValueError(f"{names[0]} must be (N, D) or (D,), got shape {first.shape}")
    out = [first]
    for a, name in zip(arrays[1:], names[1:]):
        a = as_float_array(a, name, like=first, like_name=names[0])
        if a.shape != first.shape:
            raise ValueError(f"{name} has shape {a.shape} but {names[0]} has shape "
                             f"{first.shape}; they must match")
        out.append(a)
    return out


def _pairwise_distance(x1, x2, p, eps):
    """PyTorch's pairwise_distance ``||x1 - x2 + eps||_p`` of (N, D) rows, and
    d distance / d (x1 - x2) (0 where the distance is 0)."""
    v = x1 - x2 + x1.dtype.type(eps)
    if p == 2:
        dist = np.sqrt(np.sum(v * v, axis=1))
        with np.errstate(divide="ignore", invalid="ignore"):
            unit = v / dist[:, None]
    elif p == 1:
        dist = np.sum(np.abs(v), axis=1)
        unit = np.sign(v)
    else:
        a = np.abs(v)
        dist = np.sum(a ** p, axis=1) ** (1 / p)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            unit = np.sign(v) * (a / dist[:, None]) ** (p - 1)
    unit = np.where((dist > 0)[:, None], unit, 0).astype(x1.dtype)
    return dist, unit


def triplet_margin_loss_forward(anchor, positive, negative, margin=1.0, p=2.0, eps=1e-6,
                                swap=False, reduction="mean", need_grad=True):
    """Triplet margin loss (``F.triplet_margin_loss``; FaceNet's loss).

    ``loss_i = max(d(a_i, p_i) - d(a_i, n_i) + margin, 0)`` with PyTorch's
    ``d(x, y) = ||x - y + eps||_p`` (eps added to the difference, not to the norm).
    With ``swap=True`` the negative distance is ``min(d(a, n), d(p, n))`` (the distance
    swap of Balntas et al.).

    Parameters
    ----------
    anchor, positive, negative : ndarray, one shape, (N, D) or (D,)
    margin : float > 0
    p : float > 0
        Norm degree.
    eps : float
    swap : bool
    reduction : {"mean", "sum", "none"}
    need_grad : bool

    Returns
    -------
    loss : float, or ndarray (N,) for ``reduction="none"``
    grads : tuple (d anchor, d positive, d negative) of the inputs' shape, or None.
        A sample on the hinge (loss exactly 0) gets zero gradient.
    """
    margin = check_real(margin, "margin", low=0.0, low_open=True)
    p = check_real(p, "p", low=0.0, low_open=True)
    eps = check_real(eps, "eps")
    if not isinstance(swap, (bool, np.bool_)):
        raise TypeError(f"swap must be a bool, got {type(swap).__name__}")
    check_reduction(reduction)
    a, pos, neg = _embeddings((anchor, positive, negative),
                              ("anchor", "positive", "negative"))
    shape = a.shape
    a, pos, neg = (x.reshape(-1, shape[-1]) for x in (a, pos, neg))
    d_ap, u_ap = _pairwise_distance(a, pos, p, eps)
    d_an, u_an = _pairwise_distance(a, neg, p, eps)
    use_pn = np.zeros(d_an.shape, bool)
    if swap:
        d_pn, u_pn = _pairwise_distance(pos, neg, p, eps)
        use_pn = d_pn < d_an
        d_an = np.where(use_pn, d_pn, d_an)
    per = np.maximum(d_ap - d_an + a.dtype.type(margin), 0).astype(a.dtype)
    n = per.size
    loss = reduce_rows(per, reduction, n, shape[:-1])
    if not need_grad:
        return loss, None
    # active samples: d loss / d d_ap = 1, d loss / d d_an = -1
    act = (per > 0)[:, None] * a.dtype.type(mean_scale(reduction, n))
    g_ap, g_an = act * u_ap, act * u_an
    ga, gp, gn = g_ap - g_an, -g_ap, g_an
    if swap:
        sel = use_pn[:, None]
        g_pn = act * u_pn
        ga = np.where(sel, g_ap, ga)
        gp = np.where(sel, -g_ap - g_pn, gp)
        gn = np.where(sel, g_pn, gn)
    return loss, tuple(np.ascontiguousarray(g, a.dtype).reshape(shape) for g in (ga, gp, gn))


def triplet_margin_loss_backward(grad, grad_loss=1.0, reduction="mean"):
    """Scale the three gradients from :func:`triplet_margin_loss_forward` by
    ``grad_loss`` (an (N,) array for ``reduction="none"``); returns a tuple."""
    return rowwise_backward(_grad_tuple(grad, 3), grad_loss, reduction,
                            "triplet_margin_loss_backward")


def _grad_tuple(grad, k):
    if grad is None:
        return None
    if not isinstance(grad, (tuple, list)) or len(grad) != k:
        raise TypeError(f"grad must be the tuple of {k} gradients the forward pass "
                        f"returned, got {type(grad).__name__}")
    return tuple(grad)


def cosine_embedding_loss_forward(input1, input2, target, margin=0.0, reduction="mean",
                                  need_grad=True):
    """Cosine embedding loss (``F.cosine_embedding_loss``).

    ``loss_i = 1 - cos(x1_i, x2_i)`` for ``y_i = 1`` and ``max(0, cos - margin)`` for
    ``y_i = -1``, with PyTorch's ``cos = x1.x2 / sqrt((|x1|^2 + 1e-12)(|x2|^2 + 1e-12))``.

    Parameters
    ----------
    input1, input2 : ndarray, one shape, (N, D) or (D,)
    target : ndarray, (N,) or (), -1 or +1 (integer or float)
    margin : float
    reduction : {"mean", "sum", "none"}
    need_grad : bool

    Returns
    -------
    loss : float, or ndarray (N,) for ``reduction="none"``
    grads : tuple (d input1, d input2) of the inputs' shape, or None
    """
    margin = check_real(margin, "margin")
    check_reduction(reduction)
    x1, x2 = _embeddings((input1, input2), ("input1", "input2"))
    y = sign_target(target, "target", x1.shape[:-1], x1.dtype, "one label per pair")
    shape = x1.shape
    x1, x2, y = x1.reshape(-1, shape[-1]), x2.reshape(-1, shape[-1]), y.reshape(-1)
    dt = x1.dtype.type
    prod = np.sum(x1 * x2, axis=1)
    s1 = np.sum(x1 * x1, axis=1) + dt(_COSINE_EPS)
    s2 = np.sum(x2 * x2, axis=1) + dt(_COSINE_EPS)
    denom = np.sqrt(s1 * s2)
    cos = prod / denom
    pos = y == 1
    per = np.where(pos, 1 - cos, np.maximum(cos - dt(margin), 0)).astype(x1.dtype)
    n = per.size
    loss = reduce_rows(per, reduction, n, shape[:-1])
    if not need_grad:
        return loss, None
    # d loss / d cos: -1 for y = 1, 1 for y = -1 above the margin, else 0
    dcos = np.where(pos, -1, cos > margin).astype(x1.dtype) * dt(mean_scale(reduction, n))
    g1 = dcos[:, None] * (x2 / denom[:, None] - (cos / s1)[:, None] * x1)
    g2 = dcos[:, None] * (x1 / denom[:, None] - (cos / s2)[:, None] * x2)
    return loss, tuple(np.ascontiguousarray(g, x1.dtype).reshape(shape) for g in (g1, g2))


def cosine_embedding_loss_backward(grad, grad_loss=1.0, reduction="mean"):
    """Scale the two gradients from :func:`cosine_embedding_loss_forward` by
    ``grad_loss``; returns a tuple."""
    return rowwise_backward(_grad_tuple(grad, 2), grad_loss, reduction,
                            "cosine_embedding_loss_backward")
