"""Linear, Identity and Flatten."""

import math

import numpy as np

from .. import functional as F
from .._grad_mode import _local as _grad_local
from ..functional.dense import linear_forward_arrays
from . import init
from .module import Module
from .parameter import Parameter

__all__ = ["Linear", "Identity", "Flatten"]


def resolve_dtype(dtype):
    """A layer's dtype: float32 by default, float64 for gradient checks."""
    dtype = np.dtype(np.float32 if dtype is None else dtype)
    if dtype not in (np.float32, np.float64):
        raise TypeError(f"dtype must be float32 or float64, got {dtype}")
    return dtype


def check_size(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value}")
    return int(value)


class Linear(Module):
    """``y = x @ weight.T + bias`` (PyTorch's ``nn.Linear``).

    Parameters
    ----------
    in_features, out_features : int
    bias : bool
    dtype : float32 (default) or float64
    generator : numpy.random.Generator, optional
        For the initial weights (default: pydl's generator).

    Shapes: input (*, in_features), output (*, out_features); ``weight`` is
    (out_features, in_features) and ``bias`` (out_features,), initialised as PyTorch
    does: U(-1/sqrt(in_features), 1/sqrt(in_features)).
    """

    def __init__(self, in_features, out_features, bias=True, dtype=None, generator=None):
        super().__init__()
        self.in_features = check_size(in_features, "in_features")
        self.out_features = check_size(out_features, "out_features")
        dtype = resolve_dtype(dtype)
        self.weight = Parameter(np.empty((self.out_features, self.in_features), dtype))
        if bias:
            self.bias = Parameter(np.empty(self.out_features, dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters(generator)

    def reset_parameters(self, generator=None):
        init.kaiming_uniform_(self.weight, a=math.sqrt(5), generator=generator)
        if self.bias is not None:
            bound = 1 / math.sqrt(self.in_features) if self.in_features > 0 else 0.0
            init.uniform_(self.bias, -bound, bound, generator=generator)

    def forward(self, x):
        params = self._parameters
        weight, bias = params["weight"], params["bias"]
        bias = None if bias is None else bias.data
        if type(x) is np.ndarray:    # the explicit path: no tape to record on
            y = linear_forward_arrays(x, weight.data, bias)
        else:
            y = F.linear_forward(x, weight.data, bias)
        if _grad_local.enabled:      # save_for_backward, without the call
            self.save_for_backward(x=x)
        return y

    def backward(self, grad_output, *, need_input_grad=True):
        """Add the weight and bias gradients into their ``.grad``; return the input's.

        Parameters
        ----------
        grad_output : ndarray, shape (*, out_features)
        need_input_grad : bool, keyword-only, default True
            False skips the input gradient (a first layer on data); the weight and
            bias gradients are the same, bit for bit. See
            :meth:`pydl.nn.Sequential.backward`.

        Returns
        -------
        grad_input : ndarray, shape (*, in_features), or None when not needed
        """
        x = self.saved()["x"]
        params = self._parameters
        weight, bias = params["weight"], params["bias"]
        need_w = weight.requires_grad
        has_bias = bias is not None and bias.requires_grad
        if not (need_input_grad or need_w or has_bias):
            return None
        gx, gw, gb = F.linear_backward(grad_output, x, weight.data,
                                       need_input_grad=bool(need_input_grad),
                                       need_weight_grad=need_w,
                                       need_bias_grad=has_bias)
        weight.accumulate_grad(gw)
        if has_bias:
            bias.accumulate_grad(gb)
        return gx

    def extra_repr(self):
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


class Identity(Module):
    """Returns its input; the gradient passes through unchanged."""

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, x):
        return x

    def backward(self, grad_output):
        return grad_output


class Flatten(Module):
    """Flattens dimensions ``start_dim..end_dim`` into one (default: all but batch)."""

    def __init__(self, start_dim=1, end_dim=-1):
        super().__init__()
        self.start_dim = start_dim
        self.end_dim = end_dim

    def forward(self, x):
        if type(x) is not np.ndarray:
            x = np.asarray(x)
        shape = x.shape
        nd = len(shape)
        start = self.start_dim + nd if self.start_dim < 0 else self.start_dim
        end = self.end_dim + nd if self.end_dim < 0 else self.end_dim
        if not (0 <= start < max(nd, 1) and 0 <= end < max(nd, 1)) or start > end:
            raise ValueError(f"Flatten(start_dim={self.start_dim}, end_dim={self.end_dim}) "
                             f"does not fit an input of shape {x.shape}")
        if _grad_local.enabled:      # save_for_backward, without the call
            self.save_for_backward(shape=shape)
        if nd == 0:
            return x.reshape(1)
        # math.prod on the shape's Python ints: exact, and np.prod cost ~5 us a call
        flat = math.prod(shape[start:end + 1])
        return x.reshape(*shape[:start], flat, *shape[end + 1:])

    def backward(self, grad_output):
        return np.asarray(grad_output).reshape(self.saved()["shape"])

    def extra_repr(self):
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"
