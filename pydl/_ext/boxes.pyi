"""Type stubs for pydl._ext.boxes (generated from csrc/boxes.pyx by csrc/make_stubs.py)."""

from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32] | npt.NDArray[np.float64]


def box_iou_forward(
    boxes1: FloatArray,  # IN  (N, 4) x1, y1, x2, y2
    boxes2: FloatArray,  # IN  (M, 4)
    out: FloatArray,  # OUT (N, M) IoU (0/0 = NaN for two empty boxes)
    n_threads: int,
) -> None: ...

def nms_forward(
    boxes: FloatArray,  # IN  (N, 4), already in decreasing score order
    iou_threshold: float,
    keep: npt.NDArray[np.int64],  # OUT (N,) positions kept, first `count` valid
) -> Any: ...
