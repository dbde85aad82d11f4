"""Activation functions, each a fused forward and a fused backward kernel.

Backward functions take what the kernel needs from the forward pass: the output for
relu, sigmoid, tanh, softmax and log_softmax; the input for leaky_relu, elu and silu.
"""

import numpy as np

from .._ext import activation as _act
from .._threading import get_num_threads
from ._alloc import empty_like
from ._validation import as_float_array, check_int, check_real, check_same_shape

__all__ = [
    "relu_forward", "relu_backward",
    "leaky_relu_forward", "leaky_relu_backward",
    "elu_forward", "elu_backward",
    "sigmoid_forward", "sigmoid_backward",
    "tanh_forward", "tanh_backward",
    "silu_forward", "silu_backward",
    "softmax_forward", "softmax_backward",
    "log_softmax_forward", "log_softmax_backward",
]


def _elementwise(kernel, x, *hyper):
    x = as_float_array(x, "x")
    out = empty_like(x)
    kernel(x.reshape(-1), out.reshape(-1), *hyper, get_num_threads())
    return out


def _elementwise_backward(kernel, grad_out, saved, saved_name, *hyper):
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
