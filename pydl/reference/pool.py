"""NumPy twins of pydl.functional.pool, written from PyTorch's definitions.

Max and average pooling loop over the offsets of the kernel window (in PyTorch's
order), each step vectorised over every output; adaptive pooling loops over output
positions. Gradients scatter with ``np.add.at``. Same names and signatures as the
functional ops, no validation.
"""

import itertools

import numpy as np

from ..functional._spatial import export_per_axis

__all__ = []


def _tup(value, nd):
    return tuple(value) if isinstance(value, (tuple, list)) else (value,) * nd


def _out_size(size, k, s, p, d, ceil_mode):
    out = (size + 2 * p - d * (k - 1) - 1 + (s - 1 if ceil_mode else 0)) // s + 1
    if ceil_mode and (out - 1) * s >= size + p:
        out -= 1
    return out


def _geometry(spatial, nd, kernel_size, stride, padding, dilation, ceil_mode):
    k = _tup(kernel_size, nd)
    s = k if stride is None else _tup(stride, nd)
    p, d = _tup(padding, nd), _tup(dilation, nd)
    outs = tuple(_out_size(spatial[i], k[i], s[i], p[i], d[i], ceil_mode) for i in range(nd))
    return k, s, p, d, outs


def _planes(a, nd):
    return a.reshape((-1,) + a.shape[-nd:])


def _flat(positions, spatial):
    """Flat in-plane index of the outer product of per-axis positions."""
    flat = 0
    for axis, q in enumerate(positions):
        shape = [1] * len(positions)
        shape[axis] = -1
        flat = flat * spatial[axis] + q.reshape(shape)
    return flat


def _window_taps(spatial, outs, k, s, p, d):
    """Yield (clipped positions per axis, validity mask, flat index) for each offset
    of the window, in row-major order."""
    for offset in itertools.product(*(range(ki) for ki in k)):
        pos = [np.arange(outs[i]) * s[i] - p[i] + offset[i] * d[i] for i in range(len(k))]
        valid = np.ones(outs, bool)
        for axis, q in enumerate(pos):
            shape = [1] * len(pos)
            shape[axis] = -1
            valid = valid & ((q >= 0) & (q < spatial[axis])).reshape(shape)
        clipped = [np.clip(q, 0, spatial[i] - 1) for i, q in enumerate(pos)]
        yield clipped, valid, _flat(clipped, spatial)


# --------------------------------------------------------------------- max pooling

def _max_pool_forward(nd, x, kernel_size, stride=None, padding=0, dilation=1,
                      ceil_mode=False):
    spatial = x.shape[-nd:]
    k, s, p, d, outs = _geometry(spatial, nd, kernel_size, stride, padding, dilation,
                                 ceil_mode)
    xp = _planes(x, nd)
    best = np.full((xp.shape[0],) + outs, -np.inf, x.dtype)
    # the first in-input position of each window (PyTorch's initial argmax)
    first = []
    for i in range(nd):
        start = np.arange(outs[i]) * s[i] - p[i]
        first.append(np.where(start < 0, start + (-start + d[i] - 1) // d[i] * d[i], start))
    idx = np.broadcast_to(_flat(first, spatial), best.shape).astype(np.int64)
    for clipped, valid, flat in _window_taps(spatial, outs, k, s, p, d):
        v = xp[(slice(None),) + np.ix_(*clipped)]
        take = valid & ((v > best) | np.isnan(v))     # first maximum wins; NaN wins
        best = np.where(take, v, best)
        idx = np.where(take, flat, idx)
    shape = x.shape[:-nd] + outs
    return best.reshape(shape), idx.reshape(shape)


def _max_pool_backward(nd, grad_out, indices, input_shape):
    plane = int(np.prod(input_shape[-nd:]))
    g = grad_out.reshape(-1, int(np.prod(grad_out.shape[-nd:])))
    grad_in = np.zeros((g.shape[0], plane), grad_out.dtype)
    rows = np.repeat(np.arange(g.shape[0]), g.shape[1])
    np.add.at(grad_in, (rows, indices.reshape(-1)), g.reshape(-1))
    return grad_in.reshape(input_shape)


def _adaptive_windows(spatial, outs):
    """Per output position (row-major): a tuple of slices, one per axis."""
    per_axis = [[slice(i * size // out, -(-(i + 1) * size // out)) for i in range(out)]
                for size, out in zip(spatial, outs)]
    return itertools.product(*per_axis)


def _adaptive_outs(output_size, nd, spatial):
    sizes = _tup(output_size, nd)
    return tuple(spatial[i] if v is None else v for i, v in enumerate(sizes))


def _adaptive_max_pool_forward(nd, x, output_size):
    spatial = x.shape[-nd:]
    outs = _adaptive_outs(output_size, nd, spatial)
    xp = _planes(x, nd)
    out = np.empty((xp.shape[0], int(np.prod(outs))), x.dtype)
    idx = np.empty(out.shape, np.int64)
    for o, win in enumerate(_adaptive_windows(spatial, outs)):
        block = xp[(slice(None),) + win]
        w = block.reshape(block.shape[0], -1)
        nan = np.isnan(w)
        local = np.where(nan.any(axis=1), w.shape[1] - 1 - np.argmax(nan[:, ::-1], axis=1),
                         np.argmax(np.where(nan, -np.inf, w), axis=1))
        out[:, o] = w[np.arange(w.shape[0]), local]
        pos = np.unravel_index(local, block.shape[1:])
        idx[:, o] = np.ravel_multi_index([q + sl.start for q, sl in zip(pos, win)], spatial)
    shape = x.shape[:-nd] + outs
    return out.reshape(shape), idx.reshape(shape)


def _adaptive_max_pool_backward(nd, grad_out, indices, input_shape):
    return _max_pool_backward(nd, grad_out, indices, input_shape)


# ----------------------------------------------------------------- average pooling

def _divisors(spatial, outs, k, s, p, count_include_pad, divisor_override):
    """Each output's divisor, as PyTorch: padding counted (but not past it) or not."""
    div = np.ones(outs, np.int64)
    for i in range(len(outs)):
        start = np.arange(outs[i]) * s[i] - p[i]
        end = np.minimum(start + k[i], spatial[i] + p[i])
        count = end - start if count_include_pad else \
            np.minimum(end, spatial[i]) - np.maximum(start, 0)
        shape = [1] * len(outs)
        shape[i] = -1
        div = div * count.reshape(shape)
    return np.full(outs, divisor_override, np.int64) if divisor_override else div


def _avg_pool_forward(nd, x, kernel_size, stride=None, padding=0, ceil_mode=False,
                      count_include_pad=True, divisor_override=None):
    spatial = x.shape[-nd:]
    k, s, p, d, outs = _geometry(spatial, nd, kernel_size, stride, padding, 1, ceil_mode)
    xp = _planes(x, nd)
    total = np.zeros((xp.shape[0],) + outs, x.dtype)
    for clipped, valid, _ in _window_taps(spatial, outs, k, s, p, d):
        total += np.where(valid, xp[(slice(None),) + np.ix_(*clipped)], 0)
    div = _divisors(spatial, outs, k, s, p, count_include_pad, divisor_override)
    return (total / div.astype(x.dtype)).reshape(x.shape[:-nd] + outs)


def _avg_pool_backward(nd, grad_out, input_shape, kernel_size, stride=None, padding=0,
                       ceil_mode=False, count_include_pad=True, divisor_override=None):
    spatial = tuple(input_shape[-nd:])
    k, s, p, d, outs = _geometry(spatial, nd, kernel_size, stride, padding, 1, ceil_mode)
    g = _planes(grad_out, nd) / _divisors(spatial, outs, k, s, p, count_include_pad,
                                          divisor_override).astype(grad_out.dtype)
    grad_in = np.zeros((g.shape[0], int(np.prod(spatial))), grad_out.dtype)
    rows = np.arange(g.shape[0])[:, None]
    for _, valid, flat in _window_taps(spatial, outs, k, s, p, d):
        np.add.at(grad_in, (rows, np.broadcast_to(flat, outs).reshape(1, -1)),
                  np.where(valid, g, 0).reshape(g.shape[0], -1))
    return grad_in.reshape(input_shape)


def _adaptive_avg_pool_forward(nd, x, output_size):
    spatial = x.shape[-nd:]
    outs = _adaptive_outs(output_size, nd, spatial)
    xp = _planes(x, nd)
    out = np.empty((xp.shape[0], int(np.prod(outs))), x.dtype)
    for o, win in enumerate(_adaptive_windows(spatial, outs)):
        out[:, o] = xp[(slice(None),) + win].reshape(xp.shape[0], -1).mean(axis=1)
    return out.reshape(x.shape[:-nd] + outs)


def _adaptive_avg_pool_backward(nd, grad_out, input_shape):
    spatial, outs = tuple(input_shape[-nd:]), grad_out.shape[-nd:]
    g = grad_out.reshape(-1, int(np.prod(outs)))
    grad_in = np.zeros((g.shape[0],) + spatial, grad_out.dtype)
    for o, win in enumerate(_adaptive_windows(spatial, outs)):
        count = np.prod([sl.stop - sl.start for sl in win])
        grad_in[(slice(None),) + win] += (g[:, o] / count).reshape((-1,) + (1,) * nd)
    return grad_in.reshape(input_shape)


# -------------------------------------------------------------------- max unpooling

def _max_unpool_forward(nd, x, indices, kernel_size, stride=None, padding=0,
                        output_size=None):
    k = _tup(kernel_size, nd)
    s = k if stride is None else _tup(stride, nd)
    p = _tup(padding, nd)
    if output_size is None:
        outs = tuple((x.shape[-nd + i] - 1) * s[i] + k[i] - 2 * p[i] for i in range(nd))
    else:
        outs = tuple(output_size)[-nd:]
    plane, per_plane = int(np.prod(outs)), int(np.prod(x.shape[-nd:]))
    n_planes = int(np.prod(x.shape[:-nd]))
    src = x.reshape(-1)
    target = np.repeat(np.arange(n_planes), per_plane) * plane + indices.reshape(-1)
    out = np.zeros(n_planes * plane, x.dtype)
    # a repeated index takes the value that comes last
    last = np.full(out.size, -1)
    np.maximum.at(last, target, np.arange(src.size))
    hit = last >= 0
    out[hit] = src[last[hit]]
    return out.reshape(x.shape[:-nd] + outs)


def _max_unpool_backward(nd, grad_out, indices):
    g = grad_out.reshape(-1, int(np.prod(grad_out.shape[-nd:])))
    idx = indices.reshape(g.shape[0], -1)
    return np.take_along_axis(g, idx, axis=1).reshape(indices.shape)


for _generic in (_max_pool_forward, _max_pool_backward, _adaptive_max_pool_forward,
                 _adaptive_max_pool_backward, _avg_pool_forward, _avg_pool_backward,
                 _adaptive_avg_pool_forward, _adaptive_avg_pool_backward,
                 _max_unpool_forward, _max_unpool_backward):
    export_per_axis(_generic, "NumPy twin of pydl.functional.{name}.", globals(), __all__)
