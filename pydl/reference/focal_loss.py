"""NumPy twin of pydl.functional.focal_loss (same signatures, same return values)."""

import numpy as np

from .loss import _per_sample_backward, _reduce

__all__ = [
    "sigmoid_focal_loss_forward", "sigmoid_focal_loss_backward",
    "softmax_focal_loss_forward", "softmax_focal_loss_backward",
]


def sigmoid_focal_loss_forward(logits, target, alpha=0.25, gamma=2.0, reduction="none",
                               need_grad=True):
    # torchvision's formula, term by term
    x, y = logits, target
    p = 1 / (1 + np.exp(-x))
    ce = np.maximum(x, 0) - x * y + np.log1p(np.exp(-np.abs(x)))
    p_t = p * y + (1 - p) * (1 - y)
    a_t = alpha * y + (1 - alpha) * (1 - y) if alpha >= 0 else 1.0
    per = (a_t * ce * (1 - p_t) ** gamma).astype(x.dtype)
    loss = _reduce(per, reduction, per.size)
    if not need_grad:
        return loss, None
    # product rule: d ce / dx = p - y, d (1 - p_t) / dx = -(2y - 1) p (1 - p)
    d_mod = gamma * (1 - p_t) ** (gamma - 1) * (1 - 2 * y) * p * (1 - p) if gamma else 0
    grad = a_t * ((p - y) * (1 - p_t) ** gamma + ce * d_mod)
    if reduction == "mean":
        grad = grad / max(x.size, 1)
    return loss, grad.astype(x.dtype)


def sigmoid_focal_loss_backward(grad, grad_loss=1.0, reduction="none"):
    return grad * np.asarray(grad_loss, grad.dtype)


def softmax_focal_loss_forward(logits, target, alpha=None, gamma=2.0, ignore_index=-100,
                               reduction="mean", need_grad=True):
    shape = logits.shape
    z = logits[None, :] if logits.ndim == 1 else np.moveaxis(logits, 1, -1).reshape(
        -1, shape[1])
    t = np.asarray(target).reshape(-1)
    n, c = z.shape
    if alpha is None:
        alpha = np.ones(c)
    alpha = np.broadcast_to(np.asarray(alpha, np.float64), (c,))
    e = np.exp(z - z.max(axis=1, keepdims=True))
    p = e / e.sum(axis=1, keepdims=True)
    per = np.zeros(n)
    grad = np.zeros((n, c))
    count = 0
    for i in range(n):
        if t[i] == ignore_index:
            continue
        count += 1
        pt = p[i, t[i]]
        per[i] = -alpha[t[i]] * (1 - pt) ** gamma * np.log(pt)
        # chain rule through p_t: d p_t / d z = p_t (onehot - p)
        d_mod = gamma * (1 - pt) ** (gamma - 1) if gamma and pt < 1 else 0.0
        dl_dpt = -alpha[t[i]] * (-d_mod * np.log(pt) + (1 - pt) ** gamma / pt)
        onehot = np.eye(c)[t[i]]
        grad[i] = dl_dpt * pt * (onehot - p[i])
    per = per.astype(logits.dtype)
    loss = per.reshape(np.shape(target)) if reduction == "none" else _reduce(per, reduction,
                                                                           count)
    if not need_grad:
        return loss, None
    if reduction == "mean":
        grad = grad / max(count, 1)
    grad = grad.astype(logits.dtype)
    if logits.ndim == 1:
        return loss, grad.reshape(shape)
    return loss, np.moveaxis(grad.reshape(shape[0], *shape[2:], shape[1]), -1, 1)


def softmax_focal_loss_backward(grad, grad_loss=1.0, reduction="mean"):
    return _per_sample_backward(grad, grad_loss, reduction)
