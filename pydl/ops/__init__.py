"""Vision operators with torchvision.ops' names and semantics (boxes as x1, y1, x2, y2)."""

from .boxes import batched_nms, box_area, box_iou, nms

__all__ = ["box_area", "box_iou", "nms", "batched_nms"]
