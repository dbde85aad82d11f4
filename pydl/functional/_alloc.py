"""Allocation of kernel outputs, with a poisoning mode for tests.

Kernels write every element of their outputs, so outputs start as ``np.empty``. With
poisoning on (``PYDL_POISON_OUTPUTS=1`` in the environment, or
:func:`poisoned_outputs`), float outputs start as NaN and integer outputs as the
type's minimum: an element a kernel forgets to write then shows up in any comparison
with the reference instead of passing by luck with stale memory. The test suite runs
with poisoning on.
"""

import contextlib
import math
import os

import numpy as np

__all__ = ["empty", "empty_checked", "empty_like", "poisoned_outputs", "poisoning", "check_fits_in_memory"]

_state = {"poison": os.environ.get("PYDL_POISON_OUTPUTS", "") not in ("", "0")}


def poisoning():
    """True when outputs are filled with a sentinel before kernels write them."""
    return _state["poison"]


@contextlib.contextmanager
def poisoned_outputs(enabled=True):
    """Turn output poisoning on (or off) inside the block."""
    previous = _state["poison"]
    _state["poison"] = bool(enabled)
    try:
        yield
    finally:
        _state["poison"] = previous


def _physical_memory():
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):  # not POSIX
        return None


_PHYSICAL_MEMORY = _physical_memory()


def check_fits_in_memory(nbytes, what):
    """Refuse, with a ValueError, an allocation larger than the machine's memory.

    Such a request (e.g. a broadcast view of a huge shape that would have to be
    copied) can never succeed; saying so beats a MemoryError from deep inside NumPy.
    """
    if _PHYSICAL_MEMORY is not None and nbytes > _PHYSICAL_MEMORY:
        raise ValueError(f"{what} would need {nbytes / 2**30:.1f} GiB, more than this "
                         f"machine's {_PHYSICAL_MEMORY / 2**30:.1f} GiB of memory")


def empty(shape, dtype):
    """An uninitialised output array (a sentinel-filled one when poisoning is on)."""
    if not _state["poison"]:
        # np.empty first (it only reserves pages) and the memory check after: the
        # common call pays one attribute read for the check, not a product of dims
        try:
            out = np.empty(shape, dtype)
        except (MemoryError, ValueError):
            check_fits_in_memory(_count(shape) * np.dtype(dtype).itemsize,
                                 f"an output of shape {shape}")
            raise
        if _PHYSICAL_MEMORY is not None and out.nbytes > _PHYSICAL_MEMORY:
            check_fits_in_memory(out.nbytes, f"an output of shape {shape}")
        return out
    dtype = np.dtype(dtype)
    check_fits_in_memory(_count(shape) * dtype.itemsize, f"an output of shape {shape}")
    fill = np.nan if dtype.kind == "f" else np.iinfo(dtype).min if dtype.kind in "iu" else 0
    return np.full(shape, fill, dtype)


def empty_checked(shape, dtype):
    """:func:`empty` for a shape whose size was already checked against the machine's
    memory (an op's cached plan): the common call is bare ``np.empty``."""
    if not _state["poison"]:
        return np.empty(shape, dtype)
    return empty(shape, dtype)


def _count(shape):
    # math.prod on Python ints: exact at any size and ~20x cheaper than np.prod here
    return math.prod(map(int, shape)) if isinstance(shape, (tuple, list)) else int(shape)


def empty_like(a):
    """An uninitialised array of ``a``'s shape and dtype (C order)."""
    return empty(a.shape, a.dtype)
