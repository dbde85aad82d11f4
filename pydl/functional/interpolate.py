"""Resampling of (N, C, L), (N, C, H, W) and (N, C, D, H, W) arrays: PyTorch's
``F.interpolate`` and its gradient.

Source positions follow PyTorch's CPU kernels to the bit, in the input's precision
(float32 arithmetic for float32 input):

- ``nearest``: ``src = min(floor(dst * scale), L - 1)``; ``nearest-exact``:
  ``min(floor((dst + 0.5) * scale), L - 1)``. ``scale = 1 / scale_factor`` when a scale
  factor is given (and not recomputed), else ``L / out``. For 2-D input PyTorch
  shortcuts ``out == L`` (copy) and ``out == 2 L`` (``dst // 2``); so does pydl.
- ``linear`` / ``bilinear`` / ``trilinear``: with ``align_corners`` the corners of
  input and output align, ``src = dst * (L - 1) / (out - 1)``; without,
  ``src = max(scale * (dst + 0.5) - 0.5, 0)``. The two neighbours ``floor(src)`` and
  the next (clamped to the input) get weights ``1 - frac`` and ``frac``.
- ``area`` is adaptive average pooling to the output size.

The output size is ``size``, or ``floor(L * scale_factor)``. The backward is the
adjoint (each plane's scatter in order, so deterministic at any thread count).
"""

import functools

import numpy as np

from .._ext import pool as _pool
from .._threading import get_num_threads
from ._alloc import empty
from ._spatial import pad3, shape_arg
from ._validation import as_float_array, check_int, check_real
from .pool import _adaptive_avg_pool_backward, _adaptive_avg_pool_forward, _as_planes, _frozen

__all__ = ["interpolate_forward", "interpolate_backward"]

MODES = ("nearest", "nearest-exact", "linear", "bilinear", "trilinear", "area")
_LINEAR_NDIM = {"linear": 3, "bilinear": 4, "trilinear": 5}


def _plan(shape, size, scale_factor, mode, align_corners, recompute_scale_factor):
    """Check the arguments for an input of ``shape``; return (nd, output sizes, scales,
    align_corners) with scales the per-axis scale factors the kernel uses (or None)."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    nd = len(shape) - 2
    if mode in _LINEAR_NDIM and len(shape) != _LINEAR_NDIM[mode]:
        raise ValueError(f"mode={mode!r} needs {_LINEAR_NDIM[mode]}-D input, got "
                         f"{len(shape)}-D input of shape {tuple(shape)}")
    if mode in ("nearest", "nearest-exact", "area"):
        if align_corners is not None:
            raise ValueError("align_corners can only be set with the interpolating modes "
                             "linear, bilinear and trilinear")
    elif align_corners is None:
        align_corners = False
    elif not isinstance(align_corners, (bool, np.bool_)):
        raise TypeError(f"align_corners must be a bool or None, got "
                        f"{type(align_corners).__name__}")
    if recompute_scale_factor is not None and not isinstance(recompute_scale_factor,
                                                             (bool, np.bool_)):
        raise TypeError(f"recompute_scale_factor must be a bool or None, got "
                        f"{type(recompute_scale_factor).__name__}")
    if (size is None) == (scale_factor is None):
        raise ValueError("exactly one of size and scale_factor must be given, got "
                         + ("both" if size is not None else "neither"))
    spatial = tuple(shape[2:])
    if size is not None:
        if recompute_scale_factor:
            raise ValueError("recompute_scale_factor is not meaningful with an explicit size")
        outs = tuple(check_int(v, "size", low=1, high=2**62) for v in _per_axis(size, nd, "size"))
        return nd, outs, (None,) * nd, bool(align_corners)
    factors = tuple(check_real(v, "scale_factor", low=0, low_open=True, high=2**31)
                    for v in _per_axis(scale_factor, nd, "scale_factor"))
    outs = tuple(int(np.floor(float(spatial[i]) * factors[i])) for i in range(nd))
    if min(outs) < 1:
        raise ValueError(f"scale_factor {scale_factor!r} gives output size {outs} for input "
                         f"size {spatial}; every output size must be >= 1")
    if recompute_scale_factor or mode == "area":
        factors = (None,) * nd
    return nd, outs, factors, bool(align_corners)


def _per_axis(value, nd, name):
    if isinstance(value, (tuple, list)):
        if len(value) != nd:
            raise ValueError(f"{name} must be a number or a sequence of {nd} (one per "
                             f"spatial axis), got {value!r}")
        return tuple(value)
    return (value,) * nd


@functools.lru_cache(maxsize=256)
def _nearest_source(size, out, factor, exact, shortcuts):
    """Source index of each output index along one axis, as PyTorch computes it."""
    dst = np.arange(out, dtype=np.int64)
    if shortcuts and out == size:
        return _frozen(dst)[0]
    if shortcuts and out == 2 * size:
        return _frozen(dst >> 1)[0]
    scale = np.float32(1.0 / factor) if factor is not None else \
        np.float32(size) / np.float32(out)
    if exact:
        # (dst + 0.5) * scale is a double in PyTorch, rounded to float by floorf
        src = np.floor(((dst + 0.5) * np.float64(scale)).astype(np.float32))
    else:
        src = np.floor(dst.astype(np.float32) * scale)
    return _frozen(np.minimum(src.astype(np.int64), size - 1))[0]


@functools.lru_cache(maxsize=256)
def _linear_taps(size, out, factor, align_corners, dtype):
    """(i0, i1, l0, l1) along one axis: output o = l0[o] * x[i0[o]] + l1[o] * x[i1[o]],
    computed in the input's precision as PyTorch does."""
    ft = np.float32 if dtype == np.float32 else np.float64
    dst = np.arange(out, dtype=np.int64)
    if out == size:
        return _frozen(dst, dst.copy(), np.ones(out, dtype), np.zeros(out, dtype))
    if align_corners:
        ratio = ft(size - 1) / ft(out - 1) if out > 1 else ft(0)
        real = ratio * dst.astype(ft)
    else:
        ratio = ft(1.0 / factor) if factor is not None else ft(size) / ft(out)
        real = np.maximum(ratio * (dst.astype(ft) + ft(0.5)) - ft(0.5), ft(0))
    # PyTorch floors with floorf, i.e. in float32 even for float64 input
    i0 = np.minimum(np.floor(real.astype(np.float32)).astype(np.int64), size - 1)
    l1 = np.clip(real - i0.astype(ft), 0, 1).astype(dtype)
    return _frozen(i0, i0 + (i0 < size - 1), (1 - l1).astype(dtype), l1)


def _axes(shape, nd, outs, factors, mode, align_corners, dtype):
    """Kernel arguments per axis, padded to three axes."""
    spatial = shape[2:]
    if mode in ("nearest", "nearest-exact"):
        pad = [np.zeros(1, np.int64)] * (3 - nd)
        return pad + [_nearest_source(spatial[i], outs[i], factors[i], mode == "nearest-exact",
                                      nd == 2 and mode == "nearest") for i in range(nd)]
    pad = [(np.zeros(1, np.int64), np.zeros(1, np.int64), np.ones(1, dtype),
            np.zeros(1, dtype))] * (3 - nd)
    return [v for taps in pad + [_linear_taps(spatial[i], outs[i], factors[i], align_corners,
                                              dtype) for i in range(nd)] for v in taps]


def _run(forward, src, dst, in_shape, plan, mode):
    nd, outs, factors, align_corners = plan
    if dst.size:
        dtype = np.dtype(src.dtype)
        kernel = {(True, True): _pool.nearest_forward, (True, False): _pool.nearest_backward,
                  (False, True): _pool.linear_forward, (False, False): _pool.linear_backward}[
            (mode.startswith("nearest"), forward)]
        kernel(_as_planes(src, nd), _as_planes(dst, nd), *pad3(in_shape[2:]),
               *_axes(in_shape, nd, outs, factors, mode, align_corners, dtype),
               get_num_threads())
    return dst


def interpolate_forward(x, size=None, scale_factor=None, mode="nearest", align_corners=None,
                        recompute_scale_factor=None):
    """Resample ``x`` to a new spatial size (PyTorch's ``F.interpolate``).

    Parameters
    ----------
    x : ndarray, shape (N, C, L), (N, C, H, W) or (N, C, D, H, W)
    size : int or tuple of ints, optional
        Output spatial size.
    scale_factor : float or tuple of floats, optional
        Output size ``floor(L * scale_factor)``; exactly one of size and scale_factor.
    mode : {"nearest", "nearest-exact", "linear", "bilinear", "trilinear", "area"}
        linear needs 3-D input, bilinear 4-D, trilinear 5-D.
    align_corners : bool, optional
        Linear modes only (default False).
    recompute_scale_factor : bool, optional
        Compute the scale from the sizes instead of using ``scale_factor``.

    Returns
    -------
    out : ndarray, shape (N, C, *output size)
    """
    x = as_resample_input(x)
    plan = _plan(x.shape, size, scale_factor, mode, align_corners, recompute_scale_factor)
    nd, outs = plan[0], plan[1]
    if mode == "area":
        return _adaptive_avg_pool_forward(nd, x, outs)
    return _run(True, x, empty(x.shape[:2] + outs, x.dtype), x.shape, plan, mode)


def interpolate_backward(grad_out, input_shape, size=None, scale_factor=None, mode="nearest",
                         align_corners=None, recompute_scale_factor=None):
    """Gradient of :func:`interpolate_forward` (the adjoint of the resampling).

    Parameters
    ----------
    grad_out : ndarray, shape (N, C, *output size)
    input_shape : tuple of ints
        The forward input's shape.
    size, scale_factor, mode, align_corners, recompute_scale_factor
        As given to the forward.

    Returns
    -------
    grad_in : ndarray, shape ``input_shape``
    """
    grad_out = as_resample_input(grad_out, "grad_out")
    shape = shape_arg(input_shape, grad_out.ndim - 2, batched_only=True)
    if min(shape[2:]) < 1:
        raise ValueError(f"input_shape {shape} has an empty spatial axis")
    plan = _plan(shape, size, scale_factor, mode, align_corners, recompute_scale_factor)
    nd, outs = plan[0], plan[1]
    if grad_out.shape != shape[:2] + outs:
        raise ValueError(f"grad_out has shape {grad_out.shape}, expected "
                         f"{shape[:2] + outs} (the forward output's shape)")
    if mode == "area":
        return _adaptive_avg_pool_backward(nd, grad_out, shape)
    return _run(False, grad_out, empty(shape, grad_out.dtype), shape, plan, mode)


def as_resample_input(x, name="x"):
    """A checked float array of 3 to 5 dimensions with non-empty spatial axes."""
    x = as_float_array(x, name)
    if x.ndim not in (3, 4, 5):
        raise ValueError(f"{name} must be (N, C, L), (N, C, H, W) or (N, C, D, H, W), "
                         f"got {x.ndim}-D array of shape {x.shape}")
    if min(x.shape[2:]) < 1:
        raise ValueError(f"{name} has shape {x.shape}: its spatial axes must be non-empty")
    return x
