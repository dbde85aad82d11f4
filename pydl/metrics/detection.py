"""Object-detection metrics: average precision (PASCAL VOC) and its mean over classes.

Detections and ground truths come per image: a list with one array per image (boxes
``(k, 4)`` as ``(x1, y1, x2, y2)``, scores and labels ``(k,)``); a single 2-D box array
is one image. Matching follows the VOC devkit (Everingham et al., 2010): over all
images, detections are taken by decreasing score (ties: in the order given, image by
image); each is a true positive when its best-overlapping ground truth of the same
image (and class) has IoU >= ``iou_threshold`` and was not matched already by a
higher-scored detection, else a false positive. IoU is that of continuous coordinates
(:func:`pydl.ops.box_iou`), without the devkit's +1 pixel.

AP is the area under the precision-recall curve with all-point interpolation (VOC
2010 onwards): precision made monotone from the right, summed over the recall steps.

Conventions for the edge cases:

- ground truths but no detections: AP = 0 (nothing was found);
- no ground truth (of a class): AP is undefined; :func:`average_precision` returns NaN
  with an :class:`UndefinedMetricWarning`, and :func:`mean_average_precision` leaves
  such a class out of the mean (its detections are false positives of no one's), as
  the VOC and COCO tools do. With no ground truth at all the mean is NaN (warned).
"""

import warnings

import numpy as np

from ..functional._alloc import check_fits_in_memory
from ..functional._validation import check_int, check_real
from ..ops.boxes import _as_boxes, box_iou
from .classification import UndefinedMetricWarning

__all__ = ["average_precision", "mean_average_precision"]


def _per_image(x, name, kind):
    """A list of per-image arrays: boxes (k, 4) float64, or (k,) scores/labels."""
    if isinstance(x, np.ndarray) and (x.ndim == 2 if kind == "boxes" else x.ndim == 1):
        x = [x]
    if not isinstance(x, (list, tuple)):
        raise TypeError(f"{name} must be a list with one array per image, got "
                        f"{type(x).__name__}")
    out = []
    for i, a in enumerate(x):
        if kind == "boxes":
            out.append(_as_boxes(np.reshape(np.asarray(a), (-1, 4)) if np.size(a) == 0
                                 else a, f"{name}[{i}]", np.float64))
            continue
        a = np.asarray(a) if np.size(a) else np.zeros(0, np.int64)   # [] is not float data
        if a.ndim != 1 or a.dtype.kind not in ("fiu" if kind == "scores" else "iu"):
            what = "real scores" if kind == "scores" else "integer labels"
            raise ValueError(f"{name}[{i}] must be a 1-D array of {what}, got dtype "
                             f"{a.dtype} and shape {a.shape}")
        check_fits_in_memory(a.size * 8, f"a copy of {name}[{i}]")
        if kind == "scores" and not np.all(np.isfinite(a)):
            raise ValueError(f"{name}[{i}] must be finite (found NaN or inf)")
        out.append(a.astype(np.float64 if kind == "scores" else np.int64))
    return out


def _check_lengths(named):
    """Same number of images everywhere, and one entry per box within each image."""
    (first, ref), *rest = named
    for name, arrs in rest:
        if len(arrs) != len(ref):
            raise ValueError(f"{name} has {len(arrs)} images but {first} has {len(ref)}")


def _check_per_box(boxes, bname, values, vname):
    for i, (b, v) in enumerate(zip(boxes, values)):
        if len(v) != len(b):
            raise ValueError(f"{vname}[{i}] has {len(v)} entries but {bname}[{i}] has "
                             f"{len(b)} boxes; they must match")


def _voc_ap(recall, precision):
    """All-point interpolated area under the precision-recall curve."""
    mrec = np.concatenate([[0.0], recall, [1.0]])
    mpre = np.concatenate([[0.0], precision, [0.0]])
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]
    step = np.flatnonzero(mrec[1:] != mrec[:-1])
    return float(np.sum((mrec[step + 1] - mrec[step]) * mpre[step + 1]))


def _ap(pred_boxes, scores, true_boxes, thr):
    """AP of one class from validated per-image lists; NaN without ground truth."""
    n_true = sum(len(t) for t in true_boxes)
    if n_true == 0:
        return float("nan")
    image = np.concatenate([np.full(len(s), i) for i, s in enumerate(scores)] + [[]])
    image = image.astype(np.int64)
    flat_scores = np.concatenate(list(scores) + [np.zeros(0)])
    if flat_scores.size == 0:
        return 0.0
    index = np.concatenate([np.arange(len(s)) for s in scores])
    order = np.argsort(-flat_scores, kind="stable")
    ious = [box_iou(p, t) if len(p) and len(t) else None
            for p, t in zip(pred_boxes, true_boxes)]
    matched = [np.zeros(len(t), bool) for t in true_boxes]
    tp = np.zeros(order.size)
    for rank, d in enumerate(order):
        iou = ious[image[d]]
        if iou is None:
            continue
        row = np.nan_to_num(iou[index[d]], nan=0.0)
        j = int(np.argmax(row))
        if row[j] >= thr and not matched[image[d]][j]:
            matched[image[d]][j] = True
            tp[rank] = 1
    tp = np.cumsum(tp)
    precision = tp / np.arange(1, order.size + 1)
    return _voc_ap(tp / n_true, precision)


def average_precision(pred_boxes, scores, true_boxes, iou_threshold=0.5):
    """Average precision of one class's detections (PASCAL VOC, all-point).

    Parameters
    ----------
    pred_boxes : list of N arrays (k_i, 4), or one (k, 4) array for one image
    scores : list of N arrays (k_i,), or one (k,) array
    true_boxes : list of N arrays (g_i, 4), or one (g, 4) array
    iou_threshold : float in [0, 1], default 0.5

    Returns
    -------
    float
        In [0, 1]; NaN (with an ``UndefinedMetricWarning``) when there is no ground
        truth. See the module docstring for the matching rules.
    """
    p = _per_image(pred_boxes, "pred_boxes", "boxes")
    s = _per_image(scores, "scores", "scores")
    t = _per_image(true_boxes, "true_boxes", "boxes")
    _check_lengths([("pred_boxes", p), ("scores", s), ("true_boxes", t)])
    _check_per_box(p, "pred_boxes", s, "scores")
    thr = check_real(iou_threshold, "iou_threshold", low=0.0, high=1.0)
    ap = _ap(p, s, t, thr)
    if np.isnan(ap):
        warnings.warn("average_precision: there is no ground-truth box, so AP is "
                      "undefined; returning NaN", UndefinedMetricWarning, stacklevel=2)
    return ap


def mean_average_precision(pred_boxes, scores, pred_labels, true_boxes, true_labels,
                           iou_threshold=0.5, num_classes=None, return_per_class=False):
    """Mean over classes of the average precision (mAP, PASCAL VOC style).

    Each class is scored on its own (its detections against its ground truths, over
    all images) with :func:`average_precision`; the mean runs over the classes that
    have at least one ground-truth box.

    Parameters
    ----------
    pred_boxes : list of N arrays (k_i, 4)
    scores : list of N arrays (k_i,)
    pred_labels : list of N integer arrays (k_i,)
    true_boxes : list of N arrays (g_i, 4)
    true_labels : list of N integer arrays (g_i,)
    iou_threshold : float in [0, 1], default 0.5
    num_classes : int, optional
        When given, labels must lie in ``[0, num_classes)``.
    return_per_class : bool
        Also return ``{class: AP}`` for every class seen in the ground truth or the
        detections (NaN for a class without ground truth).

    Returns
    -------
    float, or (float, dict) with ``return_per_class``
    """
    p = _per_image(pred_boxes, "pred_boxes", "boxes")
    s = _per_image(scores, "scores", "scores")
    pl = _per_image(pred_labels, "pred_labels", "labels")
    t = _per_image(true_boxes, "true_boxes", "boxes")
    tl = _per_image(true_labels, "true_labels", "labels")
    _check_lengths([("pred_boxes", p), ("scores", s), ("pred_labels", pl),
                    ("true_boxes", t), ("true_labels", tl)])
    _check_per_box(p, "pred_boxes", s, "scores")
    _check_per_box(p, "pred_boxes", pl, "pred_labels")
    _check_per_box(t, "true_boxes", tl, "true_labels")
    thr = check_real(iou_threshold, "iou_threshold", low=0.0, high=1.0)
    if num_classes is not None:
        num_classes = check_int(num_classes, "num_classes", low=1)
    classes = np.unique(np.concatenate(pl + tl + [np.zeros(0, np.int64)]))
    if num_classes is not None and classes.size and (classes[0] < 0
                                                     or classes[-1] >= num_classes):
        raise ValueError(f"labels must lie in [0, {num_classes}), found "
                         f"{classes[0] if classes[0] < 0 else classes[-1]}")
    per_class = {}
    for c in classes:
        per_class[int(c)] = _ap([b[lab == c] for b, lab in zip(p, pl)],
                                [sc[lab == c] for sc, lab in zip(s, pl)],
                                [b[lab == c] for b, lab in zip(t, tl)], thr)
    defined = [v for v in per_class.values() if not np.isnan(v)]
    if defined:
        mean = float(np.mean(defined))
    else:
        warnings.warn("mean_average_precision: there is no ground-truth box, so mAP is "
                      "undefined; returning NaN", UndefinedMetricWarning, stacklevel=2)
        mean = float("nan")
    return (mean, per_class) if return_per_class else mean
