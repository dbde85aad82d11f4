"""Max, average and adaptive pooling, and max unpooling, over 1 to 3 spatial axes.

Inputs are ``(N, C, *spatial)`` or unbatched ``(C, *spatial)`` arrays, as in PyTorch.
Max pooling returns the output and the argmax ``indices`` (int64 flat positions in
each input plane, PyTorch's ``return_indices=True``), computed in one pass; its
backward scatters the gradient through them. PyTorch's rules throughout:

- ``stride`` defaults to ``kernel_size``; ``padding`` is at most half the kernel.
- Output size ``floor((L + 2p - d(k - 1) - 1) / s) + 1``; with ``ceil_mode`` rounded
  up, except that the last window must start inside the input or the left padding.
- Max pooling pads with -inf (padding never wins); the first maximum of a window wins
  a tie, a NaN wins over any number. Average pooling pads with zeros, counted in the
  divisor when ``count_include_pad`` (but never the part of a ``ceil_mode`` window
  beyond the right padding); ``divisor_override`` replaces the divisor.
- Adaptive pooling to ``out`` positions uses windows
  ``[floor(i * L / out), ceil((i + 1) * L / out))``; ``None`` in ``output_size``
  keeps that axis's size.

Each op exists for 1, 2 and 3 spatial axes (``max_pool1d_forward``,
``max_pool2d_forward``, ...); all of them run the kernels of ``pydl._ext.pool``.
"""

import functools
import math

import numpy as np

from .._ext import pool as _pool
from .._threading import _state as _threading_state
from .._threading import get_num_threads
from ._alloc import _state as _alloc_state
from ._alloc import check_fits_in_memory, empty, empty_checked
from ._plans import remember
from ._spatial import (INT_ARG_MAX, check_grad_shape, export_per_axis, index_array, ints,
                       pad3, planes, raise_if_bad_indices, shape_arg, spatial_input)
from ._validation import check_int, check_ndarray

__all__ = []  # filled in by _export below

_ONE = np.zeros(1, np.int64), np.ones(1, np.int64)   # the window of a padded axis


# ------------------------------------------------------------------------ arguments

def _flag(value, name):
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a bool, got {type(value).__name__}")
    return bool(value)


def _spatial_sizes(shape, nd, name):
    sizes = tuple(shape[-nd:])
    if min(sizes) < 1:
        raise ValueError(f"{name} has shape {tuple(shape)}: its spatial axes (the last "
                         f"{nd}) must be non-empty")
    return sizes


def _pool_args(nd, kernel_size, stride, padding, dilation=1):
    k = ints(kernel_size, nd, "kernel_size")
    s = k if stride is None or (isinstance(stride, (tuple, list)) and len(stride) == 0) \
        else ints(stride, nd, "stride")
    p = ints(padding, nd, "padding", low=0)
    d = ints(dilation, nd, "dilation")
    if any(pi > ki // 2 for ki, pi in zip(k, p)):
        raise ValueError(f"padding must be at most half of kernel_size, got padding={p} "
                         f"for kernel_size={k}")
    return k, s, p, d


def _out_size(size, k, s, p, d, ceil_mode, axis):
    """PyTorch's pooling output size along one axis; an error when it is below 1."""
    eff = d * (k - 1) + 1
    out = (size + 2 * p - eff + (s - 1 if ceil_mode else 0)) // s + 1
    if ceil_mode and (out - 1) * s >= size + p:
        out -= 1   # the last window would start in the right padding
    if out < 1:
        dilated = f" (dilated to {eff})" if d > 1 else ""
        raise ValueError(f"kernel_size {k}{dilated} is larger than the padded input "
                         f"({size} + 2 * {p} padding) along spatial axis {axis}: the "
                         f"output size would be {out}, below 1")
    return out


def _divisor(divisor_override):
    if divisor_override is None:
        return 0
    value = check_int(divisor_override, "divisor_override", low=-INT_ARG_MAX,
                      high=INT_ARG_MAX)
    if value == 0:
        raise ValueError("divisor_override must not be 0")
    return value


# ---------------------------------------------------------------------- geometry

def _frozen(*arrays):
    """Cached geometry is shared between calls: make it read-only."""
    for a in arrays:
        a.setflags(write=False)
    return arrays


@functools.lru_cache(maxsize=512)
def _max_windows(size, out, k, s, p, d, axis):
    """Per output position: the first input position of the window (on the dilation
    grid, past the left padding) and the end of the window, clipped to the input."""
    start = np.arange(out, dtype=np.int64) * s - p
    hi = np.minimum(start + d * (k - 1) + 1, size)
    lo = np.where(start < 0, start + (-start + d - 1) // d * d, start)
    empty_at = np.flatnonzero(lo >= hi)
    if empty_at.size:
        raise ValueError(f"the pooling window at output position {empty_at[0]} along "
                         f"spatial axis {axis} lies entirely in the padding (dilation {d} "
                         f"steps over every input element); reduce dilation or padding")
    return _frozen(lo, hi)


@functools.lru_cache(maxsize=512)
def _avg_windows(size, out, k, s, p, count_include_pad):
    """Window bounds clipped to the input, and each window's divisor."""
    start = np.arange(out, dtype=np.int64) * s - p
    end = np.minimum(start + k, size + p)
    lo, hi = np.maximum(start, 0), np.minimum(end, size)
    return _frozen(lo, hi, (end - start) if count_include_pad else (hi - lo))


def _interior(size, out, k, s, p, d=1):
    """The kernels' Span: output columns [a, b) whose windows lie inside the input,
    read as w = ow * s - p + j * d for j in range(k)."""
    a = min(out, -(-p // s))
    last = size - 1 + p - (k - 1) * d       # the largest ow * s that still fits
    b = max(a, min(out, last // s + 1)) if last >= 0 else a
    return a, b, k, -p, s


def _adaptive_interior(size, out):
    """Adaptive windows are plain k-wide, k-strided windows when out divides size;
    otherwise every column takes the kernels' general loop."""
    if size % out:
        return 0, 0, 0, 0, 1
    return _interior(size, out, size // out, size // out, 0)


@functools.lru_cache(maxsize=512)
def _adaptive_windows(size, out):
    """[floor(i * size / out), ceil((i + 1) * size / out)) and their lengths."""
    i = np.arange(out, dtype=np.int64)
    lo = i * size // out
    hi = -(-(i + 1) * size // out)
    return _frozen(lo, hi, hi - lo)


def _adaptive_plan(spatial, outs, nd):
    return lambda: ([_adaptive_windows(spatial[i], outs[i]) for i in range(nd)],
                    _adaptive_interior(spatial[-1], outs[-1]))


def _adaptive_sizes(output_size, nd, spatial):
    if output_size is None or isinstance(output_size, (tuple, list)):
        sizes = (None,) * nd if output_size is None else tuple(output_size)
        if len(sizes) != nd:
            raise ValueError(f"output_size must be an int or a sequence of {nd} ints "
                             f"(or None), got {output_size!r}")
    else:
        sizes = (output_size,) * nd
    return tuple(spatial[i] if v is None else check_int(v, "output_size", low=1, high=2**62)
                 for i, v in enumerate(sizes))


# ----------------------------------------------------------------- kernel plumbing

def _as_planes(a, nd):
    """(planes, elements per plane) view of a C-contiguous array with nd spatial axes."""
    return a.reshape(planes(a.shape, nd), math.prod(a.shape[-nd:]))


def _max_kernel(x, nd, outs, windows):
    """Run max_pool_forward. windows() gives (lo, hi, step) per axis and the last
    axis's interior span; it is called only when there is work, so a huge output on an
    empty batch never builds its windows."""
    shape = x.shape[:-nd] + tuple(outs)
    out, idx = empty(shape, x.dtype), empty(shape, np.int64)
    if out.size:
        axes, span = windows()
        axes = [(*_ONE, 1)] * (3 - nd) + list(axes)
        _pool.max_pool_forward(_as_planes(x, nd), _as_planes(out, nd), _as_planes(idx, nd),
                               *pad3(x.shape[-nd:]), *[v for a in axes for v in a], *span,
                               get_num_threads())
    return out, idx


def _avg_kernel(kernel, src, dst, nd, in_spatial, windows, divisor):
    """Run avg_pool_forward or avg_pool_backward; windows() gives (lo, hi, count) per
    axis and the last axis's interior span."""
    if dst.size:
        axes, span = windows()
        axes = [(*_ONE, np.ones(1, np.int64))] * (3 - nd) + list(axes)
        kernel(_as_planes(src, nd), _as_planes(dst, nd), *pad3(in_spatial),
               *[v for a in axes for v in a], divisor, *span, get_num_threads())
    return dst


def _grad_in_for(grad_out, nd, input_shape):
    """Check grad_out against input_shape's leading axes; allocate the input gradient."""
    grad_out = spatial_input(grad_out, nd, "grad_out")
    shape = shape_arg(input_shape, nd)
    if len(shape) != grad_out.ndim or shape[:-nd] != grad_out.shape[:-nd]:
        raise ValueError(f"grad_out has shape {grad_out.shape} but input_shape is {shape}: "
                         f"they must agree in all but the last {nd} axes")
    return grad_out, shape, empty(shape, grad_out.dtype)


# --------------------------------------------------------------------- max pooling

def _max_geometry(spatial, nd, kernel_size, stride, padding, dilation, ceil_mode):
    k, s, p, d = _pool_args(nd, kernel_size, stride, padding, dilation)
    ceil_mode = _flag(ceil_mode, "ceil_mode")
    outs = [_out_size(spatial[i], k[i], s[i], p[i], d[i], ceil_mode, i) for i in range(nd)]
    return outs, lambda: ([(*_max_windows(spatial[i], outs[i], k[i], s[i], p[i], d[i], i),
                            d[i]) for i in range(nd)],
                          _interior(spatial[-1], outs[-1], k[-1], s[-1], p[-1], d[-1]))


# Max pooling of a C-contiguous ndarray whose key (shape, dtype, hyper-parameters)
# passed every check once: a plan holding the kernel's arguments. Hyper-parameters in
# the key must be exact ints (or None, or a bool for ceil_mode): 2.0 and True hash like
# 2 and 1, so a plan serves the objects that built it (identity: small ints and a
# layer's own tuples) or values that pass ``_plain_pool``.
_MAX_PLANS = {}
_PLANS_MAX = 512
_ndarray = np.ndarray
_np_empty = np.empty
_INT64 = np.dtype(np.int64)


def _plain_int_arg(v):
    t = type(v)
    return t is int or (t is tuple and all(type(i) is int for i in v))


def _plain_pool(kernel_size, stride, padding, dilation, ceil_mode):
    return (type(ceil_mode) is bool and _plain_int_arg(kernel_size) and _plain_int_arg(padding)
            and _plain_int_arg(dilation) and (stride is None or _plain_int_arg(stride)))


def _max_pool_plan(nd, x, kernel_size, stride, padding, dilation, ceil_mode):
    """(params, shape, planes, plane_in, plane_out, kernel arguments) or None."""
    key = (nd, x.shape, x.dtype, kernel_size, stride, padding, dilation, ceil_mode)
    try:
        plan = _MAX_PLANS.get(key)
    except TypeError:       # a list among the arguments: the general path
        return None
    if plan is not None:
        p = plan[0]
        if (p[0] is kernel_size and p[1] is stride and p[2] is padding and p[3] is dilation
                and p[4] is ceil_mode) \
                or _plain_pool(kernel_size, stride, padding, dilation, ceil_mode):
            return plan
        return None
    if not _plain_pool(kernel_size, stride, padding, dilation, ceil_mode):
        return None
    x = spatial_input(x, nd)
    spatial = _spatial_sizes(x.shape, nd, "x")
    outs, windows = _max_geometry(spatial, nd, kernel_size, stride, padding, dilation,
                                  ceil_mode)
    shape = x.shape[:-nd] + tuple(outs)
    n_planes, plane_out = planes(x.shape, nd), math.prod(outs)
    if n_planes * plane_out == 0:
        return None
    check_fits_in_memory(n_planes * plane_out * (x.itemsize + 8),
                         f"an output and indices of shape {shape}")
    axes, span = windows()
    axes = [(*_ONE, 1)] * (3 - nd) + list(axes)
    args = (*pad3(spatial), *[v for a in axes for v in a], *span)
    plan = ((kernel_size, stride, padding, dilation, ceil_mode), shape, n_planes,
            math.prod(spatial), plane_out, args)
    remember(_MAX_PLANS, key, plan, _PLANS_MAX)
    return plan


def _max_pool_forward(nd, x, kernel_size, stride=None, padding=0, dilation=1,
                      ceil_mode=False):
    if type(x) is _ndarray and x.flags.c_contiguous:
        plan = _max_pool_plan(nd, x, kernel_size, stride, padding, dilation, ceil_mode)
        if plan is not None:
            _, shape, n_planes, plane_in, plane_out, args = plan
            if _alloc_state["poison"]:
                out = empty_checked((n_planes, plane_out), x.dtype)
                idx = empty_checked((n_planes, plane_out), _INT64)
            else:
                out = _np_empty((n_planes, plane_out), x.dtype)
                idx = _np_empty((n_planes, plane_out), _INT64)
            # get_num_threads() is the process-wide count when that is 1
            _pool.max_pool_forward(x.reshape(n_planes, plane_in), out, idx, *args,
                                   1 if _threading_state["n_threads"] == 1
                                   else get_num_threads())
            return out.reshape(shape), idx.reshape(shape)
    x = spatial_input(x, nd)
    spatial = _spatial_sizes(x.shape, nd, "x")
    outs, windows = _max_geometry(spatial, nd, kernel_size, stride, padding, dilation,
                                  ceil_mode)
    return _max_kernel(x, nd, outs, windows)


# The backward of max pooling for C-contiguous float grad_out, its forward's int64
# indices and an input_shape of exact ints: (planes, input plane) per key after the
# checks passed once; only the indices' range is checked per call (by the kernel).
_MAX_BACKWARD_PLANS = {}
_F32, _F64 = np.dtype(np.float32), np.dtype(np.float64)


def _max_pool_backward_plan(nd, grad_out, input_shape):
    key = (nd, grad_out.shape, grad_out.dtype, input_shape)
    plan = _MAX_BACKWARD_PLANS.get(key)
    if plan is None:
        spatial_input(grad_out, nd, "grad_out")
        shape = shape_arg(input_shape, nd)
        if len(shape) != grad_out.ndim or shape[:-nd] != grad_out.shape[:-nd]:
            return None     # the general path raises
        n_planes, plane = planes(shape, nd), math.prod(shape[-nd:])
        if n_planes * plane == 0:
            return None
        check_fits_in_memory(n_planes * plane * grad_out.itemsize,
                             f"an output of shape {shape}")
        plan = (n_planes, math.prod(grad_out.shape[-nd:]), plane)
        remember(_MAX_BACKWARD_PLANS, key, plan, _PLANS_MAX)
    return plan


def _max_pool_backward(nd, grad_out, indices, input_shape):
    if type(grad_out) is _ndarray and type(indices) is _ndarray \
            and grad_out.flags.c_contiguous and indices.flags.c_contiguous \
            and indices.dtype is _INT64 and (grad_out.dtype is _F32 or grad_out.dtype is _F64) \
            and indices.shape == grad_out.shape and _plain_int_arg(input_shape):
        plan = _max_pool_backward_plan(nd, grad_out, input_shape)
        if plan is not None:
            n_planes, plane_out, plane = plan
            grad_in = _np_empty(input_shape, grad_out.dtype) if not _alloc_state["poison"] \
                else empty_checked(input_shape, grad_out.dtype)
            raise_if_bad_indices(_pool.max_pool_backward(
                grad_out.reshape(n_planes, plane_out), indices.reshape(n_planes, plane_out),
                grad_in.reshape(n_planes, plane),
                1 if _threading_state["n_threads"] == 1 else get_num_threads()),
                plane, "input")
            return grad_in
    grad_out, shape, grad_in = _grad_in_for(grad_out, nd, input_shape)
    indices = index_array(indices, "indices", grad_out.shape)
    plane = math.prod(shape[-nd:])
    if plane == 0:   # no index can be valid
        raise_if_bad_indices(indices.size, plane, "input")
    if grad_in.size:
        raise_if_bad_indices(_pool.max_pool_backward(
            _as_planes(grad_out, nd), _as_planes(indices, nd), _as_planes(grad_in, nd),
            get_num_threads()), plane, "input")
    return grad_in


def _adaptive_max_pool_forward(nd, x, output_size):
    x = spatial_input(x, nd)
    spatial = _spatial_sizes(x.shape, nd, "x")
    outs = _adaptive_sizes(output_size, nd, spatial)
    return _max_kernel(x, nd, outs, lambda: ([(*_adaptive_windows(spatial[i], outs[i])[:2], 1)
                                              for i in range(nd)],
                                             _adaptive_interior(spatial[-1], outs[-1])))


def _adaptive_max_pool_backward(nd, grad_out, indices, input_shape):
    return _max_pool_backward(nd, grad_out, indices, input_shape)


# ----------------------------------------------------------------- average pooling

def _avg_geometry(spatial, nd, kernel_size, stride, padding, ceil_mode, count_include_pad,
                  divisor_override):
    k, s, p, _ = _pool_args(nd, kernel_size, stride, padding)
    ceil_mode = _flag(ceil_mode, "ceil_mode")
    include = _flag(count_include_pad, "count_include_pad")
    divisor = _divisor(divisor_override)
    outs = [_out_size(spatial[i], k[i], s[i], p[i], 1, ceil_mode, i) for i in range(nd)]
    return outs, divisor, lambda: (
        [_avg_windows(spatial[i], outs[i], k[i], s[i], p[i], include) for i in range(nd)],
        _interior(spatial[-1], outs[-1], k[-1], s[-1], p[-1]))


def _avg_pool_forward(nd, x, kernel_size, stride=None, padding=0, ceil_mode=False,
                      count_include_pad=True, divisor_override=None):
    x = spatial_input(x, nd)
    spatial = _spatial_sizes(x.shape, nd, "x")
    outs, divisor, windows = _avg_geometry(spatial, nd, kernel_size, stride, padding,
                                           ceil_mode, count_include_pad, divisor_override)
    out = empty(x.shape[:-nd] + tuple(outs), x.dtype)
    return _avg_kernel(_pool.avg_pool_forward, x, out, nd, spatial, windows, divisor)


def _avg_pool_backward(nd, grad_out, input_shape, kernel_size, stride=None, padding=0,
                       ceil_mode=False, count_include_pad=True, divisor_override=None):
    grad_out, shape, grad_in = _grad_in_for(grad_out, nd, input_shape)
    spatial = _spatial_sizes(shape, nd, "input_shape")
    outs, divisor, windows = _avg_geometry(spatial, nd, kernel_size, stride, padding,
                                           ceil_mode, count_include_pad, divisor_override)
    check_grad_shape(grad_out, shape[:-nd] + tuple(outs))
    return _avg_kernel(_pool.avg_pool_backward, grad_out, grad_in, nd, spatial, windows,
                       divisor)


def _is_global(outs, spatial):
    """Adaptive pooling to size 1 on every axis: one window, the whole plane (the
    global average pooling of ResNet and MobileNet heads)."""
    return all(o == 1 for o in outs) and all(s > 0 for s in spatial)


def _adaptive_avg_pool_forward(nd, x, output_size):
    x = spatial_input(x, nd)
    spatial = _spatial_sizes(x.shape, nd, "x")
    outs = _adaptive_sizes(output_size, nd, spatial)
    out = empty(x.shape[:-nd] + outs, x.dtype)
    if _is_global(outs, spatial) and out.size:
        # A plane's mean is one contiguous row sum: the row-sum kernel took 0.07 ms
        # against NumPy's row reduction's 0.28 ms and the general window kernel's 2.3 ms
        # (8x1024x7x7, 1 thread, AMD EPYC).
        _pool.global_avg_forward(np.ascontiguousarray(x).reshape(out.size, -1),
                                 out.reshape(-1), get_num_threads())
        return out
    return _avg_kernel(_pool.avg_pool_forward, x, out, nd, spatial,
                       _adaptive_plan(spatial, outs, nd), 0)


def _adaptive_avg_pool_backward(nd, grad_out, input_shape):
    grad_out, shape, grad_in = _grad_in_for(grad_out, nd, input_shape)
    spatial = _spatial_sizes(shape, nd, "input_shape")
    outs = _spatial_sizes(grad_out.shape, nd, "grad_out")
    if _is_global(outs, spatial) and grad_in.size:
        _pool.global_avg_backward(np.ascontiguousarray(grad_out).reshape(-1),
                                  grad_in.reshape(grad_out.size, -1), get_num_threads())
        return grad_in
    return _avg_kernel(_pool.avg_pool_backward, grad_out, grad_in, nd, spatial,
                       _adaptive_plan(spatial, outs, nd), 0)


# -------------------------------------------------------------------- max unpooling

def _unpool_sizes(nd, spatial, kernel_size, stride, padding, output_size):
    k = ints(kernel_size, nd, "kernel_size")
    s = k if stride is None else ints(stride, nd, "stride")
    p = ints(padding, nd, "padding", low=0)
    default = [(spatial[i] - 1) * s[i] + k[i] - 2 * p[i] for i in range(nd)]
    if output_size is None:
        sizes = default
    else:
        if not isinstance(output_size, (tuple, list)):
            raise TypeError(f"output_size must be a sequence of {nd} ints, "
                            f"got {type(output_size).__name__}")
        sizes = list(output_size)[-nd:] if len(output_size) in (nd + 1, nd + 2) \
            else list(output_size)
        if len(sizes) != nd:
            raise ValueError(f"output_size must hold {nd} ints (or {nd + 2} with batch and "
                             f"channels), got {output_size!r}")
        sizes = [check_int(v, "output_size", high=2**62) for v in sizes]
        for i in range(nd):
            if not default[i] - s[i] < sizes[i] < default[i] + s[i]:
                raise ValueError(f"output_size {tuple(sizes)} is invalid: along spatial axis "
                                 f"{i} it must lie strictly between {default[i] - s[i]} and "
                                 f"{default[i] + s[i]}")
    if min(sizes) < 1:
        raise ValueError(f"the unpooled output size {tuple(sizes)} is below 1; check "
                         f"kernel_size, stride and padding")
    return tuple(sizes)


def _max_unpool_forward(nd, x, indices, kernel_size, stride=None, padding=0,
                        output_size=None):
    x = spatial_input(x, nd)
    spatial = _spatial_sizes(x.shape, nd, "x")
    indices = index_array(indices, "indices", x.shape)
    outs = _unpool_sizes(nd, spatial, kernel_size, stride, padding, output_size)
    out = empty(x.shape[:-nd] + outs, x.dtype)
    if out.size:
        raise_if_bad_indices(_pool.max_unpool_forward(
            _as_planes(x, nd), _as_planes(indices, nd), _as_planes(out, nd),
            get_num_threads()), math.prod(outs), "output")
    return out


def _max_unpool_backward(nd, grad_out, indices):
    grad_out = spatial_input(grad_out, nd, "grad_out")
    check_ndarray(indices, "indices")
    if indices.ndim != grad_out.ndim or indices.shape[:-nd] != grad_out.shape[:-nd]:
        raise ValueError(f"indices has shape {indices.shape} but grad_out has shape "
                         f"{grad_out.shape}: they must agree in all but the last {nd} axes")
    indices = index_array(indices, "indices", indices.shape)
    grad_in = empty(indices.shape, grad_out.dtype)
    if grad_in.size:
        plane = math.prod(grad_out.shape[-nd:])
        raise_if_bad_indices(_pool.max_unpool_backward(
            _as_planes(grad_out, nd), _as_planes(indices, nd), _as_planes(grad_in, nd),
            get_num_threads()), plane, "output")
    return grad_in


# ------------------------------------------------------------- the public per-axis ops

def _export(generic, doc, nds=(1, 2, 3)):
    export_per_axis(generic, doc, globals(), __all__, nds)


_export(_max_pool_forward, """{nd}-D max pooling with argmax indices, in one pass.

    PyTorch's ``F.max_pool{nd}d(..., return_indices=True)``.

    Parameters
    ----------
    x : ndarray, shape {x}
    kernel_size : int or tuple of {n} ints
    stride : int or tuple of {n} ints, optional
        Defaults to ``kernel_size``.
    padding : int or tuple of {n} ints
        Implicit -inf padding on both sides, at most ``kernel_size // 2``.
    dilation : int or tuple of {n} ints
        Spacing between window elements.
    ceil_mode : bool
        Round the output size up (the last window must start inside the input).

    Returns
    -------
    out : ndarray, shape {out}
    indices : int64 ndarray, shape {out}
        Flat position (``0 <= i < {plane}``) of each maximum in its input plane.
    """)

_export(_max_pool_backward, """Gradient of {nd}-D max pooling: scatters ``grad_out``
    through the argmax ``indices`` (deterministic: each plane in order).

    Parameters
    ----------
    grad_out : ndarray, shape {out}
    indices : integer ndarray, shape of grad_out
        From the forward pass; each must lie in ``[0, {plane})``.
    input_shape : tuple of ints
        The forward input's shape, {x}.

    Returns
    -------
    grad_in : ndarray, shape ``input_shape``
    """)

_export(_adaptive_max_pool_forward, """{nd}-D adaptive max pooling with argmax indices.

    PyTorch's ``F.adaptive_max_pool{nd}d(..., return_indices=True)``: output position
    ``i`` pools input ``[floor(i * L / out), ceil((i + 1) * L / out))`` on each axis.

    Parameters
    ----------
    x : ndarray, shape {x}
    output_size : int or tuple of {n} ints (None keeps an axis's size)

    Returns
    -------
    out : ndarray, shape {out}
    indices : int64 ndarray, shape {out}
        Flat positions (``0 <= i < {plane}``) of the maxima in their input plane.
    """)

_export(_adaptive_max_pool_backward, """Gradient of {nd}-D adaptive max pooling: scatters
    ``grad_out`` through the argmax ``indices`` (the same op as max_pool{nd}d_backward).

    Parameters
    ----------
    grad_out : ndarray, shape {out}
    indices : integer ndarray, shape of grad_out
    input_shape : tuple of ints
        The forward input's shape, {x}.

    Returns
    -------
    grad_in : ndarray, shape ``input_shape``
    """)

_export(_avg_pool_forward, """{nd}-D average pooling (PyTorch's ``F.avg_pool{nd}d``).

    Parameters
    ----------
    x : ndarray, shape {x}
    kernel_size : int or tuple of {n} ints
    stride : int or tuple of {n} ints, optional
        Defaults to ``kernel_size``.
    padding : int or tuple of {n} ints
        Implicit zero padding, at most ``kernel_size // 2``.
    ceil_mode : bool
    count_include_pad : bool
        Count padded zeros in the divisor.
    divisor_override : int, optional
        A non-zero divisor to use instead of the window size.

    Returns
    -------
    out : ndarray, shape {out}
    """)

_export(_avg_pool_backward, """Gradient of {nd}-D average pooling.

    Parameters
    ----------
    grad_out : ndarray, shape {out}
    input_shape : tuple of ints
        The forward input's shape, {x}.
    kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override
        As given to the forward.

    Returns
    -------
    grad_in : ndarray, shape ``input_shape``
    """)

_export(_adaptive_avg_pool_forward, """{nd}-D adaptive average pooling.

    PyTorch's ``F.adaptive_avg_pool{nd}d``: output position ``i`` averages input
    ``[floor(i * L / out), ceil((i + 1) * L / out))`` on each axis; ``output_size=1``
    is global average pooling.

    Parameters
    ----------
    x : ndarray, shape {x}
    output_size : int or tuple of {n} ints (None keeps an axis's size)

    Returns
    -------
    out : ndarray, shape {out}
    """)

_export(_adaptive_avg_pool_backward, """Gradient of {nd}-D adaptive average pooling.

    Parameters
    ----------
    grad_out : ndarray, shape {out}
        Its spatial axes give the output size.
    input_shape : tuple of ints
        The forward input's shape, {x}.

    Returns
    -------
    grad_in : ndarray, shape ``input_shape``
    """)

_export(_max_unpool_forward, """{nd}-D max unpooling (PyTorch's ``F.max_unpool{nd}d``).

    Puts each value of ``x`` at its argmax position in a zero output (a repeated index:
    the last value wins).

    Parameters
    ----------
    x : ndarray, shape {out}
        Max-pooled values.
    indices : integer ndarray, shape of x
        Their flat positions in an output plane, as max pooling returns them.
    kernel_size, stride, padding : int or tuple of {n} ints
        The max pooling's; the default output size is ``(L - 1) * stride + kernel_size
        - 2 * padding`` per axis.
    output_size : sequence of {n} ints (or with batch and channels), optional
        Within ``stride`` of the default, to undo a ``ceil_mode`` or odd size.

    Returns
    -------
    out : ndarray, shape {x}
    """)

_export(_max_unpool_backward, """Gradient of {nd}-D max unpooling: gathers ``grad_out``
    at ``indices``.

    Parameters
    ----------
    grad_out : ndarray, shape {x}
    indices : integer ndarray, shape {out}
        As given to the forward.

    Returns
    -------
    grad_in : ndarray, shape of indices
    """)
