"""Group normalization and instance normalization (one channel per group).

Statistics (``mean``, ``rstd``) are float64 arrays of shape (N, G), or (N, C) for
instance norm, whatever the input's dtype; backward reuses them.
"""

import numpy as np

from .._ext import group_norm as _gn
from .._threading import get_num_threads
from ._alloc import empty, empty_like
from ._validation import (
    as_float_array,
    check_int,
    check_real,
    check_same_shape,
)
from .norm import _as_ncs, _channel_vector, _check_eps, _running_stats, _stats_vector

__all__ = [
    "group_norm_backward",
    "group_norm_forward",
    "instance_norm_backward",
    "instance_norm_forward",
]


def _check_groups(num_groups, x, name="x"):
    num_groups = check_int(num_groups, "num_groups", low=1)
    if x.shape[1] % num_groups:
        raise ValueError(f"num_groups={num_groups} must divide the number of channels of "
                         f"{name} (shape {x.shape}, {x.shape[1]} channels)")
    return num_groups


def _check_bool(value, name):
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a bool, got {type(value).__name__}")
    return bool(value)


def _affine_or_default(weight, bias, x):
    c = x.shape[1]
    w = np.ones(c, x.dtype) if weight is None else weight
    b = np.zeros(c, x.dtype) if bias is None else bias
    return w, b


def group_norm_forward(x, num_groups, weight=None, bias=None, eps=1e-5):
    """Group normalization (Wu and He, 2018), as ``torch.nn.functional.group_norm``.

    The C channels are split into ``num_groups`` groups of C // G consecutive
    channels; each sample's group is normalized over its channels and positions,
    ``y = (x - mean) / sqrt(var + eps) * weight[c] + bias[c]`` (biased variance).

    Parameters
    ----------
    x : ndarray (N, C, *)
        float32 or float64; ``*`` is zero or more spatial axes.
    num_groups : int >= 1
        G, dividing C.
    weight, bias : ndarray (C,), optional
        Per-channel scale and shift (none when None).
    eps : float > 0

    Returns
    -------
    out : ndarray, x's shape and dtype
    mean, rstd : float64 ndarrays (N, G)
        Per-group mean and ``1 / sqrt(var + eps)``: what :func:`group_norm_backward` needs.
    """
    x = as_float_array(x, "x", min_ndim=2)
    num_groups = _check_groups(num_groups, x)
    weight = _channel_vector(weight, "weight", x, x.shape[1])
    bias = _channel_vector(bias, "bias", x, x.shape[1])
    eps = _check_eps(eps)
    w, b = _affine_or_default(weight, bias, x)
    out = empty_like(x)
    mean = empty((x.shape[0], num_groups), np.float64)
    rstd = empty((x.shape[0], num_groups), np.float64)
    _gn.group_norm_forward(_as_ncs(x), num_groups, w, b, eps, True, _as_ncs(out), mean, rstd,
                           get_num_threads())
    return out, mean, rstd


def _backward(grad_out, x, num_groups, weight, mean, rstd, use_input_stats, need_input_grad,
              need_weight_grad, need_bias_grad):
    """The checks shared by both backward ops, then the kernel."""
    grad_out = as_float_array(grad_out, "grad_out", like=x, like_name="x")
    check_same_shape(grad_out, "grad_out", x, "x")
    weight = _channel_vector(weight, "weight", x, x.shape[1])
    mean = _stats_vector(mean, "mean", (x.shape[0], num_groups))
    rstd = _stats_vector(rstd, "rstd", (x.shape[0], num_groups))
    w, _ = _affine_or_default(weight, None, x)
    grad_in = empty_like(x) if need_input_grad else None
    gw = empty(x.shape[1], x.dtype) if weight is not None and need_weight_grad else None
    gb = empty(x.shape[1], x.dtype) if need_bias_grad else None
    _gn.group_norm_backward(_as_ncs(grad_out), _as_ncs(x), num_groups, w, mean, rstd,
                            use_input_stats, None if grad_in is None else _as_ncs(grad_in),
                            gw, gb, get_num_threads())
    return grad_in, gw, gb


def group_norm_backward(grad_out, x, num_groups, weight, mean, rstd, need_input_grad=True,
                        need_weight_grad=True, need_bias_grad=True):
    """Gradients of :func:`group_norm_forward`.

    Parameters
    ----------
    grad_out, x : ndarray (N, C, *)
    num_groups : int
    weight : ndarray (C,) or None
    mean, rstd : ndarray (N, G)
        As returned by the forward pass.
    need_input_grad, need_weight_grad, need_bias_grad : bool

    Returns
    -------
    grad_in : ndarray like x, or None
    grad_weight : ndarray (C,), or None (no weight, or not needed)
    grad_bias : ndarray (C,), or None (not needed)
    """
    x = as_float_array(x, "x", min_ndim=2)
    num_groups = _check_groups(num_groups, x)
    return _backward(grad_out, x, num_groups, weight, mean, rstd, True,
                     need_input_grad, need_weight_grad, need_bias_grad)


def instance_norm_forward(x, weight=None, bias=None, running_mean=None, running_var=None,
                          use_input_stats=True, momentum=0.1, eps=1e-5):
    """Instance normalization (Ulyanov et al., 2016), as ``torch.nn.functional.instance_norm``.

    Each (sample, channel) plane is normalized over its spatial positions, then
    scaled and shifted per channel.

    Parameters
    ----------
    x : ndarray (N, C, *spatial)
        float32 or float64, at least one spatial axis.
    weight, bias : ndarray (C,), optional
    running_mean, running_var : ndarray (C,), optional
        With ``use_input_stats`` they are updated in place when given:
        ``r = (1 - momentum) * r + momentum * s``, s the per-instance mean, or unbiased
        variance, averaged over the batch (PyTorch's convention). Required otherwise.
    use_input_stats : bool
        Normalize with each instance's statistics (True) or the running ones (False).
    momentum : float in [0, 1]
    eps : float > 0

    Returns
    -------
    out : ndarray, x's shape and dtype
    mean, rstd : float64 ndarrays (N, C)
        The statistics used (the running ones repeated over N when not
        ``use_input_stats``), ``rstd = 1 / sqrt(var + eps)``.
    """
    x = as_float_array(x, "x", min_ndim=3)
    n, c = x.shape[:2]
    weight = _channel_vector(weight, "weight", x, c)
    bias = _channel_vector(bias, "bias", x, c)
    eps = _check_eps(eps)
    use_input_stats = _check_bool(use_input_stats, "use_input_stats")
    momentum = check_real(momentum, "momentum", low=0.0, high=1.0)
    running_mean, running_var = _running_stats(running_mean, running_var, x, c,
                                               use_input_stats, "instance_norm_forward "
                                               "with use_input_stats=False")
    xs = _as_ncs(x)
    spatial = xs.shape[2]
    if use_input_stats and spatial <= 1 and n * c:
        raise ValueError(f"expected more than 1 spatial element when using input "
                         f"statistics, got input of shape {x.shape}")
    w, b = _affine_or_default(weight, bias, x)
    out = empty_like(x)
    if use_input_stats:
        mean, rstd = empty((2, n, c), np.float64)
    else:
        mean = np.repeat(running_mean.astype(np.float64)[None], n, axis=0)
        rstd = np.repeat((1.0 / np.sqrt(running_var.astype(np.float64) + eps))[None], n,
                         axis=0)
    _gn.group_norm_forward(xs, c, w, b, eps, use_input_stats, _as_ncs(out), mean, rstd,
                           get_num_threads())
    if use_input_stats and running_mean is not None and n:
        # the biased variance back from rstd, made unbiased per instance
        var = (1.0 / (rstd * rstd) - eps) * (spatial / (spatial - 1))
        running_mean[...] = (1 - momentum) * running_mean + momentum * mean.mean(axis=0)
        running_var[...] = (1 - momentum) * running_var + momentum * var.mean(axis=0)
    return out, mean, rstd


def instance_norm_backward(grad_out, x, weight, mean, rstd, use_input_stats=True,
                           need_input_grad=True, need_weight_grad=True, need_bias_grad=True):
    """Gradients of :func:`instance_norm_forward`.

    Parameters
    ----------
    grad_out, x : ndarray (N, C, *spatial)
    weight : ndarray (C,) or None
    mean, rstd : ndarray (N, C)
        As returned by the forward pass.
    use_input_stats : bool
        Whether the forward pass used the instances' own statistics (their gradient
        then flows to x).
    need_input_grad, need_weight_grad, need_bias_grad : bool

    Returns
    -------
    grad_in : ndarray like x, or None
    grad_weight : ndarray (C,), or None (no weight, or not needed)
    grad_bias : ndarray (C,), or None (not needed)
    """
    x = as_float_array(x, "x", min_ndim=3)
    use_input_stats = _check_bool(use_input_stats, "use_input_stats")
    return _backward(grad_out, x, x.shape[1], weight, mean, rstd, use_input_stats,
                     need_input_grad, need_weight_grad, need_bias_grad)
