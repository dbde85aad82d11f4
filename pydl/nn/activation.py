"""Activation modules (PyTorch names); each wraps a fused forward/backward kernel."""

import warnings

import numpy as np

from .. import functional as F
from ..functional._validation import check_real
from .module import Module

__all__ = ["ReLU", "LeakyReLU", "ELU", "Sigmoid", "Tanh", "SiLU", "Softmax", "LogSoftmax"]


class _OutputSaving(Module):
    """An activation whose backward needs only its output (relu, sigmoid, tanh)."""

    _forward = _backward = None

    def forward(self, x):
        y = type(self)._forward(x)
        self.save_for_backward(out=y)
        return y

    def backward(self, grad_output):
        return type(self)._backward(grad_output, self.saved()["out"])


class ReLU(_OutputSaving):
    """``max(x, 0)``."""

    _forward = staticmethod(F.relu_forward)
    _backward = staticmethod(F.relu_backward)


class Sigmoid(_OutputSaving):
    """``1 / (1 + exp(-x))``, stable for large ``|x|``."""

    _forward = staticmethod(F.sigmoid_forward)
    _backward = staticmethod(F.sigmoid_backward)


class Tanh(_OutputSaving):
    """``tanh(x)``."""

    _forward = staticmethod(F.tanh_forward)
    _backward = staticmethod(F.tanh_backward)


class SiLU(Module):
    """``x * sigmoid(x)`` (also called swish)."""

    def forward(self, x):
        self.save_for_backward(x=x)
        return F.silu_forward(x)

    def backward(self, grad_output):
        return F.silu_backward(grad_output, self.saved()["x"])


class LeakyReLU(Module):
    """``x if x > 0 else negative_slope * x``."""

    def __init__(self, negative_slope=0.01):
        super().__init__()
        self.negative_slope = check_real(negative_slope, "negative_slope")

    def forward(self, x):
        self.save_for_backward(x=x)
        return F.leaky_relu_forward(x, self.negative_slope)

    def backward(self, grad_output):
        return F.leaky_relu_backward(grad_output, self.saved()["x"], self.negative_slope)

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}"


class ELU(Module):
    """``x if x > 0 else alpha * (exp(x) - 1)``."""

    def __init__(self, alpha=1.0):
        super().__init__()
        self.alpha = check_real(alpha, "alpha")

    def forward(self, x):
        self.save_for_backward(x=x)
        return F.elu_forward(x, self.alpha)

    def backward(self, grad_output):
        return F.elu_backward(grad_output, self.saved()["x"], self.alpha)

    def extra_repr(self):
        return f"alpha={self.alpha}"


def _legacy_softmax_dim(name, ndim):
    warnings.warn(f"Implicit dimension choice for {name} has been deprecated (as in "
                  f"PyTorch). Pass dim explicitly.", stacklevel=3)
    return 0 if ndim in (0, 1, 3) else 1


class Softmax(Module):
    """Softmax along ``dim`` (the axis that sums to one).

    ``dim=None`` follows PyTorch's deprecated implicit choice (0 for 1-D and 3-D
    inputs, else 1) and warns.
    """

    _name = "softmax"

    def __init__(self, dim=None):
        super().__init__()
        self.dim = dim

    def _dim(self, x):
        return _legacy_softmax_dim(self._name, np.ndim(x)) if self.dim is None else self.dim

    def forward(self, x):
        dim = self._dim(x)
        y = F.softmax_forward(x, dim)
        self.save_for_backward(out=y, dim=dim)
        return y

    def backward(self, grad_output):
        s = self.saved()
        return F.softmax_backward(grad_output, s["out"], s["dim"])

    def extra_repr(self):
        return f"dim={self.dim}"


class LogSoftmax(Softmax):
    """Log of softmax along ``dim``, computed stably in one pass."""

    _name = "log_softmax"

    def forward(self, x):
        dim = self._dim(x)
        y = F.log_softmax_forward(x, dim)
        self.save_for_backward(out=y, dim=dim)
        return y

    def backward(self, grad_output):
        s = self.saved()
        return F.log_softmax_backward(grad_output, s["out"], s["dim"])
