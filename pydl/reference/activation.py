"""NumPy twin of pydl.functional.activation."""

import numpy as np

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


def relu_forward(x):
    return np.maximum(x, 0)


def relu_backward(grad_out, out):
    return np.where(out > 0, grad_out, 0).astype(out.dtype)


def leaky_relu_forward(x, negative_slope=0.01):
    return np.where(x > 0, x, x * x.dtype.type(negative_slope))


def leaky_relu_backward(grad_out, x, negative_slope=0.01):
    return np.where(x > 0, grad_out, grad_out * x.dtype.type(negative_slope))


def elu_forward(x, alpha=1.0):
    a = x.dtype.type(alpha)
    return np.where(x > 0, x, a * np.expm1(np.minimum(x, 0)))


def elu_backward(grad_out, x, alpha=1.0):
    a = x.dtype.type(alpha)
    return np.where(x > 0, grad_out, grad_out * a * np.exp(np.minimum(x, 0)))


def sigmoid_forward(x):
    # split by sign so that exp never overflows
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype)


def sigmoid_backward(grad_out, out):
    return grad_out * out * (1 - out)


def tanh_forward(x):
    return np.tanh(x)


def tanh_backward(grad_out, out):
    return grad_out * (1 - out * out)


def silu_forward(x):
    return x * sigmoid_forward(x)


def silu_backward(grad_out, x):
    s = sigmoid_forward(x)
    return grad_out * s * (1 + x * (1 - s))


def softmax_forward(x, dim=-1):
    e = np.exp(x - x.max(axis=dim, keepdims=True))
    return e / e.sum(axis=dim, keepdims=True)


def softmax_backward(grad_out, out, dim=-1):
    return out * (grad_out - (grad_out * out).sum(axis=dim, keepdims=True))


def log_softmax_forward(x, dim=-1):
    shifted = x - x.max(axis=dim, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=dim, keepdims=True))


def log_softmax_backward(grad_out, out, dim=-1):
    return grad_out - np.exp(out) * grad_out.sum(axis=dim, keepdims=True)


def _slopes(weight, x):
    """weight broadcast along axis 1 of x (a single slope: everywhere)."""
    if weight.size == 1 or x.ndim < 2:
        return weight.reshape(())
    return weight.reshape((1, -1) + (1,) * (x.ndim - 2))


def prelu_forward(x, weight):
    return np.where(x > 0, x, _slopes(weight, x) * x).astype(x.dtype)


def prelu_backward(grad_out, x, weight, need_input_grad=True, need_weight_grad=True):
    grad_in = np.where(x > 0, grad_out, _slopes(weight, x) * grad_out).astype(x.dtype)
    contrib = np.where(x > 0, 0.0, x.astype(np.float64) * grad_out)
    if weight.size == 1 or x.ndim < 2:
        grad_weight = np.array([contrib.sum()])
    else:
        grad_weight = contrib.sum(axis=(0,) + tuple(range(2, x.ndim)))
    return (grad_in if need_input_grad else None,
            grad_weight.astype(x.dtype) if need_weight_grad else None)


def softplus_forward(x, beta=1.0, threshold=20.0):
    z = x.astype(np.float64) * beta
    return np.where(z > threshold, x, np.logaddexp(0, z) / beta).astype(x.dtype)


def softplus_backward(grad_out, x, beta=1.0, threshold=20.0):
    z = x.astype(np.float64) * beta
    sig = 0.5 * (1 + np.tanh(z / 2))   # sigmoid without overflow
    return np.where(z > threshold, grad_out, grad_out * sig).astype(x.dtype)


def hardtanh_forward(x, min_val=-1.0, max_val=1.0):
    return np.clip(x, min_val, max_val).astype(x.dtype)


def hardtanh_backward(grad_out, x, min_val=-1.0, max_val=1.0):
    return np.where((x <= min_val) | (x >= max_val), 0, grad_out).astype(x.dtype)


_K = np.sqrt(2 / np.pi)


def gelu_forward(x, approximate="none"):
    from scipy.special import erf
    v = x.astype(np.float64)
    if approximate == "tanh":
        return (0.5 * v * (1 + np.tanh(_K * (v + 0.044715 * v ** 3)))).astype(x.dtype)
    return (0.5 * v * (1 + erf(v / np.sqrt(2)))).astype(x.dtype)


def gelu_backward(grad_out, x, approximate="none"):
    from scipy.special import erf
    v = x.astype(np.float64)
    if approximate == "tanh":
        t = np.tanh(_K * (v + 0.044715 * v ** 3))
        d = 0.5 * (1 + t) + 0.5 * v * (1 - t * t) * _K * (1 + 3 * 0.044715 * v * v)
    else:
        d = 0.5 * (1 + erf(v / np.sqrt(2))) + v * np.exp(-0.5 * v * v) / np.sqrt(2 * np.pi)
    return (grad_out * d).astype(x.dtype)
