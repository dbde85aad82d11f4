"""NumPy twin of pydl.functional.margin_loss (same signatures, same return values)."""

import numpy as np

from .loss import _per_sample_backward
from .loss import _reduce as reduce_losses

__all__ = [
    "hinge_loss_forward", "hinge_loss_backward",
    "perceptron_loss_forward", "perceptron_loss_backward",
    "multi_margin_loss_forward", "multi_margin_loss_backward",
    "triplet_margin_loss_forward", "triplet_margin_loss_backward",
    "cosine_embedding_loss_forward", "cosine_embedding_loss_backward",
]


def _reduce(per, reduction):
    return reduce_losses(per, reduction, per.size)


def _mean_divisor(per, reduction):
    return max(per.size, 1) if reduction == "mean" else 1


def hinge_loss_forward(input, target, margin=1.0, reduction="mean", need_grad=True):
    y = np.asarray(target, input.dtype)
    z = margin - y * input
    per = np.maximum(z, 0).astype(input.dtype)
    grad = np.where(z > 0, -y, 0) / _mean_divisor(per, reduction)
    return _reduce(per, reduction), (grad.astype(input.dtype) if need_grad else None)


def hinge_loss_backward(grad, grad_loss=1.0, reduction="mean"):
    return grad * np.asarray(grad_loss, grad.dtype)


def perceptron_loss_forward(input, target, reduction="mean", need_grad=True):
    return hinge_loss_forward(input, target, 0.0, reduction, need_grad)


perceptron_loss_backward = hinge_loss_backward


def multi_margin_loss_forward(input, target, p=1, margin=1.0, weight=None, reduction="mean",
                              need_grad=True):
    x = input.reshape(-1, input.shape[-1])
    t = np.asarray(target).reshape(-1)
    n, c = x.shape
    per = np.zeros(n, input.dtype)
    grad = np.zeros_like(x)
    for i in range(n):
        w = 1.0 if weight is None else weight[t[i]]
        for j in range(c):
            z = margin - x[i, t[i]] + x[i, j]
            if j != t[i] and z > 0:
                per[i] += w * z ** p / c
                grad[i, j] += w * p * z ** (p - 1) / c
                grad[i, t[i]] -= w * p * z ** (p - 1) / c
    grad = grad / _mean_divisor(per, reduction)
    loss = _reduce(per.reshape(np.shape(target)), reduction)
    return loss, (grad.reshape(input.shape) if need_grad else None)


def multi_margin_loss_backward(grad, grad_loss=1.0, reduction="mean"):
    return _per_sample_backward(grad, grad_loss, reduction)


def _distance(x1, x2, p, eps):
    return (np.abs(x1 - x2 + eps) ** p).sum(axis=-1) ** (1 / p)


def _distance_grad(x1, x2, p, eps):
    """d ||x1 - x2 + eps||_p / d x1."""
    v = x1 - x2 + eps
    d = _distance(x1, x2, p, eps)[..., None]
    return np.sign(v) * np.abs(v) ** (p - 1) / d ** (p - 1)


def triplet_margin_loss_forward(anchor, positive, negative, margin=1.0, p=2.0, eps=1e-6,
                                swap=False, reduction="mean", need_grad=True):
    a, pos, neg = anchor, positive, negative
    d_ap = _distance(a, pos, p, eps)
    d_an = _distance(a, neg, p, eps)
    d_pn = _distance(pos, neg, p, eps)
    use_pn = (d_pn < d_an) if swap else np.zeros(d_an.shape, bool)
    per = np.maximum(d_ap - np.where(use_pn, d_pn, d_an) + margin, 0).astype(a.dtype)
    loss = _reduce(per, reduction)
    if not need_grad:
        return loss, None
    active = (per > 0)[..., None] / _mean_divisor(per, reduction)
    g_ap = _distance_grad(a, pos, p, eps)           # d d_ap / d a = -d d_ap / d pos
    g_an = _distance_grad(a, neg, p, eps)
    g_pn = _distance_grad(pos, neg, p, eps)
    u = use_pn[..., None]
    ga = active * (g_ap - np.where(u, 0, g_an))
    gp = active * (-g_ap - np.where(u, g_pn, 0))
    gn = active * np.where(u, g_pn, g_an)
    return loss, tuple(g.astype(a.dtype) for g in (ga, gp, gn))


def triplet_margin_loss_backward(grad, grad_loss=1.0, reduction="mean"):
    return tuple(_per_sample_backward(g, grad_loss, reduction) for g in grad)


def cosine_embedding_loss_forward(input1, input2, target, margin=0.0, reduction="mean",
                                  need_grad=True):
    x1, x2 = input1, input2
    y = np.asarray(target)
    n1 = np.sqrt((x1 * x1).sum(axis=-1) + 1e-12)
    n2 = np.sqrt((x2 * x2).sum(axis=-1) + 1e-12)
    cos = (x1 * x2).sum(axis=-1) / (n1 * n2)
    per = np.where(y == 1, 1 - cos, np.maximum(cos - margin, 0)).astype(x1.dtype)
    loss = _reduce(per, reduction)
    if not need_grad:
        return loss, None
    # d cos / d x1 = x2 / (n1 n2) - cos x1 / n1^2
    dcos1 = x2 / (n1 * n2)[..., None] - (cos / n1 ** 2)[..., None] * x1
    dcos2 = x1 / (n1 * n2)[..., None] - (cos / n2 ** 2)[..., None] * x2
    sign = np.where(y == 1, -1.0, np.where(cos > margin, 1.0, 0.0))[..., None]
    sign = sign / _mean_divisor(per, reduction)
    return loss, ((sign * dcos1).astype(x1.dtype), (sign * dcos2).astype(x1.dtype))


def cosine_embedding_loss_backward(grad, grad_loss=1.0, reduction="mean"):
    return tuple(_per_sample_backward(g, grad_loss, reduction) for g in grad)
