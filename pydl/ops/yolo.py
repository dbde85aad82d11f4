"""YOLO (v2/v3) box coding, target assignment and decoding to detections.

The network's output for an ``H x W`` grid and ``A`` anchors (priors) is
``(N, A * (5 + C), H, W)``, as Darknet lays it out: for anchor ``a`` the channels
``a * (5 + C) + k`` hold ``k = 0..3``: ``tx, ty, tw, th``, ``k = 4``: the objectness
logit ``to``, then ``C`` class logits. A box predicted by anchor ``a`` at cell
``(i, j)`` (row, column) is (Redmon and Farhadi, 2017 and 2018)::

    cx = (j + sigmoid(tx)) * stride_x      w = anchor_w[a] * exp(tw)
    cy = (i + sigmoid(ty)) * stride_y      h = anchor_h[a] * exp(th)

with ``stride = image size / grid size``. Coordinates are pixels with
``image_size = (height, width)``, or fractions of the image with ``image_size=None``
(see :mod:`pydl.ops.anchors`).

Ground truth for a batch is one padded float array ``targets`` of shape ``(N, M, 5)``,
row ``(class, x1, y1, x2, y2)``, with rows whose class is negative (-1) being padding:
images may hold any number of boxes up to ``M``. One array batches and shuffles like
any other label array (``pydl.fit`` slices it), and :func:`pack_targets` builds it from
per-image lists. Functions here also accept a list of ``(k_i, 5)`` arrays.
"""

from collections import namedtuple

import numpy as np

from ..functional._alloc import check_fits_in_memory
from ..functional._validation import as_float_array, check_int, check_real
from .anchors import _as_grid, _as_image_size, _as_sizes, grid_anchors, wh_iou
from .boxes import _as_boxes, batched_nms, box_iou

__all__ = [
    "YOLOTargets",
    "pack_targets",
    "unpack_targets",
    "yolo_assign_targets",
    "yolo_decode",
    "yolo_decode_boxes",
    "yolo_encode_boxes",
]

_EXP_CLIP = 50.0     # exp(tw) overflows float64 near 709; no useful box is e^50 anchors wide


def _sigmoid(x):
    e = np.exp(-np.abs(x))           # stable on both sides
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def _strides(grid, image_size):
    return image_size[1] / grid[1], image_size[0] / grid[0]      # (x, y)


def yolo_encode_boxes(boxes, anchor_sizes, grid_size, image_size=None):
    """Regression targets of boxes relative to their centre cell and anchor.

    Parameters
    ----------
    boxes : array, shape (K, 4)
        ``(x1, y1, x2, y2)`` with positive width and height, centres inside the image.
    anchor_sizes : array, shape (K, 2)
        The ``(width, height)`` of the anchor each box is coded against.
    grid_size : int or (H, W)
    image_size : None, float or (height, width)

    Returns
    -------
    targets : float64 ndarray, shape (K, 4)
        ``(sx, sy, tw, th)``: the centre's offset in its cell, in [0, 1] (the target of
        ``sigmoid(tx)``, ``sigmoid(ty)``), and ``log(w / anchor_w)``,
        ``log(h / anchor_h)`` (the targets of ``tw``, ``th``).
    cells : int64 ndarray, shape (K, 2)
        ``(row, column)`` of the cell holding each centre (a centre on the image's
        right or bottom edge belongs to the last cell).
    """
    grid = _as_grid(grid_size)
    size = _as_image_size(image_size)
    b = _as_boxes(boxes, "boxes", np.float64)
    anchors = _as_sizes(anchor_sizes, "anchor_sizes") if len(b) else np.zeros((0, 2))
    if anchors.shape[0] != b.shape[0]:
        raise ValueError(f"anchor_sizes must have one (width, height) per box: shape "
                         f"({b.shape[0]}, 2), got {anchors.shape}")
    w, h = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
    if np.any(w <= 0) or np.any(h <= 0):
        i = int(np.argmax((w <= 0) | (h <= 0)))
        raise ValueError(f"boxes[{i}] = {b[i].tolist()} has zero width or height; a box "
                         f"needs a positive size to be coded against an anchor")
    cx, cy = (b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2
    outside = (cx < 0) | (cx > size[1]) | (cy < 0) | (cy > size[0])
    if np.any(outside):
        i = int(np.argmax(outside))
        raise ValueError(f"boxes[{i}] = {b[i].tolist()} has its centre outside the image "
                         f"(height, width) = {size}")
    sx, sy = _strides(grid, size)
    col = np.minimum(np.floor(cx / sx), grid[1] - 1).astype(np.int64)
    row = np.minimum(np.floor(cy / sy), grid[0] - 1).astype(np.int64)
    targets = np.stack([cx / sx - col, cy / sy - row,
                        np.log(w / anchors[:, 0]), np.log(h / anchors[:, 1])], axis=1)
    return targets, np.stack([row, col], axis=1)


def yolo_decode_boxes(raw, anchor_sizes, image_size=None):
    """Boxes from raw ``(tx, ty, tw, th)`` predictions of every anchor and cell.

    Parameters
    ----------
    raw : float array, shape (N, A, H, W, 4)
    anchor_sizes : array, shape (A, 2)
    image_size : None, float or (height, width)

    Returns
    -------
    ndarray, shape (N, A, H, W, 4), raw's dtype
        ``(x1, y1, x2, y2)`` (``tw``, ``th`` above 50 are clipped there, so an
        untrained network's extreme outputs give huge boxes, not infinities).
    """
    r = as_float_array(raw, "raw", ndim=5)
    if r.shape[-1] != 4:
        raise ValueError(f"raw must have shape (N, A, H, W, 4), got {r.shape}")
    anchors = _as_sizes(anchor_sizes, "anchor_sizes")
    if anchors.shape[0] != r.shape[1]:
        raise ValueError(f"raw has {r.shape[1]} anchors (axis 1) but anchor_sizes has "
                         f"{anchors.shape[0]}")
    grid = r.shape[2:4]
    size = _as_image_size(image_size)
    sx, sy = _strides(grid, size)
    x = r.astype(np.float64)
    cx = (np.arange(grid[1]) + _sigmoid(x[..., 0])) * sx
    cy = (np.arange(grid[0])[:, None] + _sigmoid(x[..., 1])) * sy
    aw = anchors[:, 0][None, :, None, None]
    ah = anchors[:, 1][None, :, None, None]
    half_w = aw * np.exp(np.minimum(x[..., 2], _EXP_CLIP)) / 2
    half_h = ah * np.exp(np.minimum(x[..., 3], _EXP_CLIP)) / 2
    return np.stack([cx - half_w, cy - half_h, cx + half_w, cy + half_h],
                    axis=-1).astype(r.dtype)


def pack_targets(boxes, labels, max_boxes=None, dtype=np.float32):
    """Per-image boxes and labels -> the padded ``(N, M, 5)`` target array.

    Parameters
    ----------
    boxes : list of N arrays of shape (k_i, 4)
    labels : list of N integer arrays of shape (k_i,)
    max_boxes : int, optional
        ``M``; default the most boxes in one image (a larger value keeps batches of
        several calls the same shape).
    dtype : float dtype of the result (that of the network's output in ``pydl.fit``)

    Returns
    -------
    ndarray, shape (N, M, 5)
        Rows ``(class, x1, y1, x2, y2)``; padding rows are ``(-1, 0, 0, 0, 0)``.
    """
    if not isinstance(boxes, (list, tuple)) or not isinstance(labels, (list, tuple)):
        raise TypeError("boxes and labels must be lists with one array per image")
    try:
        float_dtype = np.dtype(dtype)
    except TypeError:
        float_dtype = None
    if float_dtype not in (np.float32, np.float64):
        # an integer array would truncate the box coordinates without a word
        raise TypeError(f"dtype must be float32 or float64, got {dtype!r}")
    if len(boxes) != len(labels):
        raise ValueError(f"boxes has {len(boxes)} images but labels has {len(labels)}")
    bs = [_as_boxes(np.reshape(b, (-1, 4)), f"boxes[{i}]", np.float64)
          for i, b in enumerate(boxes)]
    # an empty list of labels is float64 to NumPy: no labels, not wrong ones
    ls = [np.asarray(c).reshape(-1) if np.size(c) else np.zeros(0, np.int64) for c in labels]
    for i, (b, c) in enumerate(zip(bs, ls)):
        if c.dtype.kind not in "iu" or c.shape[0] != b.shape[0] or np.any(c < 0):
            raise ValueError(f"labels[{i}] must hold {b.shape[0]} non-negative integer "
                             f"classes (one per box), got dtype {c.dtype} and shape "
                             f"{c.shape}")
    most = max((b.shape[0] for b in bs), default=0)
    m = most if max_boxes is None else check_int(max_boxes, "max_boxes", low=most)
    out = np.zeros((len(bs), m, 5), dtype=float_dtype)
    out[:, :, 0] = -1
    for i, (b, c) in enumerate(zip(bs, ls)):
        out[i, :len(c), 0] = c
        out[i, :len(c), 1:] = b
    return out


def unpack_targets(targets, num_classes=None, name="targets"):
    """The padded ``(N, M, 5)`` array (or a list of ``(k_i, 5)`` arrays) -> one
    ``(classes int64 (k_i,), boxes float64 (k_i, 4))`` pair per image, padding dropped.

    Classes must be integers, below ``num_classes`` when given."""
    if isinstance(targets, (list, tuple)):
        rows = [np.asarray(t) if np.size(t) else np.zeros((0, 5)) for t in targets]
        for i, r in enumerate(rows):
            if r.ndim != 2 or r.shape[1] != 5:
                raise ValueError(f"{name}[{i}] must have shape (k, 5), rows (class, x1, "
                                 f"y1, x2, y2); got shape {r.shape}")
    else:
        t = np.asarray(targets)
        check_fits_in_memory(t.size * 8, f"a copy of {name}")
        if t.ndim != 3 or t.shape[2] != 5:
            raise ValueError(f"{name} must have shape (N, M, 5), rows (class, x1, y1, x2, "
                             f"y2), or be a list of (k, 5) arrays; got shape {t.shape}")
        rows = list(t)
    out = []
    for i, r in enumerate(rows):
        if r.dtype.kind not in "fiu":
            raise TypeError(f"{name}[{i}] must be a real array, got dtype {r.dtype}")
        r = r.astype(np.float64)
        if not np.all(np.isfinite(r)):
            raise ValueError(f"{name}[{i}] must be finite (found NaN or inf)")
        r = r[r[:, 0] >= 0]
        cls = r[:, 0]
        if np.any(cls != np.round(cls)) or (num_classes is not None
                                            and np.any(cls >= num_classes)):
            raise ValueError(f"{name}[{i}] holds class {cls.tolist()}: classes must be "
                             f"integers in [0, {num_classes}) (negative marks padding)")
        out.append((cls.astype(np.int64), _as_boxes(r[:, 1:], f"{name}[{i}] boxes")))
    return out


YOLOTargets = namedtuple("YOLOTargets", ["positive", "ignore", "boxes", "classes"])
YOLOTargets.__doc__ = """What each anchor of each cell should predict.

positive : bool (N, A, H, W)
    Anchors responsible for a ground-truth box.
ignore : bool (N, A, H, W)
    Anchors that are not positive but overlap a ground-truth box by more than the
    threshold: no objectness loss either way.
boxes : float64 (N, A, H, W, 4)
    ``(sx, sy, tw, th)`` targets (see :func:`yolo_encode_boxes`) at positives, 0 elsewhere.
classes : int64 (N, A, H, W)
    Class of the box at positives, -1 elsewhere.
"""


def yolo_assign_targets(targets, anchor_sizes, grid_size, image_size=None,
                        ignore_threshold=0.5, pred_boxes=None, num_classes=None):
    """Assign each ground-truth box to one anchor of one cell (YOLOv2/v3).

    Each box goes to the cell holding its centre and, there, to the anchor whose shape
    matches it best (:func:`~pydl.ops.anchors.wh_iou`, ties to the lower anchor index).
    When two boxes of an image claim the same cell and anchor, the later row wins (as
    Darknet overwrites). Every other anchor whose box overlaps some ground-truth box of
    its image with IoU above ``ignore_threshold`` is ignored (YOLOv3: neither pushed
    towards nor away from "object").

    Parameters
    ----------
    targets : array (N, M, 5) or list of N (k_i, 5) arrays
        Rows ``(class, x1, y1, x2, y2)``; negative classes are padding.
    anchor_sizes : array, shape (A, 2)
    grid_size : int or (H, W)
    image_size : None, float or (height, width)
    ignore_threshold : float in [0, 1], default 0.5
    pred_boxes : float array (N, A, H, W, 4), optional
        The boxes the network predicts (:func:`yolo_decode_boxes`): the IoU for the
        ignore mask is then that of the predictions, as Darknet's YOLOv3 computes it.
        Default: the anchors themselves, placed on their cells (the paper's "bounding
        box prior"), which keeps the targets independent of the network.
    num_classes : int, optional
        When given, classes must be below it.

    Returns
    -------
    YOLOTargets
    """
    anchors = _as_sizes(anchor_sizes, "anchor_sizes")
    grid = _as_grid(grid_size)
    size = _as_image_size(image_size)
    thr = check_real(ignore_threshold, "ignore_threshold", low=0.0, high=1.0)
    per_image = unpack_targets(targets, num_classes)
    n, a = len(per_image), anchors.shape[0]
    shape = (n, a) + grid
    # positive, ignore, boxes and classes: 1 + 1 + 32 + 8 bytes per anchor and cell
    check_fits_in_memory(n * a * grid[0] * grid[1] * 42, "the assigned targets")
    if pred_boxes is not None:
        pred = as_float_array(pred_boxes, "pred_boxes", ndim=5)
        if pred.shape != shape + (4,):
            raise ValueError(f"pred_boxes must have shape {shape + (4,)}, got {pred.shape}")
    else:
        placed = grid_anchors(grid, anchors, size).transpose(2, 0, 1, 3)     # (A, H, W, 4)
    positive = np.zeros(shape, bool)
    ignore = np.zeros(shape, bool)
    boxes = np.zeros(shape + (4,))
    classes = np.full(shape, -1, np.int64)
    for k, (cls, gt) in enumerate(per_image):
        if not len(gt):
            continue
        _check_target_boxes(gt, size, f"targets[{k}]")
        cand = pred[k] if pred_boxes is not None else placed
        overlap = box_iou(cand.reshape(-1, 4).astype(np.float64), gt)
        ignore[k] = (np.nan_to_num(overlap, nan=0.0).max(axis=1) > thr).reshape(shape[1:])
        best = np.argmax(wh_iou(gt[:, 2:] - gt[:, :2], anchors), axis=1)
        coded, cells = yolo_encode_boxes(gt, anchors[best], grid, size)
        for b, (row, col), t, c in zip(best, cells, coded, cls):
            positive[k, b, row, col] = True
            boxes[k, b, row, col] = t
            classes[k, b, row, col] = c
    ignore &= ~positive
    return YOLOTargets(positive, ignore, boxes, classes)


def _check_target_boxes(gt, size, name):
    """Boxes an anchor can code: positive size, centre inside the image. (Checked here
    so that the message names the targets, not the helpers' own arguments.)"""
    w, h = gt[:, 2] - gt[:, 0], gt[:, 3] - gt[:, 1]
    cx, cy = (gt[:, 0] + gt[:, 2]) / 2, (gt[:, 1] + gt[:, 3]) / 2
    flat = (w <= 0) | (h <= 0)
    outside = (cx < 0) | (cx > size[1]) | (cy < 0) | (cy > size[0])
    for bad, why in ((flat, "has zero width or height"),
                     (outside, f"has its centre outside the image (height, width) = {size}")):
        if np.any(bad):
            i = int(np.argmax(bad))
            raise ValueError(f"{name} box {i} = {gt[i].tolist()} {why}; a target box needs "
                             f"a positive size and its centre in the image")


def _per_anchor(output, num_anchors, num_classes, name="input"):
    """``(N, A * (5 + C), H, W)`` -> a ``(N, A, H, W, 5 + C)`` view."""
    x = as_float_array(output, name, ndim=4)
    depth = 5 + num_classes
    if x.shape[1] != num_anchors * depth:
        raise ValueError(f"{name} must have A * (5 + C) = {num_anchors} * {depth} = "
                         f"{num_anchors * depth} channels for {num_anchors} anchors and "
                         f"{num_classes} classes, got shape {x.shape}")
    n, _, h, w = x.shape
    return x.reshape(n, num_anchors, depth, h, w).transpose(0, 1, 3, 4, 2)


def _class_probabilities(logits, class_loss):
    if class_loss == "bce":
        return _sigmoid(logits)
    e = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def check_class_loss(class_loss):
    if class_loss not in ("softmax", "bce"):
        raise ValueError(f"class_loss must be 'softmax' (cross-entropy) or 'bce' (per-class "
                         f"sigmoid, YOLOv3), got {class_loss!r}")
    return class_loss


def yolo_decode(output, anchor_sizes, num_classes, image_size=None, conf_threshold=0.25,
                iou_threshold=0.5, class_loss="softmax", max_detections=None):
    """Detections from a YOLO output: boxes, scores and classes per image.

    Every anchor of every cell proposes its decoded box (:func:`yolo_decode_boxes`)
    with the score ``sigmoid(to) * p(class)`` of its most likely class (YOLOv2/v3's
    class-specific confidence); proposals scoring at least ``conf_threshold`` go
    through NMS within each class (:func:`~pydl.ops.batched_nms`).

    Parameters
    ----------
    output : float array, shape (N, A * (5 + C), H, W)
    anchor_sizes : array, shape (A, 2)
    num_classes : int
    image_size : None, float or (height, width)
    conf_threshold : float in [0, 1], default 0.25 (Darknet's; take ~0.01 for mAP)
    iou_threshold : float in [0, 1], default 0.5
    class_loss : {"softmax", "bce"}
        How the class logits were trained: softmax probabilities, or per-class sigmoids.
    max_detections : int, optional
        Keep at most this many per image (the best scores).

    Returns
    -------
    list of N tuples ``(boxes (K, 4), scores (K,), classes (K,) int64)``
        Boxes clipped to the image, by decreasing score.
    """
    anchors = _as_sizes(anchor_sizes, "anchor_sizes")
    c = check_int(num_classes, "num_classes", low=1)
    x = _per_anchor(output, anchors.shape[0], c, "output")
    conf = check_real(conf_threshold, "conf_threshold", low=0.0, high=1.0)
    iou = check_real(iou_threshold, "iou_threshold", low=0.0, high=1.0)
    check_class_loss(class_loss)
    if max_detections is not None:
        max_detections = check_int(max_detections, "max_detections", low=0)
    size = _as_image_size(image_size)
    boxes = yolo_decode_boxes(x[..., :4], anchors, size).astype(np.float64)
    boxes[..., 0::2] = np.clip(boxes[..., 0::2], 0, size[1])
    boxes[..., 1::2] = np.clip(boxes[..., 1::2], 0, size[0])
    x64 = x.astype(np.float64)
    probs = _class_probabilities(x64[..., 5:], class_loss)
    cls = probs.argmax(axis=-1)
    scores = _sigmoid(x64[..., 4]) * np.take_along_axis(probs, cls[..., None], -1)[..., 0]
    dtype = x.dtype
    result = []
    for k in range(x.shape[0]):
        keep = scores[k] >= conf
        b, s, lab = boxes[k][keep], scores[k][keep], cls[k][keep]
        kept = batched_nms(b, s, lab, iou)
        if max_detections is not None:
            kept = kept[:max_detections]
        result.append((b[kept].astype(dtype), s[kept].astype(dtype),
                       lab[kept].astype(np.int64)))
    return result
