"""Geometric augmentations of (N, C, H, W) batches: random rotation, scaling, resized
crops and elastic distortion.

Each image gets its own random parameters, drawn as arrays from ``generator``
(default pydl's, :func:`pydl.manual_seed`); the resampling runs over the whole batch at
once in NumPy (no BLAS, no threads), so the result is the same at any thread count.
Interpolation is nearest (``order=0``) or bilinear (``order=1``); ``mode`` says what lies
outside the image, with scipy.ndimage's meanings: ``"constant"`` (``cval``, as scipy's
"grid-constant"), ``"nearest"``, ``"reflect"``, ``"mirror"``, ``"wrap"`` (scipy's
"grid-wrap"). The input is never modified; the output has its dtype.
"""

import numpy as np

from .. import random as _random
from ..functional._alloc import check_fits_in_memory
from ._augment_args import images, interval, random_boxes, real, size_pair
from ._warp import affine_grid, check_interpolation, gaussian_blur, sample

__all__ = ["elastic_distortion", "random_resized_crop", "random_rotation", "random_scale"]


def _about_centre(matrices, h, w):
    """Offsets that make ``matrix`` act about the image centre: in = M (out - c) + c."""
    c = np.array([(h - 1) / 2.0, (w - 1) / 2.0])
    return c[None, :] - np.einsum("nij,j->ni", matrices, c)


def random_rotation(x, degrees, order=1, mode="constant", cval=0.0, generator=None):
    """Rotate each image about its centre by an angle drawn uniformly from ``degrees``.

    Positive angles turn the image counter-clockwise; image ``k`` is
    ``scipy.ndimage.rotate(x[k], angle[k], axes=(1, 2), reshape=False, order=order,
    mode=...)``.

    Parameters
    ----------
    x : float array (N, C, H, W)
    degrees : float or (min, max)
        A number d means ``(-d, d)``.
    order : {0, 1}
        Nearest or bilinear interpolation.
    mode : {"constant", "nearest", "reflect", "mirror", "wrap"}
    cval : float
        Fill value for ``mode="constant"``.
    generator : numpy.random.Generator, optional

    Returns
    -------
    array (N, C, H, W), x's dtype
    """
    x = images(x)
    lo, hi = interval(degrees, "degrees", symmetric_about=0.0)
    order, mode, cval = check_interpolation(order, mode, cval)
    n, _, h, w = x.shape
    angle = np.deg2rad(_random.resolve(generator).uniform(lo, hi, n))
    cos, sin = np.cos(angle), np.sin(angle)
    matrices = np.stack([np.stack([cos, sin], 1), np.stack([-sin, cos], 1)], 1)
    rows, cols = affine_grid(matrices, _about_centre(matrices, h, w), (h, w))
    return sample(x, rows, cols, order, mode, cval)


def random_scale(x, scale=(0.9, 1.1), order=1, mode="constant", cval=0.0, generator=None):
    """Zoom each image about its centre by a factor drawn uniformly from ``scale``,
    keeping its size (> 1 enlarges the content and cuts the borders, < 1 shrinks it and
    fills around it by ``mode``), as ``RandomAffine(scale=...)``.

    Image ``k`` is ``scipy.ndimage.affine_transform(x[k], 1 / s[k], offset=c - c / s[k])``
    per channel, ``c`` the centre ``((H - 1) / 2, (W - 1) / 2)``.

    Parameters
    ----------
    x : float array (N, C, H, W)
    scale : (min, max), both > 0
    order, mode, cval, generator : as :func:`random_rotation`
    """
    x = images(x)
    lo, hi = interval(scale, "scale", low=0.0, low_open=True)
    order, mode, cval = check_interpolation(order, mode, cval)
    n, _, h, w = x.shape
    s = _random.resolve(generator).uniform(lo, hi, n)
    matrices = np.zeros((n, 2, 2))
    matrices[:, 0, 0] = matrices[:, 1, 1] = 1.0 / s
    rows, cols = affine_grid(matrices, _about_centre(matrices, h, w), (h, w))
    return sample(x, rows, cols, order, mode, cval)


def random_resized_crop(x, size, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3), order=1,
                        mode="nearest", cval=0.0, generator=None):
    """Crop a random box of each image and resize it to ``size`` (torchvision's
    ``RandomResizedCrop``; the Inception training crop).

    The box covers a fraction ``U(scale)`` of the image area with aspect ratio
    (width / height) log-uniform in ``ratio``; of 10 tries per image the first that
    fits is used, else the whole image. The box is resampled with pixel centres
    aligned (``align_corners=False``): output pixel ``i`` reads input row
    ``top + (i + 0.5) * box_h / out_h - 0.5``, so the edge rows read a little of the
    image around the box (by ``mode`` at the image's edge).

    Parameters
    ----------
    x : float array (N, C, H, W)
    size : int or (height, width)
        Output size.
    scale : (min, max) in (0, 1]
    ratio : (min, max), > 0
    order, mode, cval, generator : as :func:`random_rotation` (default mode
        ``"nearest"``: edge pixels repeat)

    Returns
    -------
    array (N, C, height, width), x's dtype
    """
    x = images(x)
    oh, ow = size_pair(size, "size")
    scale = interval(scale, "scale", low=0.0, high=1.0, low_open=True)
    ratio = interval(ratio, "ratio", low=0.0, low_open=True)
    order, mode, cval = check_interpolation(order, mode, cval)
    n, _, h, w = x.shape
    if n and not h * w:
        raise ValueError(f"x must hold images of at least 1x1 pixels to crop, got shape "
                         f"{x.shape}")
    check_fits_in_memory(n * x.shape[1] * oh * ow * 8 * 4, f"the output of size {(oh, ow)}")
    top, left, bh, bw, ok = random_boxes(_random.resolve(generator), n, h, w, scale, ratio)
    # torchvision's fallback when no try fits: the central crop of the nearest allowed
    # aspect ratio
    if not ok.all():
        aspect = w / h
        if aspect < ratio[0]:
            fw, fh = w, round(w / ratio[0])
        elif aspect > ratio[1]:
            fh, fw = h, round(h * ratio[1])
        else:
            fh, fw = h, w
        bh, bw = np.where(ok, bh, fh), np.where(ok, bw, fw)
        top = np.where(ok, top, (h - fh) // 2)
        left = np.where(ok, left, (w - fw) // 2)
    matrices = np.zeros((n, 2, 2))
    matrices[:, 0, 0], matrices[:, 1, 1] = bh / oh, bw / ow
    offsets = np.stack([top + 0.5 * bh / oh - 0.5, left + 0.5 * bw / ow - 0.5], 1)
    rows, cols = affine_grid(matrices, offsets, (oh, ow))
    return sample(x, rows, cols, order, mode, cval)


def elastic_displacements(n, h, w, alpha, sigma, generator=None):
    """Simard et al.'s (2003) random displacement fields: ``U(-1, 1)`` per pixel,
    blurred by a Gaussian of std ``sigma`` (edges reflected), times ``alpha``.

    Returns ``dy, dx`` of shape (n, h, w), in pixels. The draw is one
    ``uniform(-1, 1, (n, 2, h, w))`` ([:, 0] rows, [:, 1] columns).
    """
    field = _random.resolve(generator).uniform(-1.0, 1.0, (n, 2, h, w))
    field = gaussian_blur(field, sigma) * alpha
    return field[:, 0], field[:, 1]


def elastic_distortion(x, alpha=34.0, sigma=4.0, order=1, mode="constant", cval=0.0,
                       generator=None):
    """Elastic distortion (Simard, Steinkraus and Platt, 2003): each image is resampled
    at ``(i + dy, j + dx)``, with ``dy``, ``dx`` smooth random displacement fields
    (:func:`elastic_displacements`).

    ``sigma`` sets the smoothness (small: noisy jitter; large: near translation),
    ``alpha`` the strength in pixels; the paper's MNIST values were ``sigma = 4``,
    ``alpha = 34``. Image ``k`` is ``scipy.ndimage.map_coordinates(x[k, c], [i + dy[k],
    j + dx[k]], order=order, mode=...)`` with the fields from
    ``scipy.ndimage.gaussian_filter(u, sigma, mode="reflect") * alpha``.

    Parameters
    ----------
    x : float array (N, C, H, W)
    alpha : float >= 0
    sigma : float > 0
    order, mode, cval, generator : as :func:`random_rotation`
    """
    x = images(x)
    alpha = real(alpha, "alpha", 0.0)
    sigma = real(sigma, "sigma", 0.0, low_open=True)
    if sigma > 1e6:     # the kernel would not fit in memory; beyond the image it is flat
        raise ValueError(f"sigma must be at most 1e6 pixels, got {sigma}")
    order, mode, cval = check_interpolation(order, mode, cval)
    n, _, h, w = x.shape
    dy, dx = elastic_displacements(n, h, w, alpha, sigma, generator)
    rows = np.arange(h, dtype=np.float64)[None, :, None] + dy
    cols = np.arange(w, dtype=np.float64)[None, None, :] + dx
    return sample(x, rows, cols, order, mode, cval)
