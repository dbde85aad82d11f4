"""Activation functions, each a fused forward and a fused backward kernel.

Backward functions take what the kernel needs from the forward pass: the output for
relu, sigmoid, tanh, softmax and log_softmax; the input for leaky_relu, elu and silu.
"""

import math

import numpy as np

from .._ext import activation as _act
from .._threading import _state as _threading_state
from .._threading import get_num_threads
from ._alloc import _state as _alloc_state
from ._alloc import empty, empty_checked, empty_like
from ._validation import FLOAT_DTYPES, as_float_array, check_int, check_real, check_same_shape

_ndarray = np.ndarray
_np_empty = np.empty
_F32, _F64 = FLOAT_DTYPES

__all__ = [
    "relu_forward", "relu_backward",
    "leaky_relu_forward", "leaky_relu_backward",
    "elu_forward", "elu_backward",
    "sigmoid_forward", "sigmoid_backward",
    "tanh_forward", "tanh_backward",
    "silu_forward", "silu_backward",
    "softmax_forward", "softmax_backward",
    "log_softmax_forward", "log_softmax_backward",
    "prelu_forward", "prelu_backward",
    "softplus_forward", "softplus_backward",
    "hardtanh_forward", "hardtanh_backward",
    "gelu_forward", "gelu_backward",
]


def _elementwise(kernel, x, *hyper):
    if type(x) is _ndarray and x.flags.c_contiguous:
        dt = x.dtype
        if dt is _F32 or dt is _F64:
            # as_float_array's common case: x as it is. The output is allocated flat,
            # one reshape fewer (np.empty's own size check; an output of x's size
            # fits wherever x does)
            out = _np_empty(x.size, dt) if not _alloc_state["poison"] \
                else empty_checked(x.size, dt)
            # get_num_threads() is the process-wide count when that is 1
            kernel(x if x.ndim == 1 else x.reshape(-1), out, *hyper,
                   1 if _threading_state["n_threads"] == 1 else get_num_threads())
            return out.reshape(x.shape)
    x = as_float_array(x, "x")
    out = empty_like(x)
    kernel(x.reshape(-1), out.reshape(-1), *hyper, get_num_threads())
    return out


def _elementwise_backward(kernel, grad_out, saved, saved_name, *hyper):
    if type(saved) is _ndarray and type(grad_out) is _ndarray \
            and saved.flags.c_contiguous and grad_out.flags.c_contiguous:
        dt = saved.dtype
        if (dt is _F32 or dt is _F64) and grad_out.dtype is dt \
                and grad_out.shape == saved.shape:
            # the checks below on arrays already right: a flat output, as _elementwise
            grad_in = _np_empty(saved.size, dt) if not _alloc_state["poison"] \
                else empty_checked(saved.size, dt)
            kernel(grad_out if grad_out.ndim == 1 else grad_out.reshape(-1),
                   saved if saved.ndim == 1 else saved.reshape(-1), grad_in, *hyper,
                   1 if _threading_state["n_threads"] == 1 else get_num_threads())
            return grad_in.reshape(saved.shape)
    saved = as_float_array(saved, saved_name)
    grad_out = as_float_array(grad_out, "grad_out", like=saved, like_name=saved_name)
    check_same_shape(grad_out, "grad_out", saved, saved_name)
    grad_in = empty_like(saved)
    kernel(grad_out.reshape(-1), saved.reshape(-1), grad_in.reshape(-1), *hyper,
           get_num_threads())
    return grad_in


def relu_forward(x):
    """``max(x, 0)`` elementwise. x: ndarray, any shape. Returns an array of x's shape."""
    return _elementwise(_act.relu_forward, x)


def relu_backward(grad_out, out):
    """Gradient of relu given the forward output ``out`` (same shape as grad_out)."""
    return _elementwise_backward(_act.relu_backward, grad_out, out, "out")


def leaky_relu_forward(x, negative_slope=0.01):
    """``x if x > 0 else negative_slope * x`` elementwise."""
    s = check_real(negative_slope, "negative_slope")
    return _elementwise(_act.leaky_relu_forward, x, s)


def leaky_relu_backward(grad_out, x, negative_slope=0.01):
    """Gradient of leaky_relu given the forward input ``x``."""
    s = check_real(negative_slope, "negative_slope")
    return _elementwise_backward(_act.leaky_relu_backward, grad_out, x, "x", s)


def elu_forward(x, alpha=1.0):
    """``x if x > 0 else alpha * (exp(x) - 1)`` elementwise."""
    a = check_real(alpha, "alpha")
    return _elementwise(_act.elu_forward, x, a)


def elu_backward(grad_out, x, alpha=1.0):
    """Gradient of elu given the forward input ``x``."""
    a = check_real(alpha, "alpha")
    return _elementwise_backward(_act.elu_backward, grad_out, x, "x", a)


def sigmoid_forward(x):
    """``1 / (1 + exp(-x))`` elementwise, without overflow for large ``|x|``."""
    return _elementwise(_act.sigmoid_forward, x)


def sigmoid_backward(grad_out, out):
    """Gradient of sigmoid given the forward output ``out``."""
    return _elementwise_backward(_act.sigmoid_backward, grad_out, out, "out")


def tanh_forward(x):
    """``tanh(x)`` elementwise."""
    return _elementwise(_act.tanh_forward, x)


def tanh_backward(grad_out, out):
    """Gradient of tanh given the forward output ``out``."""
    return _elementwise_backward(_act.tanh_backward, grad_out, out, "out")


def silu_forward(x):
    """``x * sigmoid(x)`` elementwise (SiLU, also called swish)."""
    return _elementwise(_act.silu_forward, x)


def silu_backward(grad_out, x):
    """Gradient of silu given the forward input ``x``."""
    return _elementwise_backward(_act.silu_backward, grad_out, x, "x")


def _check_dim(dim, ndim):
    dim = check_int(dim, "dim")
    if not -ndim <= dim < ndim:
        raise ValueError(f"dim must be in [{-ndim}, {ndim}) for a {ndim}-D input, got {dim}")
    return dim % ndim


def _rowwise(kernel, dim, *arrays):
    """Run a row kernel along axis ``dim`` of same-shaped arrays; return its output."""
    shape = arrays[0].shape
    moved = [np.ascontiguousarray(np.moveaxis(a, dim, -1)) for a in arrays]
    rows = [m.reshape(-1, shape[dim]) if m.size else m.reshape(0, shape[dim]) for m in moved]
    out = empty_like(rows[0])
    kernel(*rows, out, get_num_threads())
    return np.ascontiguousarray(np.moveaxis(out.reshape(moved[0].shape), -1, dim))


def softmax_forward(x, dim=-1):
    """Softmax along ``dim``: ``exp(x - max) / sum(exp(x - max))``.

    Parameters
    ----------
    x : ndarray, at least 1-D
    dim : int
        The axis that sums to one.
    """
    x = as_float_array(x, "x", min_ndim=1)
    return _rowwise(_act.softmax_forward, _check_dim(dim, x.ndim), x)


def softmax_backward(grad_out, out, dim=-1):
    """Gradient of softmax given its output ``out``: ``out * (g - sum(g * out))``."""
    out = as_float_array(out, "out", min_ndim=1)
    grad_out = as_float_array(grad_out, "grad_out", like=out, like_name="out")
    check_same_shape(grad_out, "grad_out", out, "out")
    return _rowwise(_act.softmax_backward, _check_dim(dim, out.ndim), grad_out, out)


def log_softmax_forward(x, dim=-1):
    """Log of softmax along ``dim``, computed as ``x - max - log(sum(exp(x - max)))``."""
    x = as_float_array(x, "x", min_ndim=1)
    return _rowwise(_act.log_softmax_forward, _check_dim(dim, x.ndim), x)


def log_softmax_backward(grad_out, out, dim=-1):
    """Gradient of log_softmax given its output: ``g - exp(out) * sum(g)``."""
    out = as_float_array(out, "out", min_ndim=1)
    grad_out = as_float_array(grad_out, "grad_out", like=out, like_name="out")
    check_same_shape(grad_out, "grad_out", out, "out")
    return _rowwise(_act.log_softmax_backward, _check_dim(dim, out.ndim), grad_out, out)


def _prelu_view(a):
    """(N, C, *) as (N, C, S); fewer than 2 dims: one channel."""
    if a.ndim < 2:
        return a.reshape(1, 1, a.size)
    return a.reshape(a.shape[0], a.shape[1], math.prod(a.shape[2:]))


def _prelu_weight(weight, x):
    weight = as_float_array(weight, "weight", ndim=1, like=x, like_name="x")
    channels = x.shape[1] if x.ndim >= 2 else 1
    if weight.shape[0] not in (1, channels):
        raise ValueError(f"weight has {weight.shape[0]} elements but x has {channels} "
                         f"channel(s) (axis 1; 1 for inputs of fewer than 2 dims): it must "
                         f"have 1 or {channels}")
    return weight


def prelu_forward(x, weight):
    """``x if x > 0 else weight[c] * x``, c the channel (axis 1).

    Parameters
    ----------
    x : ndarray (N, C, *) or of fewer than 2 dims (one channel)
    weight : ndarray (C,) or (1,)
        Learned slopes; one is shared by all channels.
    """
    x = as_float_array(x, "x")
    weight = _prelu_weight(weight, x)
    out = empty_like(x)
    _act.prelu_forward(_prelu_view(x), weight, _prelu_view(out), get_num_threads())
    return out


def prelu_backward(grad_out, x, weight, need_input_grad=True, need_weight_grad=True):
    """Gradients of prelu given its input: ``(grad_in, grad_weight)``, each None when
    not needed. ``grad_weight[c]`` sums ``x * grad_out`` where ``x <= 0``."""
    x = as_float_array(x, "x")
    grad_out = as_float_array(grad_out, "grad_out", like=x, like_name="x")
    check_same_shape(grad_out, "grad_out", x, "x")
    weight = _prelu_weight(weight, x)
    grad_in = empty_like(x) if need_input_grad else None
    grad_weight = empty(weight.shape, x.dtype) if need_weight_grad else None
    _act.prelu_backward(_prelu_view(grad_out), _prelu_view(x), weight,
                        None if grad_in is None else _prelu_view(grad_in), grad_weight,
                        get_num_threads())
    return grad_in, grad_weight


def _softplus_args(beta, threshold):
    beta = check_real(beta, "beta")
    if beta == 0:
        raise ValueError("beta must be non-zero")
    return beta, check_real(threshold, "threshold")


def softplus_forward(x, beta=1.0, threshold=20.0):
    """``log(1 + exp(beta * x)) / beta``, or ``x`` where ``beta * x > threshold``."""
    return _elementwise(_act.softplus_forward, x, *_softplus_args(beta, threshold))


def softplus_backward(grad_out, x, beta=1.0, threshold=20.0):
    """Gradient of softplus given its input: ``grad_out * sigmoid(beta * x)``."""
    return _elementwise_backward(_act.softplus_backward, grad_out, x, "x",
                                 *_softplus_args(beta, threshold))


def _hardtanh_args(min_val, max_val):
    lo = check_real(min_val, "min_val")
    hi = check_real(max_val, "max_val")
    if not hi > lo:
        raise ValueError(f"max_val must be greater than min_val, got min_val={lo}, "
                         f"max_val={hi}")
    return lo, hi


def hardtanh_forward(x, min_val=-1.0, max_val=1.0):
    """``x`` clipped to ``[min_val, max_val]``."""
    return _elementwise(_act.hardtanh_forward, x, *_hardtanh_args(min_val, max_val))


def hardtanh_backward(grad_out, x, min_val=-1.0, max_val=1.0):
    """Gradient of hardtanh given its input: grad_out strictly inside the range, else 0."""
    return _elementwise_backward(_act.hardtanh_backward, grad_out, x, "x",
                                 *_hardtanh_args(min_val, max_val))


def _gelu_tanh(approximate):
    if approximate not in ("none", "tanh"):
        raise ValueError(f"approximate must be 'none' or 'tanh', got {approximate!r}")
    return approximate == "tanh"


def gelu_forward(x, approximate="none"):
    """``x * Phi(x)`` (Phi the standard normal CDF, through erf), or with
    ``approximate="tanh"`` ``x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x**3)))``."""
    return _elementwise(_act.gelu_forward, x, _gelu_tanh(approximate))


def gelu_backward(grad_out, x, approximate="none"):
    """Gradient of gelu given its input."""
    return _elementwise_backward(_act.gelu_backward, grad_out, x, "x", _gelu_tanh(approximate))
