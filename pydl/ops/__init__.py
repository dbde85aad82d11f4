"""Vision operators with torchvision.ops' names and semantics (boxes as x1, y1, x2, y2),
and YOLO's anchors, box coding, target assignment, loss and decoding."""

from .anchors import grid_anchors, wh_iou
from .boxes import batched_nms, box_area, box_iou, nms
from .yolo import (
    YOLOTargets,
    pack_targets,
    unpack_targets,
    yolo_assign_targets,
    yolo_decode,
    yolo_decode_boxes,
    yolo_encode_boxes,
)
from .yolo_loss import yolo_loss

__all__ = ["box_area", "box_iou", "nms", "batched_nms",
           "grid_anchors", "wh_iou", "yolo_encode_boxes", "yolo_decode_boxes",
           "pack_targets", "unpack_targets", "YOLOTargets", "yolo_assign_targets",
           "yolo_loss", "yolo_decode"]
