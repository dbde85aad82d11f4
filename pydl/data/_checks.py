"""Argument checks shared by the data utilities, the metrics and the training loop."""

import mmap
import numbers

import numpy as np

from .. import random as _random
from ..functional._alloc import check_fits_in_memory


def as_array(x, name, *, kinds="biuf", min_ndim=1, allow_empty=False, finite=True,
             check_memory=True):
    """``x`` as an ndarray with samples along axis 0, or a clear TypeError/ValueError.

    Parameters
    ----------
    kinds : str
        Accepted ``dtype.kind`` letters (``"biuf"``: bool, integers, floats).
    min_ndim : int
        Fewest dimensions (1: at least a vector of samples).
    allow_empty : bool
        Accept zero samples.
    finite : bool
        Refuse NaN and infinity in floating arrays (scanned in bounded chunks).
    check_memory : bool
        Refuse an array larger than the machine's memory. Off for callers that read
        ``x`` a batch at a time (a memory-mapped array may be larger than memory).
    """
    if isinstance(x, (list, tuple, np.generic)):
        try:
            x = np.asarray(x)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{name} could not be converted to an array: {exc}") from None
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{name} must be a numpy array, got {type(x).__name__}")
    if x.dtype.kind not in kinds:
        raise TypeError(f"{name} must be an array of kind {_kind_names(kinds)}, "
                        f"got dtype {x.dtype}")
    if x.ndim < min_ndim:
        raise ValueError(f"{name} must have at least {min_ndim} dimension(s) "
                         f"(samples first), got shape {x.shape}")
    if check_memory:
        # e.g. a broadcast view of a huge shape: every use would touch all its elements
        check_fits_in_memory(x.size * x.dtype.itemsize, f"{name} (shape {x.shape})")
    if not allow_empty and (x.ndim == 0 or x.shape[0] == 0):
        raise ValueError(f"{name} is empty (shape {x.shape}); it needs at least one sample")
    if finite:
        check_finite(x, name)
    return x


_FINITE_CHUNK = 1 << 16  # elements per np.isfinite call: a 64 KiB mask, not one of x's size


def check_finite(x, name, where=""):
    """Refuse NaN and infinity in a floating array, with a ValueError naming ``name``.

    The scan goes over bounded chunks of samples, so it needs no memory in proportion
    to ``x`` (a mask of the whole array would be a quarter of a float32 array's size).
    """
    if x.dtype.kind != "f" or x.size == 0:
        return
    if x.ndim == 0 or x.size <= _FINITE_CHUNK:
        ok = bool(np.isfinite(x).all())
    else:
        per = max(1, _FINITE_CHUNK // max(1, x.size // x.shape[0]))
        ok = all(np.isfinite(x[i:i + per]).all() for i in range(0, x.shape[0], per))
    if not ok:
        raise ValueError(f"{name} contains NaN or infinity{where}")


def is_memory_mapped(x):
    """True for an ``np.memmap`` or a view of one (or of any ``mmap``): its data is read
    from a file on access, so callers should read it a batch at a time."""
    seen = 0
    while x is not None and seen < 64:
        if isinstance(x, (np.memmap, mmap.mmap)):
            return True
        x = getattr(x, "base", None)
        seen += 1
    return False


def _kind_names(kinds):
    names = {"b": "bool", "i": "int", "u": "unsigned int", "f": "float", "U": "str",
             "O": "object", "S": "bytes"}
    return "/".join(names[k] for k in kinds)


def check_same_length(arrays, names):
    """Every array must hold the same number of samples (axis 0)."""
    lengths = [len(a) for a in arrays]
    if len(set(lengths)) > 1:
        described = ", ".join(f"{n} has {k}" for n, k in zip(names, lengths))
        raise ValueError(f"inconsistent numbers of samples: {described}")


def check_positive_int(value, name, low=1):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}")
    return int(value)


def as_generator(seed=None, generator=None):
    """A ``numpy.random.Generator`` from ``generator``, else ``seed``, else pydl's.

    ``seed`` may be an int (a fresh generator seeded with it) or a Generator.
    """
    if generator is not None and seed is not None:
        raise ValueError("give either seed or generator, not both")
    if generator is not None:
        return _random.resolve(generator)
    if seed is None:
        return _random.default_generator()
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"seed must be an int, a numpy.random.Generator or None, "
                        f"got {type(seed).__name__}")
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    return np.random.default_rng(int(seed))
