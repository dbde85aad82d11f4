"""Box kernels for detection: pairwise IoU and greedy non-maximum suppression.

The arithmetic follows torchvision's CPU code operation for operation (areas as
(x2 - x1) (y2 - y1), IoU as inter / (area_i + area_j - inter), in the boxes' dtype), so
that an IoU lying exactly on a threshold compares the same way.
"""

from cython cimport floating
from cython.parallel cimport prange
from libc.stdint cimport int64_t
from libc.stdlib cimport calloc, free

from _parallel cimport threads_for


def box_iou_forward(
        const floating[:, ::1] boxes1,     # IN  (N, 4) x1, y1, x2, y2
        const floating[:, ::1] boxes2,     # IN  (M, 4)
        floating[:, ::1] out,              # OUT (N, M) IoU (0/0 = NaN for two empty boxes)
        int n_threads):
    cdef Py_ssize_t n = boxes1.shape[0], m = boxes2.shape[0], i, j
    cdef floating area1, area2, w, h, inter
    with nogil:
        for i in prange(n, num_threads=threads_for(n * m * 8, n_threads), schedule='static'):
            area1 = (boxes1[i, 2] - boxes1[i, 0]) * (boxes1[i, 3] - boxes1[i, 1])
            for j in range(m):
                area2 = (boxes2[j, 2] - boxes2[j, 0]) * (boxes2[j, 3] - boxes2[j, 1])
                w = min(boxes1[i, 2], boxes2[j, 2]) - max(boxes1[i, 0], boxes2[j, 0])
                h = min(boxes1[i, 3], boxes2[j, 3]) - max(boxes1[i, 1], boxes2[j, 1])
                w = w if w > 0 else 0
                h = h if h > 0 else 0
                inter = w * h
                out[i, j] = inter / (area1 + area2 - inter)


def nms_forward(
        const floating[:, ::1] boxes,      # IN  (N, 4), already in decreasing score order
        double iou_threshold,
        int64_t[::1] keep):                # OUT (N,) positions kept, first `count` valid
    """Greedy NMS: walk the boxes in order; keep one not yet suppressed and suppress
    every later box whose IoU with it is > iou_threshold (NaN IoU never suppresses).
    Returns the number of boxes kept."""
    cdef Py_ssize_t n = boxes.shape[0], i, j, count = 0
    cdef floating ix1, iy1, ix2, iy2, iarea, w, h, inter, ovr
    cdef floating* areas
    cdef char* suppressed
    if n == 0:
        return 0
    areas = <floating*>calloc(n, sizeof(floating))
    suppressed = <char*>calloc(n, 1)
    if areas == NULL or suppressed == NULL:
        free(areas)
        free(suppressed)
        raise MemoryError(f"pydl: could not allocate NMS workspace for {n} boxes")
    with nogil:
        for i in range(n):
            areas[i] = (boxes[i, 2] - boxes[i, 0]) * (boxes[i, 3] - boxes[i, 1])
        for i in range(n):
            if suppressed[i]:
                continue
            keep[count] = i
            count += 1
            ix1 = boxes[i, 0]
            iy1 = boxes[i, 1]
            ix2 = boxes[i, 2]
            iy2 = boxes[i, 3]
            iarea = areas[i]
            for j in range(i + 1, n):
                if suppressed[j]:
                    continue
                w = min(ix2, boxes[j, 2]) - max(ix1, boxes[j, 0])
                h = min(iy2, boxes[j, 3]) - max(iy1, boxes[j, 1])
                w = w if w > 0 else 0
                h = h if h > 0 else 0
                inter = w * h
                ovr = inter / (iarea + areas[j] - inter)
                if ovr > iou_threshold:
                    suppressed[j] = 1
    free(areas)
    free(suppressed)
    return count
