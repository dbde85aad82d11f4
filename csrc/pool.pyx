"""Pooling, unpooling and resampling kernels over (planes, D*H*W) arrays.

Every kernel sees C-contiguous arrays as 2-D (P, plane): P = N*C planes, each a
D x H x W volume flattened (1-D and 2-D ops pass D = 1, H = 1). Windows and source
positions are worked out per axis by pydl.functional (small int64 arrays), so that one
kernel serves max, average and adaptive pooling in 1, 2 and 3 dimensions:

    output (od, oh, ow) pools input d in range(lo_d[od], hi_d[od], step_d),
    h in range(lo_h[oh], hi_h[oh], step_h), w in range(lo_w[ow], hi_w[ow], step_w)

where the ranges are already clipped to the input (padding never enters a window).

Kernel              functional ops it serves
max_pool_forward    max_pool{1,2,3}d_forward, adaptive_max_pool{1,2}d_forward
max_pool_backward   max_pool{1,2,3}d_backward, adaptive_max_pool{1,2}d_backward
avg_pool_forward    avg_pool{1,2,3}d_forward, adaptive_avg_pool{1,2,3}d_forward
avg_pool_backward   avg_pool{1,2,3}d_backward, adaptive_avg_pool{1,2,3}d_backward
global_avg_forward  adaptive_avg_pool{1,2,3}d_forward to size 1 on every axis
global_avg_backward adaptive_avg_pool{1,2,3}d_backward from size 1 on every axis
max_unpool_forward  max_unpool{1,2,3}d_forward
max_unpool_backward max_unpool{1,2,3}d_backward
nearest_forward     interpolate_forward (modes nearest, nearest-exact)
nearest_backward    interpolate_backward (same modes)
linear_forward      interpolate_forward (modes linear, bilinear, trilinear)
linear_backward     interpolate_backward (same modes)

Forward passes run in parallel over output rows (P * OD * OH of them); backward passes
scatter into the input gradient, so they run in parallel over planes, each plane in
order on one thread: results are bitwise the same at any thread count, without atomics.

Kernels that take argmax indices check each against the plane size and skip (never
write through) one that is out of range; they return how many they skipped, and the
caller raises. That check costs one compare per element, far less than a separate
validation pass over the indices.
"""

from cython cimport floating
from cython.parallel cimport prange
from libc.math cimport INFINITY
from libc.stdint cimport int64_t, uint64_t
from libc.stdlib cimport free
from libc.string cimport memset

from _openmp cimport omp_get_thread_num
from _parallel cimport threads_for
from _scratch cimport scratch as _scratch


cdef struct Row:
    Py_ssize_t p, q, od, oh     # plane, row within the plane, and its (od, oh)


cdef inline Row _row(Py_ssize_t r, Py_ssize_t OD, Py_ssize_t OH) noexcept nogil:
    """Where output row r (of P * OD * OH, the unit of parallel forward work) is."""
    cdef Row at
    at.p = r // (OD * OH)
    at.q = r - at.p * (OD * OH)
    at.od = at.q // OH
    at.oh = at.q - at.od * OH
    return at


# ---------------------------------------------------------------------- max pooling

cdef struct Span:
    # Output columns [a, b) whose windows lie wholly inside the input: column ow reads
    # w = ow * stride + off + j * dilation for j in range(k). The kernels run those
    # columns as strided sweeps, one per j, with no per-window loop overhead and
    # independent work per column for the CPU to overlap; the few edge columns, and
    # adaptive windows of uneven widths (a = b = 0), take the general per-window loop.
    # Either way each window sees its elements in (d, h, w) order.
    int64_t a, b, k, off, stride, dilation


cdef inline Span _span(int64_t a, int64_t b, int64_t k, int64_t off, int64_t stride,
                       int64_t dilation) noexcept nogil:
    cdef Span sp
    sp.a, sp.b, sp.k, sp.off, sp.stride, sp.dilation = a, b, k, off, stride, dilation
    return sp


cdef extern from *:
    """
    #include <stdint.h>
    #include <string.h>
    /* best, best_i = (v, i) if v > best or v is NaN (PyTorch's rule: the first maximum
       wins, a NaN wins), as bit masks: compilers turn a plain select here into a
       branch that mispredicts on half of all real data (measured: 4x slower). */
    static inline void pydl_max_update_f(float v, int64_t i, float *best, int64_t *best_i) {
        float b = *best;
        uint32_t m = -(uint32_t)((v > b) | (v != v)), vb, bb;
        memcpy(&vb, &v, 4); memcpy(&bb, &b, 4);
        bb = (vb & m) | (bb & ~m);
        memcpy(best, &bb, 4);
        *best_i = (i & (int64_t)(int32_t)m) | (*best_i & ~(int64_t)(int32_t)m);
    }
    static inline void pydl_max_update_d(double v, int64_t i, double *best, int64_t *best_i) {
        double b = *best;
        uint64_t m = -(uint64_t)((v > b) | (v != v)), vb, bb;
        memcpy(&vb, &v, 8); memcpy(&bb, &b, 8);
        bb = (vb & m) | (bb & ~m);
        memcpy(best, &bb, 8);
        *best_i = (i & (int64_t)m) | (*best_i & ~(int64_t)m);
    }
    """
    void pydl_max_update_f(float v, int64_t i, float* best, int64_t* best_i) noexcept nogil
    void pydl_max_update_d(double v, int64_t i, double* best, int64_t* best_i) noexcept nogil


cdef extern from "_maxpool.h" nogil:
    void pydl_max2x2_fast_f(const float* x, float* out, int64_t* idx, int64_t r0,
                            int64_t r1, int64_t OH, int64_t OW, int64_t W, int64_t plane_in)
    void pydl_max2x2_d(const double* x, double* out, int64_t* idx, int64_t r0, int64_t r1,
                       int64_t OH, int64_t OW, int64_t W, int64_t plane_in)


cdef bint _is_2x2(const int64_t[::1] lo, const int64_t[::1] hi, int64_t step) noexcept nogil:
    """Whether the windows along one axis are [2o, 2o + 2) for every o, whole."""
    cdef Py_ssize_t o
    if step != 1:
        return False
    for o in range(lo.shape[0]):
        if lo[o] != 2 * o or hi[o] != 2 * o + 2:
            return False
    return True


cdef inline void _max_update(floating v, int64_t i, floating* best,
                             int64_t* best_i) noexcept nogil:
    if floating is float:
        pydl_max_update_f(v, i, best, best_i)
    else:
        pydl_max_update_d(v, i, best, best_i)


cdef inline void _max_edges(const floating* xp, int64_t base, const int64_t* lo_w,
                            const int64_t* hi_w, int64_t step, Py_ssize_t start,
                            Py_ssize_t stop, floating* op, int64_t* ip) noexcept nogil:
    """Columns start..stop-1 of one input row, one window at a time."""
    cdef Py_ssize_t ow
    cdef int64_t w
    for ow in range(start, stop):
        w = lo_w[ow]
        while w < hi_w[ow]:
            _max_update(xp[base + w], base + w, &op[ow], &ip[ow])
            w = w + step


cdef inline void _max_row(const floating* xp, floating* op, int64_t* ip,
                          Py_ssize_t H, Py_ssize_t W,
                          int64_t d0, int64_t d1, int64_t sd,
                          int64_t h0, int64_t h1, int64_t sh,
                          const int64_t* lo_w, const int64_t* hi_w, int64_t sw,
                          Py_ssize_t OW, Span sp) noexcept nogil:
    """One output row: max and flat argmax of each window, input row by input row."""
    cdef Py_ssize_t ow
    cdef int64_t d, h, j, base, w0
    for ow in range(OW):
        op[ow] = -INFINITY
        ip[ow] = (d0 * H + h0) * W + lo_w[ow]      # PyTorch's start: the first element
    d = d0
    while d < d1:
        h = h0
        while h < h1:
            base = (d * H + h) * W
            _max_edges(xp, base, lo_w, hi_w, sw, 0, sp.a, op, ip)
            _max_edges(xp, base, lo_w, hi_w, sw, sp.b, OW, op, ip)
            for j in range(sp.k):
                w0 = base + sp.off + j * sp.dilation
                for ow in range(sp.a, sp.b):
                    _max_update(xp[w0 + ow * sp.stride], w0 + ow * sp.stride, &op[ow],
                                &ip[ow])
            h = h + sh
        d = d + sd


def max_pool_forward(const floating[:, ::1] x,          # IN  (P, D*H*W)
                     floating[:, ::1] out,              # OUT (P, OD*OH*OW)
                     int64_t[:, ::1] indices,           # OUT (P, OD*OH*OW) flat argmax
                     Py_ssize_t D, Py_ssize_t H, Py_ssize_t W,
                     const int64_t[::1] lo_d, const int64_t[::1] hi_d, int64_t step_d,
                     const int64_t[::1] lo_h, const int64_t[::1] hi_h, int64_t step_h,
                     const int64_t[::1] lo_w, const int64_t[::1] hi_w, int64_t step_w,
                     int64_t a_w, int64_t b_w, int64_t k_w, int64_t off_w, int64_t stride_w,
                     int n_threads):
    """Max over each window and its flat index in the input plane, in one pass.

    Every window must hold at least one input element (pydl.functional checks).
    (a_w, b_w, k_w, off_w, stride_w) describe the interior columns (see Span).
    """
    cdef Py_ssize_t P = x.shape[0], OD = lo_d.shape[0], OH = lo_h.shape[0]
    cdef Py_ssize_t OW = lo_w.shape[0], rows = P * OD * OH, r
    cdef Row at
    cdef Span sp = _span(a_w, b_w, k_w, off_w, stride_w, step_w)
    cdef int nt
    cdef Py_ssize_t chunk, r0, r1
    if rows == 0 or OW == 0:
        return
    if (D == 1 and OD == 1 and lo_d[0] == 0 and hi_d[0] == 1 and _is_2x2(lo_h, hi_h, step_h)
            and _is_2x2(lo_w, hi_w, step_w)):
        # 2x2 windows, stride 2, no padding: the branch-free kernel of _maxpool.h, over
        # contiguous blocks of output rows (one block per thread: the rows of a block
        # share nothing, so any split gives the same bits)
        nt = threads_for(rows * OW, n_threads)
        chunk = (rows + nt - 1) // nt
        with nogil:
            for r in prange(nt, num_threads=nt, schedule='static'):
                r0 = r * chunk
                r1 = min(r0 + chunk, rows)
                if r0 < r1:
                    if floating is float:
                        pydl_max2x2_fast_f(&x[0, 0], &out[0, 0], &indices[0, 0], r0, r1,
                                           OH, OW, W, H * W)
                    else:
                        pydl_max2x2_d(&x[0, 0], &out[0, 0], &indices[0, 0], r0, r1, OH, OW,
                                      W, H * W)
        return
    with nogil:
        for r in prange(rows, num_threads=threads_for(rows * OW, n_threads),
                        schedule='static'):
            at = _row(r, OD, OH)
            _max_row(&x[at.p, 0], &out[at.p, at.q * OW], &indices[at.p, at.q * OW], H, W,
                     lo_d[at.od], hi_d[at.od], step_d, lo_h[at.oh], hi_h[at.oh], step_h,
                     &lo_w[0], &hi_w[0], step_w, OW, sp)


def max_pool_backward(const floating[:, ::1] grad_out,  # IN  (P, OD*OH*OW)
                      const int64_t[:, ::1] indices,    # IN  (P, OD*OH*OW)
                      floating[:, ::1] grad_in,         # OUT (P, D*H*W)
                      int n_threads):
    """grad_in = 0, then grad_in[p, indices[p, o]] += grad_out[p, o] in order of o.

    Returns the number of indices outside [0, D*H*W), which were skipped.
    """
    return _scatter(grad_out, indices, grad_in, True, n_threads)


def max_unpool_forward(const floating[:, ::1] x,        # IN  (P, M)
                       const int64_t[:, ::1] indices,   # IN  (P, M)
                       floating[:, ::1] out,            # OUT (P, plane)
                       int n_threads):
    """out = 0, then out[p, indices[p, o]] = x[p, o] (a repeated index: the last wins).

    Returns the number of indices outside [0, plane), which were skipped.
    """
    return _scatter(x, indices, out, False, n_threads)


cdef Py_ssize_t _scatter(const floating[:, ::1] src, const int64_t[:, ::1] indices,
                         floating[:, ::1] dst, bint accumulate, int n_threads):
    cdef Py_ssize_t P = src.shape[0], M = src.shape[1], plane = dst.shape[1], p, o
    cdef Py_ssize_t bad = 0
    cdef uint64_t i
    cdef floating* dp
    if P == 0 or plane == 0:
        return 0
    with nogil:
        for p in prange(P, num_threads=threads_for(P * (M + plane), n_threads),
                        schedule='static'):
            dp = &dst[p, 0]
            memset(dp, 0, plane * sizeof(floating))
            for o in range(M):
                # unsigned compare: a negative index is huge, so one test covers both ends
                i = <uint64_t>indices[p, o]
                if i < <uint64_t>plane:
                    if accumulate:
                        dp[i] = dp[i] + src[p, o]
                    else:
                        dp[i] = src[p, o]
                else:
                    bad += 1
    return bad


def max_unpool_backward(const floating[:, ::1] grad_out,  # IN  (P, plane)
                        const int64_t[:, ::1] indices,    # IN  (P, M)
                        floating[:, ::1] grad_in,         # OUT (P, M)
                        int n_threads):
    """grad_in[p, o] = grad_out[p, indices[p, o]] (0 where the index is out of range).

    Returns the number of indices outside [0, plane).
    """
    cdef Py_ssize_t P = grad_in.shape[0], M = grad_in.shape[1], plane = grad_out.shape[1]
    cdef Py_ssize_t bad = 0, p, o
    cdef uint64_t i
    if P == 0 or M == 0:
        return 0
    with nogil:
        for p in prange(P, num_threads=threads_for(P * M, n_threads), schedule='static'):
            for o in range(M):
                i = <uint64_t>indices[p, o]
                if i < <uint64_t>plane:
                    grad_in[p, o] = grad_out[p, i]
                else:
                    grad_in[p, o] = 0
                    bad += 1
    return bad


# ------------------------------------------------------------------ average pooling

cdef inline int64_t _divisor(int64_t override, int64_t cd, int64_t ch,
                             int64_t cw) noexcept nogil:
    return override if override != 0 else cd * ch * cw


cdef inline void _sum_edges(const floating* row, const int64_t* lo_w, const int64_t* hi_w,
                            Py_ssize_t start, Py_ssize_t stop, floating* op) noexcept nogil:
    """op[ow] += the window's part of one input row, for columns start..stop-1."""
    cdef Py_ssize_t ow
    cdef int64_t w
    for ow in range(start, stop):
        for w in range(lo_w[ow], hi_w[ow]):
            op[ow] = op[ow] + row[w]


cdef inline void _spread_edges(floating* row, const int64_t* lo_w, const int64_t* hi_w,
                               Py_ssize_t start, Py_ssize_t stop,
                               const floating* g) noexcept nogil:
    """The adjoint of _sum_edges: the window's part of one row gets g[ow] added."""
    cdef Py_ssize_t ow
    cdef int64_t w
    for ow in range(start, stop):
        for w in range(lo_w[ow], hi_w[ow]):
            row[w] = row[w] + g[ow]


def avg_pool_forward(const floating[:, ::1] x,          # IN  (P, D*H*W)
                     floating[:, ::1] out,              # OUT (P, OD*OH*OW)
                     Py_ssize_t D, Py_ssize_t H, Py_ssize_t W,
                     const int64_t[::1] lo_d, const int64_t[::1] hi_d, const int64_t[::1] cnt_d,
                     const int64_t[::1] lo_h, const int64_t[::1] hi_h, const int64_t[::1] cnt_h,
                     const int64_t[::1] lo_w, const int64_t[::1] hi_w, const int64_t[::1] cnt_w,
                     int64_t divisor_override,
                     int64_t a_w, int64_t b_w, int64_t k_w, int64_t off_w, int64_t stride_w,
                     int n_threads):
    """Sum over each window divided by cnt_d[od] * cnt_h[oh] * cnt_w[ow], or by
    divisor_override when it is not 0 (the counts say whether padding is counted).
    (a_w, b_w, k_w, off_w, stride_w) describe the interior columns (see Span)."""
    cdef Py_ssize_t P = x.shape[0], OD = lo_d.shape[0], OH = lo_h.shape[0]
    cdef Py_ssize_t OW = lo_w.shape[0], rows = P * OD * OH, r, ow
    cdef Row at
    cdef Span sp = _span(a_w, b_w, k_w, off_w, stride_w, 1)
    cdef int64_t d, h, j
    cdef const floating* xr
    cdef floating* op
    if rows == 0 or OW == 0:
        return
    with nogil:
        for r in prange(rows, num_threads=threads_for(rows * OW, n_threads),
                        schedule='static'):
            at = _row(r, OD, OH)
            op = &out[at.p, at.q * OW]
            memset(op, 0, OW * sizeof(floating))
            for d in range(lo_d[at.od], hi_d[at.od]):
                for h in range(lo_h[at.oh], hi_h[at.oh]):
                    xr = &x[at.p, (d * H + h) * W]
                    _sum_edges(xr, &lo_w[0], &hi_w[0], 0, sp.a, op)
                    _sum_edges(xr, &lo_w[0], &hi_w[0], sp.b, OW, op)
                    for j in range(sp.k):
                        for ow in range(sp.a, sp.b):
                            op[ow] = op[ow] + xr[sp.off + j + ow * sp.stride]
            for ow in range(OW):
                op[ow] = op[ow] / <floating>_divisor(divisor_override, cnt_d[at.od],
                                                     cnt_h[at.oh], cnt_w[ow])


cdef enum:
    PLANE_LANES = 8


cdef inline floating _plane_sum(const floating* x, Py_ssize_t n) noexcept nogil:
    """Sum of x[0:n] in PLANE_LANES partial sums combined as a tree (8 -> 4 -> 2 -> 1),
    then the tail: for the short planes of network heads (7x7, 4x4) _vmath's row_sum,
    16 partial sums combined one after another, spent most of its time combining.
    (row_sum itself keeps its order: the softmax and loss bits depend on it.)"""
    cdef floating acc[PLANE_LANES]
    cdef Py_ssize_t i, l, n_main = n - n % PLANE_LANES
    cdef floating s
    for l in range(PLANE_LANES):
        acc[l] = 0
    i = 0
    while i < n_main:
        for l in range(PLANE_LANES):
            acc[l] = acc[l] + x[i + l]
        i = i + PLANE_LANES
    for l in range(4):
        acc[l] = acc[l] + acc[l + 4]
    s = (acc[0] + acc[2]) + (acc[1] + acc[3])
    for i in range(n_main, n):
        s = s + x[i]
    return s


def global_avg_forward(const floating[:, ::1] x,        # IN  (P, plane)
                       floating[::1] out,                # OUT (P,)
                       int n_threads):
    """out[p] = mean of plane p: the global average pooling of ResNet and MobileNet
    heads. One vectorized sum per plane (the general window kernel adds one column at a
    time); each plane on one thread, so the bits do not depend on n_threads."""
    cdef Py_ssize_t P = x.shape[0], n = x.shape[1], p
    if P == 0 or n == 0:
        return
    with nogil:
        for p in prange(P, num_threads=threads_for(P * n, n_threads), schedule='static'):
            out[p] = _plane_sum(&x[p, 0], n) / <floating>n


def global_avg_backward(const floating[::1] grad_out,   # IN  (P,)
                        floating[:, ::1] grad_in,       # OUT (P, plane)
                        int n_threads):
    """grad_in[p, :] = grad_out[p] / plane: each input of a plane gets an equal share."""
    cdef Py_ssize_t P = grad_in.shape[0], n = grad_in.shape[1], p, i
    cdef floating share
    cdef floating* row
    if P == 0 or n == 0:
        return
    with nogil:
        for p in prange(P, num_threads=threads_for(P * n, n_threads), schedule='static'):
            share = grad_out[p] / <floating>n
            row = &grad_in[p, 0]
            for i in range(n):
                row[i] = share


def avg_pool_backward(const floating[:, ::1] grad_out,  # IN  (P, OD*OH*OW)
                      floating[:, ::1] grad_in,         # OUT (P, D*H*W)
                      Py_ssize_t D, Py_ssize_t H, Py_ssize_t W,
                      const int64_t[::1] lo_d, const int64_t[::1] hi_d, const int64_t[::1] cnt_d,
                      const int64_t[::1] lo_h, const int64_t[::1] hi_h, const int64_t[::1] cnt_h,
                      const int64_t[::1] lo_w, const int64_t[::1] hi_w, const int64_t[::1] cnt_w,
                      int64_t divisor_override,
                      int64_t a_w, int64_t b_w, int64_t k_w, int64_t off_w, int64_t stride_w,
                      int n_threads):
    """grad_in = 0, then each window gets grad_out / divisor added, output row by
    output row (in a fixed order, one plane per thread)."""
    cdef Py_ssize_t P = grad_in.shape[0], OD = lo_d.shape[0], OH = lo_h.shape[0]
    cdef Py_ssize_t OW = lo_w.shape[0], plane = D * H * W, p, od, oh, ow
    cdef Span sp = _span(a_w, b_w, k_w, off_w, stride_w, 1)
    cdef int nt = threads_for(P * plane, n_threads)
    cdef int64_t d, h, j
    cdef const floating* gr
    cdef floating* ir
    cdef floating* g
    cdef floating* scratch
    if P == 0 or plane == 0:
        return
    # one row of grad_out / divisor per thread
    scratch = <floating*>_scratch(nt * OW, sizeof(floating))
    try:
        with nogil:
            for p in prange(P, num_threads=nt, schedule='static'):
                memset(&grad_in[p, 0], 0, plane * sizeof(floating))
                g = scratch + <Py_ssize_t>omp_get_thread_num() * OW
                for od in range(OD):
                    for oh in range(OH):
                        gr = &grad_out[p, (od * OH + oh) * OW]
                        for ow in range(OW):
                            g[ow] = gr[ow] / <floating>_divisor(divisor_override, cnt_d[od],
                                                                cnt_h[oh], cnt_w[ow])
                        for d in range(lo_d[od], hi_d[od]):
                            for h in range(lo_h[oh], hi_h[oh]):
                                ir = &grad_in[p, (d * H + h) * W]
                                _spread_edges(ir, &lo_w[0], &hi_w[0], 0, sp.a, g)
                                _spread_edges(ir, &lo_w[0], &hi_w[0], sp.b, OW, g)
                                for j in range(sp.k):
                                    for ow in range(sp.a, sp.b):
                                        ir[sp.off + j + ow * sp.stride] = (
                                            ir[sp.off + j + ow * sp.stride] + g[ow])
    finally:
        free(scratch)


# ----------------------------------------------------------------- nearest resampling

def nearest_forward(const floating[:, ::1] x,           # IN  (P, D*H*W)
                    floating[:, ::1] out,               # OUT (P, OD*OH*OW)
                    Py_ssize_t D, Py_ssize_t H, Py_ssize_t W,
                    const int64_t[::1] src_d, const int64_t[::1] src_h,
                    const int64_t[::1] src_w,           # IN  source index per output index
                    int n_threads):
    """out[p, od, oh, ow] = x[p, src_d[od], src_h[oh], src_w[ow]]."""
    cdef Py_ssize_t P = x.shape[0], OD = src_d.shape[0], OH = src_h.shape[0]
    cdef Py_ssize_t OW = src_w.shape[0], rows = P * OD * OH, r, ow
    cdef Row at
    cdef const floating* xr
    cdef floating* op
    if rows == 0 or OW == 0:
        return
    with nogil:
        for r in prange(rows, num_threads=threads_for(rows * OW, n_threads),
                        schedule='static'):
            at = _row(r, OD, OH)
            xr = &x[at.p, (src_d[at.od] * H + src_h[at.oh]) * W]
            op = &out[at.p, at.q * OW]
            for ow in range(OW):
                op[ow] = xr[src_w[ow]]


def nearest_backward(const floating[:, ::1] grad_out,   # IN  (P, OD*OH*OW)
                     floating[:, ::1] grad_in,          # OUT (P, D*H*W)
                     Py_ssize_t D, Py_ssize_t H, Py_ssize_t W,
                     const int64_t[::1] src_d, const int64_t[::1] src_h,
                     const int64_t[::1] src_w,
                     int n_threads):
    """The adjoint of nearest_forward: grad_in = 0, then each output's gradient is
    added to its source element, in output order."""
    cdef Py_ssize_t P = grad_in.shape[0], OD = src_d.shape[0], OH = src_h.shape[0]
    cdef Py_ssize_t OW = src_w.shape[0], plane = D * H * W, p, od, oh, ow
    cdef const floating* gp
    cdef floating* ir
    if P == 0 or plane == 0:
        return
    with nogil:
        for p in prange(P, num_threads=threads_for(P * (plane + OD * OH * OW), n_threads),
                        schedule='static'):
            memset(&grad_in[p, 0], 0, plane * sizeof(floating))
            if OD * OH * OW == 0:
                continue
            gp = &grad_out[p, 0]
            for od in range(OD):
                for oh in range(OH):
                    ir = &grad_in[p, (src_d[od] * H + src_h[oh]) * W]
                    for ow in range(OW):
                        ir[src_w[ow]] = ir[src_w[ow]] + gp[(od * OH + oh) * OW + ow]


# ------------------------------------------------------------------ linear resampling

cdef inline void _lerp_row(const floating* r0, const floating* r1, floating a0, floating a1,
                           floating* op, const int64_t* i0, const int64_t* i1,
                           const floating* l0, const floating* l1,
                           Py_ssize_t OW) noexcept nogil:
    """op[ow] = a0 * lerp_w(r0) + a1 * lerp_w(r1), the bilinear formula of PyTorch."""
    cdef Py_ssize_t ow
    cdef int64_t w0, w1
    cdef floating b0, b1
    for ow in range(OW):
        w0 = i0[ow]
        w1 = i1[ow]
        b0 = l0[ow]
        b1 = l1[ow]
        op[ow] = a0 * (b0 * r0[w0] + b1 * r0[w1]) + a1 * (b0 * r1[w0] + b1 * r1[w1])


def linear_forward(const floating[:, ::1] x,            # IN  (P, D*H*W)
                   floating[:, ::1] out,                # OUT (P, OD*OH*OW)
                   Py_ssize_t D, Py_ssize_t H, Py_ssize_t W,
                   const int64_t[::1] i0_d, const int64_t[::1] i1_d,
                   const floating[::1] l0_d, const floating[::1] l1_d,
                   const int64_t[::1] i0_h, const int64_t[::1] i1_h,
                   const floating[::1] l0_h, const floating[::1] l1_h,
                   const int64_t[::1] i0_w, const int64_t[::1] i1_w,
                   const floating[::1] l0_w, const floating[::1] l1_w,
                   int n_threads):
    """Separable linear interpolation: along each axis, output index o reads source
    indices i0[o], i1[o] with weights l0[o], l1[o]. With D == OD == 1 (1-D and 2-D
    input) the depth axis is skipped, so bilinear costs 4 taps, not 8."""
    cdef Py_ssize_t P = x.shape[0], OD = i0_d.shape[0], OH = i0_h.shape[0]
    cdef Py_ssize_t OW = i0_w.shape[0], rows = P * OD * OH, r, ow
    cdef Row at
    cdef bint depth = D > 1 or OD > 1
    cdef const floating* xp
    cdef floating* op
    cdef floating ad0, ad1, ah0, ah1
    cdef int64_t d0, d1, h0, h1
    if rows == 0 or OW == 0:
        return
    with nogil:
        for r in prange(rows, num_threads=threads_for(rows * OW * (8 if depth else 4),
                                                     n_threads), schedule='static'):
            at = _row(r, OD, OH)
            xp = &x[at.p, 0]
            op = &out[at.p, at.q * OW]
            h0 = i0_h[at.oh]
            h1 = i1_h[at.oh]
            ah0 = l0_h[at.oh]
            ah1 = l1_h[at.oh]
            if not depth:
                _lerp_row(xp + h0 * W, xp + h1 * W, ah0, ah1, op,
                          &i0_w[0], &i1_w[0], &l0_w[0], &l1_w[0], OW)
            else:
                d0 = i0_d[at.od]
                d1 = i1_d[at.od]
                ad0 = l0_d[at.od]
                ad1 = l1_d[at.od]
                for ow in range(OW):
                    op[ow] = (ad0 * _lerp_hw(xp + d0 * H * W, W, h0, h1, ah0, ah1, i0_w[ow],
                                             i1_w[ow], l0_w[ow], l1_w[ow])
                              + ad1 * _lerp_hw(xp + d1 * H * W, W, h0, h1, ah0, ah1,
                                               i0_w[ow], i1_w[ow], l0_w[ow], l1_w[ow]))


cdef inline floating _lerp_hw(const floating* sp, Py_ssize_t W, int64_t h0, int64_t h1,
                              floating ah0, floating ah1, int64_t w0, int64_t w1,
                              floating b0, floating b1) noexcept nogil:
    return (ah0 * (b0 * sp[h0 * W + w0] + b1 * sp[h0 * W + w1])
            + ah1 * (b0 * sp[h1 * W + w0] + b1 * sp[h1 * W + w1]))


def linear_backward(const floating[:, ::1] grad_out,    # IN  (P, OD*OH*OW)
                    floating[:, ::1] grad_in,           # OUT (P, D*H*W)
                    Py_ssize_t D, Py_ssize_t H, Py_ssize_t W,
                    const int64_t[::1] i0_d, const int64_t[::1] i1_d,
                    const floating[::1] l0_d, const floating[::1] l1_d,
                    const int64_t[::1] i0_h, const int64_t[::1] i1_h,
                    const floating[::1] l0_h, const floating[::1] l1_h,
                    const int64_t[::1] i0_w, const int64_t[::1] i1_w,
                    const floating[::1] l0_w, const floating[::1] l1_w,
                    int n_threads):
    """The adjoint of linear_forward: grad_in = 0, then every output's gradient is
    spread over its taps with the forward weights, in output order."""
    cdef Py_ssize_t P = grad_in.shape[0], OD = i0_d.shape[0], OH = i0_h.shape[0]
    cdef Py_ssize_t OW = i0_w.shape[0], plane = D * H * W, p, od, oh
    cdef bint depth = D > 1 or OD > 1
    cdef const floating* gr
    cdef floating* ip
    cdef floating ad0, ad1, ah0, ah1
    cdef int64_t d0, d1, h0, h1
    if P == 0 or plane == 0:
        return
    with nogil:
        for p in prange(P, num_threads=threads_for(P * (plane + OD * OH * OW * 4), n_threads),
                        schedule='static'):
            ip = &grad_in[p, 0]
            memset(ip, 0, plane * sizeof(floating))
            if OD * OH * OW == 0:
                continue
            for od in range(OD):
                if depth:
                    d0 = i0_d[od]
                    d1 = i1_d[od]
                    ad0 = l0_d[od]
                    ad1 = l1_d[od]
                else:
                    d0 = d1 = 0
                    ad0 = 1
                    ad1 = 0
                for oh in range(OH):
                    gr = &grad_out[p, (od * OH + oh) * OW]
                    h0 = i0_h[oh]
                    h1 = i1_h[oh]
                    ah0 = l0_h[oh]
                    ah1 = l1_h[oh]
                    if not depth:
                        _spread_row(gr, ip + h0 * W, ip + h1 * W, ah0, ah1,
                                    &i0_w[0], &i1_w[0], &l0_w[0], &l1_w[0], OW)
                    else:
                        _spread_row(gr, ip + (d0 * H + h0) * W, ip + (d0 * H + h1) * W,
                                    ad0 * ah0, ad0 * ah1,
                                    &i0_w[0], &i1_w[0], &l0_w[0], &l1_w[0], OW)
                        _spread_row(gr, ip + (d1 * H + h0) * W, ip + (d1 * H + h1) * W,
                                    ad1 * ah0, ad1 * ah1,
                                    &i0_w[0], &i1_w[0], &l0_w[0], &l1_w[0], OW)


cdef inline void _spread_row(const floating* gr, floating* r0, floating* r1,
                             floating a0, floating a1, const int64_t* i0, const int64_t* i1,
                             const floating* l0, const floating* l1,
                             Py_ssize_t OW) noexcept nogil:
    """The adjoint of _lerp_row: r0 and r1 receive the row's gradient, weighted."""
    cdef Py_ssize_t ow
    cdef int64_t w0, w1
    cdef floating g, b0, b1
    for ow in range(OW):
        g = gr[ow]
        w0 = i0[ow]
        w1 = i1[ow]
        b0 = l0[ow]
        b1 = l1[ow]
        r0[w0] = r0[w0] + a0 * b0 * g
        r0[w1] = r0[w1] + a0 * b1 * g
        r1[w0] = r1[w0] + a1 * b0 * g
        r1[w1] = r1[w1] + a1 * b1 * g
