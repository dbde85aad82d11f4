"""Normalization kernels: batch norm, layer norm and local response norm.

Batch norm works on (N, C, S) arrays (S: the spatial positions flattened, 1 for
(N, C) input). Per-channel statistics are reduced over fixed work units
(csrc/_channels.pxd), each unit's partial result written out and the partials
combined in block order, so every thread count gives the same bits. Sums are
accumulated in float64 (csrc/_norm.h); the variance uses the corrected two-pass
form around a centre inside each unit, and units are merged with Chan's formula
for means and sums of squared deviations, so large means do not cancel the
variance away.
"""

from cython cimport floating
from cython.parallel cimport prange
from libc.math cimport sqrt, pow
from libc.stdlib cimport free

from _channels cimport Partition, channel_partition
from _openmp cimport omp_get_thread_num
from _parallel cimport threads_for
from _scratch cimport scratch

cdef extern from "_norm.h" nogil:
    void pydl_centered_moments_f(const float* x, Py_ssize_t n, double c,
                                 double* s1, double* s2)
    void pydl_centered_moments_d(const double* x, Py_ssize_t n, double c,
                                 double* s1, double* s2)
    void pydl_grad_moments_f(const float* g, const float* w, const float* x, Py_ssize_t n,
                             double c, double* sg, double* sgx)
    void pydl_grad_moments_d(const double* g, const double* w, const double* x,
                             Py_ssize_t n, double c, double* sg, double* sgx)
    void pydl_layer_norm_row_f(const float* x, const float* w, const float* b, float* out,
                               Py_ssize_t d, double eps, double* mean, double* rstd)
    void pydl_layer_norm_row_d(const double* x, const double* w, const double* b,
                               double* out, Py_ssize_t d, double eps, double* mean,
                               double* rstd)
    void pydl_layer_norm_backward_row_f(const float* g, const float* x, const float* w,
                                        Py_ssize_t d, double mean, double rstd, float* dx,
                                        float* pw, float* pb)
    void pydl_layer_norm_backward_row_d(const double* g, const double* x, const double* w,
                                        Py_ssize_t d, double mean, double rstd, double* dx,
                                        double* pw, double* pb)


cdef inline void centered_moments(const floating* x, Py_ssize_t n, double c,
                                  double* s1, double* s2) noexcept nogil:
    """s1 = sum(x - c), s2 = sum((x - c)**2), in float64."""
    if floating is float:
        pydl_centered_moments_f(x, n, c, s1, s2)
    else:
        pydl_centered_moments_d(x, n, c, s1, s2)


cdef inline void grad_moments(const floating* g, const floating* w, const floating* x,
                              Py_ssize_t n, double c, double* sg, double* sgx) noexcept nogil:
    """sg = sum(g * w), sgx = sum(g * w * (x - c)), in float64 (w NULL: ones)."""
    if floating is float:
        pydl_grad_moments_f(g, w, x, n, c, sg, sgx)
    else:
        pydl_grad_moments_d(g, w, x, n, c, sg, sgx)


# ------------------------------------------------------------------------ batch norm

cdef void _unit_moments(const floating* x, Py_ssize_t C, Py_ssize_t S,
                        Py_ssize_t n0, Py_ssize_t n1, Py_ssize_t c0, Py_ssize_t c1,
                        double* ctr, double* s1, double* s2) noexcept nogil:
    """For channels c0..c1 over samples n0..n1: a centre (the unit's first value of
    the channel) and the sums of deviations and squared deviations from it."""
    cdef Py_ssize_t n, c
    cdef double a1, a2, t1, t2, d, centre
    cdef const floating* row
    if S == 1:
        # (N, C) input: vectorize across channels, one row at a time
        for c in range(c0, c1):
            ctr[c] = x[n0 * C + c]
            s1[c] = 0
            s2[c] = 0
        for n in range(n0, n1):
            row = x + n * C
            for c in range(c0, c1):
                d = row[c] - ctr[c]
                s1[c] += d
                s2[c] += d * d
    else:
        for c in range(c0, c1):
            centre = x[(n0 * C + c) * S]
            t1 = 0
            t2 = 0
            for n in range(n0, n1):
                centered_moments(x + (n * C + c) * S, S, centre, &a1, &a2)
                t1 += a1
                t2 += a2
            ctr[c] = centre
            s1[c] = t1
            s2[c] = t2


cdef void _moments(const floating* x, Py_ssize_t N, Py_ssize_t C, Py_ssize_t S,
                   double* ws, double* mean, double* var, int nt) noexcept nogil:
    """Per-channel mean and biased variance of an (N, C, S) array (N * S >= 1).

    ws: 3 * n_row_blocks * C doubles of workspace.
    """
    cdef Partition p = channel_partition(N, C, S)
    cdef Py_ssize_t rows = p.rows, chans = p.chans, ncb = p.n_chan_blocks
    cdef Py_ssize_t nrb = p.n_row_blocks, K = nrb * C, u, b, n0, c0, c
    cdef double* ctr = ws
    cdef double* s1 = ws + K
    cdef double* s2 = ws + 2 * K
    cdef double cnt, cnt_a, mean_a, m2_a, mb, m2b, tot, delta
    for u in prange(nrb * ncb, num_threads=nt, schedule='static'):
        b = u // ncb
        n0 = b * rows
        c0 = (u % ncb) * chans
        _unit_moments(x, C, S, n0, min(n0 + rows, N), c0, min(c0 + chans, C),
                      ctr + b * C, s1 + b * C, s2 + b * C)
    # merge the row blocks in order (Chan, Golub and LeVeque's pairwise update)
    for c in prange(C, num_threads=threads_for(K, nt), schedule='static'):
        cnt_a = 0
        mean_a = 0
        m2_a = 0
        for b in range(nrb):
            cnt = <double>((min((b + 1) * rows, N) - b * rows) * S)
            mb = ctr[b * C + c] + s1[b * C + c] / cnt
            m2b = s2[b * C + c] - s1[b * C + c] * s1[b * C + c] / cnt
            if m2b < 0:
                m2b = 0
            tot = cnt_a + cnt
            delta = mb - mean_a
            mean_a = mean_a + delta * (cnt / tot)
            m2_a = m2_a + m2b + delta * delta * (cnt_a * cnt / tot)
            cnt_a = tot
        mean[c] = mean_a
        var[c] = m2_a / cnt_a


cdef void _channel_affine(const floating* x, const floating* coef, floating* out,
                          Py_ssize_t N, Py_ssize_t C, Py_ssize_t S, int nt) noexcept nogil:
    """out[n, c, s] = (x[n, c, s] - m[c]) * a[c] + b[c]; coef holds m, a, b, C values
    each. Subtracting first keeps a constant channel exactly at b and loses nothing
    to cancellation when the mean is large."""
    cdef Py_ssize_t n, c, r, s, base
    cdef const floating* m = coef
    cdef const floating* a = coef + C
    cdef const floating* b = coef + 2 * C
    cdef floating mc, ac, bc
    if S == 1:
        for n in prange(N, num_threads=nt, schedule='static'):
            for c in range(C):
                out[n * C + c] = (x[n * C + c] - m[c]) * a[c] + b[c]
    else:
        for r in prange(N * C, num_threads=nt, schedule='static'):
            mc = m[r % C]
            ac = a[r % C]
            bc = b[r % C]
            base = r * S
            for s in range(S):
                out[base + s] = (x[base + s] - mc) * ac + bc


def batch_norm_forward(
        const floating[:, :, ::1] x,      # IN  (N, C, S)
        const floating[::1] weight,       # IN  (C,) gamma
        const floating[::1] bias,         # IN  (C,) beta
        double[::1] mean,                 # OUT (C,) batch mean (training); IN otherwise
        double[::1] var,                  # OUT (C,) biased batch variance (training), or None
        double[::1] invstd,               # OUT (C,) 1/sqrt(var + eps) (training); IN otherwise
        double eps,
        bint training,
        floating[:, :, ::1] out,          # OUT (N, C, S); may alias x
        int n_threads):
    """out = (x - mean) * invstd * weight + bias per channel.

    Training: mean and var are the batch statistics over N and S (N * S >= 1).
    Otherwise mean and invstd are given (from the running statistics).
    """
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], S = x.shape[2], c
    cdef int nt = threads_for(N * C * S, n_threads)
    cdef Partition p = channel_partition(N, C, S)
    cdef double* ws
    cdef floating* coef
    if C == 0:
        return
    if training:
        ws = <double*>scratch(3 * p.n_row_blocks * C, sizeof(double))
        try:
            with nogil:
                _moments(&x[0, 0, 0], N, C, S, ws, &mean[0], &var[0], nt)
                for c in range(C):
                    invstd[c] = 1.0 / sqrt(var[c] + eps)
        finally:
            free(ws)
    if N * S == 0:
        return
    coef = <floating*>scratch(3 * C, sizeof(floating))
    try:
        with nogil:
            for c in range(C):
                coef[c] = <floating>mean[c]
                coef[C + c] = <floating>(invstd[c] * weight[c])
                coef[2 * C + c] = bias[c]
            _channel_affine(&x[0, 0, 0], coef, &out[0, 0, 0], N, C, S, nt)
    finally:
        free(coef)


cdef void _unit_grad_sums(const floating* g, const floating* x, Py_ssize_t C, Py_ssize_t S,
                          Py_ssize_t n0, Py_ssize_t n1, Py_ssize_t c0, Py_ssize_t c1,
                          const double* mean, double* sg, double* sgx) noexcept nogil:
    """sum(g) and sum(g * (x - mean)) of channels c0..c1 over samples n0..n1."""
    cdef Py_ssize_t n, c
    cdef double a1, a2, t1, t2, gv
    if S == 1:
        for c in range(c0, c1):
            sg[c] = 0
            sgx[c] = 0
        for n in range(n0, n1):
            for c in range(c0, c1):
                gv = g[n * C + c]
                sg[c] += gv
                sgx[c] += gv * (x[n * C + c] - mean[c])
    else:
        for c in range(c0, c1):
            t1 = 0
            t2 = 0
            for n in range(n0, n1):
                grad_moments(g + (n * C + c) * S, NULL, x + (n * C + c) * S, S, mean[c],
                             &a1, &a2)
                t1 += a1
                t2 += a2
            sg[c] = t1
            sgx[c] = t2


cdef void _grad_sums(const floating* g, const floating* x, Py_ssize_t N, Py_ssize_t C,
                     Py_ssize_t S, const double* mean, double* ws, double* sum_g,
                     double* sum_gx, int nt) noexcept nogil:
    """Per channel: sum_g = sum(g), sum_gx = sum(g * (x - mean)) over N and S.

    ws: 2 * n_row_blocks * C doubles of workspace.
    """
    cdef Partition p = channel_partition(N, C, S)
    cdef Py_ssize_t rows = p.rows, chans = p.chans, ncb = p.n_chan_blocks
    cdef Py_ssize_t nrb = p.n_row_blocks, K = nrb * C, u, b, n0, c0, c
    cdef double t1, t2
    for u in prange(nrb * ncb, num_threads=nt, schedule='static'):
        b = u // ncb
        n0 = b * rows
        c0 = (u % ncb) * chans
        _unit_grad_sums(g, x, C, S, n0, min(n0 + rows, N), c0, min(c0 + chans, C), mean,
                        ws + b * C, ws + K + b * C)
    for c in prange(C, num_threads=threads_for(K, nt), schedule='static'):
        t1 = 0
        t2 = 0
        for b in range(nrb):
            t1 = t1 + ws[b * C + c]
            t2 = t2 + ws[K + b * C + c]
        sum_g[c] = t1
        sum_gx[c] = t2


cdef void _channel_grad(const floating* g, const floating* x, const floating* coef,
                        floating* out, Py_ssize_t N, Py_ssize_t C, Py_ssize_t S,
                        bint training, int nt) noexcept nogil:
    """out = A[c] g + B[c] (x - M[c]) + D[c] (training), out = A[c] g (otherwise);
    coef holds A, B, M, D, C values each."""
    cdef Py_ssize_t n, c, r, s, base, i
    cdef const floating* A = coef
    cdef const floating* B = coef + C
    cdef const floating* M = coef + 2 * C
    cdef const floating* D = coef + 3 * C
    cdef floating ac, bc, mc, dc
    if S == 1:
        for n in prange(N, num_threads=nt, schedule='static'):
            base = n * C
            if training:
                for c in range(C):
                    out[base + c] = A[c] * g[base + c] + B[c] * (x[base + c] - M[c]) + D[c]
            else:
                for c in range(C):
                    out[base + c] = A[c] * g[base + c]
    else:
        for r in prange(N * C, num_threads=nt, schedule='static'):
            i = r % C
            ac = A[i]
            bc = B[i]
            mc = M[i]
            dc = D[i]
            base = r * S
            if training:
                for s in range(S):
                    out[base + s] = ac * g[base + s] + bc * (x[base + s] - mc) + dc
            else:
                for s in range(S):
                    out[base + s] = ac * g[base + s]


def batch_norm_backward(
        const floating[:, :, ::1] grad_out,   # IN  (N, C, S)
        const floating[:, :, ::1] x,          # IN  (N, C, S) the forward input
        const floating[::1] weight,           # IN  (C,) gamma
        const double[::1] mean,               # IN  (C,) the mean forward used
        const double[::1] invstd,             # IN  (C,) the 1/sqrt(var + eps) forward used
        bint training,                        # forward used batch statistics
        floating[:, :, ::1] grad_in,          # OUT (N, C, S), or None
        floating[::1] grad_weight,            # OUT (C,), or None
        floating[::1] grad_bias,              # OUT (C,), or None
        int n_threads):
    """Gradients of batch norm. With M = N * S, xhat = (x - mean) * invstd:

        grad_bias   = sum(g),  grad_weight = sum(g * xhat)
        grad_in     = weight * invstd * (g - grad_bias / M - xhat * grad_weight / M)
                      (training; the batch statistics depend on x)
        grad_in     = weight * invstd * g          (fixed statistics)
    """
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], S = x.shape[2], c
    cdef bint want_in = grad_in is not None
    cdef bint want_w = grad_weight is not None, want_b = grad_bias is not None
    cdef bint need_sums = (training and want_in) or want_w or want_b
    cdef int nt = threads_for(N * C * S, n_threads)
    cdef Partition p = channel_partition(N, C, S)
    cdef double* ws
    cdef double* sum_g
    cdef double* sum_gx
    cdef floating* coef
    cdef double a, m
    if C == 0:
        return
    if N * S == 0:
        for c in range(C):
            if want_w:
                grad_weight[c] = 0
            if want_b:
                grad_bias[c] = 0
        return
    ws = <double*>scratch(2 * p.n_row_blocks * C + 2 * C, sizeof(double))
    coef = <floating*>scratch(4 * C, sizeof(floating))
    sum_g = ws + 2 * p.n_row_blocks * C
    sum_gx = sum_g + C
    m = <double>(N * S)
    try:
        with nogil:
            if need_sums:
                _grad_sums(&grad_out[0, 0, 0], &x[0, 0, 0], N, C, S, &mean[0], ws,
                           sum_g, sum_gx, nt)
                for c in range(C):
                    if want_w:
                        grad_weight[c] = <floating>(sum_gx[c] * invstd[c])
                    if want_b:
                        grad_bias[c] = <floating>sum_g[c]
            if want_in:
                for c in range(C):
                    a = weight[c] * invstd[c]
                    coef[c] = <floating>a
                    coef[2 * C + c] = <floating>mean[c]
                    if training:
                        coef[C + c] = <floating>(-a * invstd[c] * invstd[c] * sum_gx[c] / m)
                        coef[3 * C + c] = <floating>(-a * sum_g[c] / m)
                _channel_grad(&grad_out[0, 0, 0], &x[0, 0, 0], coef, &grad_in[0, 0, 0],
                              N, C, S, training, nt)
    finally:
        free(ws)
        free(coef)


# ------------------------------------------------------------------------ layer norm

cdef Py_ssize_t _ln_rows_per_chunk(Py_ssize_t rows, Py_ssize_t d) noexcept nogil:
    """Rows per chunk of layer norm's backward: at most 64 chunks (bounding the
    workspace of weight-gradient partials to 64 rows of d), and chunks of at least
    about 4096 elements."""
    return max(1, max((rows + 63) // 64, (4096 + d - 1) // max(d, 1)))


cdef enum:
    # rows summed in the input's type before the partial sums move to float64
    LN_FLUSH = 32


cdef void _ln_flush(floating* pf, double* pd, Py_ssize_t n) noexcept nogil:
    """pd += pf; pf = 0."""
    cdef Py_ssize_t j
    for j in range(n):
        pd[j] += pf[j]
        pf[j] = 0


def layer_norm_forward(
        const floating[:, ::1] x,         # IN  (rows, D)
        const floating[::1] weight,       # IN  (D,)
        const floating[::1] bias,         # IN  (D,)
        double eps,
        floating[:, ::1] out,             # OUT (rows, D)
        double[::1] mean,                 # OUT (rows,)
        double[::1] rstd,                 # OUT (rows,) 1/sqrt(var + eps), var biased
        int n_threads):
    """Normalize each row over its D elements, then scale and shift elementwise."""
    cdef Py_ssize_t rows = x.shape[0], d = x.shape[1], r
    if rows == 0:
        return
    if d == 0:
        for r in range(rows):
            mean[r] = 0
            rstd[r] = 1.0 / sqrt(eps)
        return
    with nogil:
        for r in prange(rows, num_threads=threads_for(rows * d, n_threads), schedule='static'):
            if floating is float:
                pydl_layer_norm_row_f(&x[r, 0], &weight[0], &bias[0], &out[r, 0], d, eps,
                                      &mean[r], &rstd[r])
            else:
                pydl_layer_norm_row_d(&x[r, 0], &weight[0], &bias[0], &out[r, 0], d, eps,
                                      &mean[r], &rstd[r])


def layer_norm_backward(
        const floating[:, ::1] grad_out,  # IN  (rows, D)
        const floating[:, ::1] x,         # IN  (rows, D)
        const floating[::1] weight,       # IN  (D,)
        const double[::1] mean,           # IN  (rows,)
        const double[::1] rstd,           # IN  (rows,)
        floating[:, ::1] grad_in,         # OUT (rows, D), or None
        floating[::1] grad_weight,        # OUT (D,), or None: sum over rows of g * xhat
        floating[::1] grad_bias,          # OUT (D,), or None: sum over rows of g
        int n_threads):
    """grad_in = rstd * (g w - mean(g w) - xhat * mean(g w xhat)) per row.

    The weight and bias gradients are summed over fixed chunks of rows (at most 64
    chunks): in the input's type over LN_FLUSH rows, then into a float64 partial per
    chunk; the partials are added in chunk order.
    """
    cdef Py_ssize_t rows = x.shape[0], d = x.shape[1], r, j, ch, r0, r1
    cdef bint want_in = grad_in is not None
    cdef bint want_params = grad_weight is not None or grad_bias is not None
    cdef Py_ssize_t rpc = _ln_rows_per_chunk(rows, d)
    cdef Py_ssize_t n_chunks = (rows + rpc - 1) // rpc, K = n_chunks * d
    cdef int nt = threads_for(rows * d, n_threads)
    cdef double t1, t2
    cdef floating* dxr
    cdef double* pw
    cdef double* pb
    cdef floating* fw
    cdef floating* fb
    cdef double* ws = NULL
    cdef floating* fws = NULL
    if d == 0:
        return
    if rows == 0:
        for j in range(d):
            if grad_weight is not None:
                grad_weight[j] = 0
            if grad_bias is not None:
                grad_bias[j] = 0
        return
    if want_params:
        ws = <double*>scratch(2 * K, sizeof(double))
        fws = <floating*>scratch(2 * K, sizeof(floating))
    try:
        with nogil:
            for ch in prange(n_chunks, num_threads=nt, schedule='static'):
                r0 = ch * rpc
                r1 = min(r0 + rpc, rows)
                fw = NULL
                fb = NULL
                if want_params:
                    pw = ws + ch * d
                    pb = ws + K + ch * d
                    fw = fws + ch * d
                    fb = fws + K + ch * d
                    for j in range(d):
                        pw[j] = 0
                        pb[j] = 0
                        fw[j] = 0
                        fb[j] = 0
                for r in range(r0, r1):
                    dxr = &grad_in[r, 0] if want_in else NULL
                    if floating is float:
                        pydl_layer_norm_backward_row_f(&grad_out[r, 0], &x[r, 0], &weight[0],
                                                       d, mean[r], rstd[r], dxr, fw, fb)
                    else:
                        pydl_layer_norm_backward_row_d(&grad_out[r, 0], &x[r, 0], &weight[0],
                                                       d, mean[r], rstd[r], dxr, fw, fb)
                    if want_params and ((r - r0) % LN_FLUSH == LN_FLUSH - 1 or r == r1 - 1):
                        _ln_flush(fw, pw, d)
                        _ln_flush(fb, pb, d)
            if want_params:
                for j in prange(d, num_threads=threads_for(K, nt), schedule='static'):
                    t1 = 0
                    t2 = 0
                    for ch in range(n_chunks):
                        t1 = t1 + ws[ch * d + j]
                        t2 = t2 + ws[K + ch * d + j]
                    if grad_weight is not None:
                        grad_weight[j] = <floating>t1
                    if grad_bias is not None:
                        grad_bias[j] = <floating>t2
    finally:
        free(ws)
        free(fws)


# ------------------------------------------------------------ local response norm

cdef enum:
    LRN_BLOCK = 512    # spatial positions per work unit


cdef inline floating _pow_neg(floating d, double beta) noexcept nogil:
    """d ** -beta; AlexNet's beta = 0.75 without pow."""
    cdef floating r
    if beta == 0.75:
        r = sqrt(d)
        return 1 / (r * sqrt(r))
    return <floating>pow(d, -beta)


def local_response_norm_forward(
        const floating[:, :, ::1] x,      # IN  (N, C, S)
        Py_ssize_t size, double alpha, double beta, double k,
        floating[:, :, ::1] out,          # OUT (N, C, S)
        floating[:, :, ::1] denom,        # OUT (N, C, S) k + alpha/size * window sum of x**2
        int n_threads):
    """out[n, c] = x[n, c] / denom[n, c] ** beta, the window over channels
    c - size//2 .. c + (size-1)//2 (clipped to the channels that exist)."""
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], S = x.shape[2]
    cdef Py_ssize_t nsb = (S + LRN_BLOCK - 1) // LRN_BLOCK, u, n, s0, s1, c, c2, s
    cdef floating a = <floating>(alpha / size), kf = <floating>k, v
    if N * C * S == 0:
        return
    with nogil:
        for u in prange(N * nsb, num_threads=threads_for(N * C * S * min(size, C), n_threads),
                        schedule='static'):
            n = u // nsb
            s0 = (u % nsb) * LRN_BLOCK
            s1 = min(s0 + LRN_BLOCK, S)
            for c in range(C):
                for s in range(s0, s1):
                    denom[n, c, s] = 0
                for c2 in range(max(c - size // 2, 0), min(c + (size - 1) // 2 + 1, C)):
                    for s in range(s0, s1):
                        v = x[n, c2, s]
                        denom[n, c, s] += v * v
                for s in range(s0, s1):
                    v = kf + a * denom[n, c, s]
                    denom[n, c, s] = v
                    out[n, c, s] = x[n, c, s] * _pow_neg(v, beta)


def local_response_norm_backward(
        const floating[:, :, ::1] grad_out,   # IN  (N, C, S)
        const floating[:, :, ::1] x,          # IN  (N, C, S)
        const floating[:, :, ::1] out,        # IN  (N, C, S) forward output
        const floating[:, :, ::1] denom,      # IN  (N, C, S) forward denominators
        Py_ssize_t size, double alpha, double beta,
        floating[:, :, ::1] grad_in,          # OUT (N, C, S)
        int n_threads):
    """grad_in[j] = g[j] denom[j]**-beta
                   - 2 alpha beta / size * x[j] * sum over the c whose window holds j
                     of g[c] out[c] / denom[c]."""
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], S = x.shape[2]
    cdef Py_ssize_t nsb = (S + LRN_BLOCK - 1) // LRN_BLOCK, u, n, s0, s1, c, c2, s
    cdef floating coef = <floating>(2.0 * alpha * beta / size), acc
    cdef int nt = threads_for(N * C * S * min(size, C), n_threads)
    cdef floating* ws
    cdef floating* t
    if N * C * S == 0:
        return
    # per thread: t[c, s] = g * out / denom for one unit
    ws = <floating*>scratch(nt * C * LRN_BLOCK, sizeof(floating))
    try:
        with nogil:
            for u in prange(N * nsb, num_threads=nt, schedule='static'):
                n = u // nsb
                s0 = (u % nsb) * LRN_BLOCK
                s1 = min(s0 + LRN_BLOCK, S)
                t = ws + <Py_ssize_t>omp_get_thread_num() * C * LRN_BLOCK
                for c in range(C):
                    for s in range(s0, s1):
                        t[c * LRN_BLOCK + s - s0] = grad_out[n, c, s] * out[n, c, s] / denom[n, c, s]
                for c in range(C):
                    for s in range(s0, s1):
                        grad_in[n, c, s] = 0
                    # the windows holding channel c: c - size//2 <= c2 - ... inverted
                    for c2 in range(max(c - (size - 1) // 2, 0), min(c + size // 2 + 1, C)):
                        for s in range(s0, s1):
                            grad_in[n, c, s] += t[c2 * LRN_BLOCK + s - s0]
                    for s in range(s0, s1):
                        acc = grad_in[n, c, s]
                        grad_in[n, c, s] = (grad_out[n, c, s] * _pow_neg(denom[n, c, s], beta)
                                            - coef * x[n, c, s] * acc)
    finally:
        free(ws)
