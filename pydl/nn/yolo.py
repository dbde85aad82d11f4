"""``YOLOLoss``: the YOLO (v2/v3-style) detection loss as a loss module."""

import numpy as np

from .._grad_mode import is_grad_enabled
from ..functional._validation import check_int, check_real
from ..ops.anchors import _as_image_size, _as_sizes
from ..ops.yolo import check_class_loss
from ..ops.yolo_loss import _check_ignore_by, yolo_loss
from .loss import _Loss

__all__ = ["YOLOLoss"]


class YOLOLoss(_Loss):
    """YOLO loss on one output map: box regression, objectness and class terms.

    ``loss = criterion(output, targets)`` then ``grad = criterion.backward()``; it also
    works in ``pydl.fit(model, images, targets, loss=YOLOLoss(...))``, the targets
    being the padded array of :func:`pydl.ops.pack_targets`. The terms and their
    weights are those of :func:`pydl.ops.yolo_loss`: defaults ``lambda_coord=5`` and
    ``lambda_noobj=0.5`` from YOLOv1, YOLOv2's squared error on ``sigmoid(tx, ty)`` and
    ``tw, th``, objectness BCE-with-logits over the responsible anchors and the
    non-ignored others, softmax cross-entropy over classes (``class_loss="bce"``:
    YOLOv3's per-class sigmoids).

    Parameters
    ----------
    anchors : array, shape (A, 2)
        ``(width, height)`` of each anchor, in the units of ``image_size``.
    num_classes : int
    image_size : None, float or (height, width)
        Pixels, or None for coordinates that are fractions of the image.
    lambda_coord, lambda_obj, lambda_noobj, lambda_class : float >= 0
    ignore_threshold : float in [0, 1], default 0.5
    ignore_by : {"anchor", "prediction"}
    class_loss : {"softmax", "bce"}
    reduction : {"mean", "sum", "none"}
        ``"mean"``: per-image sums averaged over the batch; ``"none"``: shape (N,).

    Shapes: input ``(N, A * (5 + C), H, W)``; target ``(N, M, 5)`` rows
    ``(class, x1, y1, x2, y2)`` (class -1: padding), or a list of ``(k_i, 5)`` arrays.
    """

    def __init__(self, anchors, num_classes, image_size=None, *, lambda_coord=5.0,
                 lambda_obj=1.0, lambda_noobj=0.5, lambda_class=1.0, ignore_threshold=0.5,
                 ignore_by="anchor", class_loss="softmax", reduction="mean"):
        super().__init__(reduction)
        self.anchors = _as_sizes(anchors, "anchors")
        self.num_classes = check_int(num_classes, "num_classes", low=1)
        _as_image_size(image_size)          # validated now, not at the first batch
        self.image_size = image_size
        self.lambda_coord = check_real(lambda_coord, "lambda_coord", low=0.0)
        self.lambda_obj = check_real(lambda_obj, "lambda_obj", low=0.0)
        self.lambda_noobj = check_real(lambda_noobj, "lambda_noobj", low=0.0)
        self.lambda_class = check_real(lambda_class, "lambda_class", low=0.0)
        self.ignore_threshold = check_real(ignore_threshold, "ignore_threshold",
                                           low=0.0, high=1.0)
        self.ignore_by = _check_ignore_by(ignore_by)
        self.class_loss = check_class_loss(class_loss)

    def forward(self, input, target):
        loss, grad = yolo_loss(
            input, target, self.anchors, self.num_classes, self.image_size,
            lambda_coord=self.lambda_coord, lambda_obj=self.lambda_obj,
            lambda_noobj=self.lambda_noobj, lambda_class=self.lambda_class,
            ignore_threshold=self.ignore_threshold, ignore_by=self.ignore_by,
            class_loss=self.class_loss, reduction=self.reduction,
            need_grad=is_grad_enabled())
        return self._finish(loss, grad)

    def backward(self, grad_output=1.0):
        """Gradient with respect to the input, scaled by ``grad_output`` (a scalar, or
        one value per image for ``reduction="none"``)."""
        grad = self.saved()["grad"]
        g = np.asarray(grad_output, dtype=grad.dtype)
        if self.reduction == "none":
            if g.ndim and g.shape != (grad.shape[0],):
                raise ValueError(f"grad_output must be a scalar or have shape "
                                 f"({grad.shape[0]},), one per image, got {g.shape}")
            g = g.reshape(-1, 1, 1, 1) if g.ndim else g
        elif g.ndim:
            raise ValueError(f"grad_output must be a scalar for reduction="
                             f"{self.reduction!r}, got shape {g.shape}")
        return grad * g

    def extra_repr(self):
        return (f"anchors={self.anchors.tolist()}, num_classes={self.num_classes}, "
                f"image_size={self.image_size}, class_loss={self.class_loss!r}, "
                + super().extra_repr())
