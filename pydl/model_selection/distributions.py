"""Search-space distributions for :func:`~pydl.model_selection.random_search`.

Each draws values with a NumPy generator and can narrow itself around good values
(the "fine" step of a coarse-to-fine search). Ranges are inclusive.
"""

import math
import numbers

import numpy as np

__all__ = ["Choice", "Distribution", "LogUniform", "Uniform"]


def _real(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    return value


class Distribution:
    """Base class: ``sample(rng, n)`` and ``narrow(values)``."""

    def sample(self, rng, n):
        """``n`` values drawn with the numpy Generator ``rng`` (a list)."""
        raise NotImplementedError

    def narrow(self, values, margin):
        """A distribution of the same kind over the region of ``values`` (the best
        trials' values), widened by ``margin`` and kept inside this one."""
        raise NotImplementedError

    @property
    def numeric(self):
        return False


class Uniform(Distribution):
    """Uniform on ``[low, high]``; ``integer=True`` rounds to ints (e.g. layer widths).

    Parameters
    ----------
    low, high : float
        ``low < high`` (``low <= high`` for integers, both then rounded).
    integer : bool
    """

    def __init__(self, low, high, integer=False):
        self.low, self.high = _real(low, "low"), _real(high, "high")
        self.integer = bool(integer)
        if self.integer:
            self.low, self.high = float(math.ceil(self.low)), float(math.floor(self.high))
        if not (self.low < self.high or (self.integer and self.low == self.high)):
            raise ValueError(f"{type(self).__name__} needs low < high, got low={low}, "
                             f"high={high}")

    # the coordinate the distribution is uniform in
    def _to(self, v):
        return np.asarray(v, dtype=np.float64)

    def _from(self, u):
        return u

    @property
    def numeric(self):
        return True

    @property
    def log(self):
        return False

    def _cast(self, values):
        if self.integer:
            return [int(v) for v in np.clip(np.rint(values), self.low, self.high)]
        return [float(v) for v in np.clip(values, self.low, self.high)]

    def sample(self, rng, n):
        if self.integer and not self.log:  # each int equally likely
            return [int(v) for v in rng.integers(int(self.low), int(self.high) + 1, n)]
        u = rng.uniform(self._to(self.low), self._to(self.high), n)
        return self._cast(self._from(u))

    def narrow(self, values, margin):
        u = self._to(values)
        lo, hi = float(u.min()), float(u.max())
        full_lo, full_hi = float(self._to(self.low)), float(self._to(self.high))
        pad = max(margin * (hi - lo), 0.1 * (full_hi - full_lo))
        new_lo = float(self._from(max(full_lo, lo - pad)))
        new_hi = float(self._from(min(full_hi, hi + pad)))
        new_lo, new_hi = max(new_lo, self.low), min(new_hi, self.high)
        if self.integer:
            new_lo, new_hi = math.floor(new_lo), math.ceil(new_hi)
        return type(self)(new_lo, new_hi, integer=self.integer)

    def __repr__(self):
        extra = ", integer=True" if self.integer else ""
        return f"{type(self).__name__}({self.low:g}, {self.high:g}{extra})"

    def __eq__(self, other):
        return (type(self) is type(other) and (self.low, self.high, self.integer)
                == (other.low, other.high, other.integer))

    __hash__ = None


class LogUniform(Uniform):
    """Log-uniform on ``[low, high]``, ``0 < low < high``: each decade equally likely,
    the scale for learning rates, weight decay and other rates.

    Parameters
    ----------
    low, high : float
    integer : bool
        Round to ints (e.g. batch sizes or widths from 8 to 512).
    """

    def __init__(self, low, high, integer=False):
        super().__init__(low, high, integer)
        if self.low <= 0:
            raise ValueError(f"LogUniform needs 0 < low, got low={low}")

    def _to(self, v):
        return np.log(np.asarray(v, dtype=np.float64))

    def _from(self, u):
        return np.exp(u)

    @property
    def log(self):
        return True


class Choice(Distribution):
    """One of ``options``, each equally likely (an optimizer, an activation...).

    Parameters
    ----------
    options : sequence
        At least one option; options must be distinct.
    """

    def __init__(self, options):
        if isinstance(options, (str, bytes)) or not hasattr(options, "__iter__"):
            raise TypeError(f"options must be a list of choices, got "
                            f"{type(options).__name__}")
        self.options = list(options)
        if not self.options:
            raise ValueError("options must hold at least one choice")
        for i, a in enumerate(self.options):
            if any(_same(a, b) for b in self.options[:i]):
                raise ValueError(f"options must be distinct, {a!r} repeats")

    def sample(self, rng, n):
        return [self.options[i] for i in rng.integers(0, len(self.options), n)]

    def narrow(self, values, margin):
        kept = [o for o in self.options if any(_same(o, v) for v in values)]
        return Choice(kept or self.options)

    def __repr__(self):
        return f"Choice({self.options!r})"

    def __eq__(self, other):
        return type(other) is Choice and len(self.options) == len(other.options) and all(
            _same(a, b) for a, b in zip(self.options, other.options))

    __hash__ = None


def _same(a, b):
    """Equality that never returns an array (options may be arrays or objects)."""
    try:
        return bool(a is b or a == b)
    except (TypeError, ValueError):
        return False
