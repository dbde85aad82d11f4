"""Seeding each fit without disturbing the caller's random stream."""

import contextlib

from .. import random as _random

__all__ = ["caller_rng_kept"]


@contextlib.contextmanager
def caller_rng_kept():
    """Put pydl's default generator back to its state on entry when the block ends
    (the block reseeds it with :func:`pydl.manual_seed` before each fit)."""
    state = _random.get_state()
    try:
        yield
    finally:
        _random.set_state(state)
