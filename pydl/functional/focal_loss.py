"""Focal losses (Lin et al., 2017): cross-entropy scaled by ``(1 - p_t) ** gamma`` so
that well-classified examples count less.

See :mod:`pydl.functional.loss` for the ``(loss, grad)`` / ``*_backward`` convention.
"""

import numbers

import numpy as np

from .._ext import loss as _loss
from ._loss_util import (class_rows, class_scores_and_labels, class_weight,
                         elementwise_backward, input_and_target, mean_scale, reduce_rows,
                         restore_class_axis, rowwise_backward, run_elementwise)
from ._validation import check_int, check_real, check_reduction
from .activation import log_softmax_forward

__all__ = [
    "sigmoid_focal_loss_forward", "sigmoid_focal_loss_backward",
    "softmax_focal_loss_forward", "softmax_focal_loss_backward",
]


def sigmoid_focal_loss_forward(logits, target, alpha=0.25, gamma=2.0, reduction="none",
                               need_grad=True):
    """Binary focal loss on logits, as ``torchvision.ops.sigmoid_focal_loss``.

    With ``p = sigmoid(x)``, ``p_t = p y + (1 - p)(1 - y)`` and
    ``alpha_t = alpha y + (1 - alpha)(1 - y)``::

        l = alpha_t * (1 - p_t) ** gamma * BCEWithLogits(x, y)

    ``gamma = 0`` and ``alpha < 0`` give plain binary cross-entropy.

    Parameters
    ----------
    logits : ndarray, any shape
    target : ndarray, logits' shape, in [0, 1] (1 for the positive class)
    alpha : float <= 1
        Weight of the positive class; a negative value disables the weighting.
    gamma : float >= 0
        Focusing exponent.
    reduction : {"none", "mean", "sum"}
        Default "none", as torchvision's function.
    need_grad : bool

    Returns
    -------
    loss : float, or ndarray of logits' shape for ``reduction="none"``
    grad : ndarray of logits' shape, or None
    """
    alpha = check_real(alpha, "alpha", high=1.0)
    gamma = check_real(gamma, "gamma", low=0.0)
    check_reduction(reduction)
    logits, target = input_and_target(logits, target, "logits")
    return run_elementwise(_loss.sigmoid_focal_loss_forward, logits, target, alpha, gamma,
                           reduction=reduction, need_grad=need_grad)


def sigmoid_focal_loss_backward(grad, grad_loss=1.0, reduction="none"):
    """Scale the gradient from :func:`sigmoid_focal_loss_forward` by ``grad_loss``."""
    return elementwise_backward(grad, grad_loss, reduction, "sigmoid_focal_loss_backward")


def softmax_focal_loss_forward(logits, target, alpha=None, gamma=2.0, ignore_index=-100,
                               reduction="mean", need_grad=True):
    """Multi-class focal loss on logits.

    With ``p = softmax(x)`` and ``p_t`` the probability of the target class::

        l = -alpha[t] * (1 - p_t) ** gamma * log(p_t)

    ``gamma = 0`` with no ``alpha`` is the cross-entropy.

    Parameters
    ----------
    logits : ndarray, shape (N, C), (C,) or (N, C, d1, ...)
    target : integer ndarray, shape (N,), () or (N, d1, ...)
        Class indices in ``[0, C)``, or ``ignore_index``.
    alpha : None, float, or ndarray of shape (C,)
        Per-class weights (a float weights every class alike).
    gamma : float >= 0
    ignore_index : int
    reduction : {"mean", "sum", "none"}
        ``"mean"`` divides by the number of non-ignored samples (not by the summed
        alpha, unlike ``CrossEntropyLoss``'s weighted mean; NaN when all are ignored).
    need_grad : bool

    Returns
    -------
    loss : float, or ndarray of target's shape for ``reduction="none"``
    grad : ndarray of logits' shape, or None
    """
    gamma = check_real(gamma, "gamma", low=0.0)
    ignore_index = check_int(ignore_index, "ignore_index")
    check_reduction(reduction)
    logits, t, n_classes = class_scores_and_labels(logits, target, "logits", ignore_index)
    dt = logits.dtype.type
    if alpha is None or isinstance(alpha, numbers.Real):
        a = None if alpha is None else check_real(alpha, "alpha")
    else:
        a = class_weight(alpha, n_classes, logits, "logits", name="alpha")
    rows = class_rows(logits)
    t_flat = t.reshape(-1)
    valid = t_flat != ignore_index
    t_safe = np.where(valid, t_flat, 0)
    n = rows.shape[0]
    logp = log_softmax_forward(rows, dim=1) if n else np.zeros(rows.shape, logits.dtype)
    lp_t = logp[np.arange(n), t_safe]
    q = -np.expm1(lp_t)                       # 1 - p_t without cancellation
    mod = q ** dt(gamma)
    a_t = np.ones(n, logits.dtype) if a is None else (
        np.full(n, a, logits.dtype) if isinstance(a, float) else a[t_safe])
    a_t = a_t * valid
    per = (-a_t * mod * lp_t).astype(logits.dtype)
    count = int(valid.sum())
    loss = reduce_rows(per, reduction, count, t.shape)
    if not need_grad:
        return loss, None
    # d l / d x = A (p - onehot(t)), A = alpha_t [q^g - g q^(g-1) p_t log p_t];
    # q = 0 only where log p_t = 0, which zeroes the second term
    with np.errstate(divide="ignore", invalid="ignore"):
        second = np.where(q > 0, dt(gamma) * mod / q * np.exp(lp_t) * lp_t, 0)
    coef = (a_t * (mod - second) * dt(mean_scale(reduction, count))).astype(logits.dtype)
    grad = np.exp(logp) * coef[:, None]
    grad[np.arange(n), t_safe] -= coef
    return loss, restore_class_axis(np.ascontiguousarray(grad, logits.dtype), logits.shape)


def softmax_focal_loss_backward(grad, grad_loss=1.0, reduction="mean"):
    """Scale the gradient from :func:`softmax_focal_loss_forward` by ``grad_loss``."""
    return rowwise_backward(grad, grad_loss, reduction, "softmax_focal_loss_backward")
