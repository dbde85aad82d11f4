"""Anchor boxes on a grid, and the shape-only IoU that matches boxes to anchors.

Coordinates: boxes are ``(x1, y1, x2, y2)`` and sizes ``(width, height)``. With an
``image_size = (height, width)`` everything is in pixels and a cell of an ``H x W``
grid is ``width / W`` pixels wide (the stride); with ``image_size=None`` the image is
the unit square, so coordinates and anchor sizes are fractions of the image.
"""

import numpy as np

from ..functional._alloc import check_fits_in_memory
from ..functional._validation import check_int, check_real

__all__ = ["grid_anchors", "wh_iou"]


def _as_sizes(sizes, name):
    """(A, 2) positive finite (width, height) pairs, float64."""
    s = np.asarray(sizes) if isinstance(sizes, (list, tuple, np.ndarray)) else None
    if s is None or s.dtype.kind not in "fiu":
        raise TypeError(f"{name} must be a real array of (width, height) pairs, got "
                        f"{type(sizes).__name__}")
    check_fits_in_memory(s.size * 8, f"a copy of {name}")
    s = np.array(s, dtype=np.float64)
    if s.ndim == 1 and s.shape[0] == 2:
        s = s[None]
    if s.ndim != 2 or s.shape[1] != 2:
        raise ValueError(f"{name} must have shape (A, 2) (width, height), got {s.shape}")
    if not np.all(np.isfinite(s)) or np.any(s <= 0):
        raise ValueError(f"{name} must hold finite positive widths and heights, got "
                         f"{s.tolist()}")
    return s


def _as_grid(grid_size):
    """``int`` or ``(H, W)`` -> ``(H, W)``, each >= 1."""
    if isinstance(grid_size, (tuple, list)):
        if len(grid_size) != 2:
            raise ValueError(f"grid_size must be an int or (height, width), got {grid_size}")
        return (check_int(grid_size[0], "grid_size[0]", low=1),
                check_int(grid_size[1], "grid_size[1]", low=1))
    g = check_int(grid_size, "grid_size", low=1)
    return g, g


def _as_image_size(image_size):
    """``None`` (the unit square), a number or ``(height, width)`` -> ``(h, w)`` floats."""
    if image_size is None:
        return 1.0, 1.0
    if isinstance(image_size, (tuple, list)):
        if len(image_size) != 2:
            raise ValueError(f"image_size must be None, a number or (height, width), got "
                             f"{image_size}")
        return (check_real(image_size[0], "image_size[0]", low=0, low_open=True),
                check_real(image_size[1], "image_size[1]", low=0, low_open=True))
    s = check_real(image_size, "image_size", low=0, low_open=True)
    return s, s


def _cell_centers(grid, image_size):
    """Centres of the cells, ``cx`` of shape (1, W) and ``cy`` of shape (H, 1)."""
    (gh, gw), (ih, iw) = grid, image_size
    cx = (np.arange(gw) + 0.5) * (iw / gw)
    cy = (np.arange(gh) + 0.5) * (ih / gh)
    return cx[None, :], cy[:, None]


def grid_anchors(grid_size, anchor_sizes, image_size=None):
    """Anchor boxes of every size centred on every cell of a grid.

    Parameters
    ----------
    grid_size : int or (H, W)
        Cells down and across (a network's output map, e.g. 8 for 64 / 8).
    anchor_sizes : array, shape (A, 2)
        ``(width, height)`` of each anchor, in the units of ``image_size``.
    image_size : None, float or (height, width)
        ``(height, width)`` in pixels: cell ``(i, j)`` is centred at
        ``((j + 0.5) * width / W, (i + 0.5) * height / H)``. None: normalized
        coordinates (the image is the unit square; anchor sizes are fractions of it).

    Returns
    -------
    float64 ndarray, shape (H, W, A, 4)
        ``anchors[i, j, a]`` is anchor ``a`` as ``(x1, y1, x2, y2)`` centred on cell
        ``(i, j)``; ``reshape(-1, 4)`` orders them by row, column, then anchor.
    """
    grid = _as_grid(grid_size)
    sizes = _as_sizes(anchor_sizes, "anchor_sizes")
    check_fits_in_memory(grid[0] * grid[1] * sizes.shape[0] * 32, "the anchors")
    cx, cy = _cell_centers(grid, _as_image_size(image_size))
    out = np.empty(grid + (sizes.shape[0], 4))
    half_w, half_h = sizes[:, 0] / 2, sizes[:, 1] / 2
    out[..., 0] = cx[..., None] - half_w
    out[..., 1] = cy[..., None] - half_h
    out[..., 2] = cx[..., None] + half_w
    out[..., 3] = cy[..., None] + half_h
    return out


def wh_iou(sizes1, sizes2):
    """IoU of boxes compared by shape alone, as if they shared a centre.

    This is how YOLOv2/v3 pick the anchor ("prior") for a ground-truth box:
    ``inter = min(w1, w2) * min(h1, h2)``, ``iou = inter / (w1 h1 + w2 h2 - inter)``.

    Parameters
    ----------
    sizes1 : array, shape (N, 2)
        ``(width, height)`` pairs.
    sizes2 : array, shape (M, 2)

    Returns
    -------
    float64 ndarray, shape (N, M)
    """
    a = _as_sizes(sizes1, "sizes1")
    b = _as_sizes(sizes2, "sizes2")
    inter = (np.minimum(a[:, None, 0], b[None, :, 0])
             * np.minimum(a[:, None, 1], b[None, :, 1]))
    return inter / (a[:, None, 0] * a[:, None, 1] + b[None, :, 0] * b[None, :, 1] - inter)
