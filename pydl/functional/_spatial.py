"""Argument checks and shape plumbing shared by the pooling and resampling ops.

Those ops take ``(N, C, *spatial)`` or ``(C, *spatial)`` arrays with 1 to 3 spatial
axes. The kernels in ``pydl._ext.pool`` see them as ``(planes, D*H*W)`` with 1-D and
2-D ops padded to three axes by leading axes of size 1.
"""

import inspect
import math

import numpy as np

from ._alloc import check_fits_in_memory
from ._validation import as_float_array, check_int, check_ndarray

# Hyper-parameters (kernel sizes, strides, ...) are capped so that index arithmetic in
# int64 can never overflow, whatever the input size.
INT_ARG_MAX = 2**31 - 1
NAMES = {1: "(C, L)", 2: "(C, H, W)", 3: "(C, D, H, W)"}
BATCHED = {1: "(N, C, L)", 2: "(N, C, H, W)", 3: "(N, C, D, H, W)"}


def ints(value, n, name, low=1):
    """An int or a sequence of ``n`` ints, each in [low, INT_ARG_MAX], as a tuple."""
    if isinstance(value, (tuple, list)):
        if len(value) != n:
            raise ValueError(f"{name} must be an int or a sequence of {n} ints, got {value!r}")
        items = value
    else:
        items = (value,) * n
    return tuple(check_int(v, name, low=low, high=INT_ARG_MAX) for v in items)


def spatial_input(x, nd, name="x", batched_only=False):
    """``x`` as a checked float array of ``nd + 2`` (or ``nd + 1``) dimensions."""
    x = as_float_array(x, name)
    allowed = (nd + 2,) if batched_only else (nd + 1, nd + 2)
    if x.ndim not in allowed:
        shapes = BATCHED[nd] if batched_only else f"{NAMES[nd]} or {BATCHED[nd]}"
        raise ValueError(f"{name} must be {shapes}, got {x.ndim}-D array of shape {x.shape}")
    return x


def shape_arg(shape, nd, name="input_shape", batched_only=False):
    """Check a shape argument (the forward input's shape) for an op with nd axes."""
    if isinstance(shape, np.ndarray):
        shape = shape.tolist()
    if not isinstance(shape, (tuple, list)):
        raise TypeError(f"{name} must be a tuple of ints, got {type(shape).__name__}")
    allowed = (nd + 2,) if batched_only else (nd + 1, nd + 2)
    if len(shape) not in allowed:
        shapes = BATCHED[nd] if batched_only else f"{NAMES[nd]} or {BATCHED[nd]}"
        raise ValueError(f"{name} must be a shape {shapes}, got {tuple(shape)!r}")
    return tuple(check_int(s, name, low=0, high=2**62) for s in shape)


def index_array(indices, name, shape):
    """Integer indices as C-contiguous int64 of the given shape (range is checked by
    the kernels, which never write through an out-of-range index)."""
    check_ndarray(indices, name)
    if indices.dtype.kind not in "iu":
        raise TypeError(f"{name} must be an integer array (int64, as returned by the "
                        f"pooling op), got dtype {indices.dtype}")
    if indices.shape != tuple(shape):
        raise ValueError(f"{name} has shape {indices.shape}, expected {tuple(shape)}")
    if indices.dtype != np.int64 or not indices.flags.c_contiguous:
        check_fits_in_memory(indices.size * 8, f"an int64 contiguous copy of {name} "
                                               f"(shape {indices.shape})")
    return np.ascontiguousarray(indices, dtype=np.int64)


def check_grad_shape(grad_out, expected, name="grad_out"):
    if grad_out.shape != tuple(expected):
        raise ValueError(f"{name} has shape {grad_out.shape}, expected {tuple(expected)} "
                         f"(the forward output's shape)")


def planes(shape, nd):
    """Number of planes (product of the leading axes) of a shape with nd spatial axes."""
    return math.prod(shape[:-nd])


def pad3(sizes):
    """Spatial sizes padded to three axes with leading 1s, as the kernels expect."""
    return (1,) * (3 - len(sizes)) + tuple(sizes)


def raise_if_bad_indices(count, plane, what):
    """Raise when a kernel reported (and skipped) out-of-range indices."""
    if count:
        raise ValueError(f"indices holds {count} value(s) outside [0, {plane}), the flat "
                         f"positions of one {what} plane")


_AXES = {1: ("L",), 2: ("H", "W"), 3: ("D", "H", "W")}


def _shapes(nd, suffix=""):
    axes = ", ".join(a + suffix for a in _AXES[nd])
    return f"(N, C, {axes}) or (C, {axes})"


def export_per_axis(generic, doc, namespace, names, nds=(1, 2, 3)):
    """Publish ``generic(nd, ...)`` into ``namespace`` as one function per number of
    spatial axes, named like PyTorch's op (``_max_pool_forward`` ->
    ``max_pool2d_forward``), with ``doc`` formatted for that number of axes."""
    sig = inspect.signature(generic)
    sig = sig.replace(parameters=list(sig.parameters.values())[1:])
    for nd in nds:
        name = generic.__name__[1:].replace("pool_", f"pool{nd}d_")
        op = _bind(generic, nd)
        op.__name__ = op.__qualname__ = name
        op.__module__ = namespace["__name__"]
        op.__signature__ = sig
        op.__doc__ = doc.format(nd=nd, x=_shapes(nd), out=_shapes(nd, "_out"),
                                plane=" * ".join(_AXES[nd]), n=nd, name=name)
        namespace[name] = op
        names.append(name)


def _bind(generic, nd):
    def op(*args, **kwargs):
        return generic(nd, *args, **kwargs)
    return op
