"""Resampling of image batches at arbitrary coordinates (nearest or bilinear, scipy's
boundary modes) and a separable Gaussian blur: the machinery of the geometric
augmentations, in NumPy over the whole batch at once."""

import math
import numbers

import numpy as np

from ..functional._alloc import check_fits_in_memory

# scipy.ndimage's names: "constant" is its "grid-constant" (outside pixels are cval and
# take part in the interpolation, as torch's grid_sample with zeros padding), "wrap" its
# "grid-wrap".
MODES = ("constant", "nearest", "reflect", "mirror", "wrap")


def check_interpolation(order, mode, cval):
    """(order, mode, cval) checked: order 0 (nearest) or 1 (bilinear), a mode of MODES,
    a finite cval."""
    if isinstance(order, bool) or order not in (0, 1):
        raise ValueError(f"order must be 0 (nearest) or 1 (bilinear), got {order!r}")
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if isinstance(cval, bool) or not isinstance(cval, numbers.Real) or not math.isfinite(cval):
        raise ValueError(f"cval must be a finite number, got {cval!r}")
    return int(order), mode, float(cval)


def _fold(i, n, mode):
    """Integer indices ``i`` mapped into ``[0, n)`` by the boundary mode."""
    if mode == "wrap":
        return i % n
    if mode == "reflect":          # d c b a | a b c d | d c b a
        m = i % (2 * n)
        return np.where(m >= n, 2 * n - 1 - m, m)
    if mode == "mirror":           # d c b | a b c d | c b a
        if n == 1:
            return np.zeros_like(i)
        m = i % (2 * n - 2)
        return np.where(m >= n, 2 * n - 2 - m, m)
    return np.clip(i, 0, n - 1)    # nearest; constant masks the outside separately


def sample(x, rows, cols, order=1, mode="constant", cval=0.0):
    """``out[n, c, i, j] = x[n, c]`` interpolated at ``(rows[n, i, j], cols[n, i, j])``.

    Parameters
    ----------
    x : float array (N, C, H, W)
    rows, cols : float arrays (N, Ho, Wo)
        Input coordinates of each output pixel (pixel centres at integers).
    order : 0 or 1
        Nearest (``floor(r + 0.5)``) or bilinear interpolation.
    mode : one of MODES
    cval : float
        The value outside the image for mode "constant".

    Returns
    -------
    array (N, C, Ho, Wo) of x's dtype: computed in float64 for float64 input, else in
    float32 (coordinates and weights always in float64).
    """
    n, c, h, w = x.shape
    ho, wo = rows.shape[1:]
    p = ho * wo
    work = np.float64 if x.dtype == np.float64 else np.float32
    check_fits_in_memory(n * c * p * np.dtype(work).itemsize * 3,
                         f"the resampled batch of shape {(n, c, ho, wo)}")
    if mode == "constant":
        # a one-pixel border of cval: every index outside clips onto it
        src = np.pad(x.astype(work, copy=False), ((0, 0), (0, 0), (1, 1), (1, 1)),
                     constant_values=cval)
        sh, sw = h + 2, w + 2

        def fold(i, size):
            return np.clip(i + 1, 0, size + 1)
    else:
        src, sh, sw = x.astype(work, copy=False), h, w

        def fold(i, size):
            return _fold(i, size, mode)
    flat = src.reshape(n, c, sh * sw)
    rows = rows.reshape(n, 1, p)
    cols = cols.reshape(n, 1, p)
    if order == 0:
        r = np.floor(rows + 0.5).astype(np.intp)
        q = np.floor(cols + 0.5).astype(np.intp)
        out = np.take_along_axis(flat, fold(r, h) * sw + fold(q, w), axis=2)
        return out.reshape(n, c, ho, wo).astype(x.dtype, copy=False)
    r0, c0 = np.floor(rows), np.floor(cols)
    fr, fc = rows - r0, cols - c0
    r0, c0 = r0.astype(np.intp), c0.astype(np.intp)
    top, bottom = fold(r0, h) * sw, fold(r0 + 1, h) * sw
    left, right = fold(c0, w), fold(c0 + 1, w)
    out = None
    for idx, weight in ((top + left, (1 - fr) * (1 - fc)), (top + right, (1 - fr) * fc),
                        (bottom + left, fr * (1 - fc)), (bottom + right, fr * fc)):
        term = np.take_along_axis(flat, idx, axis=2) * weight.astype(work)
        out = term if out is None else out + term
    return out.reshape(n, c, ho, wo).astype(x.dtype, copy=False)


def affine_grid(matrices, offsets, out_shape):
    """Input coordinates ``matrix @ (i, j) + offset`` of every output pixel.

    ``matrices`` (N, 2, 2) and ``offsets`` (N, 2) in (row, column) order, as
    ``scipy.ndimage.affine_transform``; returns ``rows, cols`` of shape (N, Ho, Wo).
    """
    ho, wo = out_shape
    i = np.arange(ho, dtype=np.float64)[None, :, None]
    j = np.arange(wo, dtype=np.float64)[None, None, :]
    m = matrices[:, :, :, None, None]
    rows = m[:, 0, 0] * i + m[:, 0, 1] * j + offsets[:, 0, None, None]
    cols = m[:, 1, 0] * i + m[:, 1, 1] * j + offsets[:, 1, None, None]
    return rows, cols


def gaussian_kernel(sigma, truncate=4.0):
    """Normalised 1-D Gaussian weights over ``[-r, r]``, ``r = int(truncate * sigma + 0.5)``
    (scipy's radius)."""
    radius = int(truncate * sigma + 0.5)
    t = np.arange(-radius, radius + 1, dtype=np.float64)
    k = np.exp(-0.5 * (t / sigma) ** 2)
    return k / k.sum()


def gaussian_blur(a, sigma, truncate=4.0):
    """Blur the last two axes of ``a`` with a Gaussian of std ``sigma`` pixels, the
    edges extended by reflection (``scipy.ndimage.gaussian_filter(mode="reflect")``).

    Separable: one pass per axis, each a weighted sum of shifted slices (no BLAS, so
    the same bits at any thread count). ``sigma`` at most 1e6.
    """
    a = np.asarray(a, np.float64)
    if sigma == 0:
        return a.copy()
    k = gaussian_kernel(sigma, truncate)
    r = len(k) // 2
    for axis in (a.ndim - 2, a.ndim - 1):
        size = a.shape[axis]
        if size == 0:
            continue
        # The reflected signal is periodic: a[0..n-1] then reversed, period 2n. Fold the
        # kernel onto one period, so a kernel wider than the image costs 2n taps, not 2r+1.
        period = np.concatenate([a, np.flip(a, axis)], axis=axis)
        folded = np.zeros(2 * size)
        np.add.at(folded, np.arange(-r, r + 1) % (2 * size), k)
        out = np.zeros_like(a)
        base = np.arange(size)
        for m in np.flatnonzero(folded):
            out += folded[m] * np.take(period, (base + m) % (2 * size), axis=axis)
        a = out
    return a
