"""NumPy twin of pydl.functional.style_loss (float64 inside, cast back to x's dtype)."""

import numpy as np

from .regression_loss import mse_loss_backward, mse_loss_forward

__all__ = [
    "content_loss_backward",
    "content_loss_forward",
    "gram_matrix_backward",
    "gram_matrix_forward",
    "style_loss_backward",
    "style_loss_forward",
]


def _features(x):
    return x.astype(np.float64).reshape(x.shape[0], x.shape[1], int(np.prod(x.shape[2:])))


def _divisor(f, normalize):
    return max(f.shape[1] * f.shape[2], 1) if normalize else 1


def gram_matrix_forward(x, normalize=True):
    f = _features(x)
    g = np.einsum("ncs,nds->ncd", f, f) / _divisor(f, normalize)
    return g.astype(x.dtype)


def gram_matrix_backward(grad_out, x, normalize=True):
    f = _features(x)
    g = grad_out.astype(np.float64)
    gx = np.einsum("ncd,nds->ncs", g + g.transpose(0, 2, 1), f) / _divisor(f, normalize)
    return gx.reshape(x.shape).astype(x.dtype)


def content_loss_forward(input, target, reduction="mean", need_grad=True):
    return mse_loss_forward(input, target, reduction, need_grad)


content_loss_backward = mse_loss_backward


def style_loss_forward(input, target, reduction="mean", normalize=True, need_grad=True):
    f = _features(input)
    gram = np.einsum("ncs,nds->ncd", f, f) / _divisor(f, normalize)
    diff = gram - np.broadcast_to(target.astype(np.float64), gram.shape)
    total = float((diff * diff).sum())
    loss = total if reduction == "sum" else (total / diff.size if diff.size else float("nan"))
    if not need_grad:
        return loss, None
    scale = 2.0 if reduction == "sum" else 2.0 / max(diff.size, 1)
    return loss, gram_matrix_backward(scale * diff, input.astype(np.float64),
                                      normalize).astype(input.dtype)


style_loss_backward = mse_loss_backward
