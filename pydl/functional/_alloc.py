"""Allocation of kernel outputs, with a poisoning mode for tests.

Kernels write every element of their outputs, so outputs start as ``np.empty``. With
poisoning on (``PYDL_POISON_OUTPUTS=1`` in the environment, or
:func:`poisoned_outputs`), float outputs start as NaN and integer outputs as the
type's minimum: an element a kernel forgets to write then shows up in any comparison
with the reference instead of passing by luck with stale memory. The test suite runs
with poisoning on.
"""

import contextlib
import os

import numpy as np

__all__ = ["empty", "empty_like", "poisoned_outputs", "poisoning"]

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


def empty(shape, dtype):
    """An uninitialised output array (a sentinel-filled one when poisoning is on)."""
    if not _state["poison"]:
        return np.empty(shape, dtype)
    dtype = np.dtype(dtype)
    fill = np.nan if dtype.kind == "f" else np.iinfo(dtype).min if dtype.kind in "iu" else 0
    return np.full(shape, fill, dtype)


def empty_like(a):
    """An uninitialised array of ``a``'s shape and dtype (C order)."""
    return empty(a.shape, a.dtype)
