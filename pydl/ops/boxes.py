"""Bounding-box utilities: area, pairwise IoU and non-maximum suppression.

Boxes are ``(x1, y1, x2, y2)`` rows with ``x1 <= x2`` and ``y1 <= y2``, as in
torchvision. The arithmetic follows torchvision's CPU code step for step, in the
boxes' dtype, so results agree to the bit, including IoUs that fall exactly on a
threshold. Integer boxes are computed in float64; float32 and float64 boxes keep
their dtype (mixed inputs are promoted to float64).
"""

import numpy as np

from .._ext import boxes as _boxes
from .._threading import get_num_threads
from ..functional._alloc import check_fits_in_memory, empty
from ..functional._validation import check_real

__all__ = ["box_area", "box_iou", "nms", "batched_nms"]


def _as_real_array(x, name):
    if isinstance(x, (list, tuple, np.generic)):
        x = np.asarray(x)
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{name} must be a numpy array, got {type(x).__name__}")
    if x.dtype.kind not in "fiu" or x.dtype.kind == "f" and x.dtype.itemsize > 8:
        raise TypeError(f"{name} must be a real (float or integer) array, got dtype {x.dtype}")
    return x


def _as_boxes(boxes, name, dtype=None):
    """(N, 4) finite, well-ordered boxes as a C-contiguous float32/float64 array."""
    b = _as_real_array(boxes, name)
    if b.ndim != 2 or b.shape[1] != 4:
        raise ValueError(f"{name} must have shape (N, 4) (x1, y1, x2, y2), got {b.shape}")
    if dtype is None:
        dtype = np.float32 if b.dtype in (np.float16, np.float32) else np.float64
    check_fits_in_memory(b.shape[0] * 4 * np.dtype(dtype).itemsize, f"a copy of {name}")
    b = np.ascontiguousarray(b, dtype=dtype)
    if not np.all(np.isfinite(b)):
        raise ValueError(f"{name} must be finite (found NaN or inf)")
    bad = (b[:, 2] < b[:, 0]) | (b[:, 3] < b[:, 1])
    if np.any(bad):
        i = int(np.argmax(bad))
        raise ValueError(f"{name}[{i}] = {b[i].tolist()} is not (x1, y1, x2, y2) with "
                         f"x1 <= x2 and y1 <= y2")
    return b


def box_area(boxes):
    """Areas ``(x2 - x1) * (y2 - y1)`` of (N, 4) boxes; returns (N,)."""
    b = _as_boxes(boxes, "boxes")
    return (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])


def box_iou(boxes1, boxes2):
    """Pairwise intersection over union (``torchvision.ops.box_iou``).

    Parameters
    ----------
    boxes1 : array, shape (N, 4)
    boxes2 : array, shape (M, 4)

    Returns
    -------
    ndarray, shape (N, M)
        ``iou[i, j] = inter / (area1[i] + area2[j] - inter)``; boxes that only touch
        give 0, and two zero-area boxes give NaN (0 / 0), as torchvision.
    """
    b1 = _as_real_array(boxes1, "boxes1")
    b2 = _as_real_array(boxes2, "boxes2")
    both32 = all(b.dtype in (np.float16, np.float32) for b in (b1, b2))
    dtype = np.float32 if both32 else np.float64
    b1 = _as_boxes(b1, "boxes1", dtype)
    b2 = _as_boxes(b2, "boxes2", dtype)
    out = empty((b1.shape[0], b2.shape[0]), dtype)
    _boxes.box_iou_forward(b1, b2, out, get_num_threads())
    return out


def _scores_for(scores, n, name="scores"):
    s = _as_real_array(scores, name)
    if s.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},), one per box, got {s.shape}")
    if not np.all(np.isfinite(s)):
        raise ValueError(f"{name} must be finite (found NaN or inf)")
    return s


def nms(boxes, scores, iou_threshold=0.5):
    """Greedy non-maximum suppression (``torchvision.ops.nms``).

    Boxes are visited by decreasing score (ties: lower index first); each box not yet
    suppressed is kept and suppresses every later box whose IoU with it is strictly
    greater than ``iou_threshold``. An IoU equal to the threshold does not suppress;
    a zero-area box only overlaps with NaN IoU, so never suppresses nor is suppressed.

    Parameters
    ----------
    boxes : array, shape (N, 4)
    scores : array, shape (N,)
    iou_threshold : float, default 0.5
        The overlap above which a lower-scored box is suppressed (0.5 as the YOLO and
        Faster R-CNN papers use; torchvision has no default).

    Returns
    -------
    int64 ndarray, shape (K,)
        Indices of the kept boxes, by decreasing score.
    """
    b = _as_boxes(boxes, "boxes")
    s = _scores_for(scores, b.shape[0])
    thr = check_real(iou_threshold, "iou_threshold")
    order = np.argsort(-s.astype(np.float64), kind="stable")
    keep = empty(b.shape[0], np.int64)
    count = _boxes.nms_forward(np.ascontiguousarray(b[order]), thr, keep)
    return order[keep[:count]]


def batched_nms(boxes, scores, idxs, iou_threshold=0.5):
    """NMS within each category independently (``torchvision.ops.batched_nms``).

    Parameters
    ----------
    boxes : array, shape (N, 4)
    scores : array, shape (N,)
    idxs : integer array, shape (N,)
        Category of each box; boxes of different categories never suppress each other.
    iou_threshold : float, default 0.5

    Returns
    -------
    int64 ndarray, shape (K,)
        Indices of the kept boxes, by decreasing score (ties: lower index first).
    """
    b = _as_boxes(boxes, "boxes")
    s = _scores_for(scores, b.shape[0])
    cat = _as_real_array(idxs, "idxs")
    if cat.dtype.kind not in "iu" or cat.shape != (b.shape[0],):
        raise ValueError(f"idxs must be an integer array of shape ({b.shape[0]},), got "
                         f"dtype {cat.dtype} and shape {cat.shape}")
    thr = check_real(iou_threshold, "iou_threshold")
    kept = [np.flatnonzero(cat == c)[nms(b[cat == c], s[cat == c], thr)]
            for c in np.unique(cat)]
    kept = np.concatenate(kept) if kept else np.zeros(0, np.int64)
    return kept[np.lexsort((kept, -s[kept].astype(np.float64)))].astype(np.int64)
