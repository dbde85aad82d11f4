"""Normalization: batch norm, layer norm and local response norm.

Statistics (``mean``, ``invstd``, ``rstd``) are returned in float64 whatever the
input's dtype: the kernels accumulate them in float64 and backward reuses them.
"""

import math
import numbers

import numpy as np

from .._ext import norm as _norm
from .._threading import get_num_threads
from ._alloc import empty, empty_like
from ._validation import (as_float_array, check_int, check_ndarray, check_real,
                          check_same_shape, check_writeable)

__all__ = [
    "batch_norm_forward", "batch_norm_backward",
    "layer_norm_forward", "layer_norm_backward",
    "local_response_norm_forward", "local_response_norm_backward",
]


def _as_ncs(a):
    """View an (N, C, *) array as (N, C, S)."""
    return a.reshape(a.shape[0], a.shape[1], math.prod(a.shape[2:]))


def _running_stats(running_mean, running_var, x, n_channels, updated, needed_by):
    """A normalization's running statistics as (C,) arrays of x's dtype: both or
    neither; writeable arrays when ``updated`` (in place), and required when not
    (``needed_by`` says which call needs them)."""
    if (running_mean is None) != (running_var is None):
        raise ValueError("running_mean and running_var must be given together (or neither)")
    if running_mean is None:
        if not updated:
            raise ValueError(f"{needed_by} needs running_mean and running_var")
        return None, None
    if updated:
        for name, r in (("running_mean", running_mean), ("running_var", running_var)):
            check_ndarray(r, name)
            check_writeable(r, name)
    return (_channel_vector(running_mean, "running_mean", x, n_channels),
            _channel_vector(running_var, "running_var", x, n_channels))


def _channel_vector(v, name, x, n_channels):
    """A per-channel (C,) float array of x's dtype, or None."""
    if v is None:
        return None
    v = as_float_array(v, name, ndim=1, like=x, like_name="x")
    if v.shape[0] != n_channels:
        raise ValueError(f"{name} has {v.shape[0]} elements but x has {n_channels} channels "
                         f"(x.shape[1]); they must match")
    return v


def _stats_vector(v, name, n):
    if not isinstance(v, np.ndarray):
        raise TypeError(f"{name} must be a numpy array, got {type(v).__name__}")
    if v.dtype.kind != "f":
        raise TypeError(f"{name} must be a float array, got dtype {v.dtype}")
    shape = n if isinstance(n, tuple) else (n,)
    if v.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {v.shape}")
    return np.ascontiguousarray(v, dtype=np.float64)


def _check_eps(eps):
    return check_real(eps, "eps", low=0.0, low_open=True)


def batch_norm_forward(x, weight=None, bias=None, running_mean=None, running_var=None,
                       training=True, momentum=0.1, eps=1e-5):
    """Batch normalization over the batch and spatial axes, per channel.

    Parameters
    ----------
    x : ndarray (N, C, *)
        float32 or float64; ``*`` is zero or more spatial axes.
    weight, bias : ndarray (C,), optional
        gamma and beta (ones and zeros when None).
    running_mean, running_var : ndarray (C,), optional
        Running statistics. In training they are updated in place, when given:
        ``r = (1 - momentum) * r + momentum * batch_stat``, with the unbiased batch
        variance for ``running_var`` (PyTorch's convention). Required when not training.
    training : bool
        Normalize with the batch statistics (True) or the running ones (False).
    momentum : float in [0, 1]
    eps : float > 0

    Returns
    -------
    out : ndarray, x's shape and dtype
    mean, invstd : float64 ndarrays (C,)
        The statistics used (batch or running), ``invstd = 1 / sqrt(var + eps)``: what
        :func:`batch_norm_backward` needs.
    """
    x = as_float_array(x, "x", min_ndim=2)
    n_channels = x.shape[1]
    weight = _channel_vector(weight, "weight", x, n_channels)
    bias = _channel_vector(bias, "bias", x, n_channels)
    eps = _check_eps(eps)
    if not isinstance(training, (bool, np.bool_)):
        raise TypeError(f"training must be a bool, got {type(training).__name__}")
    momentum = check_real(momentum, "momentum", low=0.0, high=1.0)
    running_mean, running_var = _running_stats(running_mean, running_var, x, n_channels,
                                               training, "batch_norm_forward with "
                                               "training=False")
    xs = _as_ncs(x)
    count = xs.shape[0] * xs.shape[2]
    if training and count <= 1 and n_channels:
        raise ValueError(f"expected more than 1 value per channel when training, got input "
                         f"of shape {x.shape}")
    dt = x.dtype
    w = np.ones(n_channels, dt) if weight is None else weight
    b = np.zeros(n_channels, dt) if bias is None else bias
    out = empty_like(x)
    if training:
        mean, invstd = empty((2, n_channels), np.float64)
    else:
        mean = running_mean.astype(np.float64)
        invstd = 1.0 / np.sqrt(running_var.astype(np.float64) + eps)
    update = training and running_mean is not None
    _norm.batch_norm_forward(xs, w, b, running_mean if update else None,
                             running_var if update else None, momentum, mean, invstd, eps,
                             bool(training), _as_ncs(out), get_num_threads())
    return out, mean, invstd


def batch_norm_backward(grad_out, x, weight, mean, invstd, training=True,
                        need_input_grad=True):
    """Gradients of :func:`batch_norm_forward`.

    Parameters
    ----------
    grad_out, x : ndarray (N, C, *)
    weight : ndarray (C,) or None
        gamma (None: no affine parameters, so no parameter gradients).
    mean, invstd : ndarray (C,)
        As returned by the forward pass.
    training : bool
        Whether the forward pass used batch statistics (their gradient then flows to x).
    need_input_grad : bool

    Returns
    -------
    grad_in : ndarray like x, or None
    grad_weight, grad_bias : ndarray (C,), or None when weight is None
    """
    x = as_float_array(x, "x", min_ndim=2)
    grad_out = as_float_array(grad_out, "grad_out", like=x, like_name="x")
    check_same_shape(grad_out, "grad_out", x, "x")
    n_channels = x.shape[1]
    weight = _channel_vector(weight, "weight", x, n_channels)
    mean = _stats_vector(mean, "mean", n_channels)
    invstd = _stats_vector(invstd, "invstd", n_channels)
    if not isinstance(training, (bool, np.bool_)):
        raise TypeError(f"training must be a bool, got {type(training).__name__}")
    affine = weight is not None
    w = weight if affine else np.ones(n_channels, x.dtype)
    grad_in = empty_like(x) if need_input_grad else None
    grad_weight = empty(n_channels, x.dtype) if affine else None
    grad_bias = empty(n_channels, x.dtype) if affine else None
    _norm.batch_norm_backward(_as_ncs(grad_out), _as_ncs(x), w, mean, invstd, bool(training),
                              None if grad_in is None else _as_ncs(grad_in),
                              grad_weight, grad_bias, get_num_threads())
    return grad_in, grad_weight, grad_bias


def normalized_shape_tuple(normalized_shape):
    """``normalized_shape`` (an int or a sequence of ints) as a tuple of ints >= 0."""
    if isinstance(normalized_shape, numbers.Integral) and not isinstance(normalized_shape, bool):
        normalized_shape = (normalized_shape,)
    try:
        dims = tuple(normalized_shape)
    except TypeError:
        raise TypeError(f"normalized_shape must be an int or a sequence of ints, got "
                        f"{type(normalized_shape).__name__}") from None
    return tuple(check_int(d, "normalized_shape", low=0) for d in dims)


def _layer_norm_rows(x, normalized_shape, name="x"):
    shape = normalized_shape_tuple(normalized_shape)
    if not shape:
        raise ValueError("normalized_shape must have at least one dimension")
    if x.ndim < len(shape) or x.shape[x.ndim - len(shape):] != shape:
        raise ValueError(f"{name} of shape {x.shape} does not end with normalized_shape "
                         f"{shape}; expected input of shape (*, {', '.join(map(str, shape))})")
    d = math.prod(shape)
    lead = x.shape[:x.ndim - len(shape)]
    return shape, lead, x.reshape(math.prod(lead), d)


def _elementwise_param(v, name, x, shape):
    if v is None:
        return None
    v = as_float_array(v, name, like=x, like_name="x")
    if v.shape != shape:
        raise ValueError(f"{name} must have shape {shape} (normalized_shape), got {v.shape}")
    return v.reshape(-1)


def layer_norm_forward(x, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Layer normalization over the last ``len(normalized_shape)`` axes.

    Parameters
    ----------
    x : ndarray (*, *normalized_shape)
    normalized_shape : int or tuple of ints
    weight, bias : ndarray of shape normalized_shape, optional
    eps : float > 0

    Returns
    -------
    out : ndarray, x's shape
    mean, rstd : float64 ndarrays of shape x.shape[:-len(normalized_shape)]
        Per-row mean and ``1 / sqrt(var + eps)`` (biased variance).
    """
    x = as_float_array(x, "x", min_ndim=1)
    shape, lead, rows = _layer_norm_rows(x, normalized_shape)
    weight = _elementwise_param(weight, "weight", x, shape)
    bias = _elementwise_param(bias, "bias", x, shape)
    eps = _check_eps(eps)
    d = rows.shape[1]
    w = np.ones(d, x.dtype) if weight is None else weight
    b = np.zeros(d, x.dtype) if bias is None else bias
    out = empty_like(x)
    mean = empty(lead, np.float64)
    rstd = empty(lead, np.float64)
    _norm.layer_norm_forward(rows, w, b, eps, out.reshape(rows.shape), mean.reshape(-1),
                             rstd.reshape(-1), get_num_threads())
    return out, mean, rstd


def layer_norm_backward(grad_out, x, normalized_shape, weight, mean, rstd,
                        need_input_grad=True, need_weight_grad=True, need_bias_grad=True):
    """Gradients of :func:`layer_norm_forward`.

    Returns
    -------
    grad_in : ndarray like x, or None
    grad_weight, grad_bias : ndarrays of shape normalized_shape, or None (no weight /
        not needed)
    """
    x = as_float_array(x, "x", min_ndim=1)
    grad_out = as_float_array(grad_out, "grad_out", like=x, like_name="x")
    check_same_shape(grad_out, "grad_out", x, "x")
    shape, lead, rows = _layer_norm_rows(x, normalized_shape)
    weight = _elementwise_param(weight, "weight", x, shape)
    n = rows.shape[0]
    mean = _stats_vector(mean, "mean", lead).reshape(n)
    rstd = _stats_vector(rstd, "rstd", lead).reshape(n)
    d = rows.shape[1]
    w = np.ones(d, x.dtype) if weight is None else weight
    grad_in = empty_like(x) if need_input_grad else None
    grad_weight = empty(shape, x.dtype) if weight is not None and need_weight_grad else None
    grad_bias = empty(shape, x.dtype) if need_bias_grad else None
    _norm.layer_norm_backward(grad_out.reshape(rows.shape), rows, w, mean, rstd,
                              None if grad_in is None else grad_in.reshape(rows.shape),
                              None if grad_weight is None else grad_weight.reshape(-1),
                              None if grad_bias is None else grad_bias.reshape(-1),
                              get_num_threads())
    return grad_in, grad_weight, grad_bias


def _lrn_args(x, size, alpha, beta, k, name="x"):
    if x.ndim < 3:
        raise ValueError(f"{name} must be at least 3-D (N, C, *), got shape {x.shape}")
    size = check_int(size, "size", low=1, high=2**62)
    alpha = check_real(alpha, "alpha")
    beta = check_real(beta, "beta")
    k = check_real(k, "k")
    return size, alpha, beta, k


def local_response_norm_forward(x, size, alpha=1e-4, beta=0.75, k=1.0):
    """Local response normalization across channels (AlexNet), as PyTorch computes it:

    ``out[n, c] = x[n, c] / (k + alpha / size * sum(x[n, c'] ** 2)) ** beta`` with c'
    over ``c - size // 2 .. c + (size - 1) // 2`` (channels past the edges count as 0).

    Parameters
    ----------
    x : ndarray (N, C, *), at least 3-D
    size : int >= 1
    alpha, beta, k : float

    Returns
    -------
    out : ndarray like x
    denom : ndarray like x
        ``k + alpha / size * sum(x ** 2)``, for the backward pass.
    """
    x = as_float_array(x, "x")
    size, alpha, beta, k = _lrn_args(x, size, alpha, beta, k)
    out = empty_like(x)
    denom = empty_like(x)
    _norm.local_response_norm_forward(_as_ncs(x), size, alpha, beta, k, _as_ncs(out),
                                      _as_ncs(denom), get_num_threads())
    return out, denom


def local_response_norm_backward(grad_out, x, out, denom, size, alpha=1e-4, beta=0.75,
                                 k=1.0):
    """Gradient of :func:`local_response_norm_forward` given its input, output and
    ``denom``."""
    x = as_float_array(x, "x")
    size, alpha, beta, k = _lrn_args(x, size, alpha, beta, k)
    arrays = []
    for name, a in (("grad_out", grad_out), ("out", out), ("denom", denom)):
        a = as_float_array(a, name, like=x, like_name="x")
        check_same_shape(a, name, x, "x")
        arrays.append(_as_ncs(a))
    grad_in = empty_like(x)
    _norm.local_response_norm_backward(arrays[0], _as_ncs(x), arrays[1], arrays[2], size,
                                       alpha, beta, _as_ncs(grad_in), get_num_threads())
    return grad_in
