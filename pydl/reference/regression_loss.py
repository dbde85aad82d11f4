"""NumPy twin of pydl.functional.regression_loss (same signatures, same return values)."""

import numpy as np

__all__ = [
    "mse_loss_forward", "mse_loss_backward",
    "l1_loss_forward", "l1_loss_backward",
    "smooth_l1_loss_forward", "smooth_l1_loss_backward",
    "huber_loss_forward", "huber_loss_backward",
]


def _finish(per, grad, reduction, need_grad):
    n = per.size
    if reduction == "none":
        loss = per
    else:
        total = float(per.sum(dtype=np.float64))
        loss = total if reduction == "sum" else (total / n if n else float("nan"))
    if not need_grad:
        return loss, None
    if reduction == "mean":
        grad = grad / max(n, 1)
    return loss, grad.astype(per.dtype)


def mse_loss_forward(input, target, reduction="mean", need_grad=True):
    d = input - target
    return _finish(d * d, 2 * d, reduction, need_grad)


def l1_loss_forward(input, target, reduction="mean", need_grad=True):
    d = input - target
    return _finish(np.abs(d), np.sign(d), reduction, need_grad)


def smooth_l1_loss_forward(input, target, reduction="mean", beta=1.0, need_grad=True):
    if beta == 0:
        return l1_loss_forward(input, target, reduction, need_grad)
    d = input - target
    small = np.abs(d) < beta
    per = np.where(small, 0.5 * d * d / beta, np.abs(d) - 0.5 * beta).astype(d.dtype)
    return _finish(per, np.where(small, d / beta, np.sign(d)), reduction, need_grad)


def huber_loss_forward(input, target, reduction="mean", delta=1.0, need_grad=True):
    d = input - target
    small = np.abs(d) < delta
    per = np.where(small, 0.5 * d * d, delta * (np.abs(d) - 0.5 * delta)).astype(d.dtype)
    return _finish(per, np.where(small, d, delta * np.sign(d)), reduction, need_grad)


def _backward(grad, grad_loss=1.0, reduction="mean"):
    return grad * np.asarray(grad_loss, grad.dtype)


mse_loss_backward = l1_loss_backward = smooth_l1_loss_backward = huber_loss_backward = _backward
