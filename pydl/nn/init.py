"""Weight initialisers, after ``torch.nn.init`` (in-place on a Parameter or array).

Random draws come from ``generator`` when given, else pydl's default generator
(:func:`pydl.manual_seed`).
"""

import math

import numpy as np

from .. import random as _random
from .parameter import Parameter

__all__ = [
    "calculate_gain", "calculate_fan_in_and_fan_out",
    "zeros_", "ones_", "constant_", "uniform_", "normal_",
    "kaiming_uniform_",
]


def _array(tensor):
    arr = tensor.data if isinstance(tensor, Parameter) else tensor
    if not isinstance(arr, np.ndarray) or arr.dtype.kind != "f":
        raise TypeError(f"tensor must be a Parameter or a float ndarray, "
                        f"got {type(tensor).__name__}")
    if not arr.flags.writeable:
        raise ValueError("tensor is read-only; initialisers write in place")
    return arr


def calculate_fan_in_and_fan_out(shape):
    """Fan-in and fan-out of a weight of ``shape`` (out, in, *kernel), as PyTorch."""
    shape = tuple(np.shape(shape.data if isinstance(shape, Parameter) else shape)) \
        if not isinstance(shape, tuple) else shape
    if len(shape) < 2:
        raise ValueError(f"fan in and fan out need at least 2 dimensions, got shape {shape}")
    receptive = int(np.prod(shape[2:], dtype=np.int64)) if len(shape) > 2 else 1
    return shape[1] * receptive, shape[0] * receptive


def calculate_gain(nonlinearity, param=None):
    """Recommended gain for a nonlinearity (PyTorch's table)."""
    linear = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d",
              "conv_transpose2d", "conv_transpose3d", "sigmoid")
    if nonlinearity in linear:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else param
        if isinstance(slope, bool) or not isinstance(slope, (int, float)):
            raise ValueError(f"negative_slope {slope} is not a valid number")
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"unsupported nonlinearity {nonlinearity!r}")


def zeros_(tensor):
    _array(tensor)[...] = 0
    return tensor


def ones_(tensor):
    _array(tensor)[...] = 1
    return tensor


def constant_(tensor, val):
    _array(tensor)[...] = val
    return tensor


def uniform_(tensor, a=0.0, b=1.0, generator=None):
    """Fill with draws from U(a, b)."""
    arr = _array(tensor)
    arr[...] = _random.resolve(generator).uniform(a, b, size=arr.shape)
    return tensor


def normal_(tensor, mean=0.0, std=1.0, generator=None):
    """Fill with draws from N(mean, std**2)."""
    arr = _array(tensor)
    arr[...] = _random.resolve(generator).normal(mean, std, size=arr.shape)
    return tensor


def kaiming_uniform_(tensor, a=0.0, mode="fan_in", nonlinearity="leaky_relu",
                     generator=None):
    """He uniform: U(-b, b) with b = gain * sqrt(3 / fan), PyTorch's default for layers."""
    fan_in, fan_out = calculate_fan_in_and_fan_out(_array(tensor).shape)
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan = fan_in if mode == "fan_in" else fan_out
    if fan == 0:
        return tensor  # an empty weight has nothing to draw
    bound = calculate_gain(nonlinearity, a) * math.sqrt(3.0 / fan)
    return uniform_(tensor, -bound, bound, generator)
