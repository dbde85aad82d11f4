"""The YOLO loss and its gradient with respect to the network's output.

For one image, with the anchors assigned by :func:`~pydl.ops.yolo_assign_targets`
(``pos``: responsible for a box; ``neg``: neither responsible nor ignored)::

    L = lambda_coord * sum_pos [(s(tx) - sx)^2 + (s(ty) - sy)^2 + (tw - tw*)^2 + (th - th*)^2]
      + lambda_obj   * sum_pos BCE(to, 1)
      + lambda_noobj * sum_neg BCE(to, 0)
      + lambda_class * sum_pos CE(class logits, class)

``s`` is the sigmoid and BCE is on logits. The weights default to YOLOv1's
(lambda_coord = 5, lambda_noobj = 0.5, Redmon et al. 2016); the squared error on
``sigmoid(tx), sigmoid(ty)`` and on the log-size codes ``tw, th`` is YOLOv2's box
regression (v1 regressed square roots of sizes). The class term is softmax
cross-entropy by default (``class_loss="softmax"``); ``"bce"`` sums a sigmoid BCE per
class, as YOLOv3 does for overlapping labels.
"""

import numpy as np

from ..functional._validation import check_int, check_real, check_reduction
from .anchors import _as_image_size, _as_sizes
from .yolo import (
    _per_anchor,
    _sigmoid,
    check_class_loss,
    yolo_assign_targets,
    yolo_decode_boxes,
)

__all__ = ["yolo_loss"]


def _softplus(x):
    """``log(1 + e^x)``, stable for large ``|x|``."""
    return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))


def _check_ignore_by(ignore_by):
    if ignore_by not in ("anchor", "prediction"):
        raise ValueError(f"ignore_by must be 'anchor' or 'prediction', got {ignore_by!r}")
    return ignore_by


def yolo_loss(input, targets, anchor_sizes, num_classes, image_size=None, *,
              lambda_coord=5.0, lambda_obj=1.0, lambda_noobj=0.5, lambda_class=1.0,
              ignore_threshold=0.5, ignore_by="anchor", class_loss="softmax",
              reduction="mean", need_grad=True):
    """The YOLO loss of one output map, and its gradient (see the module docstring).

    Parameters
    ----------
    input : float32/float64 array, shape (N, A * (5 + C), H, W)
        The network's raw output (layout in :mod:`pydl.ops.yolo`).
    targets : array (N, M, 5) or list of N (k_i, 5) arrays
        Ground truth, rows ``(class, x1, y1, x2, y2)``; negative classes are padding.
    anchor_sizes : array, shape (A, 2)
        ``(width, height)`` of each anchor, in the units of ``image_size``.
    num_classes : int
    image_size : None, float or (height, width)
        Pixels, or None for coordinates as fractions of the image.
    lambda_coord, lambda_obj, lambda_noobj, lambda_class : float >= 0
    ignore_threshold : float in [0, 1]
        Non-responsible anchors overlapping a ground-truth box by more than this get no
        objectness loss (YOLOv3).
    ignore_by : {"anchor", "prediction"}
        The overlap of the anchor placed on its cell (default), or of the box the anchor
        currently predicts (Darknet's YOLOv3).
    class_loss : {"softmax", "bce"}
    reduction : {"mean", "sum", "none"}
        ``"mean"``: the per-image sum averaged over the batch (as Darknet normalizes);
        ``"none"``: the per-image losses, shape (N,).
    need_grad : bool

    Returns
    -------
    loss : float, or ndarray (N,) of input's dtype for ``reduction="none"``
    grad : ndarray of input's shape and dtype, or None
        The gradient of the summed (``"sum"``, ``"none"``) or averaged loss.
    """
    anchors = _as_sizes(anchor_sizes, "anchor_sizes")
    c = check_int(num_classes, "num_classes", low=1)
    view = _per_anchor(input, anchors.shape[0], c)
    weights = [check_real(v, name, low=0.0) for v, name in (
        (lambda_coord, "lambda_coord"), (lambda_obj, "lambda_obj"),
        (lambda_noobj, "lambda_noobj"), (lambda_class, "lambda_class"))]
    l_coord, l_obj, l_noobj, l_cls = weights
    check_reduction(reduction)
    check_class_loss(class_loss)
    size = _as_image_size(image_size)
    n, _, h, w, _ = view.shape
    if isinstance(targets, (list, tuple)) and len(targets) != n or \
            not isinstance(targets, (list, tuple)) and np.shape(targets)[:1] != (n,):
        raise ValueError(f"targets must hold one entry per image: {n}, got "
                         f"{len(targets) if isinstance(targets, (list, tuple)) else np.shape(targets)}")
    pred = None
    if _check_ignore_by(ignore_by) == "prediction":
        pred = yolo_decode_boxes(view[..., :4], anchors, size)
    t = yolo_assign_targets(targets, anchors, (h, w), size, ignore_threshold, pred, c)

    x = view.astype(np.float64)
    pos, neg = t.positive, ~(t.positive | t.ignore)
    sig_xy = _sigmoid(x[..., :2])
    d_xy = sig_xy - t.boxes[..., :2]
    d_wh = x[..., 2:4] - t.boxes[..., 2:4]
    coord = (d_xy ** 2).sum(-1) + (d_wh ** 2).sum(-1)
    obj = x[..., 4]
    cls_logits = x[..., 5:]
    onehot = np.zeros(cls_logits.shape)
    np.put_along_axis(onehot, np.maximum(t.classes, 0)[..., None], 1.0, -1)
    if class_loss == "softmax":
        shifted = cls_logits - cls_logits.max(-1, keepdims=True)
        log_z = np.log(np.exp(shifted).sum(-1, keepdims=True))
        cls_term = -(onehot * (shifted - log_z)).sum(-1)
        d_cls = np.exp(shifted - log_z) - onehot
    else:
        cls_term = (_softplus(cls_logits) - onehot * cls_logits).sum(-1)
        d_cls = _sigmoid(cls_logits) - onehot
    # BCE(z, 1) = softplus(-z), BCE(z, 0) = softplus(z)
    per_cell = (pos * (l_coord * coord + l_obj * _softplus(-obj) + l_cls * cls_term)
                + neg * l_noobj * _softplus(obj))
    per_image = per_cell.reshape(n, per_cell[0].size if n else 0).sum(axis=1)
    if reduction == "none":
        loss = per_image.astype(view.dtype)
    else:
        loss = float(per_image.sum() / (n if reduction == "mean" and n else 1))
    if not need_grad:
        return loss, None

    g = np.zeros(x.shape)
    pos_f = pos[..., None].astype(np.float64)
    g[..., :2] = pos_f * l_coord * 2 * d_xy * sig_xy * (1 - sig_xy)
    g[..., 2:4] = pos_f * l_coord * 2 * d_wh
    sig_obj = _sigmoid(obj)
    g[..., 4] = pos * l_obj * (sig_obj - 1) + neg * l_noobj * sig_obj
    g[..., 5:] = pos_f * l_cls * d_cls
    if reduction == "mean" and n:
        g /= n
    # explicit sizes: reshape(n, -1, ...) cannot infer -1 for an empty batch
    grad = g.transpose(0, 1, 4, 2, 3).reshape(n, x.shape[1] * x.shape[4], h, w)
    grad = grad.astype(view.dtype)
    return loss, grad
