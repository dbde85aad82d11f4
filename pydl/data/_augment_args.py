"""Argument checks and random boxes shared by the augmentations."""

import math
import numbers

import numpy as np

from ._checks import as_array


def images(x, channels=None):
    """``x`` as a float batch (N, C, H, W), or a clear error naming it."""
    x = as_array(x, "x", kinds="f", min_ndim=4, allow_empty=True)
    if x.ndim != 4:
        raise ValueError(f"x must be a batch of images (N, C, H, W), got shape {x.shape}")
    if channels is not None and x.shape[1] != channels:
        raise ValueError(f"x must have {channels} channels (N, {channels}, H, W), "
                         f"got shape {x.shape}")
    return x


def real(value, name, low=None, high=None, low_open=False):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) \
            or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    value = float(value)
    if low is not None and (value < low or (low_open and value == low)):
        raise ValueError(f"{name} must be {'>' if low_open else '>='} {low}, got {value}")
    if high is not None and value > high:
        raise ValueError(f"{name} must be <= {high}, got {value}")
    return value


def probability(p, name="p"):
    return real(p, name, 0.0, 1.0)


def interval(value, name, *, symmetric_about=None, low=None, high=None, low_open=False):
    """A (lo, hi) pair with lo <= hi. A single number v means
    ``(symmetric_about - v, symmetric_about + v)`` when ``symmetric_about`` is given."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{name} must be a number or a pair (min, max), got {value!r}")
        lo, hi = (real(v, f"{name}[{i}]", low, high, low_open) for i, v in enumerate(value))
    elif symmetric_about is not None:
        v = real(value, name, 0.0)
        lo, hi = symmetric_about - v, symmetric_about + v
        lo, hi = real(lo, f"{name} range min", low, high, low_open), real(hi, name, low, high)
    else:
        raise ValueError(f"{name} must be a pair (min, max), got {value!r}")
    if lo > hi:
        raise ValueError(f"{name} must be (min, max) with min <= max, got {value!r}")
    return lo, hi


def size_pair(value, name):
    """An output size: an int or a pair (height, width) of ints >= 1."""
    pair = value if isinstance(value, (tuple, list)) else (value, value)
    if len(pair) != 2 or any(isinstance(v, bool) or not isinstance(v, numbers.Integral)
                             or v < 1 for v in pair):
        raise ValueError(f"{name} must be an int >= 1 or a pair of them, got {value!r}")
    return int(pair[0]), int(pair[1])


def random_boxes(rng, n, h, w, scale, ratio, attempts=10, erasing=False):
    """torchvision's box samplers, for n images at once: area ``U(scale) * h * w``,
    aspect log-uniform in ``ratio``; the first of ``attempts`` tries that fits is kept.

    RandomResizedCrop's (default): the aspect is ``width / height`` and a box fits
    with sides in ``[1, w]`` and ``[1, h]``. RandomErasing's (``erasing``): the aspect
    is ``height / width`` and a box fits with sides below the image's (``h < H and
    w < W``; a side rounded to 0 fits and erases nothing), as torchvision's code has it.

    Returns ``top, left, height, width`` (int arrays (n,)) and ``ok`` (bool (n,): some
    try fitted).
    """
    area = rng.uniform(scale[0], scale[1], (n, attempts)) * (h * w)
    aspect = np.exp(rng.uniform(math.log(ratio[0]), math.log(ratio[1]), (n, attempts)))
    long_side = np.rint(np.sqrt(area * aspect)).astype(np.int64)
    short_side = np.rint(np.sqrt(area / aspect)).astype(np.int64)
    if erasing:
        bh, bw = long_side, short_side
        fits = (bh < h) & (bw < w)
    else:
        bw, bh = long_side, short_side
        fits = (bw >= 1) & (bw <= w) & (bh >= 1) & (bh <= h)
    first = np.argmax(fits, axis=1)
    ok = fits[np.arange(n), first]
    bh = np.where(ok, bh[np.arange(n), first], h)
    bw = np.where(ok, bw[np.arange(n), first], w)
    # positions: uniform over the placements that fit, one draw per image
    top = np.floor(rng.random(n) * (h - bh + 1)).astype(np.int64)
    left = np.floor(rng.random(n) * (w - bw + 1)).astype(np.int64)
    return top, left, bh, bw, ok
