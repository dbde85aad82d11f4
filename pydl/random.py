"""The random generator behind initialisers and dropout (``pydl.manual_seed``).

pydl draws random numbers from one ``numpy.random.Generator``; seeding it makes weight
initialisation and dropout masks reproducible. Functions that take ``generator=``
use that one instead.
"""

import numpy as np

__all__ = ["manual_seed", "default_generator", "get_state", "set_state"]

_generator = np.random.default_rng()


def manual_seed(seed):
    """Reseed pydl's default generator; returns it.

    Parameters
    ----------
    seed : int or None
        None draws fresh entropy from the OS.
    """
    global _generator
    _generator = np.random.default_rng(seed)
    return _generator


def default_generator():
    """The generator used when a function is given no ``generator``."""
    return _generator


def get_state():
    """A copy of the default generator's state (a dict), e.g. for checkpoints."""
    return _generator.bit_generator.state


def set_state(state):
    """Restore a state returned by :func:`get_state`."""
    _generator.bit_generator.state = state


def resolve(generator):
    """``generator`` if given, else the default one."""
    if generator is None:
        return _generator
    if not isinstance(generator, np.random.Generator):
        raise TypeError(f"generator must be a numpy.random.Generator, "
                        f"got {type(generator).__name__}")
    return generator
