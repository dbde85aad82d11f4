"""Dropout: inverted dropout of elements, and of whole channels (Dropout1d/2d/3d).

Masks come from a counter-based random stream (SplitMix64, csrc/_dropout.h) whose
64-bit seed is drawn from a ``numpy.random.Generator`` (pydl's default, see
:func:`pydl.manual_seed`, or the ``generator`` given): one draw per call, so the same
generator state gives the same mask, at any thread count. Element i is dropped when
its 32-bit uniform is below ``round(p * 2**32)``.

Forward returns the mask (bool, True = kept); backward reuses it.
"""

import math

import numpy as np

from .._ext import dropout as _drop
from .._threading import get_num_threads
from ..random import resolve
from ._alloc import empty, empty_like
from ._validation import as_float_array, check_real, check_same_shape

__all__ = [
    "dropout_forward", "dropout_backward",
    "channel_dropout_forward", "channel_dropout_backward",
]


def check_p(p):
    """A dropout probability in [0, 1]."""
    return check_real(p, "p", low=0.0, high=1.0)


def threshold(p):
    """Elements whose 32-bit uniform is below this are dropped: P(drop) = t / 2**32."""
    return min(int(round(p * 2.0**32)), 2**32)


def keep_scale(p, dtype):
    """The factor for kept elements, ``1 / (1 - p)`` rounded as PyTorch does (0 for
    p = 1, where nothing is kept)."""
    dtype = np.dtype(dtype)
    return 0.0 if p >= 1 else float(dtype.type(1) / dtype.type(1 - p))


# Bit generators whose raw output is next_uint64, the value integers(0, 2**64,
# dtype=uint64) returns (that draw takes the full range as one raw 64-bit word).
_RAW_IS_UINT64 = frozenset((np.random.PCG64, np.random.PCG64DXSM, np.random.SFC64,
                            np.random.Philox))


def draw_seed(generator):
    """One 64-bit seed for the mask stream, drawn from ``generator`` (or pydl's)."""
    g = resolve(generator)
    if type(g) is np.random.Generator:
        bits = g.bit_generator
        if type(bits) in _RAW_IS_UINT64:
            # the same word, without integers()'s argument handling (~2 us a call)
            return bits.random_raw()
    return int(g.integers(0, 2**64, dtype=np.uint64))


def _check_training(training):
    if not isinstance(training, (bool, np.bool_)):
        raise TypeError(f"training must be a bool, got {type(training).__name__}")


def _check_mask(mask, shape, what):
    if not isinstance(mask, np.ndarray):
        raise TypeError(f"mask must be a numpy array (the one forward returned), got "
                        f"{type(mask).__name__}")
    if mask.dtype not in (np.bool_, np.uint8):
        raise TypeError(f"mask must be a bool array, got dtype {mask.dtype}")
    if mask.shape != shape:
        raise ValueError(f"mask has shape {mask.shape} but {what} {shape}")
    mask = np.ascontiguousarray(mask)
    if mask.dtype == np.uint8 and mask.size and mask.max() > 1:
        raise ValueError("mask must hold only 0 and 1")
    return mask.view(np.uint8)


def dropout_forward(x, p=0.5, training=True, generator=None):
    """Inverted dropout: zero each element with probability p, scale the rest by 1/(1-p).

    Parameters
    ----------
    x : ndarray, any shape
    p : float in [0, 1]
    training : bool
        When False (or p == 0) x is returned unchanged (the same array) and mask is None.
    generator : numpy.random.Generator, optional

    Returns
    -------
    out : ndarray like x
    mask : bool ndarray like x (True = kept), or None
    """
    x = as_float_array(x, "x")
    p = check_p(p)
    _check_training(training)
    if not training or p == 0:
        return x, None
    seed = 0 if p == 1 else draw_seed(generator)
    out = empty_like(x)
    mask = empty(x.shape, np.bool_)
    t, scale = _constants(p, x.dtype)
    _drop.dropout_forward(x.reshape(-1), seed, t, scale, out.reshape(-1),
                          mask.reshape(-1).view(np.uint8), get_num_threads())
    return out, mask


_CONSTANTS = {}


def _constants(p, dtype):
    """(threshold(p), keep_scale(p, dtype)) for a checked p, kept per (p, dtype)."""
    key = (p, dtype)
    c = _CONSTANTS.get(key)
    if c is None:
        c = (threshold(p), keep_scale(p, dtype))
        if len(_CONSTANTS) >= 64:
            _CONSTANTS.clear()
        _CONSTANTS[key] = c
    return c


def dropout_backward(grad_out, mask, p=0.5):
    """Gradient of dropout: ``grad_out * mask / (1 - p)``; mask None (dropout was the
    identity) returns grad_out."""
    grad_out = as_float_array(grad_out, "grad_out")
    p = check_p(p)
    if mask is None:
        return grad_out
    if type(mask) is np.ndarray and mask.dtype is _BOOL and mask.flags.c_contiguous \
            and mask.shape == grad_out.shape:
        m = mask.view(np.uint8)     # _check_mask's result for a forward's own mask
    else:
        m = _check_mask(mask, grad_out.shape, "grad_out has shape")
    grad_in = empty_like(grad_out)
    _drop.dropout_backward(grad_out.reshape(-1), m.reshape(-1),
                           _constants(p, grad_out.dtype)[1], grad_in.reshape(-1),
                           get_num_threads())
    return grad_in


_BOOL = np.dtype(np.bool_)


def _rows(a):
    """(N, C, *) as (N * C, S)."""
    return a.reshape(a.shape[0] * a.shape[1], math.prod(a.shape[2:]))


def channel_dropout_forward(x, p=0.5, training=True, generator=None):
    """Dropout of whole channels: each (n, c) slice of x (N, C, *) is zeroed with
    probability p, the others scaled by 1/(1-p) (Dropout1d/2d/3d).

    Returns
    -------
    out : ndarray like x
    mask : bool ndarray (N, C) (True = kept), or None when not training or p == 0
    """
    x = as_float_array(x, "x", min_ndim=2)
    p = check_p(p)
    _check_training(training)
    if not training or p == 0:
        return x, None
    seed = 0 if p == 1 else draw_seed(generator)
    mask = empty(x.shape[:2], np.bool_)
    m = mask.reshape(-1).view(np.uint8)
    n_threads = get_num_threads()
    _drop.bernoulli_mask(seed, threshold(p), m, n_threads)
    out = empty_like(x)
    _drop.channel_dropout_apply(_rows(x), m, keep_scale(p, x.dtype), _rows(out), n_threads)
    return out, mask


def channel_dropout_backward(grad_out, mask, p=0.5):
    """Gradient of channel dropout given the forward's (N, C) mask."""
    grad_out = as_float_array(grad_out, "grad_out", min_ndim=2)
    p = check_p(p)
    if mask is None:
        return grad_out
    m = _check_mask(mask, grad_out.shape[:2], "grad_out has (N, C) =")
    grad_in = empty_like(grad_out)
    _drop.channel_dropout_apply(_rows(grad_out), m.reshape(-1),
                                keep_scale(p, grad_out.dtype), _rows(grad_in),
                                get_num_threads())
    return grad_in
