"""Image augmentation on (N, C, H, W) batches.

Functions: random shifts, flips and noise (here), rotation, scaling, resized crops and
elastic distortion (:mod:`pydl.data.geometric`), random erasing and cutout
(:mod:`pydl.data.erasing`), color jitter (:mod:`pydl.data.color`). Each draws one set
of random parameters per image from ``generator`` (default pydl's, see
:func:`pydl.manual_seed`) and returns a new array of the input's dtype; the input is
never modified, and the result does not depend on the thread count.

Classes with torchvision's names (``RandomRotation``, ``RandomResizedCrop``,
``ColorJitter``, ...) hold the arguments of one function; :class:`Compose` chains them
into one callable for ``pydl.fit(..., augment=...)``, and :class:`Augment` is the
shift-flip-noise chain in one object.
"""

import math
import numbers

import numpy as np

from .. import random as _random
from ..functional._alloc import check_fits_in_memory
from ._checks import as_array
from .color import color_jitter
from .erasing import cutout, random_erasing
from .geometric import (
    elastic_distortion,
    random_resized_crop,
    random_rotation,
    random_scale,
)

__all__ = [
    "Augment",
    "ColorJitter",
    "Compose",
    "Cutout",
    "ElasticDistortion",
    "GaussianNoise",
    "RandomErasing",
    "RandomFlip",
    "RandomResizedCrop",
    "RandomRotation",
    "RandomScale",
    "RandomShift",
    "RandomTransform",
    "gaussian_noise",
    "random_flip",
    "random_shift",
]


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


class RandomTransform:
    """One augmentation function with its arguments, as a callable ``t(x)``.

    ``t(x, generator=g)`` draws from ``g``, else from the generator given at
    construction, else from pydl's. The arguments are checked when the object is made
    (on an empty batch), so a bad one fails there and not in the middle of training.
    """

    function = None

    def __init__(self, generator=None, **kwargs):
        self.kwargs = kwargs
        self.generator = _random.resolve(generator) if generator is not None else None
        type(self).function(np.zeros((0, 3, 2, 2), np.float32),
                            generator=np.random.default_rng(0), **kwargs)

    def __call__(self, x, generator=None):
        g = generator if generator is not None else self.generator
        return type(self).function(x, generator=g, **self.kwargs)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.kwargs.items())
        return f"{type(self).__name__}({args})"


class RandomShift(RandomTransform):
    """:func:`random_shift` as a transform."""

    function = staticmethod(random_shift)

    def __init__(self, max_shift=2, fill=0.0, generator=None):
        super().__init__(generator, max_shift=max_shift, fill=fill)


class RandomFlip(RandomTransform):
    """:func:`random_flip` (left-right, probability ``p``) as a transform."""

    function = staticmethod(random_flip)

    def __init__(self, p=0.5, generator=None):
        super().__init__(generator, p=p)


class GaussianNoise(RandomTransform):
    """:func:`gaussian_noise` as a transform."""

    function = staticmethod(gaussian_noise)

    def __init__(self, std=0.1, generator=None):
        super().__init__(generator, std=std)


class RandomRotation(RandomTransform):
    """:func:`~pydl.data.geometric.random_rotation` as a transform."""

    function = staticmethod(random_rotation)

    def __init__(self, degrees, order=1, mode="constant", cval=0.0, generator=None):
        super().__init__(generator, degrees=degrees, order=order, mode=mode, cval=cval)


class RandomScale(RandomTransform):
    """:func:`~pydl.data.geometric.random_scale` (zoom about the centre) as a transform."""

    function = staticmethod(random_scale)

    def __init__(self, scale=(0.9, 1.1), order=1, mode="constant", cval=0.0,
                 generator=None):
        super().__init__(generator, scale=scale, order=order, mode=mode, cval=cval)


class RandomResizedCrop(RandomTransform):
    """:func:`~pydl.data.geometric.random_resized_crop` as a transform."""

    function = staticmethod(random_resized_crop)

    def __init__(self, size, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3), order=1,
                 mode="nearest", cval=0.0, generator=None):
        super().__init__(generator, size=size, scale=scale, ratio=ratio, order=order,
                         mode=mode, cval=cval)


class ElasticDistortion(RandomTransform):
    """:func:`~pydl.data.geometric.elastic_distortion` (Simard et al., 2003) as a
    transform."""

    function = staticmethod(elastic_distortion)

    def __init__(self, alpha=34.0, sigma=4.0, order=1, mode="constant", cval=0.0,
                 generator=None):
        super().__init__(generator, alpha=alpha, sigma=sigma, order=order, mode=mode,
                         cval=cval)


class RandomErasing(RandomTransform):
    """:func:`~pydl.data.erasing.random_erasing` as a transform."""

    function = staticmethod(random_erasing)

    def __init__(self, p=0.5, scale=(0.02, 0.33), ratio=(0.3, 3.3), value=0.0,
                 generator=None):
        super().__init__(generator, p=p, scale=scale, ratio=ratio, value=value)


class Cutout(RandomTransform):
    """:func:`~pydl.data.erasing.cutout` as a transform."""

    function = staticmethod(cutout)

    def __init__(self, size, p=1.0, value=0.0, generator=None):
        super().__init__(generator, size=size, p=p, value=value)


class ColorJitter(RandomTransform):
    """:func:`~pydl.data.color.color_jitter` as a transform."""

    function = staticmethod(color_jitter)

    def __init__(self, brightness=0.0, contrast=0.0, saturation=0.0, hue=0.0,
                 value_range=(0.0, 1.0), generator=None):
        super().__init__(generator, brightness=brightness, contrast=contrast,
                         saturation=saturation, hue=hue, value_range=value_range)


class Compose:
    """Apply transforms in order: ``Compose([RandomResizedCrop(32, scale=(0.5, 1)),
    RandomFlip(), ColorJitter(0.2, 0.2, 0.2), RandomErasing()], generator=rng)``.

    Parameters
    ----------
    transforms : sequence of callables
        :class:`RandomTransform` objects, other ``Compose`` objects or any
        ``f(x) -> x`` (e.g. :class:`Augment`, a lambda).
    generator : numpy.random.Generator, optional
        Passed to every :class:`RandomTransform` and nested ``Compose`` (instead of
        their own), so one generator seeds the whole chain.
    """

    def __init__(self, transforms, generator=None):
        if callable(transforms) or not hasattr(transforms, "__iter__"):
            raise TypeError(f"transforms must be a sequence of callables, "
                            f"got {type(transforms).__name__}")
        self.transforms = list(transforms)
        for i, t in enumerate(self.transforms):
            if not callable(t):
                raise TypeError(f"transforms[{i}] must be callable, got {type(t).__name__}")
        self.generator = _random.resolve(generator) if generator is not None else None

    def __call__(self, x, generator=None):
        g = generator if generator is not None else self.generator
        for t in self.transforms:
            x = t(x, generator=g) if isinstance(t, (RandomTransform, Compose)) else t(x)
        return x

    def __repr__(self):
        inner = "".join(f"\n    {t!r}," for t in self.transforms)
        return f"Compose([{inner}\n])"
