"""Attention kernels: scaled dot-product attention and additive (Bahdanau) attention.

Scaled dot-product: per batch item and fixed chunk of query rows, scores = scale *
q k^T (+ additive mask), a row softmax in place, out = P v, with one GEMM per chunk
(BLAS held at one thread by the caller). Backward recomputes nothing: from P it forms
dS = P * (dP - rowsum(dP * P)) with dP = dO v^T, then dq per row chunk and dk, dv per
fixed chunk of key columns, so that no sum is split across threads.

Additive: e_j = v . tanh(qp + kp_j) per key, alpha = softmax(e), context = sum_j
alpha_j keys_j; the projections qp = W_q q and kp = W_k keys come in computed (GEMMs in
pydl.functional). One batch item per task.

A row whose every score is masked (-inf) gets all-zero weights, so a zero output and
zero gradients, as PyTorch 2.x does.
"""

from cython cimport floating
from cython.parallel cimport prange
from libc.math cimport INFINITY
from libc.stdint cimport uint8_t
from libc.string cimport memset

from _blas cimport gemm
from _parallel cimport threads_for
from _vmath cimport row_max, row_exp_sum, row_dot, span_tanh

cdef enum:
    # Query rows (forward, backward dq) and key columns (backward dk, dv) per task.
    CHUNK = 64


cdef inline const floating* _base(const floating[:, :, ::1] a) noexcept nogil:
    """The data pointer, NULL for an empty array (never an out-of-range index)."""
    return &a[0, 0, 0] if a.shape[0] > 0 and a.shape[1] > 0 and a.shape[2] > 0 else NULL


cdef inline floating* _obase(floating[:, :, ::1] a) noexcept nogil:
    return &a[0, 0, 0] if a.shape[0] > 0 and a.shape[1] > 0 and a.shape[2] > 0 else NULL


cdef inline void _softmax_row(floating* x, Py_ssize_t n) noexcept nogil:
    """In place; a row of all -inf becomes zeros."""
    cdef floating m, s
    cdef Py_ssize_t j
    m = row_max(x, n)
    if m == -INFINITY:
        memset(x, 0, n * sizeof(floating))
        return
    s = 1 / row_exp_sum(x, x, n, m)
    for j in range(n):
        x[j] = x[j] * s


def sdpa_forward(const floating[:, :, ::1] q,       # IN  (B, L, E)
                 const floating[:, :, ::1] k,       # IN  (B, S, E)
                 const floating[:, :, ::1] v,       # IN  (B, S, Ev)
                 const floating[:, :, ::1] mask,    # IN  (1 or B, L, S) additive, or None
                 double scale,
                 floating[:, :, ::1] out,           # OUT (B, L, Ev)
                 floating[:, :, ::1] attn,          # OUT (B, L, S) softmax weights
                 int n_threads):
    """attn = softmax(scale * q k^T + mask) over the keys; out = attn v."""
    cdef Py_ssize_t B = q.shape[0], L = q.shape[1], E = q.shape[2]
    cdef Py_ssize_t S = k.shape[1], Ev = v.shape[2]
    cdef Py_ssize_t chunks = (L + CHUNK - 1) // CHUNK, task, b, l0, rows, r, j
    cdef bint has_mask = mask is not None
    cdef const floating* mp = _base(mask) if has_mask else NULL
    cdef Py_ssize_t mstride = L * S if has_mask and mask.shape[0] > 1 else 0
    cdef const floating* qp = _base(q)
    cdef const floating* kp = _base(k)
    cdef const floating* vp = _base(v)
    cdef floating* op = _obase(out)
    cdef floating* ap = _obase(attn)
    cdef floating* a
    cdef const floating* m
    if B == 0 or L == 0:
        return
    with nogil:
        for task in prange(B * chunks, num_threads=threads_for(B * L * S * (E + Ev + 8),
                                                                n_threads),
                           schedule='static'):
            b = task // chunks
            l0 = (task % chunks) * CHUNK
            rows = min(CHUNK, L - l0)
            if S == 0:                      # nothing to attend to: zeros
                for r in range(rows * Ev):
                    op[(b * L + l0) * Ev + r] = 0
                continue
            a = ap + (b * L + l0) * S
            gemm(False, True, <int>rows, <int>S, <int>E, <floating>scale,
                 qp + (b * L + l0) * E, <int>E, kp + b * S * E, <int>E, <floating>0, a,
                 <int>S)
            for r in range(rows):
                if has_mask:
                    m = mp + b * mstride + (l0 + r) * S
                    for j in range(S):
                        a[r * S + j] = a[r * S + j] + m[j]
                _softmax_row(a + r * S, S)
            gemm(False, False, <int>rows, <int>Ev, <int>S, <floating>1, a, <int>S,
                 vp + b * S * Ev, <int>Ev, <floating>0, op + (b * L + l0) * Ev, <int>Ev)


def sdpa_backward(const floating[:, :, ::1] grad_out,  # IN  (B, L, Ev)
                  const floating[:, :, ::1] q,         # IN  (B, L, E)
                  const floating[:, :, ::1] k,         # IN  (B, S, E)
                  const floating[:, :, ::1] v,         # IN  (B, S, Ev)
                  const floating[:, :, ::1] attn,      # IN  (B, L, S) from forward
                  double scale,
                  floating[:, :, ::1] dscores,         # SCRATCH (B, L, S)
                  floating[:, :, ::1] grad_q,          # OUT (B, L, E)
                  floating[:, :, ::1] grad_k,          # OUT (B, S, E)
                  floating[:, :, ::1] grad_v,          # OUT (B, S, Ev)
                  int n_threads):
    """Gradients of :func:`sdpa_forward` from the softmax weights it returned."""
    cdef Py_ssize_t B = q.shape[0], L = q.shape[1], E = q.shape[2]
    cdef Py_ssize_t S = k.shape[1], Ev = v.shape[2]
    cdef Py_ssize_t row_chunks = (L + CHUNK - 1) // CHUNK, col_chunks = (S + CHUNK - 1) // CHUNK
    cdef Py_ssize_t task, b, l0, s0, rows, cols, r, j
    cdef int nt = threads_for(B * L * S * (E + Ev + 4), n_threads)
    cdef const floating* gp = _base(grad_out)
    cdef const floating* qp = _base(q)
    cdef const floating* kp = _base(k)
    cdef const floating* vp = _base(v)
    cdef const floating* ap = _base(attn)
    cdef floating* dsp = _obase(dscores)
    cdef floating* gq = _obase(grad_q)
    cdef floating* gk = _obase(grad_k)
    cdef floating* gv = _obase(grad_v)
    cdef floating* ds
    cdef const floating* p
    cdef floating d
    if B == 0:
        return
    with nogil:
        # dS and dq, by chunks of query rows
        for task in prange(B * row_chunks, num_threads=nt, schedule='static'):
            b = task // row_chunks
            l0 = (task % row_chunks) * CHUNK
            rows = min(CHUNK, L - l0)
            if S == 0:
                for r in range(rows * E):
                    gq[(b * L + l0) * E + r] = 0
                continue
            ds = dsp + (b * L + l0) * S
            p = ap + (b * L + l0) * S
            gemm(False, True, <int>rows, <int>S, <int>Ev, <floating>1, gp + (b * L + l0) * Ev,
                 <int>Ev, vp + b * S * Ev, <int>Ev, <floating>0, ds, <int>S)
            for r in range(rows):
                d = row_dot(ds + r * S, p + r * S, S)
                for j in range(S):
                    ds[r * S + j] = p[r * S + j] * (ds[r * S + j] - d)
            gemm(False, False, <int>rows, <int>E, <int>S, <floating>scale, ds, <int>S,
                 kp + b * S * E, <int>E, <floating>0, gq + (b * L + l0) * E, <int>E)
        # dk and dv, by chunks of key columns: sums over all query rows in one GEMM
        for task in prange(B * col_chunks, num_threads=nt, schedule='static'):
            b = task // col_chunks
            s0 = (task % col_chunks) * CHUNK
            cols = min(CHUNK, S - s0)
            if L == 0:
                for r in range(cols * E):
                    gk[(b * S + s0) * E + r] = 0
                for r in range(cols * Ev):
                    gv[(b * S + s0) * Ev + r] = 0
                continue
            gemm(True, False, <int>cols, <int>E, <int>L, <floating>scale,
                 dsp + b * L * S + s0, <int>S, qp + b * L * E, <int>E, <floating>0,
                 gk + (b * S + s0) * E, <int>E)
            gemm(True, False, <int>cols, <int>Ev, <int>L, <floating>1,
                 ap + b * L * S + s0, <int>S, gp + b * L * Ev, <int>Ev, <floating>0,
                 gv + (b * S + s0) * Ev, <int>Ev)


def additive_attention_forward(
        const floating[:, ::1] qp,       # IN  (N, A) query projection W_q q
        const floating[:, :, ::1] kp,    # IN  (N, T, A) key projections W_k k_j
        const floating[:, :, ::1] keys,  # IN  (N, T, Dk)
        const floating[::1] v,           # IN  (A,)
        const uint8_t[:, ::1] mask,      # IN  (N, T) nonzero = attend, or None
        floating[:, ::1] alpha,          # OUT (N, T) attention weights
        floating[:, ::1] context,        # OUT (N, Dk)
        floating[:, :, ::1] cache,       # OUT (N, T, A) tanh(qp + kp_j)
        int n_threads):
    """e_j = v . tanh(qp + kp_j), alpha = softmax(e) (masked keys excluded),
    context = sum_j alpha_j keys_j."""
    cdef Py_ssize_t N = kp.shape[0], T = kp.shape[1], A = kp.shape[2], Dk = keys.shape[2]
    cdef Py_ssize_t n, j, a, d
    cdef bint has_mask = mask is not None
    cdef const floating* kpp = _base(kp)
    cdef const floating* kb = _base(keys)
    cdef floating* cb = _obase(cache)
    cdef floating* t
    cdef floating w
    if N == 0:
        return
    with nogil:
        for n in prange(N, num_threads=threads_for(N * T * (A * 8 + Dk), n_threads),
                        schedule='static'):
            for d in range(Dk):
                context[n, d] = 0
            if T == 0:
                continue
            for j in range(T):
                t = cb + (n * T + j) * A
                for a in range(A):
                    t[a] = qp[n, a] + kpp[(n * T + j) * A + a]
                if A > 0:
                    span_tanh(t, t, A)
                alpha[n, j] = row_dot(t, &v[0], A) if A > 0 else 0
                if has_mask and mask[n, j] == 0:
                    alpha[n, j] = -INFINITY
            _softmax_row(&alpha[n, 0], T)
            for j in range(T):
                w = alpha[n, j]
                for d in range(Dk):
                    context[n, d] = context[n, d] + w * kb[(n * T + j) * Dk + d]


def additive_attention_backward(
        const floating[:, ::1] grad_context,  # IN  (N, Dk)
        const floating[:, ::1] grad_alpha,    # IN  (N, T) or None
        const floating[:, :, ::1] keys,       # IN  (N, T, Dk)
        const floating[::1] v,                # IN  (A,)
        const floating[:, ::1] alpha,         # IN  (N, T) from forward
        const floating[:, :, ::1] cache,      # IN  (N, T, A) from forward
        floating[:, ::1] grad_qp,             # OUT (N, A)
        floating[:, :, ::1] grad_kp,          # OUT (N, T, A)
        floating[:, :, ::1] grad_keys,        # OUT (N, T, Dk) the direct share alpha_j dc
        floating[:, ::1] grad_v_rows,         # SCRATCH (N, A) per-item shares of grad_v
        floating[::1] grad_v,                 # OUT (A,)
        floating[:, ::1] de,                  # SCRATCH (N, T)
        int n_threads):
    """Gradients of :func:`additive_attention_forward` with respect to the projections
    (the caller adds their GEMM backward), the keys' direct share, and v."""
    cdef Py_ssize_t N = cache.shape[0], T = cache.shape[1], A = cache.shape[2]
    cdef Py_ssize_t Dk = keys.shape[2], n, j, a, d
    cdef bint has_ga = grad_alpha is not None
    cdef const floating* kb = _base(keys)
    cdef const floating* cb = _base(cache)
    cdef floating* gkp = _obase(grad_kp)
    cdef floating* gkb = _obase(grad_keys)
    cdef const floating* t
    cdef floating* dkp
    cdef floating s, g, w
    with nogil:
        for n in prange(N, num_threads=threads_for(N * T * (A * 4 + Dk), n_threads),
                        schedule='static'):
            for a in range(A):
                grad_qp[n, a] = 0
                grad_v_rows[n, a] = 0
            if T == 0:
                continue
            s = 0
            for j in range(T):
                g = row_dot(kb + (n * T + j) * Dk, &grad_context[n, 0], Dk) if Dk > 0 else 0
                if has_ga:
                    g = g + grad_alpha[n, j]
                de[n, j] = g
                s = s + alpha[n, j] * g
            for j in range(T):
                w = alpha[n, j]
                g = w * (de[n, j] - s)              # d e_j
                t = cb + (n * T + j) * A
                dkp = gkp + (n * T + j) * A
                for a in range(A):
                    grad_v_rows[n, a] = grad_v_rows[n, a] + g * t[a]
                    dkp[a] = g * v[a] * (1 - t[a] * t[a])
                    grad_qp[n, a] = grad_qp[n, a] + dkp[a]
                for d in range(Dk):
                    gkb[(n * T + j) * Dk + d] = w * grad_context[n, d]
        for a in range(A):
            grad_v[a] = 0
        for n in range(N):
            for a in range(A):
                grad_v[a] = grad_v[a] + grad_v_rows[n, a]
