"""NumPy twin of pydl.functional.loss (same signatures, same return values)."""

import numpy as np

__all__ = [
    "softmax_cross_entropy_forward", "softmax_cross_entropy_backward",
    "binary_cross_entropy_with_logits_forward", "binary_cross_entropy_with_logits_backward",
    "mse_loss_forward", "mse_loss_backward",
]


def _reduce(per_sample, reduction, denom):
    if reduction == "none":
        return per_sample
    total = float(per_sample.sum(dtype=np.float64))
    if reduction == "sum":
        return total
    return total / denom if denom else float("nan")


def softmax_cross_entropy_forward(logits, target, weight=None, ignore_index=-100,
                                  reduction="mean", label_smoothing=0.0, need_grad=True):
    shape = logits.shape
    if logits.ndim == 1:
        z, t = logits[None, :], np.asarray(target).reshape(1)
    else:
        c = shape[1]
        z = np.moveaxis(logits, 1, -1).reshape(-1, c)
        t = np.asarray(target).reshape(-1)
    n, c = z.shape
    w = np.ones(c, z.dtype) if weight is None else weight
    valid = t != ignore_index
    t_safe = np.where(valid, t, 0)
    m = z.max(axis=1, keepdims=True)
    logp = z - m - np.log(np.exp(z - m).sum(axis=1, keepdims=True))
    eps = label_smoothing
    w_t = w[t_safe] * valid
    nll = -logp[np.arange(n), t_safe]
    smooth = -(logp * w).sum(axis=1) / c
    per = ((1 - eps) * w_t * nll + eps * smooth * valid).astype(z.dtype)
    denom = w_t.sum(dtype=np.float64)
    loss = _reduce(per, reduction, denom)
    if reduction == "none":
        loss = per.reshape(np.shape(target))
    grad = None
    if need_grad:
        onehot = np.zeros_like(z)
        onehot[np.arange(n), t_safe] = 1
        p = np.exp(logp)
        g = (1 - eps) * w_t[:, None] * (p - onehot) + eps / c * (w.sum() * p - w) * valid[:, None]
        if reduction == "mean":
            g = g / denom if denom else g * 0
        g = g.astype(z.dtype)
        if logits.ndim == 1:
            grad = g.reshape(shape)
        else:
            grad = np.moveaxis(g.reshape(shape[0], *shape[2:], shape[1]), -1, 1)
    return loss, grad


def softmax_cross_entropy_backward(grad, grad_loss=1.0, reduction="mean"):
    if reduction != "none" or np.ndim(grad_loss) == 0:
        return grad * grad.dtype.type(grad_loss)
    g = np.asarray(grad_loss, grad.dtype)
    return grad * (np.expand_dims(g, 1) if grad.ndim >= 2 else g)


def binary_cross_entropy_with_logits_forward(logits, target, weight=None, pos_weight=None,
                                             reduction="mean", need_grad=True):
    x, y = logits, target
    w = 1 if weight is None else weight
    pw = 1 if pos_weight is None else pos_weight
    softplus_neg = np.log1p(np.exp(-np.abs(x))) + np.maximum(-x, 0)
    per = (w * ((1 - y) * x + (1 + (pw - 1) * y) * softplus_neg)).astype(x.dtype)
    loss = _reduce(per, reduction, per.size)
    grad = None
    if need_grad:
        sig = np.where(x >= 0, 1 / (1 + np.exp(-np.abs(x))),
                       np.exp(-np.abs(x)) / (1 + np.exp(-np.abs(x))))
        grad = (w * (sig * (1 + (pw - 1) * y) - pw * y)).astype(x.dtype)
        if reduction == "mean":
            grad = grad / x.dtype.type(max(x.size, 1))
        grad = np.broadcast_to(grad, x.shape).copy()
    return loss, grad


def binary_cross_entropy_with_logits_backward(grad, grad_loss=1.0, reduction="mean"):
    return grad * np.asarray(grad_loss, grad.dtype)


def mse_loss_forward(input, target, reduction="mean", need_grad=True):
    d = input - target
    per = d * d
    loss = _reduce(per, reduction, per.size)
    grad = None
    if need_grad:
        grad = 2 * d
        if reduction == "mean":
            grad = grad / input.dtype.type(max(input.size, 1))
    return loss, grad


def mse_loss_backward(grad, grad_loss=1.0, reduction="mean"):
    return grad * np.asarray(grad_loss, grad.dtype)
