"""NumPy twin of pydl.functional.dropout: the same SplitMix64 stream, in uint64 arrays."""

import numpy as np

from ..functional.dropout import check_p, draw_seed, keep_scale, threshold

__all__ = [
    "dropout_forward", "dropout_backward",
    "channel_dropout_forward", "channel_dropout_backward",
]

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def uniform32(seed, n):
    """The first n 32-bit uniforms of the stream: output k = splitmix64 number k of
    ``seed``, split into its low (element 2k) and high (element 2k + 1) halves."""
    k = np.arange(1, (n + 1) // 2 + 1, dtype=np.uint64)
    z = np.uint64(seed) + k * _GOLDEN          # uint64 arithmetic wraps, as in C
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    z = z ^ (z >> np.uint64(31))
    halves = np.stack([z & np.uint64(0xFFFFFFFF), z >> np.uint64(32)], axis=1)
    return halves.reshape(-1)[:n]


def _keep(p, shape, generator):
    seed = 0 if p == 1 else draw_seed(generator)
    n = int(np.prod(shape))
    return (uniform32(seed, n) >= threshold(p)).reshape(shape)


def dropout_forward(x, p=0.5, training=True, generator=None):
    p = check_p(p)
    if not training or p == 0:
        return x, None
    mask = _keep(p, x.shape, generator)
    return x * np.where(mask, x.dtype.type(keep_scale(p, x.dtype)), x.dtype.type(0)), mask


def dropout_backward(grad_out, mask, p=0.5):
    if mask is None:
        return grad_out
    s = grad_out.dtype.type(keep_scale(p, grad_out.dtype))
    return grad_out * np.where(mask, s, grad_out.dtype.type(0))


def _per_channel(mask, ndim):
    return mask.reshape(mask.shape + (1,) * (ndim - 2))


def channel_dropout_forward(x, p=0.5, training=True, generator=None):
    p = check_p(p)
    if not training or p == 0:
        return x, None
    mask = _keep(p, x.shape[:2], generator)
    return channel_dropout_backward(x, mask, p), mask


def channel_dropout_backward(grad_out, mask, p=0.5):
    if mask is None:
        return grad_out
    s = grad_out.dtype.type(keep_scale(p, grad_out.dtype))
    return grad_out * _per_channel(np.where(mask, s, grad_out.dtype.type(0)), grad_out.ndim)
