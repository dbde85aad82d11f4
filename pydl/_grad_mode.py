"""Whether forward passes keep what backward needs (like torch.no_grad)."""

import contextlib
import threading

__all__ = ["no_grad", "enable_grad", "set_grad_enabled", "is_grad_enabled"]

class _GradMode(threading.local):
    # A class default: a thread that never set the mode reads it without the
    # AttributeError a getattr default costs (600 ns, on every recorded op).
    enabled = True


_local = _GradMode()


def is_grad_enabled():
    """True unless inside :func:`no_grad`: modules then cache inputs for backward."""
    return _local.enabled


def set_grad_enabled(mode):
    """Turn caching for backward on or off for this thread."""
    _local.enabled = bool(mode)


@contextlib.contextmanager
def no_grad():
    """Run forward passes without keeping anything for backward (inference)."""
    previous = is_grad_enabled()
    set_grad_enabled(False)
    try:
        yield
    finally:
        set_grad_enabled(previous)


@contextlib.contextmanager
def enable_grad():
    """Re-enable caching for backward inside a :func:`no_grad` block."""
    previous = is_grad_enabled()
    set_grad_enabled(True)
    try:
        yield
    finally:
        set_grad_enabled(previous)
