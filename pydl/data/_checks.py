"""Argument checks shared by the data utilities, the metrics and the training loop."""

import numbers

import numpy as np

from .. import random as _random
from ..functional._alloc import check_fits_in_memory


def as_array(x, name, *, kinds="biuf", min_ndim=1, allow_empty=False, finite=True):
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
        Refuse NaN and infinity in floating arrays.
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
    # e.g. a broadcast view of a huge shape: every use would touch all its elements
    check_fits_in_memory(x.size * x.dtype.itemsize, f"{name} (shape {x.shape})")
    if not allow_empty and (x.ndim == 0 or x.shape[0] == 0):
        raise ValueError(f"{name} is empty (shape {x.shape}); it needs at least one sample")
    if finite and x.dtype.kind == "f" and not np.all(np.isfinite(x)):
        raise ValueError(f"{name} contains NaN or infinity")
    return x


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
