"""Occlusion augmentations of (N, C, H, W) batches: random erasing and cutout.

Per-image boxes are drawn as arrays from ``generator`` and applied through one mask
over the batch; the result is the same at any thread count. The input is never
modified.
"""

import numbers

import numpy as np

from .. import random as _random
from ._augment_args import images, interval, probability, random_boxes, real

__all__ = ["cutout", "random_erasing"]


def _fill(x, mask, value, rng):
    """x with the pixels under ``mask`` (N, 1, H, W) set to ``value`` (a number, or
    ``"random"``: standard normal noise)."""
    if isinstance(value, str):
        if value != "random":
            raise ValueError(f"value must be a number or 'random', got {value!r}")
        fill = rng.standard_normal(x.shape).astype(x.dtype)
    else:
        fill = x.dtype.type(real(value, "value"))
    return np.where(mask, fill, x)


def _box_mask(top, left, bh, bw, h, w, keep):
    """(N, 1, H, W) mask of rows ``top..top+bh`` and columns ``left..left+bw`` of the
    images where ``keep``."""
    rows = np.arange(h)[None, :]
    cols = np.arange(w)[None, :]
    in_rows = (rows >= top[:, None]) & (rows < (top + bh)[:, None]) & keep[:, None]
    in_cols = (cols >= left[:, None]) & (cols < (left + bw)[:, None])
    return (in_rows[:, :, None] & in_cols[:, None, :])[:, None]


def random_erasing(x, p=0.5, scale=(0.02, 0.33), ratio=(0.3, 3.3), value=0.0,
                   generator=None):
    """Random erasing (Zhong et al., 2017; torchvision's ``RandomErasing``): with
    probability ``p``, a box of each image, over all channels, is set to ``value``.

    The box covers ``U(scale)`` of the area with aspect ratio (height / width, as
    torchvision's) log-uniform in ``ratio``, placed uniformly inside the image; of 10
    tries the first smaller than the image in both sides is used, else the image is
    left alone.

    Parameters
    ----------
    x : float array (N, C, H, W)
    p : float in [0, 1]
    scale : (min, max) in (0, 1]
    ratio : (min, max), > 0
    value : float or "random"
        The fill; ``"random"`` fills with standard normal noise per pixel.
    generator : numpy.random.Generator, optional

    Returns
    -------
    array (N, C, H, W), x's dtype
    """
    x = images(x)
    p = probability(p)
    scale = interval(scale, "scale", low=0.0, high=1.0, low_open=True)
    ratio = interval(ratio, "ratio", low=0.0, low_open=True)
    if not isinstance(value, str):
        real(value, "value")
    rng = _random.resolve(generator)
    n, _, h, w = x.shape
    apply = rng.random(n) < p
    top, left, bh, bw, ok = random_boxes(rng, n, h, w, scale, ratio, erasing=True)
    return _fill(x, _box_mask(top, left, bh, bw, h, w, apply & ok), value, rng)


def cutout(x, size, p=1.0, value=0.0, generator=None):
    """Cutout (DeVries and Taylor, 2017): with probability ``p``, a ``size`` x ``size``
    square centred on a uniformly drawn pixel of each image is set to ``value`` (over
    all channels), clipped where it crosses the border.

    Parameters
    ----------
    x : float array (N, C, H, W)
    size : int >= 1
        Side of the square in pixels.
    p : float in [0, 1]
    value : float or "random"
    generator : numpy.random.Generator, optional
    """
    x = images(x)
    if isinstance(size, bool) or not isinstance(size, numbers.Integral) or size < 1:
        raise ValueError(f"size must be an int >= 1, got {size!r}")
    p = probability(p)
    if not isinstance(value, str):
        real(value, "value")
    rng = _random.resolve(generator)
    n, _, h, w = x.shape
    apply = rng.random(n) < p
    cy = rng.integers(0, h, n) if h else np.zeros(n, np.int64)
    cx = rng.integers(0, w, n) if w else np.zeros(n, np.int64)
    top, left = cy - size // 2, cx - size // 2
    full = np.full(n, size)
    return _fill(x, _box_mask(top, left, full, full, h, w, apply), value, rng)
