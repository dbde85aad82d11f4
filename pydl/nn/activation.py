"""Activation modules (PyTorch names); each wraps a fused forward/backward kernel."""

import warnings

import numpy as np

from .. import functional as F
from .._grad_mode import _local as _grad_local
from ..functional import activation as _act
from ..functional._validation import check_real
from .linear import check_size, resolve_dtype
from .module import Module
from .parameter import Parameter

__all__ = ["ReLU", "LeakyReLU", "ELU", "Sigmoid", "Tanh", "SiLU", "Softmax", "LogSoftmax",
           "PReLU", "Softplus", "Hardtanh", "ReLU6", "GELU"]


class _OutputSaving(Module):
    """An activation whose backward needs only its output (relu, sigmoid, tanh)."""

    _forward = _backward = None
    _forward_arrays = None      # the op itself, for arrays (no tape wrapper to pass)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        # a subclass that gives its own _forward gets it on arrays too
        if "_forward" in cls.__dict__ and "_forward_arrays" not in cls.__dict__:
            cls._forward_arrays = None

    def forward(self, x):
        cls = type(self)
        if type(x) is np.ndarray and cls._forward_arrays is not None:
            y = cls._forward_arrays(x)
        else:
            y = cls._forward(x)
        if _grad_local.enabled:      # save_for_backward, without the call
            self.save_for_backward(out=y)
        return y

    def backward(self, grad_output):
        return type(self)._backward(grad_output, self.saved()["out"])


class ReLU(_OutputSaving):
    """``max(x, 0)``."""

    _forward = staticmethod(F.relu_forward)
    _forward_arrays = staticmethod(_act.relu_forward)
    _backward = staticmethod(F.relu_backward)


class Sigmoid(_OutputSaving):
    """``1 / (1 + exp(-x))``, stable for large ``|x|``."""

    _forward = staticmethod(F.sigmoid_forward)
    _forward_arrays = staticmethod(_act.sigmoid_forward)
    _backward = staticmethod(F.sigmoid_backward)


class Tanh(_OutputSaving):
    """``tanh(x)``."""

    _forward = staticmethod(F.tanh_forward)
    _forward_arrays = staticmethod(_act.tanh_forward)
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


class _InputSaving(Module):
    """An activation whose backward needs its input and hyper-parameters ``_hyper()``."""

    _forward = _backward = None

    def _hyper(self):
        return ()

    def forward(self, x):
        self.save_for_backward(x=x)
        return type(self)._forward(x, *self._hyper())

    def backward(self, grad_output):
        return type(self)._backward(grad_output, self.saved()["x"], *self._hyper())


class PReLU(Module):
    """``x if x > 0 else a * x`` with a learned slope ``a`` (``torch.nn.PReLU``).

    Parameters
    ----------
    num_parameters : int
        1 (one slope shared by all channels) or C, the number of channels (axis 1 of
        the input).
    init : float
        Initial slope.
    dtype : float32 (default) or float64

    ``weight`` has shape (num_parameters,). Inputs of fewer than 2 dims have one channel.
    """

    def __init__(self, num_parameters=1, init=0.25, dtype=None):
        super().__init__()
        self.num_parameters = check_size(num_parameters, "num_parameters")
        if self.num_parameters < 1:
            raise ValueError("num_parameters must be >= 1")
        self.init = check_real(init, "init")
        self.weight = Parameter(np.full(self.num_parameters, self.init, resolve_dtype(dtype)))

    def reset_parameters(self):
        self.weight.data[...] = self.init

    def forward(self, x):
        self.save_for_backward(x=x)
        return F.prelu_forward(x, self.weight.data)

    def backward(self, grad_output):
        gx, gw = F.prelu_backward(grad_output, self.saved()["x"], self.weight.data,
                                  need_weight_grad=self.weight.requires_grad)
        self.weight.accumulate_grad(gw)
        return gx

    def extra_repr(self):
        return f"num_parameters={self.num_parameters}"


class Softplus(_InputSaving):
    """``log(1 + exp(beta * x)) / beta``; linear (``x``) where ``beta * x > threshold``."""

    _forward = staticmethod(F.softplus_forward)
    _backward = staticmethod(F.softplus_backward)

    def __init__(self, beta=1.0, threshold=20.0):
        super().__init__()
        self.beta = check_real(beta, "beta")
        if self.beta == 0:
            raise ValueError("beta must be non-zero")
        self.threshold = check_real(threshold, "threshold")

    def _hyper(self):
        return self.beta, self.threshold

    def extra_repr(self):
        return f"beta={self.beta}, threshold={self.threshold}"


class Hardtanh(_InputSaving):
    """``x`` clipped to ``[min_val, max_val]``; the gradient is 0 at and past the edges."""

    _forward = staticmethod(F.hardtanh_forward)
    _backward = staticmethod(F.hardtanh_backward)

    def __init__(self, min_val=-1.0, max_val=1.0):
        super().__init__()
        self.min_val = check_real(min_val, "min_val")
        self.max_val = check_real(max_val, "max_val")
        if not self.max_val > self.min_val:
            raise ValueError(f"max_val must be greater than min_val, got "
                             f"min_val={self.min_val}, max_val={self.max_val}")

    def _hyper(self):
        return self.min_val, self.max_val

    def extra_repr(self):
        return f"min_val={self.min_val}, max_val={self.max_val}"


class ReLU6(Hardtanh):
    """``min(max(x, 0), 6)``: Hardtanh(0, 6) (MobileNet)."""

    def __init__(self):
        super().__init__(0.0, 6.0)

    def extra_repr(self):
        return ""


class GELU(_InputSaving):
    """``x * Phi(x)``, Phi the standard normal CDF; ``approximate="tanh"`` uses
    ``x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x**3)))``."""

    _forward = staticmethod(F.gelu_forward)
    _backward = staticmethod(F.gelu_backward)

    def __init__(self, approximate="none"):
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def _hyper(self):
        return (self.approximate,)

    def extra_repr(self):
        return f"approximate={self.approximate!r}"
