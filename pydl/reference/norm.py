"""NumPy twin of pydl.functional.norm (computed in float64, cast back to x's dtype)."""

import math

import numpy as np

__all__ = [
    "batch_norm_forward", "batch_norm_backward",
    "layer_norm_forward", "layer_norm_backward",
    "local_response_norm_forward", "local_response_norm_backward",
]


def _channel_shape(x):
    """Shape that broadcasts a (C,) vector along axis 1 of x."""
    return (1, -1) + (1,) * (x.ndim - 2)


def _reduce_axes(x):
    return (0,) + tuple(range(2, x.ndim))


def batch_norm_forward(x, weight=None, bias=None, running_mean=None, running_var=None,
                       training=True, momentum=0.1, eps=1e-5):
    x64 = x.astype(np.float64)
    axes = _reduce_axes(x)
    if training:
        mean = x64.mean(axis=axes)
        var = x64.var(axis=axes)
        if running_mean is not None:
            count = x.shape[0] * int(np.prod(x.shape[2:]))
            unbiased = var * count / (count - 1)
            running_mean[...] = (1 - momentum) * running_mean + momentum * mean
            running_var[...] = (1 - momentum) * running_var + momentum * unbiased
    else:
        mean = running_mean.astype(np.float64)
        var = running_var.astype(np.float64)
    invstd = 1 / np.sqrt(var + eps)
    cs = _channel_shape(x)
    out = (x64 - mean.reshape(cs)) * invstd.reshape(cs)
    if weight is not None:
        out = out * weight.reshape(cs)
    if bias is not None:
        out = out + bias.reshape(cs)
    return out.astype(x.dtype), mean, invstd


def batch_norm_backward(grad_out, x, weight, mean, invstd, training=True,
                        need_input_grad=True):
    g = grad_out.astype(np.float64)
    axes = _reduce_axes(x)
    cs = _channel_shape(x)
    xhat = (x.astype(np.float64) - mean.reshape(cs)) * invstd.reshape(cs)
    w = np.ones(x.shape[1]) if weight is None else weight.astype(np.float64)
    grad_in = None
    if need_input_grad:
        if training:
            gxhat = g * w.reshape(cs)
            grad_in = invstd.reshape(cs) * (gxhat - gxhat.mean(axis=axes, keepdims=True)
                                            - xhat * (gxhat * xhat).mean(axis=axes,
                                                                         keepdims=True))
        else:
            grad_in = g * (w * invstd).reshape(cs)
        grad_in = grad_in.astype(x.dtype)
    if weight is None:
        return grad_in, None, None
    return (grad_in, (g * xhat).sum(axis=axes).astype(x.dtype),
            g.sum(axis=axes).astype(x.dtype))


def _rows(x, normalized_shape):
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    lead = x.shape[:x.ndim - len(shape)]
    return shape, x.reshape(math.prod(lead), math.prod(shape)).astype(np.float64)


def layer_norm_forward(x, normalized_shape, weight=None, bias=None, eps=1e-5):
    shape, rows = _rows(x, normalized_shape)
    mean = rows.mean(axis=1)
    rstd = 1 / np.sqrt(rows.var(axis=1) + eps)
    out = (rows - mean[:, None]) * rstd[:, None]
    if weight is not None:
        out = out * weight.reshape(-1)
    if bias is not None:
        out = out + bias.reshape(-1)
    lead = x.shape[:x.ndim - len(shape)]
    return out.reshape(x.shape).astype(x.dtype), mean.reshape(lead), rstd.reshape(lead)


def layer_norm_backward(grad_out, x, normalized_shape, weight, mean, rstd,
                        need_input_grad=True, need_weight_grad=True, need_bias_grad=True):
    shape, rows = _rows(x, normalized_shape)
    g = grad_out.reshape(rows.shape).astype(np.float64)
    rs = rstd.reshape(-1, 1)
    xhat = (rows - mean.reshape(-1, 1)) * rs
    gw = g if weight is None else g * weight.reshape(-1)
    grad_in = None
    if need_input_grad:
        grad_in = rs * (gw - gw.mean(axis=1, keepdims=True)
                        - xhat * (gw * xhat).mean(axis=1, keepdims=True))
        grad_in = grad_in.reshape(x.shape).astype(x.dtype)
    grad_weight = ((g * xhat).sum(axis=0).reshape(shape).astype(x.dtype)
                   if weight is not None and need_weight_grad else None)
    grad_bias = g.sum(axis=0).reshape(shape).astype(x.dtype) if need_bias_grad else None
    return grad_in, grad_weight, grad_bias


def _window_sums(a, size, reverse=False):
    """sum of a[:, c'] over the LRN window of each channel c (axis 1); with reverse,
    over the channels whose windows contain c."""
    before, after = size // 2, (size - 1) // 2
    if reverse:
        before, after = after, before
    c = a.shape[1]
    pad = [(0, 0)] * a.ndim
    pad[1] = (before, after)
    padded = np.pad(a, pad)
    return sum(padded[:, i:i + c] for i in range(size))


def local_response_norm_forward(x, size, alpha=1e-4, beta=0.75, k=1.0):
    x64 = x.astype(np.float64)
    denom = k + alpha / size * _window_sums(x64 * x64, size)
    return (x64 * denom ** -beta).astype(x.dtype), denom.astype(x.dtype)


def local_response_norm_backward(grad_out, x, out, denom, size, alpha=1e-4, beta=0.75,
                                 k=1.0):
    g, x64, y, d = (a.astype(np.float64) for a in (grad_out, x, out, denom))
    back = _window_sums(g * y / d, size, reverse=True)
    return (g * d ** -beta - 2 * alpha * beta / size * x64 * back).astype(x.dtype)
