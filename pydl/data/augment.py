"""Image augmentation on (N, C, H, W) batches: random shifts, flips and noise.

Each function draws from ``generator`` (default pydl's, see :func:`pydl.manual_seed`)
and returns a new array of the input's dtype; the input is never modified.
:class:`Augment` chains them into one callable for ``pydl.fit(..., augment=...)``.
"""

import math
import numbers

import numpy as np

from .. import random as _random
from ..functional._alloc import check_fits_in_memory
from ._checks import as_array

__all__ = ["random_shift", "random_flip", "gaussian_noise", "Augment"]


def _images(x):
    x = as_array(x, "x", kinds="f", min_ndim=4, allow_empty=True)
    if x.ndim != 4:
        raise ValueError(f"x must be a batch of images (N, C, H, W), got shape {x.shape}")
    return x


def _fraction_or_pixels(value, size, name):
    """A shift bound given in pixels (int) or as a fraction of the size (float < 1)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) \
            or not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    if isinstance(value, numbers.Integral):
        return min(int(value), size)
    if value >= 1:
        raise ValueError(f"{name} as a fraction of the image size must be < 1, got {value}")
    return int(value * size)


def random_shift(x, max_shift=2, fill=0.0, generator=None):
    """Translate each image by a random whole number of pixels in each direction.

    Parameters
    ----------
    x : float array (N, C, H, W)
    max_shift : int or float, or a pair (vertical, horizontal)
        Largest shift: pixels (int) or a fraction of the height/width (float < 1).
        Shifts are drawn uniformly from ``[-max_shift, max_shift]``.
    fill : float
        Value of the pixels uncovered by the shift.
    """
    x = _images(x)
    n, _, h, w = x.shape
    mv, mh = max_shift if isinstance(max_shift, (tuple, list)) else (max_shift, max_shift)
    mv, mh = _fraction_or_pixels(mv, h, "max_shift"), _fraction_or_pixels(mh, w, "max_shift")
    if isinstance(fill, bool) or not isinstance(fill, numbers.Real):
        raise TypeError(f"fill must be a number, got {type(fill).__name__}")
    rng = _random.resolve(generator)
    dy = rng.integers(-mv, mv + 1, size=n)
    dx = rng.integers(-mh, mh + 1, size=n)
    shape = (n, x.shape[1], h + 2 * mv, w + 2 * mh)
    check_fits_in_memory(int(np.prod(shape, dtype=np.float64)) * x.itemsize,
                         f"the padded images of shape {shape}")
    padded = np.full(shape, fill, dtype=x.dtype)
    padded[:, :, mv:mv + h, mh:mh + w] = x
    # Output pixel (i, j) of image k reads padded pixel (i + mv - dy[k], j + mh - dx[k]).
    rows = np.arange(h)[None, :] + (mv - dy)[:, None]
    cols = np.arange(w)[None, :] + (mh - dx)[:, None]
    return padded[np.arange(n)[:, None, None, None], np.arange(x.shape[1])[None, :, None, None],
                  rows[:, None, :, None], cols[:, None, None, :]]


def random_flip(x, p=0.5, generator=None):
    """Mirror each image left-right with probability ``p``."""
    x = _images(x)
    p = _probability(p)
    flip = _random.resolve(generator).random(len(x)) < p
    out = x.copy()
    out[flip] = x[flip][..., ::-1]
    return out


def gaussian_noise(x, std=0.1, generator=None):
    """Add independent N(0, std**2) noise to every pixel."""
    x = _images(x)
    if isinstance(std, bool) or not isinstance(std, numbers.Real) \
            or not math.isfinite(std) or std < 0:
        raise ValueError(f"std must be a finite number >= 0, got {std!r}")
    noise = _random.resolve(generator).standard_normal(x.shape)
    return (x + std * noise).astype(x.dtype)


def _probability(p):
    if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0 <= p <= 1:
        raise ValueError(f"p must be a probability in [0, 1], got {p!r}")
    return float(p)


class Augment:
    """Random shift, horizontal flip and noise applied in that order.

    ``Augment(max_shift=2, flip=0.5, noise=0.05, generator=rng)(x_batch)``; a zero
    setting skips that step.
    """

    def __init__(self, max_shift=0, flip=0.0, noise=0.0, fill=0.0, generator=None):
        self.max_shift = max_shift
        self.flip = _probability(flip)
        self.noise = noise
        self.fill = fill
        self.generator = _random.resolve(generator) if generator is not None else None

    def __call__(self, x):
        g = self.generator
        if self.max_shift:
            x = random_shift(x, self.max_shift, self.fill, generator=g)
        if self.flip:
            x = random_flip(x, self.flip, generator=g)
        if self.noise:
            x = gaussian_noise(x, self.noise, generator=g)
        return x

    def __repr__(self):
        return (f"Augment(max_shift={self.max_shift}, flip={self.flip}, "
                f"noise={self.noise}, fill={self.fill})")
