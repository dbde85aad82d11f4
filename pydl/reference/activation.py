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
