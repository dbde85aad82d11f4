"""Color augmentation of RGB batches (N, 3, H, W): brightness, contrast, saturation
and hue, as torchvision's ``ColorJitter``, with one random factor per image.

The ``adjust_*`` functions take one factor per image (an array (N,)); ``color_jitter``
draws them. Values are taken to lie in ``value_range`` (default [0, 1]) and are clipped
to it after each step, as torchvision does for float images.
"""

import numpy as np

from .. import random as _random
from ._augment_args import images, interval, real

__all__ = [
    "adjust_brightness",
    "adjust_contrast",
    "adjust_hue",
    "adjust_saturation",
    "color_jitter",
    "hsv_to_rgb",
    "rgb_to_hsv",
]

# ITU-R 601 luma, torchvision's rgb_to_grayscale
_LUMA = np.array([0.2989, 0.587, 0.114])


def _factors(factor, n, name):
    f = np.asarray(factor, np.float64)
    if f.ndim > 1 or (f.ndim == 1 and len(f) != n) or not np.isfinite(f).all():
        raise ValueError(f"{name} must be a finite number or an array of {n} (one per "
                         f"image), got shape {f.shape}")
    return np.broadcast_to(f, (n,))[:, None, None, None]


def _clip(y, value_range):
    return y if value_range is None else np.clip(y, value_range[0], value_range[1])


def _gray(x):
    """(N, 1, H, W) luma of RGB images; a one-channel image is its own."""
    if x.shape[1] == 1:
        return x
    return np.einsum("c,nchw->nhw", _LUMA, x)[:, None]


def adjust_brightness(x, factor, value_range=(0.0, 1.0)):
    """``x * factor`` per image (0: black, 1: unchanged), clipped."""
    x = images(x)
    return _clip(x * _factors(factor, len(x), "factor"), value_range).astype(x.dtype)


def adjust_contrast(x, factor, value_range=(0.0, 1.0)):
    """Blend each image with the mean of its luma: ``factor * x + (1 - factor) * mean``
    (0: uniform gray, 1: unchanged), clipped. One or three channels."""
    x = images(x)
    if x.shape[1] not in (1, 3):
        raise ValueError(f"x must have 1 or 3 channels, got shape {x.shape}")
    f = _factors(factor, len(x), "factor")
    if not x.size:      # no pixels: nothing to blend (and no mean to take)
        return x.copy()
    mean = _gray(x.astype(np.float64)).mean(axis=(1, 2, 3), keepdims=True)
    return _clip(f * x + (1 - f) * mean, value_range).astype(x.dtype)


def adjust_saturation(x, factor, value_range=(0.0, 1.0)):
    """Blend each RGB image with its luma: ``factor * x + (1 - factor) * gray``
    (0: grayscale, 1: unchanged), clipped."""
    x = images(x, channels=3)
    f = _factors(factor, len(x), "factor")
    return _clip(f * x + (1 - f) * _gray(x.astype(np.float64)), value_range).astype(x.dtype)


def rgb_to_hsv(x):
    """RGB (N, 3, H, W) with values >= 0 to HSV, hue in [0, 1) (``colorsys``' formula,
    vectorized)."""
    r, g, b = (x[:, i].astype(np.float64) for i in range(3))
    maxc = np.maximum(np.maximum(r, g), b)
    minc = np.minimum(np.minimum(r, g), b)
    span = maxc - minc
    s = span / np.where(maxc == 0, 1.0, maxc)
    d = np.where(span == 0, 1.0, span)
    rc, gc, bc = (maxc - r) / d, (maxc - g) / d, (maxc - b) / d
    h = np.where(maxc == r, bc - gc, np.where(maxc == g, 2.0 + rc - bc, 4.0 + gc - rc))
    h = np.where(span == 0, 0.0, (h / 6.0) % 1.0)
    return np.stack([h, s, maxc], axis=1)


def hsv_to_rgb(hsv):
    """The inverse of :func:`rgb_to_hsv`."""
    h, s, v = hsv[:, 0], hsv[:, 1], hsv[:, 2]
    i = np.floor(h * 6.0)
    f = h * 6.0 - i
    i = i.astype(np.int64) % 6
    p, q, t = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
    # sector i: (r, g, b) = (v,t,p) (q,v,p) (p,v,t) (p,q,v) (t,p,v) (v,p,q)
    r = np.choose(i, [v, q, p, p, t, v])
    g = np.choose(i, [t, v, v, q, p, p])
    b = np.choose(i, [p, p, t, v, v, q])
    return np.stack([r, g, b], axis=1)


def adjust_hue(x, factor, value_range=(0.0, 1.0)):
    """Rotate each RGB image's hue by ``factor`` turns (in [-0.5, 0.5]; 0: unchanged,
    0.5: complementary colors), keeping saturation and value. Values must be >= 0."""
    x = images(x, channels=3)
    f = _factors(factor, len(x), "factor")[:, 0]
    if (np.abs(f) > 0.5).any():
        raise ValueError("factor (hue) must lie in [-0.5, 0.5]")
    if x.size and x.min() < 0:
        raise ValueError("adjust_hue needs values >= 0 (RGB intensities); got negative ones")
    hsv = rgb_to_hsv(x)
    hsv[:, 0] = (hsv[:, 0] + f) % 1.0
    return _clip(hsv_to_rgb(hsv), value_range).astype(x.dtype)


def _jitter_range(value, name, centre, low, high=None):
    """torchvision's argument: a number v means [max(low, centre - v), centre + v]."""
    if isinstance(value, (tuple, list)):
        return interval(value, name, low=low, high=high)
    v = real(value, name, 0.0)
    lo, hi = max(low, centre - v), centre + v
    if high is not None and hi > high:
        raise ValueError(f"{name} must be <= {high}, got {value}")
    return lo, hi


def color_jitter(x, brightness=0.0, contrast=0.0, saturation=0.0, hue=0.0,
                 value_range=(0.0, 1.0), generator=None):
    """Randomly change brightness, contrast, saturation and hue, with factors drawn
    per image (torchvision's ``ColorJitter``).

    The steps run in this order, each only when its setting is not 0; the factors are
    drawn per image, uniformly from the ranges, in the same order.

    Parameters
    ----------
    x : float array (N, 3, H, W), RGB in ``value_range`` (brightness alone: any C)
    brightness, contrast, saturation : float >= 0 or (min, max)
        A number v gives factors in ``[max(0, 1 - v), 1 + v]`` (see the
        ``adjust_*`` functions: 1 leaves the image unchanged).
    hue : float in [0, 0.5] or (min, max) within [-0.5, 0.5]
        A number v gives hue shifts in ``[-v, v]`` turns.
    value_range : (low, high) or None
        Clip to this range after each step (None: no clipping).
    generator : numpy.random.Generator, optional

    Returns
    -------
    array (N, C, H, W), x's dtype
    """
    x = images(x)
    b = _jitter_range(brightness, "brightness", 1.0, 0.0)
    c = _jitter_range(contrast, "contrast", 1.0, 0.0)
    s = _jitter_range(saturation, "saturation", 1.0, 0.0)
    h = _jitter_range(hue, "hue", 0.0, -0.5, 0.5)
    if value_range is not None:
        value_range = interval(value_range, "value_range")
    steps = [(rng_range, fn) for rng_range, fn, identity in (
        (b, adjust_brightness, 1.0), (c, adjust_contrast, 1.0),
        (s, adjust_saturation, 1.0), (h, adjust_hue, 0.0)) if rng_range != (identity,) * 2]
    if any(fn is not adjust_brightness for _, fn in steps) and x.shape[1] != 3:
        raise ValueError(f"contrast, saturation and hue need RGB images (N, 3, H, W), "
                         f"got shape {x.shape}")
    rng = _random.resolve(generator)
    factors = [rng.uniform(lo, hi, len(x)) for (lo, hi), _ in steps]
    y = x.astype(np.float64)    # one rounding to x's dtype, at the end
    for f, (_, fn) in zip(factors, steps):
        y = fn(y, f, value_range)
    return y.astype(x.dtype)
