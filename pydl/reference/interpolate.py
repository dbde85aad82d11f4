"""NumPy twin of pydl.functional.interpolate: each axis is resampled by a matrix.

Along an axis of size L resampled to ``out``, the output is ``A @ x`` with ``A`` an
(out, L) matrix: one 1 per row for nearest, two weights per row for linear; the
gradient is ``A.T @ g``. The entries follow PyTorch's formulas in the input's
precision (see pydl.functional.interpolate).
"""

import numpy as np

from . import pool as _pool

__all__ = ["interpolate_forward", "interpolate_backward"]


def _sizes(shape, size, scale_factor, mode, recompute_scale_factor):
    nd = len(shape) - 2
    if size is not None:
        return tuple(size) if isinstance(size, (tuple, list)) else (size,) * nd, (None,) * nd
    factors = tuple(scale_factor) if isinstance(scale_factor, (tuple, list)) \
        else (scale_factor,) * nd
    outs = tuple(int(np.floor(float(shape[2 + i]) * factors[i])) for i in range(nd))
    if recompute_scale_factor or mode == "area":
        factors = (None,) * nd
    return outs, factors


def _matrix(size, out, factor, mode, align_corners, nd, dtype):
    ft = np.float32 if dtype == np.float32 else np.float64
    a = np.zeros((out, size), dtype)
    rows = np.arange(out)
    if mode in ("nearest", "nearest-exact"):
        if nd == 2 and mode == "nearest" and out in (size, 2 * size):
            src = rows * size // out          # PyTorch's 2-D shortcuts: copy, dst // 2
        else:
            scale = np.float32(1.0 / factor) if factor else np.float32(size) / np.float32(out)
            if mode == "nearest":
                real = rows.astype(np.float32) * scale
            else:
                real = ((rows + 0.5) * np.float64(scale)).astype(np.float32)
            src = np.minimum(np.floor(real).astype(np.int64), size - 1)
        a[rows, src] = 1
        return a
    if out == size:
        return np.eye(size, dtype=dtype)
    if align_corners:
        real = (ft(size - 1) / ft(out - 1) if out > 1 else ft(0)) * rows.astype(ft)
    else:
        scale = ft(1.0 / factor) if factor else ft(size) / ft(out)
        real = np.maximum(scale * (rows.astype(ft) + ft(0.5)) - ft(0.5), 0)
    i0 = np.minimum(np.floor(real.astype(np.float32)).astype(np.int64), size - 1)
    i1 = np.minimum(i0 + 1, size - 1)
    l1 = np.clip(real - i0.astype(ft), 0, 1).astype(dtype)
    np.add.at(a, (rows, i0), 1 - l1)
    np.add.at(a, (rows, i1), l1)
    return a


def _apply(arr, matrices, transpose):
    for axis, a in enumerate(matrices, start=2):
        m = a.T if transpose else a
        arr = np.moveaxis(np.tensordot(m, arr, axes=([1], [axis])), 0, axis)
    return arr


def interpolate_forward(x, size=None, scale_factor=None, mode="nearest", align_corners=None,
                        recompute_scale_factor=None):
    nd = x.ndim - 2
    outs, factors = _sizes(x.shape, size, scale_factor, mode, recompute_scale_factor)
    if mode == "area":
        return getattr(_pool, f"adaptive_avg_pool{nd}d_forward")(x, outs)
    mats = [_matrix(x.shape[2 + i], outs[i], factors[i], mode, align_corners, nd, x.dtype)
            for i in range(nd)]
    return np.ascontiguousarray(_apply(x, mats, False))


def interpolate_backward(grad_out, input_shape, size=None, scale_factor=None, mode="nearest",
                         align_corners=None, recompute_scale_factor=None):
    nd = len(input_shape) - 2
    outs, factors = _sizes(input_shape, size, scale_factor, mode, recompute_scale_factor)
    if mode == "area":
        return getattr(_pool, f"adaptive_avg_pool{nd}d_backward")(grad_out, input_shape)
    mats = [_matrix(input_shape[2 + i], outs[i], factors[i], mode, align_corners, nd,
                    grad_out.dtype) for i in range(nd)]
    return np.ascontiguousarray(_apply(grad_out, mats, True))
