"""Box kernels for detection: pairwise IoU and greedy non-maximum suppression.

The arithmetic follows torchvision's CPU code operation for operation (areas as
(x2 - x1) (y2 - y1), IoU as inter / (area_i + area_j - inter), in the boxes' dtype), so
that an IoU lying exactly on a threshold compares the same way. The inner loops read
the boxes as five contiguous columns (x1, y1, x2, y2, area) so that they vectorize.
"""

from cython cimport floating
from cython.parallel cimport prange
from libc.stdint cimport int64_t
from libc.stdlib cimport malloc, free


from _parallel cimport threads_for


cdef floating* _columns(const floating[:, ::1] boxes) except NULL:
    """x1, y1, x2, y2, area as five columns of n values (allocated with the GIL held)."""
    cdef Py_ssize_t n = boxes.shape[0], j, k
    cdef floating* cols = <floating*>malloc(max(5 * n, 1) * sizeof(floating))
    if cols == NULL:
        raise MemoryError(f"pydl: could not allocate box workspace for {n} boxes")
    for j in range(n):
        for k in range(4):
            cols[k * n + j] = boxes[j, k]
        cols[4 * n + j] = (boxes[j, 2] - boxes[j, 0]) * (boxes[j, 3] - boxes[j, 1])
    return cols


cdef inline void _iou_row(floating ix1, floating iy1, floating ix2, floating iy2,
                          floating iarea, const floating* cols, Py_ssize_t n,
                          Py_ssize_t j0, floating* out) noexcept nogil:
    """out[j] = IoU of box i with column box j, for j in [j0, n)."""
    cdef Py_ssize_t j
    cdef floating w, h, inter
    for j in range(j0, n):
        w = min(ix2, cols[2 * n + j]) - max(ix1, cols[j])
        h = min(iy2, cols[3 * n + j]) - max(iy1, cols[n + j])
        w = w if w > 0 else 0
        h = h if h > 0 else 0
        inter = w * h
        out[j] = inter / (iarea + cols[4 * n + j] - inter)


def box_iou_forward(
        const floating[:, ::1] boxes1,     # IN  (N, 4) x1, y1, x2, y2
        const floating[:, ::1] boxes2,     # IN  (M, 4)
        floating[:, ::1] out,              # OUT (N, M) IoU (0/0 = NaN for two empty boxes)
        int n_threads):
    cdef Py_ssize_t n = boxes1.shape[0], m = boxes2.shape[0], i
    cdef floating* cols
    if n == 0 or m == 0:
        return
    cols = _columns(boxes2)
    with nogil:
        for i in prange(n, num_threads=threads_for(n * m, n_threads), schedule='static'):
            _iou_row(boxes1[i, 0], boxes1[i, 1], boxes1[i, 2], boxes1[i, 3],
                     (boxes1[i, 2] - boxes1[i, 0]) * (boxes1[i, 3] - boxes1[i, 1]),
                     cols, m, 0, &out[i, 0])
    free(cols)


def nms_forward(
        const floating[:, ::1] boxes,      # IN  (N, 4), already in decreasing score order
        double iou_threshold,
        int64_t[::1] keep):                # OUT (N,) positions kept, first `count` valid
    """Greedy NMS: walk the boxes in order; keep one not yet suppressed and suppress
    every later box whose IoU with it is > iou_threshold (NaN IoU never suppresses).
    Returns the number of boxes kept."""
    cdef Py_ssize_t n = boxes.shape[0], i, j, count = 0
    cdef floating* cols
    cdef floating* ovr
    cdef char* suppressed
    if n == 0:
        return 0
    cols = _columns(boxes)
    ovr = <floating*>malloc(n * sizeof(floating))
    suppressed = <char*>malloc(n)
    if ovr == NULL or suppressed == NULL:
        free(cols)
        free(ovr)
        free(suppressed)
        raise MemoryError(f"pydl: could not allocate NMS workspace for {n} boxes")
    with nogil:
        for j in range(n):
            suppressed[j] = 0
        for i in range(n):
            if suppressed[i]:
                continue
            keep[count] = i
            count += 1
            # IoU with every later box, suppressed or not (suppressing twice is harmless
            # and the loop stays branch-free)
            _iou_row(cols[i], cols[n + i], cols[2 * n + i], cols[3 * n + i], cols[4 * n + i],
                     cols, n, i + 1, ovr)
            for j in range(i + 1, n):
                suppressed[j] = suppressed[j] | (ovr[j] > iou_threshold)
    free(cols)
    free(ovr)
    free(suppressed)
    return count
