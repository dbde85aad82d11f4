"""Weight initialisers, after ``torch.nn.init`` (in place on a Parameter or array).

Every function fills its argument in place and returns it. Random draws come from
``generator`` (a ``numpy.random.Generator``) when given, else pydl's default
generator (seeded by :func:`pydl.manual_seed`); the same seed gives the same
weights. Draws are made in float64 and rounded to the array's dtype, so a float32
and a float64 weight initialised from the same seed hold the same values up to
rounding. They are drawn in chunks of at most ``_CHUNK`` values written straight
into the array (the stream is the same as one draw of the whole shape), so
initialising a weight needs only a bounded scratch buffer on top of the weight
itself: a float32 ``Linear(16384, 16384)`` peaks at its 1 GiB weight plus 8 MiB, not
3 GiB.

Fans follow PyTorch: for a weight of shape ``(out, in, *kernel)``,
``fan_in = in * prod(kernel)`` and ``fan_out = out * prod(kernel)`` (a Linear weight
``(out, in)`` has no kernel; a Conv2d weight ``(out, in/groups, kh, kw)`` has one).

========================  ===========================================================
``zeros_``, ``ones_``,    constant fills
``constant_``
``uniform_``, ``normal_`` U(a, b), N(mean, std**2)
``small_normal_``         N(0, std**2) with std = 0.01: ``randn(...) * 0.01``, the
                          classic "small random numbers" init
``xavier_uniform_``,      Glorot: variance ``gain**2 * 2 / (fan_in + fan_out)``
``xavier_normal_``
``kaiming_uniform_``,     He: variance ``gain**2 / fan`` (``fan_in`` or ``fan_out``),
``kaiming_normal_``       gain from the nonlinearity
``lecun_uniform_``,       LeCun: variance ``1 / fan_in`` (for SELU / linear layers)
``lecun_normal_``
========================  ===========================================================
"""

import math

import numpy as np

from .. import random as _random
from ..functional._validation import check_real
from .parameter import Parameter

__all__ = [
    "calculate_gain", "calculate_fan_in_and_fan_out",
    "zeros_", "ones_", "constant_", "uniform_", "normal_", "small_normal_",
    "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_",
    "lecun_uniform_", "lecun_normal_",
]


def _array(tensor):
    arr = tensor.data if isinstance(tensor, Parameter) else tensor
    if not isinstance(arr, np.ndarray) or arr.dtype.kind != "f":
        what = f"array of dtype {arr.dtype}" if isinstance(arr, np.ndarray) \
            else type(tensor).__name__
        raise TypeError(f"tensor must be a Parameter or a float ndarray, got {what}")
    if not arr.flags.writeable:
        raise ValueError("tensor is read-only; initialisers write in place")
    return arr


def calculate_fan_in_and_fan_out(shape):
    """Fan-in and fan-out of a weight, as PyTorch computes them.

    Parameters
    ----------
    shape : tuple of int, or Parameter or ndarray
        The weight or its shape ``(out, in, *kernel)``, at least 2-D.

    Returns
    -------
    fan_in, fan_out : int
        ``in * receptive`` and ``out * receptive``, where ``receptive`` is the
        product of the kernel dimensions (1 for a 2-D weight).
    """
    if not isinstance(shape, tuple):
        shape = tuple(np.shape(shape.data if isinstance(shape, Parameter) else shape))
    if len(shape) < 2:
        raise ValueError(f"fan in and fan out need at least 2 dimensions, got shape {shape}")
    receptive = int(np.prod(shape[2:], dtype=np.int64)) if len(shape) > 2 else 1
    return shape[1] * receptive, shape[0] * receptive


_calculate_fan_in_and_fan_out = calculate_fan_in_and_fan_out  # PyTorch's (private) name


def _fan(arr, mode):
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = calculate_fan_in_and_fan_out(arr.shape)
    return fan_in if mode == "fan_in" else fan_out


def calculate_gain(nonlinearity, param=None):
    """Recommended gain for a nonlinearity (PyTorch's table).

    ``linear``, ``conv*``, ``sigmoid``: 1; ``tanh``: 5/3; ``relu``: sqrt(2);
    ``leaky_relu``: sqrt(2 / (1 + negative_slope**2)) (``param``, default 0.01);
    ``selu``: 3/4.
    """
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
    """Fill with 0."""
    _array(tensor)[...] = 0
    return tensor


def ones_(tensor):
    """Fill with 1."""
    _array(tensor)[...] = 1
    return tensor


def constant_(tensor, val):
    """Fill with ``val``."""
    _array(tensor)[...] = check_real(val, "val")
    return tensor


_CHUNK = 1 << 20  # values per draw: an 8 MiB float64 scratch buffer at most


def _fill(arr, draw):
    """Fill ``arr`` in C order with ``draw(n)`` (float64 draws), ``_CHUNK`` at a time.

    Consecutive draws continue the generator's stream exactly where one draw of
    ``arr.size`` values would, so the values do not depend on the chunking."""
    size = arr.size
    if arr.flags.c_contiguous:
        flat = arr.reshape(-1)  # a view
        for start in range(0, size, _CHUNK):
            stop = min(start + _CHUNK, size)
            flat[start:stop] = draw(stop - start)
    else:  # a strided view: write through its flat iterator, in the same C order
        for start in range(0, size, _CHUNK):
            stop = min(start + _CHUNK, size)
            arr.flat[start:stop] = draw(stop - start)


def uniform_(tensor, a=0.0, b=1.0, generator=None):
    """Fill with draws from U(a, b), ``a <= b``."""
    arr = _array(tensor)
    a, b = check_real(a, "a"), check_real(b, "b")
    if a > b:
        raise ValueError(f"uniform_ needs a <= b, got a={a}, b={b}")
    rng = _random.resolve(generator)
    _fill(arr, lambda n: rng.uniform(a, b, size=n))
    return tensor


def normal_(tensor, mean=0.0, std=1.0, generator=None):
    """Fill with draws from N(mean, std**2)."""
    arr = _array(tensor)
    mean, std = check_real(mean, "mean"), check_real(std, "std", low=0.0)
    rng = _random.resolve(generator)
    _fill(arr, lambda n: rng.normal(mean, std, size=n))
    return tensor


def small_normal_(tensor, std=0.01, generator=None):
    """Small random numbers: ``standard_normal(shape) * std``, std = 0.01 by default.

    The textbook initialisation that breaks the symmetry between units while keeping
    activations near the linear regime of sigmoid/tanh; for deep networks prefer
    :func:`xavier_uniform_` or :func:`kaiming_uniform_`, whose scale follows the fan.
    """
    return normal_(tensor, 0.0, std, generator)


def xavier_uniform_(tensor, gain=1.0, generator=None):
    """Glorot uniform: U(-a, a) with ``a = gain * sqrt(6 / (fan_in + fan_out))``."""
    arr = _array(tensor)
    gain = check_real(gain, "gain", low=0.0)
    fan_in, fan_out = calculate_fan_in_and_fan_out(arr.shape)
    if fan_in + fan_out == 0:
        return tensor  # an empty weight has nothing to draw
    bound = math.sqrt(3.0) * gain * math.sqrt(2.0 / (fan_in + fan_out))
    return uniform_(tensor, -bound, bound, generator)


def xavier_normal_(tensor, gain=1.0, generator=None):
    """Glorot normal: N(0, std**2) with ``std = gain * sqrt(2 / (fan_in + fan_out))``."""
    arr = _array(tensor)
    gain = check_real(gain, "gain", low=0.0)
    fan_in, fan_out = calculate_fan_in_and_fan_out(arr.shape)
    if fan_in + fan_out == 0:
        return tensor
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)), generator)


def kaiming_uniform_(tensor, a=0.0, mode="fan_in", nonlinearity="leaky_relu",
                     generator=None):
    """He uniform: U(-b, b) with ``b = gain * sqrt(3 / fan)``, PyTorch's default for
    layers (Linear and Conv use ``a = sqrt(5)``).

    Parameters
    ----------
    tensor : Parameter or float ndarray, at least 2-D
    a : float
        Negative slope of the leaky ReLU that follows (for the gain).
    mode : {"fan_in", "fan_out"}
        "fan_in" keeps the forward activations' variance, "fan_out" the gradients'.
    nonlinearity : str
        See :func:`calculate_gain`.
    generator : numpy.random.Generator, optional
    """
    fan = _fan(_array(tensor), mode)
    if fan == 0:
        return tensor
    bound = calculate_gain(nonlinearity, a) * math.sqrt(3.0 / fan)
    return uniform_(tensor, -bound, bound, generator)


def kaiming_normal_(tensor, a=0.0, mode="fan_in", nonlinearity="leaky_relu",
                    generator=None):
    """He normal: N(0, std**2) with ``std = gain / sqrt(fan)``; arguments as
    :func:`kaiming_uniform_`."""
    fan = _fan(_array(tensor), mode)
    if fan == 0:
        return tensor
    return normal_(tensor, 0.0, calculate_gain(nonlinearity, a) / math.sqrt(fan), generator)


def lecun_uniform_(tensor, generator=None):
    """LeCun uniform: U(-b, b) with ``b = sqrt(3 / fan_in)`` (variance 1 / fan_in),
    as Keras' ``lecun_uniform``."""
    return kaiming_uniform_(tensor, mode="fan_in", nonlinearity="linear",
                            generator=generator)


def lecun_normal_(tensor, generator=None):
    """LeCun normal: N(0, 1 / fan_in), the initialisation SELU networks need.

    (Keras' ``lecun_normal`` draws from a truncated normal of the same variance;
    this one is untruncated.)"""
    return kaiming_normal_(tensor, mode="fan_in", nonlinearity="linear",
                           generator=generator)
