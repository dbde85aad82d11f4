"""NumPy twin of pydl.functional.group_norm (computed in float64, cast back to x's dtype)."""

import numpy as np

__all__ = [
    "group_norm_backward",
    "group_norm_forward",
    "instance_norm_backward",
    "instance_norm_forward",
]


def _groups(a, num_groups):
    """(N, C, *) as float64 (N, G, C // G * S)."""
    n, c = a.shape[:2]
    return a.astype(np.float64).reshape(n, num_groups, c // num_groups * _spatial(a))


def _spatial(a):
    return int(np.prod(a.shape[2:]))


def _normalize(x, num_groups, mean, rstd, weight, bias):
    n, c = x.shape[:2]
    xhat = (_groups(x, num_groups) - mean[..., None]) * rstd[..., None]
    out = xhat.reshape(n, c, _spatial(x))
    if weight is not None:
        out = out * weight.astype(np.float64)[:, None]
    if bias is not None:
        out = out + bias.astype(np.float64)[:, None]
    return out.reshape(x.shape).astype(x.dtype)


def group_norm_forward(x, num_groups, weight=None, bias=None, eps=1e-5):
    xg = _groups(x, num_groups)
    if xg.shape[2]:
        mean, var = xg.mean(axis=2), xg.var(axis=2)
    else:
        mean = var = np.zeros(xg.shape[:2])
    rstd = 1 / np.sqrt(var + eps)
    return _normalize(x, num_groups, mean, rstd, weight, bias), mean, rstd


def _backward(grad_out, x, num_groups, weight, mean, rstd, use_input_stats,
              need_input_grad, need_weight_grad, need_bias_grad):
    n, c = x.shape[:2]
    s = _spatial(x)
    g = grad_out.astype(np.float64).reshape(n, c, s)
    xhat = ((_groups(x, num_groups) - mean[..., None]) * rstd[..., None]).reshape(n, c, s)
    w = np.ones(c) if weight is None else weight.astype(np.float64)
    grad_in = None
    if need_input_grad:
        gw = (g * w[:, None]).reshape(n, num_groups, c // num_groups * s)
        xh = xhat.reshape(gw.shape)
        r = rstd[..., None]
        if use_input_stats and gw.shape[2]:
            grad_in = r * (gw - gw.mean(axis=2, keepdims=True)
                           - xh * (gw * xh).mean(axis=2, keepdims=True))
        else:
            grad_in = r * gw
        grad_in = grad_in.reshape(x.shape).astype(x.dtype)
    grad_weight = ((g * xhat).sum(axis=(0, 2)).astype(x.dtype)
                   if weight is not None and need_weight_grad else None)
    grad_bias = g.sum(axis=(0, 2)).astype(x.dtype) if need_bias_grad else None
    return grad_in, grad_weight, grad_bias


def group_norm_backward(grad_out, x, num_groups, weight, mean, rstd, need_input_grad=True,
                        need_weight_grad=True, need_bias_grad=True):
    return _backward(grad_out, x, num_groups, weight, mean, rstd, True, need_input_grad,
                     need_weight_grad, need_bias_grad)


def instance_norm_forward(x, weight=None, bias=None, running_mean=None, running_var=None,
                          use_input_stats=True, momentum=0.1, eps=1e-5):
    n, c = x.shape[:2]
    if use_input_stats:
        _, mean, rstd = group_norm_forward(x, c, eps=eps)
        if running_mean is not None and n:   # an empty batch leaves them
            xs = x.astype(np.float64).reshape(n, c, _spatial(x))
            unbiased = xs.var(axis=2, ddof=1)
            running_mean[...] = (1 - momentum) * running_mean + momentum * mean.mean(axis=0)
            running_var[...] = (1 - momentum) * running_var + momentum * unbiased.mean(axis=0)
    else:
        mean = np.repeat(running_mean.astype(np.float64)[None], n, axis=0)
        rstd = np.repeat(1 / np.sqrt(running_var.astype(np.float64)[None] + eps), n, axis=0)
    return _normalize(x, c, mean, rstd, weight, bias), mean, rstd


def instance_norm_backward(grad_out, x, weight, mean, rstd, use_input_stats=True,
                           need_input_grad=True, need_weight_grad=True, need_bias_grad=True):
    return _backward(grad_out, x, x.shape[1], weight, mean, rstd, use_input_stats,
                     need_input_grad, need_weight_grad, need_bias_grad)
