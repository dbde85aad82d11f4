"""Input checks shared by every functional op: the line bad input does not cross.

Kernels run without bounds checks, so every array reaching one has passed through
here: float32 or float64 (or an integer type for labels), the expected rank and
shape, C-contiguous (a copy is made when needed; inputs are never modified), sizes
that fit BLAS's 32-bit integers. Errors are ``TypeError`` for a wrong type or dtype
and ``ValueError`` for a wrong shape or value, and name the argument at fault.
"""

import math
import numbers

import numpy as np

from ._alloc import check_fits_in_memory

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
_F32, _F64 = FLOAT_DTYPES
BLAS_INT_MAX = 2**31 - 1
REDUCTIONS = ("mean", "sum", "none")


def _describe(x):
    if isinstance(x, np.ndarray):
        return f"array of dtype {x.dtype}"
    return type(x).__name__


def as_float_array(x, name, *, ndim=None, min_ndim=None, like=None, like_name=None):
    """Return ``x`` as a C-contiguous float32/float64 ndarray, or raise.

    Parameters
    ----------
    x : array_like
        The argument to check. Lists are converted; other non-arrays are refused.
    name : str
        The argument's name, for messages.
    ndim, min_ndim : int, optional
        Exact or minimum number of dimensions.
    like : ndarray, optional
        An already-checked array whose dtype ``x`` must share (no silent casts: a
        float64 input to a float32 layer is a bug the user wants to hear about).
    like_name : str, optional
        Name of ``like`` for messages.
    """
    if type(x) is np.ndarray and x.flags.c_contiguous:
        # the common call (an array already right): identity checks on the interned
        # dtypes, no conversion; anything else takes the general path below
        dt = x.dtype
        if (dt is _F32 or dt is _F64) and (like is None or like.dtype is dt) \
                and (ndim is None or x.ndim == ndim) \
                and (min_ndim is None or x.ndim >= min_ndim):
            return x
    if isinstance(x, np.generic):
        x = np.asarray(x)
    if isinstance(x, (list, tuple)):
        try:
            x = np.asarray(x)
        except (ValueError, TypeError) as exc:
            raise TypeError(f"{name} must be a float32 or float64 array; "
                            f"could not convert the {type(x).__name__} given: {exc}") from None
        if x.dtype.kind in "iub":
            x = x.astype(np.float64)
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{name} must be a float32 or float64 numpy array, got {_describe(x)}")
    if x.dtype not in FLOAT_DTYPES:
        raise TypeError(f"{name} must be a float32 or float64 array, got dtype {x.dtype}")
    if like is not None and x.dtype != like.dtype:
        raise TypeError(f"{name} has dtype {x.dtype} but {like_name} has dtype {like.dtype}; "
                        f"convert one of them (e.g. {name}.astype(np.{like.dtype}))")
    _check_ndim(x, name, ndim, min_ndim)
    if x.flags.c_contiguous:
        return x
    check_fits_in_memory(x.size * x.itemsize, f"a contiguous copy of {name} (shape {x.shape})")
    return np.ascontiguousarray(x)


def _check_ndim(x, name, ndim, min_ndim):
    if ndim is not None and x.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got {x.ndim}-D array of shape {x.shape}")
    if min_ndim is not None and x.ndim < min_ndim:
        raise ValueError(f"{name} must have at least {min_ndim} dimension(s), "
                         f"got shape {x.shape}")


def as_index_array(target, name, n_classes, ignore_index=None):
    """Return integer class labels as a C-contiguous int64 array, checking their range.

    Every label must lie in ``[0, n_classes)`` or equal ``ignore_index``.
    """
    if isinstance(target, (list, tuple, np.generic)):
        target = np.asarray(target)
    if not isinstance(target, np.ndarray):
        raise TypeError(f"{name} must be an integer numpy array of class indices, "
                        f"got {_describe(target)}")
    if target.dtype.kind not in "iu":
        hint = (" (class probabilities are not supported; pass class indices)"
                if target.dtype.kind == "f" else "")
        raise TypeError(f"{name} must hold integer class indices, got dtype {target.dtype}{hint}")
    labels = np.asarray(target, dtype=np.int64, order="C")  # keeps a 0-d target 0-d
    if labels.size:
        valid = labels if ignore_index is None else labels[labels != ignore_index]
        if valid.size:
            lo, hi = int(valid.min()), int(valid.max())
            if lo < 0 or hi >= n_classes:
                bad = lo if lo < 0 else hi
                extra = "" if ignore_index is None else f" (or ignore_index={ignore_index})"
                raise ValueError(f"{name} holds class index {bad}, outside [0, {n_classes})"
                                 f"{extra}")
    return labels


def check_real(value, name, *, low=None, high=None, low_open=False, high_open=False):
    """Check a finite real hyper-parameter against optional bounds; return it as float."""
    if type(value) is not float:  # a float skips the slow ABC check
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
        value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    if low is not None and (value < low or (low_open and value == low)):
        raise ValueError(f"{name} must be {'>' if low_open else '>='} {low}, got {value}")
    if high is not None and (value > high or (high_open and value == high)):
        raise ValueError(f"{name} must be {'<' if high_open else '<='} {high}, got {value}")
    return value


def check_int(value, name, *, low=None, high=None):
    """Check an integer argument (bool refused) against optional bounds; return it."""
    if type(value) is not int:  # an int skips the slow ABC check
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise TypeError(f"{name} must be an int, got {type(value).__name__}")
        value = int(value)
    if low is not None and value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}")
    if high is not None and value > high:
        raise ValueError(f"{name} must be <= {high}, got {value}")
    return value


def check_reduction(reduction):
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    return reduction


def check_same_shape(a, a_name, b, b_name):
    if a.shape != b.shape:
        raise ValueError(f"{a_name} has shape {a.shape} but {b_name} has shape {b.shape}; "
                         f"they must match")


def check_blas_dims(name, *dims):
    """BLAS takes 32-bit sizes: refuse a matrix dimension that does not fit."""
    for d in dims:
        if d > BLAS_INT_MAX:
            raise ValueError(f"{name}: dimension {d} exceeds {BLAS_INT_MAX}, the largest "
                             f"size BLAS accepts")


def check_ndarray(x, name):
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{name} must be a numpy array, got {_describe(x)}")


def check_writeable(x, name):
    if not x.flags.writeable:
        raise ValueError(f"{name} is read-only; it is updated in place and must be writeable")
    if not x.flags.c_contiguous:
        raise ValueError(f"{name} must be C-contiguous: it is updated in place, so a "
                         f"contiguous copy would silently not be updated")


def check_inplace_array(a, name, like=None, like_name=None):
    """An array updated in place: refused unless writeable and C-contiguous (a
    contiguous copy would be updated instead of the caller's array, silently)."""
    check_ndarray(a, name)
    check_writeable(a, name)
    a = as_float_array(a, name, like=like, like_name=like_name)
    if like is not None:
        check_same_shape(a, name, like, like_name)
    return a
