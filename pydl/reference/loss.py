"""NumPy twin of pydl.functional.loss (same signatures, same return values)."""

import numpy as np

__all__ = [
    "softmax_cross_entropy_forward", "softmax_cross_entropy_backward",
    "binary_cross_entropy_with_logits_forward", "binary_cross_entropy_with_logits_backward",
    "nll_loss_forward", "nll_loss_backward",
    "binary_cross_entropy_forward", "binary_cross_entropy_backward",
    "kl_div_forward", "kl_div_backward",
]


def _reduce(per_sample, reduction, denom):
    """Reduce per-sample losses; ``denom`` divides the sum for "mean"."""
    if reduction == "none":
        return per_sample
    total = float(per_sample.sum(dtype=np.float64))
    if reduction == "sum":
        return total
    return total / denom if denom else float("nan")


def softmax_cross_entropy_forward(logits, target, weight=None, ignore_index=-100,
                                  reduction="mean", label_smoothing=0.0, need_grad=True):
    if np.asarray(target).dtype.kind == "f":
        return _soft_cross_entropy(logits, target, weight, reduction, label_smoothing,
                                   need_grad)
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
    return _per_sample_backward(grad, grad_loss, reduction)


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


def _classes_last(a):
    """(N, C, d1, ...) -> (N*d1*..., C); (C,) -> (1, C)."""
    if a.ndim == 1:
        return a[None, :]
    return np.moveaxis(a, 1, -1).reshape(-1, a.shape[1])


def _classes_back(rows, shape):
    if len(shape) == 1:
        return rows.reshape(shape)
    return np.moveaxis(rows.reshape(shape[0], *shape[2:], shape[1]), -1, 1)


def _soft_cross_entropy(logits, target, weight, reduction, eps, need_grad):
    z, y = _classes_last(logits), _classes_last(target)
    n, c = z.shape
    w = np.ones(c) if weight is None else weight
    y = (1 - eps) * y + eps / c
    logp = z - z.max(axis=1, keepdims=True)
    logp = logp - np.log(np.exp(logp).sum(axis=1, keepdims=True))
    per = -(w * y * logp).sum(axis=1).astype(z.dtype)
    sample_shape = (logits.shape[0], *logits.shape[2:]) if logits.ndim > 1 else ()
    loss = per.reshape(sample_shape) if reduction == "none" else _reduce(per, reduction, n)
    grad = None
    if need_grad:
        g = (w * y).sum(axis=1, keepdims=True) * np.exp(logp) - w * y
        if reduction == "mean":
            g = g / n
        grad = _classes_back(g.astype(z.dtype), logits.shape)
    return loss, grad


def _per_sample_backward(grad, grad_loss, reduction):
    """Scale (N, C, ...) gradients by one upstream value per sample."""
    if reduction != "none" or np.ndim(grad_loss) == 0:
        return grad * grad.dtype.type(grad_loss)
    g = np.asarray(grad_loss, grad.dtype)
    return grad * (np.expand_dims(g, 1) if grad.ndim >= 2 else g)


def nll_loss_forward(input, target, weight=None, ignore_index=-100, reduction="mean",
                     need_grad=True):
    x = _classes_last(input)
    t = np.asarray(target).reshape(-1)
    n, c = x.shape
    w = np.ones(c, x.dtype) if weight is None else weight
    per = np.zeros(n, x.dtype)
    grad = np.zeros_like(x)
    denom = 0.0
    for i in range(n):
        if t[i] == ignore_index:
            continue
        per[i] = -w[t[i]] * x[i, t[i]]
        grad[i, t[i]] = -w[t[i]]
        denom += w[t[i]]
    loss = per.reshape(np.shape(target)) if reduction == "none" else _reduce(per, reduction,
                                                                          denom)
    if reduction == "mean":
        grad = grad / denom if denom else grad * 0
    return loss, (_classes_back(grad, input.shape) if need_grad else None)


def nll_loss_backward(grad, grad_loss=1.0, reduction="mean"):
    return _per_sample_backward(grad, grad_loss, reduction)


def binary_cross_entropy_forward(input, target, weight=None, reduction="mean",
                                 need_grad=True):
    x, y = input, target
    w = 1 if weight is None else weight
    with np.errstate(divide="ignore"):
        per = (-w * (y * np.maximum(np.log(x), -100)
                     + (1 - y) * np.maximum(np.log(1 - x), -100))).astype(x.dtype)
    per = np.broadcast_to(per, x.shape)
    loss = per if reduction == "none" else _reduce(per, reduction, per.size)
    grad = None
    if need_grad:
        grad = np.broadcast_to(w * (x - y) / np.maximum(x * (1 - x), float(np.float32(1e-12))), x.shape)
        if reduction == "mean":
            grad = grad / max(x.size, 1)
        grad = grad.astype(x.dtype)
    return loss, grad


def binary_cross_entropy_backward(grad, grad_loss=1.0, reduction="mean"):
    return grad * np.asarray(grad_loss, grad.dtype)


def kl_div_forward(input, target, reduction="mean", log_target=False, need_grad=True):
    if log_target:
        per = np.exp(target) * (target - input)
        grad = -np.exp(target)
    else:
        safe = np.where(target > 0, target, 1)
        per = np.where(target > 0, target * np.log(safe), 0) - target * input
        grad = -target
    per = per.astype(input.dtype)
    if reduction == "batchmean":
        loss = _reduce(per, "mean", input.shape[0] if input.ndim else 1)
        grad = grad / (input.shape[0] if input.ndim else 1)
    else:
        loss = _reduce(per, reduction, per.size)
        if reduction == "mean":
            grad = grad / max(per.size, 1)
    return loss, (grad.astype(input.dtype) if need_grad else None)


def kl_div_backward(grad, grad_loss=1.0, reduction="mean"):
    return grad * np.asarray(grad_loss, grad.dtype)
