"""Loss kernels: each computes the loss and its gradient in one fused pass.

Reductions are split so results do not depend on the thread count: per-row losses
(cross-entropy) or per-chunk partial sums over fixed chunks of CHUNK elements
(elementwise losses) are written out, and pydl.functional adds them up in order.
"""

from cython cimport floating
from cython.parallel cimport prange, parallel
from libc.math cimport log
from libc.stdint cimport int64_t
from libc.stdlib cimport malloc, free

from _openmp cimport omp_get_thread_num

from _parallel cimport threads_for
from _vmath cimport vsigmoid, vsoftplus_neg_abs, row_max, row_exp_sum, row_shift_dot, row_sum

# Elements per partial sum of the elementwise losses. Fixed, so the sum's rounding
# never depends on how many threads computed the parts.
CHUNK = 8192
cdef Py_ssize_t _CHUNK = CHUNK


cdef void* _scratch(Py_ssize_t n_items, size_t item_size) except NULL:
    """Workspace allocated while holding the GIL, so failure raises MemoryError."""
    cdef void* p = malloc(max(n_items, 1) * item_size)
    if p == NULL:
        raise MemoryError(f"pydl: could not allocate {n_items * item_size} bytes of workspace")
    return p


def softmax_cross_entropy_forward(
        const floating[:, ::1] logits,     # IN  (N, C)
        const int64_t[::1] target,         # IN  (N,) class indices or ignore_index
        const floating[::1] weight,        # IN  (C,) class weights, or None
        int64_t ignore_index,
        double label_smoothing,
        double grad_scale,                 # multiplies grad_logits (1 / denominator for mean)
        floating[::1] loss,                # OUT (N,) per-sample loss (0 where ignored)
        floating[:, ::1] grad_logits,      # OUT (N, C) d loss / d logits, or None
        int n_threads):
    """Cross-entropy of softmax(logits) against class indices, with its gradient.

    Per sample i with target t (w = weight, 1 when None; eps = label_smoothing):
        loss_i = (1 - eps) * w[t] * (lse - z[t]) + eps / C * sum_c w[c] * (lse - z[c])
               (computed as (m - z) + log(sum(exp(z - m))), m = max(z), for precision)
        grad   = grad_scale * ((1-eps) w[t] + eps/C sum_c w[c]) * softmax(z)
                 - grad_scale * ((1-eps) w[t] onehot(t) + eps/C w)
    where lse = log(sum(exp(z))). Ignored samples get loss 0 and gradient 0.
    """
    cdef Py_ssize_t n = logits.shape[0], c = logits.shape[1], i, j
    cdef bint has_w = weight is not None
    cdef bint want_grad = grad_logits is not None
    cdef floating eps = <floating>label_smoothing
    cdef floating scale = <floating>grad_scale
    cdef floating m, s, log_s, w_t, w_sum, smooth, coef_p, coef_t, inv_c, p
    cdef floating* rowbuf
    cdef floating* own_row
    cdef floating* scratch = NULL
    cdef int64_t t
    cdef int nt = threads_for(n * c, n_threads)
    if n == 0 or c == 0:
        return
    inv_c = <floating>(1.0 / c)
    w_sum = <floating>c
    if has_w:
        w_sum = 0
        for j in range(c):
            w_sum = w_sum + weight[j]
    if not want_grad:
        # exp(z - max) needs somewhere to go when there is no gradient row to use
        scratch = <floating*>_scratch(nt * c, sizeof(floating))
    try:
        with nogil, parallel(num_threads=nt):
            own_row = scratch + <Py_ssize_t>omp_get_thread_num() * c if scratch != NULL else NULL
            for i in prange(n, schedule='static'):
                t = target[i]
                if t == ignore_index:
                    loss[i] = 0
                    if want_grad:
                        for j in range(c):
                            grad_logits[i, j] = 0
                    continue
                rowbuf = &grad_logits[i, 0] if want_grad else own_row
                w_t = weight[t] if has_w else 1
                m = row_max(&logits[i, 0], c)
                s = row_exp_sum(&logits[i, 0], rowbuf, c, m)
                log_s = <floating>log(s)
                # (m - z) before adding log(s): exact cancellation for large logits
                loss[i] = (1 - eps) * w_t * ((m - logits[i, t]) + log_s)
                if eps != 0:
                    smooth = row_shift_dot(&logits[i, 0], &weight[0] if has_w else NULL, c, m)
                    loss[i] = loss[i] + eps * inv_c * (smooth + w_sum * log_s)
                if want_grad:
                    coef_p = scale * ((1 - eps) * w_t + eps * inv_c * w_sum) / s
                    coef_t = scale * (1 - eps) * w_t
                    if eps != 0 and has_w:
                        p = scale * eps * inv_c
                        for j in range(c):
                            rowbuf[j] = coef_p * rowbuf[j] - p * weight[j]
                    elif eps != 0:
                        p = scale * eps * inv_c
                        for j in range(c):
                            rowbuf[j] = coef_p * rowbuf[j] - p
                    else:
                        for j in range(c):
                            rowbuf[j] = coef_p * rowbuf[j]
                    rowbuf[t] = rowbuf[t] - coef_t
    finally:
        free(scratch)


def binary_cross_entropy_with_logits_forward(
        const floating[::1] logits,       # IN  (n,)
        const floating[::1] target,       # IN  (n,) in [0, 1]
        const floating[::1] weight,       # IN  (n,) or None
        const floating[::1] pos_weight,   # IN  (n,) or None
        double grad_scale,
        floating[::1] loss,               # OUT (n,) per element, or None
        double[::1] partial_sums,         # OUT (ceil(n / CHUNK),) sums of loss per chunk
        floating[::1] grad_logits,        # OUT (n,) or None
        int n_threads):
    """l = w * [(1 - y) x + (1 + (pw - 1) y) softplus(-x)],
    dl/dx = w * [sigmoid(x) (1 + (pw - 1) y) - pw y], softplus computed stably."""
    cdef Py_ssize_t n = logits.shape[0], n_chunks = (n + _CHUNK - 1) // _CHUNK
    cdef Py_ssize_t ch, i, i0, i1
    cdef bint has_w = weight is not None, has_pw = pos_weight is not None
    cdef bint want_loss = loss is not None, want_grad = grad_logits is not None
    cdef floating scale = <floating>grad_scale, x, y, w, pw, sp
    cdef floating* lbuf
    cdef floating* own_buf
    cdef floating* scratch = NULL
    cdef int nt = threads_for(n, n_threads)
    if not want_loss:
        scratch = <floating*>_scratch(nt * _CHUNK, sizeof(floating))
    try:
        with nogil, parallel(num_threads=nt):
            own_buf = scratch + <Py_ssize_t>omp_get_thread_num() * _CHUNK if scratch != NULL else NULL
            for ch in prange(n_chunks, schedule='static'):
                i0 = ch * _CHUNK
                i1 = min(i0 + _CHUNK, n)
                lbuf = &loss[i0] if want_loss else own_buf
                for i in range(i1 - i0):
                    x = logits[i0 + i]
                    y = target[i0 + i]
                    w = weight[i0 + i] if has_w else 1
                    pw = pos_weight[i0 + i] if has_pw else 1
                    # softplus(-x) = log(1 + exp(-|x|)) + max(-x, 0)
                    sp = vsoftplus_neg_abs(x) + (-x if x < 0 else 0)
                    lbuf[i] = w * ((1 - y) * x + (1 + (pw - 1) * y) * sp)
                    if want_grad:
                        grad_logits[i0 + i] = scale * w * (vsigmoid(x) * (1 + (pw - 1) * y) - pw * y)
                partial_sums[ch] = row_sum(lbuf, i1 - i0)
    finally:
        free(scratch)


def mse_loss_forward(
        const floating[::1] input,        # IN  (n,)
        const floating[::1] target,       # IN  (n,)
        double grad_scale,
        floating[::1] loss,               # OUT (n,) per element, or None
        double[::1] partial_sums,         # OUT (ceil(n / CHUNK),)
        floating[::1] grad_input,         # OUT (n,) or None: grad_scale * 2 (input - target)
        int n_threads):
    """l = (input - target)**2 per element, with partial sums and gradient."""
    cdef Py_ssize_t n = input.shape[0], n_chunks = (n + _CHUNK - 1) // _CHUNK
    cdef Py_ssize_t ch, i, i0, i1
    cdef bint want_loss = loss is not None, want_grad = grad_input is not None
    cdef floating d, two_scale = <floating>(2.0 * grad_scale)
    cdef floating* lbuf
    cdef floating* own_buf
    cdef floating* scratch = NULL
    cdef int nt = threads_for(n, n_threads)
    if not want_loss:
        scratch = <floating*>_scratch(nt * _CHUNK, sizeof(floating))
    try:
        with nogil, parallel(num_threads=nt):
            own_buf = scratch + <Py_ssize_t>omp_get_thread_num() * _CHUNK if scratch != NULL else NULL
            for ch in prange(n_chunks, schedule='static'):
                i0 = ch * _CHUNK
                i1 = min(i0 + _CHUNK, n)
                lbuf = &loss[i0] if want_loss else own_buf
                for i in range(i1 - i0):
                    d = input[i0 + i] - target[i0 + i]
                    lbuf[i] = d * d
                    if want_grad:
                        grad_input[i0 + i] = two_scale * d
                partial_sums[ch] = row_sum(lbuf, i1 - i0)
    finally:
        free(scratch)


def scale_rows(const floating[:, ::1] grad, const floating[::1] row_scale,
               floating[:, ::1] out, int n_threads):
    """out[i, :] = grad[i, :] * row_scale[i] (backward of a reduction='none' loss)."""
    cdef Py_ssize_t rows = grad.shape[0], cols = grad.shape[1], i, j
    cdef floating s
    with nogil:
        for i in prange(rows, num_threads=threads_for(rows * cols, n_threads),
                        schedule='static'):
            s = row_scale[i]
            for j in range(cols):
                out[i, j] = grad[i, j] * s
