"""Plain-loop twins of pydl.ops' box functions, in torchvision's order of operations."""

import numpy as np

__all__ = ["box_iou", "nms"]


def _iou(a, b):
    area_a = (a[2] - a[0]) * (a[3] - a[1])
    area_b = (b[2] - b[0]) * (b[3] - b[1])
    w = max(min(a[2], b[2]) - max(a[0], b[0]), 0)
    h = max(min(a[3], b[3]) - max(a[1], b[1]), 0)
    inter = w * h
    with np.errstate(invalid="ignore"):
        return inter / (area_a + area_b - inter)


def box_iou(boxes1, boxes2):
    out = np.empty((len(boxes1), len(boxes2)), boxes1.dtype)
    for i, a in enumerate(boxes1):
        for j, b in enumerate(boxes2):
            out[i, j] = _iou(a, b)
    return out


def nms(boxes, scores, iou_threshold):
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
    keep = []
    suppressed = set()
    for k, i in enumerate(order):
        if i in suppressed:
            continue
        keep.append(i)
        for j in order[k + 1:]:
            if _iou(boxes[i], boxes[j]) > iou_threshold:
                suppressed.add(j)
    return np.array(keep, np.int64)
