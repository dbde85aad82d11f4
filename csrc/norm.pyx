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


cdef extern from "_norm.h" nogil:
    void pydl_column_moments_f(const float* x, Py_ssize_t rows, Py_ssize_t ld, Py_ssize_t m,
                               const double* c, double* s1, double* s2)
    void pydl_column_moments_d(const double* x, Py_ssize_t rows, Py_ssize_t ld,
                               Py_ssize_t m, const double* c, double* s1, double* s2)
    void pydl_column_grad_moments_f(const float* g, const float* x, Py_ssize_t rows,
                                    Py_ssize_t ld, Py_ssize_t m, const double* c,
                                    double* sg, double* sgx)
    void pydl_column_grad_moments_d(const double* g, const double* x, Py_ssize_t rows,
                                    Py_ssize_t ld, Py_ssize_t m, const double* c,
                                    double* sg, double* sgx)
    void pydl_column_affine_f(const float* x, const float* mu, const float* a,
                              const float* b, float* out, Py_ssize_t m)
    void pydl_column_affine_d(const double* x, const double* mu, const double* a,
                              const double* b, double* out, Py_ssize_t m)
    void pydl_column_affine_grad_f(const float* g, const float* x, const float* a,
                                   const float* k, const float* mu, const float* e,
                                   float* dx, Py_ssize_t m)
    void pydl_column_affine_grad_d(const double* g, const double* x, const double* a,
                                   const double* k, const double* mu, const double* e,
                                   double* dx, Py_ssize_t m)


cdef inline void column_moments(const floating* x, Py_ssize_t rows, Py_ssize_t ld,
                                Py_ssize_t m, const double* c, double* s1,
                                double* s2) noexcept nogil:
    if floating is float:
        pydl_column_moments_f(x, rows, ld, m, c, s1, s2)
    else:
        pydl_column_moments_d(x, rows, ld, m, c, s1, s2)


cdef inline void column_grad_moments(const floating* g, const floating* x, Py_ssize_t rows,
                                     Py_ssize_t ld, Py_ssize_t m, const double* c,
                                     double* sg, double* sgx) noexcept nogil:
    if floating is float:
        pydl_column_grad_moments_f(g, x, rows, ld, m, c, sg, sgx)
    else:
        pydl_column_grad_moments_d(g, x, rows, ld, m, c, sg, sgx)


cdef inline void column_affine(const floating* x, const floating* mu, const floating* a,
                               const floating* b, floating* out, Py_ssize_t m) noexcept nogil:
    if floating is float:
        pydl_column_affine_f(x, mu, a, b, out, m)
    else:
        pydl_column_affine_d(x, mu, a, b, out, m)


cdef inline void column_affine_grad(const floating* g, const floating* x, const floating* a,
                                    const floating* k, const floating* mu,
                                    const floating* e, floating* dx,
                                    Py_ssize_t m) noexcept nogil:
    if floating is float:
        pydl_column_affine_grad_f(g, x, a, k, mu, e, dx, m)
    else:
        pydl_column_affine_grad_d(g, x, a, k, mu, e, dx, m)


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

cdef enum:
    # below this many spatial positions, sums run across the columns of whole rows
    # (vectorized over channels and positions) instead of along each channel's run
    SMALL_S = 32


cdef void _unit_sums(const floating* x, const floating* g, Py_ssize_t C, Py_ssize_t S,
                     Py_ssize_t n0, Py_ssize_t n1, Py_ssize_t c0, Py_ssize_t c1,
                     const double* mean, double* ctr, double* s1, double* s2,
                     double* cols) noexcept nogil:
    """Sums over samples n0..n1 of channels c0..c1 (one work unit), around a centre.

    g NULL (forward): the centre of a channel is its first value in the unit (written
    to ctr); s1 = sum(x - ctr), s2 = sum((x - ctr)**2).
    g given (backward): the centre is mean; s1 = sum(g), s2 = sum(g * (x - mean)).
    cols: 3 * (c1 - c0) * S doubles of workspace, used when S < SMALL_S.
    """
    cdef Py_ssize_t n, c, j, m = (c1 - c0) * S, off
    cdef double a1, a2, t1, t2, centre
    cdef double* q1 = cols + m
    cdef double* q2 = cols + 2 * m
    for c in range(c0, c1):
        ctr[c] = mean[c] if g != NULL else x[(n0 * C + c) * S]
    if S < SMALL_S:
        for j in range(m):
            cols[j] = ctr[c0 + j // S]
            q1[j] = 0
            q2[j] = 0
        off = (n0 * C + c0) * S
        if g == NULL:
            column_moments(x + off, n1 - n0, C * S, m, cols, q1, q2)
        else:
            column_grad_moments(g + off, x + off, n1 - n0, C * S, m, cols, q1, q2)
        for c in range(c0, c1):
            t1 = 0
            t2 = 0
            for j in range((c - c0) * S, (c - c0 + 1) * S):
                t1 += q1[j]
                t2 += q2[j]
            s1[c] = t1
            s2[c] = t2
    else:
        for c in range(c0, c1):
            centre = ctr[c]
            t1 = 0
            t2 = 0
            for n in range(n0, n1):
                off = (n * C + c) * S
                if g == NULL:
                    centered_moments(x + off, S, centre, &a1, &a2)
                else:
                    grad_moments(g + off, NULL, x + off, S, centre, &a1, &a2)
                t1 += a1
                t2 += a2
            s1[c] = t1
            s2[c] = t2


cdef class _ChannelSums:
    """Workspace of a per-channel reduction over an (N, C, S) array: the partial sums
    of every (row block, channel) and the per-thread column buffers. Allocated with
    the GIL held; freed when dropped."""
    cdef Partition p
    cdef Py_ssize_t K, cols_per_thread
    cdef double* ws
    cdef double* cols
    cdef double* totals      # 2 * C: the per-channel results

    def __cinit__(self, Py_ssize_t N, Py_ssize_t C, Py_ssize_t S, int nt):
        self.p = channel_partition(N, C, S)
        self.K = self.p.n_row_blocks * C
        self.cols_per_thread = 3 * self.p.chans * S if S < SMALL_S else 0
        self.ws = <double*>scratch(3 * self.K + 2 * C, sizeof(double))
        self.totals = self.ws + 3 * self.K
        self.cols = <double*>scratch(nt * self.cols_per_thread, sizeof(double))

    def __dealloc__(self):
        free(self.ws)
        free(self.cols)


cdef void _channel_sums(_ChannelSums w, const floating* x, const floating* g,
                        Py_ssize_t N, Py_ssize_t C, Py_ssize_t S, const double* mean,
                        int nt) noexcept nogil:
    """Run _unit_sums over every work unit; partials land in w.ws as three
    (n_row_blocks, C) arrays: centres, s1, s2."""
    cdef Py_ssize_t rows = w.p.rows, chans = w.p.chans, ncb = w.p.n_chan_blocks
    cdef Py_ssize_t nrb = w.p.n_row_blocks, K = w.K, u, b, n0, c0
    cdef double* ws = w.ws
    cdef double* cols = w.cols
    cdef Py_ssize_t per_thread = w.cols_per_thread
    for u in prange(nrb * ncb, num_threads=nt, schedule='static'):
        b = u // ncb
        n0 = b * rows
        c0 = (u % ncb) * chans
        _unit_sums(x, g, C, S, n0, min(n0 + rows, N), c0, min(c0 + chans, C), mean,
                   ws + b * C, ws + K + b * C, ws + 2 * K + b * C,
                   cols + <Py_ssize_t>omp_get_thread_num() * per_thread)


cdef void _merge_moments(_ChannelSums w, Py_ssize_t N, Py_ssize_t C, Py_ssize_t S,
                         double* mean, double* var) noexcept nogil:
    """Mean and biased variance per channel from the row blocks' centred sums, merged
    in block order (Chan, Golub and LeVeque's pairwise update)."""
    cdef Py_ssize_t rows = w.p.rows, K = w.K, b, c, i
    cdef double cnt, cnt_a, mean_a, m2_a, mb, m2b, tot, delta
    for c in range(C):
        cnt_a = 0
        mean_a = 0
        m2_a = 0
        for b in range(w.p.n_row_blocks):
            i = b * C + c
            cnt = <double>((min((b + 1) * rows, N) - b * rows) * S)
            mb = w.ws[i] + w.ws[K + i] / cnt
            m2b = w.ws[2 * K + i] - w.ws[K + i] * w.ws[K + i] / cnt
            if m2b < 0:
                m2b = 0
            tot = cnt_a + cnt
            delta = mb - mean_a
            mean_a = mean_a + delta * (cnt / tot)
            m2_a = m2_a + m2b + delta * delta * (cnt_a * cnt / tot)
            cnt_a = tot
        mean[c] = mean_a
        var[c] = m2_a / cnt_a


cdef void _add_partials(_ChannelSums w, Py_ssize_t C, double* s1, double* s2) noexcept nogil:
    """s1, s2 per channel: the row blocks' sums added in block order."""
    cdef Py_ssize_t K = w.K, b, c
    for c in range(C):
        s1[c] = 0
        s2[c] = 0
        for b in range(w.p.n_row_blocks):
            s1[c] += w.ws[K + b * C + c]
            s2[c] += w.ws[2 * K + b * C + c]


cdef class _Coefficients:
    """Per-channel coefficient vectors for the elementwise passes, repeated for each
    spatial position when S < SMALL_S (so that a whole row is one vector loop)."""
    cdef void* v
    cdef Py_ssize_t width

    def __cinit__(self, Py_ssize_t C, Py_ssize_t S, Py_ssize_t count, size_t itemsize):
        self.width = C * S if S < SMALL_S else C
        self.v = scratch(count * self.width, itemsize)

    def __dealloc__(self):
        free(self.v)


cdef void _set_coef(floating* v, Py_ssize_t width, Py_ssize_t S, Py_ssize_t k,
                    Py_ssize_t c, double value) noexcept nogil:
    """Coefficient vector k, channel c = value (every position of c when repeated)."""
    cdef Py_ssize_t s
    if S < SMALL_S:
        for s in range(c * S, (c + 1) * S):
            v[k * width + s] = <floating>value
    else:
        v[k * width + c] = <floating>value


cdef void _affine(const floating* x, const floating* coef, Py_ssize_t width,
                  floating* out, Py_ssize_t N, Py_ssize_t C, Py_ssize_t S,
                  int nt) noexcept nogil:
    """out[n, c, s] = (x[n, c, s] - m[c]) * a[c] + b[c]; coef holds m, a, b.
    Subtracting first keeps a constant channel exactly at b and loses nothing to
    cancellation when the mean is large."""
    cdef Py_ssize_t n, r, s, base
    cdef const floating* m = coef
    cdef const floating* a = coef + width
    cdef const floating* b = coef + 2 * width
    cdef floating mc, ac, bc
    if S < SMALL_S:
        for n in prange(N, num_threads=nt, schedule='static'):
            column_affine(x + n * C * S, m, a, b, out + n * C * S, C * S)
    else:
        for r in prange(N * C, num_threads=nt, schedule='static'):
            base = r * S
            mc = m[r % C]
            ac = a[r % C]
            bc = b[r % C]
            for s in range(S):
                out[base + s] = (x[base + s] - mc) * ac + bc


cdef void _affine_grad(const floating* g, const floating* x, const floating* coef,
                       Py_ssize_t width, floating* out, Py_ssize_t N, Py_ssize_t C,
                       Py_ssize_t S, int nt) noexcept nogil:
    """out = A[c] g + B[c] (x - M[c]) + D[c]; coef holds A, B, M, D."""
    cdef Py_ssize_t n, r, s, base, i
    cdef const floating* A = coef
    cdef const floating* B = coef + width
    cdef const floating* M = coef + 2 * width
    cdef const floating* D = coef + 3 * width
    cdef floating ac, bc, mc, dc
    if S < SMALL_S:
        for n in prange(N, num_threads=nt, schedule='static'):
            column_affine_grad(g + n * C * S, x + n * C * S, A, B, M, D, out + n * C * S,
                               C * S)
    else:
        for r in prange(N * C, num_threads=nt, schedule='static'):
            i = r % C
            ac = A[i]
            bc = B[i]
            mc = M[i]
            dc = D[i]
            base = r * S
            for s in range(S):
                out[base + s] = ac * g[base + s] + bc * (x[base + s] - mc) + dc


def batch_norm_forward(
        const floating[:, :, ::1] x,      # IN  (N, C, S)
        const floating[::1] weight,       # IN  (C,) gamma
        const floating[::1] bias,         # IN  (C,) beta
        floating[::1] running_mean,       # IN/OUT (C,) updated when training, or None
        floating[::1] running_var,        # IN/OUT (C,) updated when training, or None
        double momentum,
        double[::1] mean,                 # OUT (C,) batch mean (training); IN otherwise
        double[::1] invstd,               # OUT (C,) 1/sqrt(var + eps) (training); IN otherwise
        double eps,
        bint training,
        floating[:, :, ::1] out,          # OUT (N, C, S); may alias x
        int n_threads):
    """out = (x - mean) * invstd * weight + bias per channel.

    Training: mean and the biased variance var are the batch statistics over N and S
    (N * S >= 2), and the running statistics, when given, move towards them:
    r = (1 - momentum) r + momentum * stat, with the unbiased variance for running_var.
    Otherwise mean and invstd are given (from the running statistics).
    """
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], S = x.shape[2], c
    cdef int nt = threads_for(N * C * S, n_threads)
    cdef bint update = running_mean is not None
    cdef _ChannelSums sums
    cdef _Coefficients coef
    cdef floating* v
    cdef double* var
    cdef double unbias
    if C == 0:
        return
    if training:
        sums = _ChannelSums(N, C, S, nt)
        var = sums.totals
        unbias = <double>(N * S) / <double>(N * S - 1) if N * S > 1 else 1.0
        with nogil:
            _channel_sums(sums, &x[0, 0, 0], <const floating*>NULL, N, C, S, NULL, nt)
            _merge_moments(sums, N, C, S, &mean[0], var)
            for c in range(C):
                invstd[c] = 1.0 / sqrt(var[c] + eps)
                if update:
                    running_mean[c] = <floating>((1 - momentum) * running_mean[c]
                                                 + momentum * mean[c])
                    running_var[c] = <floating>((1 - momentum) * running_var[c]
                                                + momentum * var[c] * unbias)
    if N * S == 0:
        return
    coef = _Coefficients(C, S, 3, sizeof(floating))
    v = <floating*>coef.v
    with nogil:
        for c in range(C):
            _set_coef(v, coef.width, S, 0, c, mean[c])
            _set_coef(v, coef.width, S, 1, c, invstd[c] * weight[c])
            _set_coef(v, coef.width, S, 2, c, bias[c])
        _affine(&x[0, 0, 0], v, coef.width, &out[0, 0, 0], N, C, S, nt)


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
    cdef _ChannelSums sums
    cdef _Coefficients coef
    cdef floating* v
    cdef double* sum_g = NULL
    cdef double* sum_gx = NULL
    cdef double a, m = <double>(N * S)
    if C == 0:
        return
    if N * S == 0:
        for c in range(C):
            if want_w:
                grad_weight[c] = 0
            if want_b:
                grad_bias[c] = 0
        return
    if need_sums:
        sums = _ChannelSums(N, C, S, nt)
        sum_g = sums.totals
        sum_gx = sums.totals + C
        with nogil:
            _channel_sums(sums, &x[0, 0, 0], &grad_out[0, 0, 0], N, C, S, &mean[0], nt)
            _add_partials(sums, C, sum_g, sum_gx)
            for c in range(C):
                if want_w:
                    grad_weight[c] = <floating>(sum_gx[c] * invstd[c])
                if want_b:
                    grad_bias[c] = <floating>sum_g[c]
    if not want_in:
        return
    coef = _Coefficients(C, S, 4, sizeof(floating))
    v = <floating*>coef.v
    with nogil:
        for c in range(C):
            a = weight[c] * invstd[c]
            if training:   # A, B, M, D of _affine_grad
                _set_coef(v, coef.width, S, 0, c, a)
                _set_coef(v, coef.width, S, 1, c, -a * invstd[c] * invstd[c] * sum_gx[c] / m)
                _set_coef(v, coef.width, S, 2, c, mean[c])
                _set_coef(v, coef.width, S, 3, c, -a * sum_g[c] / m)
            else:          # m, a, b of _affine: g * a
                _set_coef(v, coef.width, S, 0, c, 0.0)
                _set_coef(v, coef.width, S, 1, c, a)
                _set_coef(v, coef.width, S, 2, c, 0.0)
        if training:
            _affine_grad(&grad_out[0, 0, 0], &x[0, 0, 0], v, coef.width, &grad_in[0, 0, 0],
                         N, C, S, nt)
        else:
            _affine(&grad_out[0, 0, 0], v, coef.width, &grad_in[0, 0, 0], N, C, S, nt)


# ------------------------------------------------------------------------ layer norm

cdef Py_ssize_t _ln_rows_per_chunk(Py_ssize_t rows, Py_ssize_t d) noexcept nogil:
    """Rows per chunk of layer norm's backward: at most 64 chunks (bounding the
    workspace of weight-gradient partials to 64 rows of d), and chunks of at least
    about 4096 elements."""
    return max(1, max((rows + 63) // 64, (65536 + d - 1) // max(d, 1)))


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
