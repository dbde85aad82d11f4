"""Recurrent layer kernels: Elman RNN (tanh / relu), LSTM and GRU, one layer and one
direction per call, the whole time loop inside the kernel.

Forward: the input projection of every time step is one GEMM into the gate buffer;
then per step one recurrent GEMM and one fused gate pass (activations, cell update,
new hidden state) over the batch rows, with no temporaries. Backward walks the steps
in reverse: a fused gate-gradient pass, then one GEMM for the gradient into the
previous hidden state. The input and weight gradients are GEMMs over all steps at
the end; bias gradients are column sums done as GEMMs with a vector of ones.

Layouts (time-major; batch_first is handled by the caller):
    x (T, N, I), y (T, N, H), h0 / c0 (N, H); weights as PyTorch: weight_ih (G*H, I),
    weight_hh (G*H, H), biases (G*H,), G = 1 (RNN), 4 (LSTM: i, f, g, o), 3 (GRU: r, z, n).
Caches (what backward reads, written by forward):
    LSTM (T, N, 5H): activations i, f, g, o, then the cell state c.
    GRU  (T, N, 4H): activations r, z, n, then hn = W_hn h_prev + b_hn.
    RNN: none; the output y is enough (tanh' = 1 - y^2, relu' = [y > 0]).
``reverse`` runs the steps from T - 1 down to 0 (the second direction of a
bidirectional layer); y[t] is then that direction's output at position t.

Determinism: GEMMs are tiled by shape only (gemm_parallel), gate passes are per row,
so every result is bitwise identical at any thread count.
"""

from cython cimport floating
from cython.parallel cimport prange
from libc.stdlib cimport malloc, free
from libc.string cimport memcpy

from _blas cimport gemm_parallel
from _parallel cimport threads_for
from _vmath cimport vsigmoid, vtanh


cdef enum:
    # A gate pass costs about this many flops per hidden unit (several exp per unit):
    # the parallel threshold (threads_for) counts elements of simple work.
    GATE_COST = 8


cdef floating* _scratch(Py_ssize_t n_items, floating sample) except NULL:
    """Workspace allocated with the GIL held, so that failure raises MemoryError."""
    cdef void* p = malloc(max(n_items, 1) * sizeof(floating))
    if p == NULL:
        raise MemoryError(f"pydl: could not allocate {n_items * sizeof(floating)} bytes "
                          f"of workspace")
    return <floating*>p


cdef inline floating* _ptr3(floating[:, :, ::1] a) noexcept nogil:
    return &a[0, 0, 0] if a.shape[0] > 0 and a.shape[1] > 0 and a.shape[2] > 0 else NULL


cdef inline const floating* _cptr2(const floating[:, ::1] a) noexcept nogil:
    return &a[0, 0] if a.shape[0] > 0 and a.shape[1] > 0 else NULL


# ------------------------------------------------------------------ shared helpers

cdef void _fill_rows(floating* out, Py_ssize_t rows, Py_ssize_t cols, Py_ssize_t ld,
                     const floating* b1, const floating* b2, int n_threads) noexcept nogil:
    """out[r, :cols] = b1 + b2 (either may be NULL: then 0) for each row r (stride ld)."""
    cdef Py_ssize_t r, j
    cdef floating* o
    for r in prange(rows, num_threads=threads_for(rows * cols, n_threads), schedule='static'):
        o = out + r * ld
        if b1 != NULL and b2 != NULL:
            for j in range(cols):
                o[j] = b1[j] + b2[j]
        elif b1 != NULL:
            for j in range(cols):
                o[j] = b1[j]
        elif b2 != NULL:
            for j in range(cols):
                o[j] = b2[j]
        else:
            for j in range(cols):
                o[j] = 0


cdef void _input_projection(const floating* x, Py_ssize_t rows, Py_ssize_t n_in,
                            const floating* w_ih, Py_ssize_t gh,
                            const floating* b1, const floating* b2,
                            floating* out, Py_ssize_t ld, int n_threads) noexcept nogil:
    """out[r, :gh] = x[r] @ w_ih.T + b1 + b2 for all T*N rows at once (row stride ld)."""
    if rows == 0:
        return
    _fill_rows(out, rows, gh, ld, b1, b2, n_threads)
    if n_in > 0:
        gemm_parallel(False, True, <int>rows, <int>gh, <int>n_in, <floating>1,
                      x, <int>n_in, w_ih, <int>n_in, <floating>1, out, <int>ld, n_threads)


cdef void _ones_gemv(const floating* a, Py_ssize_t rows, Py_ssize_t cols, Py_ssize_t lda,
                     const floating* ones, floating beta, floating* out,
                     int n_threads) noexcept nogil:
    """out = ones(rows) @ a + beta * out: the column sums of a (rows, cols) matrix, as a
    GEMM so that the order of the additions depends on the shape only."""
    cdef Py_ssize_t j
    if rows == 0:
        if beta == 0:
            for j in range(cols):
                out[j] = 0
        return
    gemm_parallel(False, False, 1, <int>cols, <int>rows, <floating>1, ones, <int>rows,
                  a, <int>lda, beta, out, <int>cols, n_threads)


cdef void _weight_grad_hh(const floating* dg, Py_ssize_t ldg, Py_ssize_t gh,
                          Py_ssize_t T, Py_ssize_t N, Py_ssize_t H,
                          const floating* h0, const floating* y, bint reverse,
                          floating* grad_w_hh, int n_threads) noexcept nogil:
    """grad_w_hh = sum_t dg[t].T @ h_prev(t): the first step processed pairs with h0,
    every other step t with y at the step before it (t - 1, or t + 1 in reverse)."""
    cdef Py_ssize_t first = T - 1 if reverse else 0
    cdef Py_ssize_t step = N * ldg
    gemm_parallel(True, False, <int>gh, <int>H, <int>N, <floating>1,
                  dg + first * step, <int>ldg, h0, <int>H, <floating>0, grad_w_hh, <int>H,
                  n_threads)
    if T > 1:
        # forward: dg[1:] with y[:T-1]; reverse: dg[:T-1] with y[1:]
        gemm_parallel(True, False, <int>gh, <int>H, <int>((T - 1) * N), <floating>1,
                      dg + (0 if reverse else step), <int>ldg,
                      y + (N * H if reverse else 0), <int>H,
                      <floating>1, grad_w_hh, <int>H, n_threads)


cdef void _zero(floating* a, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(n):
        a[i] = 0


# ----------------------------------------------------------------------- gate rows
# One batch row of one time step each: contiguous pointers, straight loops over the
# hidden units, so that the compiler vectorizes them (float32 via csrc/_vmath.h).

cdef inline void _lstm_row(floating* g, const floating* c_prev, floating* h,
                           Py_ssize_t H) noexcept nogil:
    """g holds [i f g o | c] pre-activations (c slot unused); writes activations, c
    into g[4H:5H] and h."""
    cdef Py_ssize_t j
    cdef floating i_, f_, g_, o_, c
    for j in range(H):
        i_ = vsigmoid(g[j])
        f_ = vsigmoid(g[H + j])
        g_ = vtanh(g[2 * H + j])
        o_ = vsigmoid(g[3 * H + j])
        c = f_ * c_prev[j] + i_ * g_
        g[j] = i_
        g[H + j] = f_
        g[2 * H + j] = g_
        g[3 * H + j] = o_
        g[4 * H + j] = c
        h[j] = o_ * vtanh(c)


cdef inline void _lstm_row_backward(const floating* g, const floating* c_prev,
                                    const floating* gy, floating* dh, floating* dc,
                                    floating* dg, Py_ssize_t H) noexcept nogil:
    """From the gradient into h (gy + dh) and c (dc): the pre-activation gradients dg
    [di df dg do] and, in place, dc for the previous cell state."""
    cdef Py_ssize_t j
    cdef floating i_, f_, g_, o_, tc, d_h, d_c
    for j in range(H):
        i_ = g[j]
        f_ = g[H + j]
        g_ = g[2 * H + j]
        o_ = g[3 * H + j]
        tc = vtanh(g[4 * H + j])
        d_h = gy[j] + dh[j]
        d_c = dc[j] + d_h * o_ * (1 - tc * tc)
        dg[j] = d_c * g_ * i_ * (1 - i_)
        dg[H + j] = d_c * c_prev[j] * f_ * (1 - f_)
        dg[2 * H + j] = d_c * i_ * (1 - g_ * g_)
        dg[3 * H + j] = d_h * tc * o_ * (1 - o_)
        dc[j] = d_c * f_


cdef inline void _gru_row(floating* g, const floating* hh, const floating* h_prev,
                          floating* h, Py_ssize_t H) noexcept nogil:
    """g holds [xr xz xn | -] (input part with b_ih), hh [hr hz hn] (with b_hh);
    writes r, z, n and hn into g and the new hidden state into h."""
    cdef Py_ssize_t j
    cdef floating r, z, n, hn
    for j in range(H):
        r = vsigmoid(g[j] + hh[j])
        z = vsigmoid(g[H + j] + hh[H + j])
        hn = hh[2 * H + j]
        n = vtanh(g[2 * H + j] + r * hn)
        g[j] = r
        g[H + j] = z
        g[2 * H + j] = n
        g[3 * H + j] = hn
        h[j] = n + z * (h_prev[j] - n)


cdef inline void _gru_row_backward(const floating* g, const floating* h_prev,
                                   const floating* gy, floating* dh, floating* dgh,
                                   floating* dxn, Py_ssize_t H) noexcept nogil:
    """Pre-activation gradients: dgh = [dr dz dn*r] (hidden side), dxn = dn (input
    side of n); dh becomes the direct part z * dh of the gradient into h_prev."""
    cdef Py_ssize_t j
    cdef floating r, z, n, hn, d_h, d_n
    for j in range(H):
        r = g[j]
        z = g[H + j]
        n = g[2 * H + j]
        hn = g[3 * H + j]
        d_h = gy[j] + dh[j]
        d_n = d_h * (1 - z) * (1 - n * n)
        dgh[j] = d_n * hn * r * (1 - r)
        dgh[H + j] = d_h * (h_prev[j] - n) * z * (1 - z)
        dgh[2 * H + j] = d_n * r
        dxn[j] = d_n
        dh[j] = d_h * z


cdef inline void _rnn_row(floating* y, Py_ssize_t H, bint relu) noexcept nogil:
    cdef Py_ssize_t j
    cdef floating v
    if relu:
        for j in range(H):
            v = y[j]
            y[j] = v if v > 0 else 0
    else:
        for j in range(H):
            y[j] = vtanh(y[j])


cdef inline void _rnn_row_backward(const floating* y, const floating* gy, floating* dh,
                                   floating* dpre, Py_ssize_t H, bint relu) noexcept nogil:
    cdef Py_ssize_t j
    cdef floating v, d
    if relu:
        for j in range(H):
            v = y[j]
            d = gy[j] + dh[j]
            dpre[j] = d if v > 0 else 0
    else:
        for j in range(H):
            v = y[j]
            dpre[j] = (gy[j] + dh[j]) * (1 - v * v)


# ------------------------------------------------------------------------- forward

def lstm_forward(const floating[:, :, ::1] x,       # IN  (T, N, I)
                 const floating[:, ::1] h0,         # IN  (N, H)
                 const floating[:, ::1] c0,         # IN  (N, H)
                 const floating[:, ::1] weight_ih,  # IN  (4H, I)
                 const floating[:, ::1] weight_hh,  # IN  (4H, H)
                 const floating[::1] bias_ih,       # IN  (4H,) or None
                 const floating[::1] bias_hh,       # IN  (4H,) or None
                 bint reverse,
                 floating[:, :, ::1] y,             # OUT (T, N, H)
                 floating[:, ::1] h_n,              # OUT (N, H)
                 floating[:, ::1] c_n,              # OUT (N, H)
                 floating[:, :, ::1] cache,         # OUT (T, N, 5H)
                 int n_threads):
    """One LSTM layer, one direction: gates i, f, g, o (PyTorch's order),
    c_t = f c_{t-1} + i g, h_t = o tanh(c_t)."""
    cdef Py_ssize_t T = x.shape[0], N = x.shape[1], I = x.shape[2], H = h0.shape[1]
    cdef Py_ssize_t ld = 5 * H, s, t, tp, n
    cdef floating* ws = _ptr3(cache)
    cdef floating* yp = _ptr3(y)
    cdef const floating* hp
    cdef const floating* cp
    cdef const floating* b1 = &bias_ih[0] if bias_ih is not None else NULL
    cdef const floating* b2 = &bias_hh[0] if bias_hh is not None else NULL
    cdef int nt = threads_for(N * H * GATE_COST, n_threads)
    if T == 0 or N == 0:
        return
    with nogil:
        _input_projection(&x[0, 0, 0] if I > 0 else NULL, T * N, I, _cptr2(weight_ih),
                          4 * H, b1, b2, ws, ld, n_threads)
        for s in range(T):
            t = T - 1 - s if reverse else s
            tp = t + 1 if reverse else t - 1
            hp = &h0[0, 0] if s == 0 else yp + tp * N * H
            gemm_parallel(False, True, <int>N, <int>(4 * H), <int>H, <floating>1,
                          hp, <int>H, &weight_hh[0, 0], <int>H, <floating>1,
                          ws + t * N * ld, <int>ld, n_threads)
            for n in prange(N, num_threads=nt, schedule='static'):
                cp = &c0[n, 0] if s == 0 else ws + (tp * N + n) * ld + 4 * H
                _lstm_row(ws + (t * N + n) * ld, cp, yp + (t * N + n) * H, H)
        t = 0 if reverse else T - 1
        for n in range(N):
            memcpy(&h_n[n, 0], yp + (t * N + n) * H, H * sizeof(floating))
            memcpy(&c_n[n, 0], ws + (t * N + n) * ld + 4 * H, H * sizeof(floating))


def gru_forward(const floating[:, :, ::1] x,       # IN  (T, N, I)
                const floating[:, ::1] h0,         # IN  (N, H)
                const floating[:, ::1] weight_ih,  # IN  (3H, I)
                const floating[:, ::1] weight_hh,  # IN  (3H, H)
                const floating[::1] bias_ih,       # IN  (3H,) or None
                const floating[::1] bias_hh,       # IN  (3H,) or None
                bint reverse,
                floating[:, :, ::1] y,             # OUT (T, N, H)
                floating[:, ::1] h_n,              # OUT (N, H)
                floating[:, :, ::1] cache,         # OUT (T, N, 4H)
                int n_threads):
    """One GRU layer, one direction (PyTorch's formulas): r, z = sigmoid(...),
    n = tanh(W_in x + b_in + r * (W_hn h + b_hn)), h' = (1 - z) n + z h."""
    cdef Py_ssize_t T = x.shape[0], N = x.shape[1], I = x.shape[2], H = h0.shape[1]
    cdef Py_ssize_t ld = 4 * H, s, t, tp, n
    cdef floating* ws = _ptr3(cache)
    cdef floating* yp = _ptr3(y)
    cdef floating* hh = NULL
    cdef const floating* hp
    cdef const floating* b1 = &bias_ih[0] if bias_ih is not None else NULL
    cdef const floating* b2 = &bias_hh[0] if bias_hh is not None else NULL
    cdef int nt = threads_for(N * H * GATE_COST, n_threads)
    if T == 0 or N == 0:
        return
    hh = _scratch(N * 3 * H, <floating>0)   # hidden-side gate pre-activations of a step
    try:
        with nogil:
            _input_projection(&x[0, 0, 0] if I > 0 else NULL, T * N, I, _cptr2(weight_ih),
                              3 * H, b1, NULL, ws, ld, n_threads)
            for s in range(T):
                t = T - 1 - s if reverse else s
                tp = t + 1 if reverse else t - 1
                hp = &h0[0, 0] if s == 0 else yp + tp * N * H
                _fill_rows(hh, N, 3 * H, 3 * H, b2, NULL, n_threads)
                gemm_parallel(False, True, <int>N, <int>(3 * H), <int>H, <floating>1,
                              hp, <int>H, &weight_hh[0, 0], <int>H, <floating>1,
                              hh, <int>(3 * H), n_threads)
                for n in prange(N, num_threads=nt, schedule='static'):
                    _gru_row(ws + (t * N + n) * ld, hh + n * 3 * H, hp + n * H,
                             yp + (t * N + n) * H, H)
            t = 0 if reverse else T - 1
            memcpy(&h_n[0, 0], yp + t * N * H, N * H * sizeof(floating))
    finally:
        free(hh)


def rnn_forward(const floating[:, :, ::1] x,       # IN  (T, N, I)
                const floating[:, ::1] h0,         # IN  (N, H)
                const floating[:, ::1] weight_ih,  # IN  (H, I)
                const floating[:, ::1] weight_hh,  # IN  (H, H)
                const floating[::1] bias_ih,       # IN  (H,) or None
                const floating[::1] bias_hh,       # IN  (H,) or None
                bint reverse, bint relu,
                floating[:, :, ::1] y,             # OUT (T, N, H)
                floating[:, ::1] h_n,              # OUT (N, H)
                int n_threads):
    """One Elman RNN layer, one direction: h_t = act(W_ih x_t + b_ih + W_hh h_{t-1}
    + b_hh), act = tanh or relu. The pre-activations are built in y itself."""
    cdef Py_ssize_t T = x.shape[0], N = x.shape[1], I = x.shape[2], H = h0.shape[1]
    cdef Py_ssize_t s, t, tp, n
    cdef floating* yp = _ptr3(y)
    cdef const floating* hp
    cdef const floating* b1 = &bias_ih[0] if bias_ih is not None else NULL
    cdef const floating* b2 = &bias_hh[0] if bias_hh is not None else NULL
    cdef int nt = threads_for(N * H * (1 if relu else GATE_COST), n_threads)
    if T == 0 or N == 0:
        return
    with nogil:
        _input_projection(&x[0, 0, 0] if I > 0 else NULL, T * N, I, _cptr2(weight_ih),
                          H, b1, b2, yp, H, n_threads)
        for s in range(T):
            t = T - 1 - s if reverse else s
            tp = t + 1 if reverse else t - 1
            hp = &h0[0, 0] if s == 0 else yp + tp * N * H
            gemm_parallel(False, True, <int>N, <int>H, <int>H, <floating>1,
                          hp, <int>H, &weight_hh[0, 0], <int>H, <floating>1,
                          yp + t * N * H, <int>H, n_threads)
            for n in prange(N, num_threads=nt, schedule='static'):
                _rnn_row(yp + (t * N + n) * H, H, relu)
        t = 0 if reverse else T - 1
        memcpy(&h_n[0, 0], yp + t * N * H, N * H * sizeof(floating))


# ------------------------------------------------------------------------ backward

cdef void _input_side_grads(const floating* dg, Py_ssize_t ldg, Py_ssize_t gh,
                            Py_ssize_t rows, Py_ssize_t n_in, const floating* x,
                            const floating* w_ih, floating beta,
                            floating* grad_x, floating* grad_w_ih,
                            int n_threads) noexcept nogil:
    """grad_x (+)= dg @ w_ih and grad_w_ih = dg.T @ x over all rows (either output NULL
    to skip); beta applies to grad_x (1 to add a second gate block's share)."""
    if n_in == 0 or rows == 0:
        return
    if grad_x != NULL:
        gemm_parallel(False, False, <int>rows, <int>n_in, <int>gh, <floating>1,
                      dg, <int>ldg, w_ih, <int>n_in, beta, grad_x, <int>n_in, n_threads)
    if grad_w_ih != NULL:
        gemm_parallel(True, False, <int>gh, <int>n_in, <int>rows, <floating>1,
                      dg, <int>ldg, x, <int>n_in, <floating>0, grad_w_ih, <int>n_in,
                      n_threads)


cdef void _all_step_grads(const floating* dg, Py_ssize_t gh, Py_ssize_t T, Py_ssize_t N,
                          Py_ssize_t H, Py_ssize_t I, const floating* x,
                          const floating* w_ih, const floating* h0, const floating* y,
                          bint reverse, const floating* ones, floating* grad_x,
                          floating* grad_w_ih, floating* grad_w_hh, floating* grad_b,
                          int n_threads) noexcept nogil:
    """The sums over all steps from the gate gradients dg (T*N, gh): input, weight and
    bias gradients (each output may be NULL to skip it)."""
    _input_side_grads(dg, gh, gh, T * N, I, x, w_ih, 0, grad_x, grad_w_ih, n_threads)
    if grad_w_hh != NULL:
        _weight_grad_hh(dg, gh, gh, T, N, H, h0, y, reverse, grad_w_hh, n_threads)
    if grad_b != NULL:
        _ones_gemv(dg, T * N, gh, gh, ones, 0, grad_b, n_threads)


def lstm_backward(const floating[:, :, ::1] grad_y,    # IN  (T, N, H)
                  const floating[:, ::1] grad_h_n,      # IN  (N, H)
                  const floating[:, ::1] grad_c_n,      # IN  (N, H)
                  const floating[:, :, ::1] x,          # IN  (T, N, I)
                  const floating[:, ::1] h0,            # IN  (N, H)
                  const floating[:, ::1] c0,            # IN  (N, H)
                  const floating[:, ::1] weight_ih,     # IN  (4H, I)
                  const floating[:, ::1] weight_hh,     # IN  (4H, H)
                  const floating[:, :, ::1] y,          # IN  (T, N, H) forward output
                  const floating[:, :, ::1] cache,      # IN  (T, N, 5H) from forward
                  bint reverse,
                  floating[:, :, ::1] dgates,           # SCRATCH (T, N, 4H)
                  floating[:, :, ::1] grad_x,           # OUT (T, N, I) or None
                  floating[:, ::1] grad_h0,             # OUT (N, H)
                  floating[:, ::1] grad_c0,             # OUT (N, H)
                  floating[:, ::1] grad_weight_ih,      # OUT (4H, I) or None
                  floating[:, ::1] grad_weight_hh,      # OUT (4H, H) or None
                  floating[::1] grad_bias,              # OUT (4H,) or None (= d bias_ih = d bias_hh)
                  int n_threads):
    """Backward through time of :func:`lstm_forward`."""
    cdef Py_ssize_t T = x.shape[0], N = x.shape[1], I = x.shape[2], H = h0.shape[1]
    cdef Py_ssize_t ld = 5 * H, s, t, tp, n
    cdef const floating* ws = &cache[0, 0, 0] if T * N > 0 else NULL
    cdef floating* dg = _ptr3(dgates)
    cdef const floating* cp
    cdef floating* ones = NULL
    cdef bint want_b = grad_bias is not None
    cdef int nt = threads_for(N * H * GATE_COST, n_threads)
    _copy_rows(grad_h_n, grad_h0)
    _copy_rows(grad_c_n, grad_c0)
    if T == 0 or N == 0:
        _zero_grads(grad_x, grad_weight_ih, grad_weight_hh, grad_bias)
        return
    if want_b:
        ones = _ones(T * N, <floating>0)
    try:
        with nogil:
            for s in range(T):
                t = s if reverse else T - 1 - s          # steps in reverse of forward order
                tp = t + 1 if reverse else t - 1
                for n in prange(N, num_threads=nt, schedule='static'):
                    cp = &c0[n, 0] if s == T - 1 else ws + (tp * N + n) * ld + 4 * H
                    _lstm_row_backward(ws + (t * N + n) * ld, cp, &grad_y[t, n, 0],
                                       &grad_h0[n, 0], &grad_c0[n, 0],
                                       dg + (t * N + n) * 4 * H, H)
                gemm_parallel(False, False, <int>N, <int>H, <int>(4 * H), <floating>1,
                              dg + t * N * 4 * H, <int>(4 * H), &weight_hh[0, 0], <int>H,
                              <floating>0, &grad_h0[0, 0], <int>H, n_threads)
            _all_step_grads(dg, 4 * H, T, N, H, I, &x[0, 0, 0] if I > 0 else NULL,
                            _cptr2(weight_ih), &h0[0, 0], &y[0, 0, 0], reverse, ones,
                            _ptr3(grad_x) if grad_x is not None else NULL,
                            &grad_weight_ih[0, 0] if grad_weight_ih is not None and I > 0
                            else NULL, &grad_weight_hh[0, 0] if grad_weight_hh is not None
                            else NULL, &grad_bias[0] if want_b else NULL, n_threads)
    finally:
        free(ones)


def gru_backward(const floating[:, :, ::1] grad_y,    # IN  (T, N, H)
                 const floating[:, ::1] grad_h_n,      # IN  (N, H)
                 const floating[:, :, ::1] x,          # IN  (T, N, I)
                 const floating[:, ::1] h0,            # IN  (N, H)
                 const floating[:, ::1] weight_ih,     # IN  (3H, I)
                 const floating[:, ::1] weight_hh,     # IN  (3H, H)
                 const floating[:, :, ::1] y,          # IN  (T, N, H)
                 const floating[:, :, ::1] cache,      # IN  (T, N, 4H)
                 bint reverse,
                 floating[:, :, ::1] dgates,           # SCRATCH (T, N, 4H): [dr dz dn*r | dn]
                 floating[:, :, ::1] grad_x,           # OUT (T, N, I) or None
                 floating[:, ::1] grad_h0,             # OUT (N, H)
                 floating[:, ::1] grad_weight_ih,      # OUT (3H, I) or None
                 floating[:, ::1] grad_weight_hh,      # OUT (3H, H) or None
                 floating[::1] grad_bias_ih,           # OUT (3H,) or None
                 floating[::1] grad_bias_hh,           # OUT (3H,) or None
                 int n_threads):
    """Backward through time of :func:`gru_forward`.

    The gradients of the input-side and hidden-side gate pre-activations differ only
    in the n block (dn versus dn * r), so dgates holds the hidden side [dr dz dn*r]
    and the input side's dn next to it; GEMMs read the blocks they need.
    """
    cdef Py_ssize_t T = x.shape[0], N = x.shape[1], I = x.shape[2], H = h0.shape[1]
    cdef Py_ssize_t ld = 4 * H, s, t, tp, n, rows = T * N
    cdef const floating* ws = &cache[0, 0, 0] if T * N > 0 else NULL
    cdef floating* dg = _ptr3(dgates)
    cdef const floating* yp = &y[0, 0, 0] if T * N > 0 else NULL
    cdef const floating* xp = &x[0, 0, 0] if T * N * I > 0 else NULL
    cdef const floating* wih = _cptr2(weight_ih)
    cdef const floating* hp
    cdef floating* gx = _ptr3(grad_x) if grad_x is not None else NULL
    cdef floating* gw = &grad_weight_ih[0, 0] if grad_weight_ih is not None and I > 0 else NULL
    cdef floating* ones = NULL
    cdef bint want_b = grad_bias_ih is not None
    cdef int nt = threads_for(N * H * GATE_COST, n_threads)
    _copy_rows(grad_h_n, grad_h0)
    if T == 0 or N == 0:
        _zero_grads(grad_x, grad_weight_ih, grad_weight_hh, grad_bias_ih)
        if grad_bias_hh is not None:
            _zero_view(&grad_bias_hh[0], grad_bias_hh.shape[0])
        return
    if want_b or grad_bias_hh is not None:
        ones = _ones(rows, <floating>0)
    try:
        with nogil:
            for s in range(T):
                t = s if reverse else T - 1 - s
                tp = t + 1 if reverse else t - 1
                hp = &h0[0, 0] if s == T - 1 else yp + tp * N * H
                for n in prange(N, num_threads=nt, schedule='static'):
                    _gru_row_backward(ws + (t * N + n) * ld, hp + n * H, &grad_y[t, n, 0],
                                      &grad_h0[n, 0], dg + (t * N + n) * ld,
                                      dg + (t * N + n) * ld + 3 * H, H)
                # grad_h0 holds z * dh; add the share through the gates
                gemm_parallel(False, False, <int>N, <int>H, <int>(3 * H), <floating>1,
                              dg + t * N * ld, <int>ld, &weight_hh[0, 0], <int>H,
                              <floating>1, &grad_h0[0, 0], <int>H, n_threads)
            # input side: blocks r, z from [dr dz], block n from dn
            _input_side_grads(dg, ld, 2 * H, rows, I, xp, wih, 0, gx, gw, n_threads)
            _input_side_grads(dg + 3 * H, ld, H, rows, I, xp,
                              wih + 2 * H * I if wih != NULL else NULL, 1, gx,
                              gw + 2 * H * I if gw != NULL else NULL, n_threads)
            if grad_weight_hh is not None:
                _weight_grad_hh(dg, ld, 3 * H, T, N, H, &h0[0, 0], yp, reverse,
                                &grad_weight_hh[0, 0], n_threads)
            if want_b:
                _ones_gemv(dg, rows, 2 * H, ld, ones, 0, &grad_bias_ih[0], n_threads)
                _ones_gemv(dg + 3 * H, rows, H, ld, ones, 0, &grad_bias_ih[2 * H],
                           n_threads)
            if grad_bias_hh is not None:
                if want_b:   # the r and z blocks are the same on both sides
                    memcpy(&grad_bias_hh[0], &grad_bias_ih[0], 2 * H * sizeof(floating))
                else:
                    _ones_gemv(dg, rows, 2 * H, ld, ones, 0, &grad_bias_hh[0], n_threads)
                _ones_gemv(dg + 2 * H, rows, H, ld, ones, 0, &grad_bias_hh[2 * H],
                           n_threads)
    finally:
        free(ones)


def rnn_backward(const floating[:, :, ::1] grad_y,    # IN  (T, N, H)
                 const floating[:, ::1] grad_h_n,      # IN  (N, H)
                 const floating[:, :, ::1] x,          # IN  (T, N, I)
                 const floating[:, ::1] h0,            # IN  (N, H)
                 const floating[:, ::1] weight_ih,     # IN  (H, I)
                 const floating[:, ::1] weight_hh,     # IN  (H, H)
                 const floating[:, :, ::1] y,          # IN  (T, N, H)
                 bint reverse, bint relu,
                 floating[:, :, ::1] dpre,             # SCRATCH (T, N, H)
                 floating[:, :, ::1] grad_x,           # OUT (T, N, I) or None
                 floating[:, ::1] grad_h0,             # OUT (N, H)
                 floating[:, ::1] grad_weight_ih,      # OUT (H, I) or None
                 floating[:, ::1] grad_weight_hh,      # OUT (H, H) or None
                 floating[::1] grad_bias,              # OUT (H,) or None (= d bias_ih = d bias_hh)
                 int n_threads):
    """Backward through time of :func:`rnn_forward`."""
    cdef Py_ssize_t T = x.shape[0], N = x.shape[1], I = x.shape[2], H = h0.shape[1]
    cdef Py_ssize_t s, t, n
    cdef const floating* yp = &y[0, 0, 0] if T * N > 0 else NULL
    cdef floating* dg = _ptr3(dpre)
    cdef floating* ones = NULL
    cdef bint want_b = grad_bias is not None
    cdef int nt = threads_for(N * H, n_threads)
    _copy_rows(grad_h_n, grad_h0)
    if T == 0 or N == 0:
        _zero_grads(grad_x, grad_weight_ih, grad_weight_hh, grad_bias)
        return
    if want_b:
        ones = _ones(T * N, <floating>0)
    try:
        with nogil:
            for s in range(T):
                t = s if reverse else T - 1 - s
                for n in prange(N, num_threads=nt, schedule='static'):
                    _rnn_row_backward(yp + (t * N + n) * H, &grad_y[t, n, 0], &grad_h0[n, 0],
                                      dg + (t * N + n) * H, H, relu)
                gemm_parallel(False, False, <int>N, <int>H, <int>H, <floating>1,
                              dg + t * N * H, <int>H, &weight_hh[0, 0], <int>H,
                              <floating>0, &grad_h0[0, 0], <int>H, n_threads)
            _all_step_grads(dg, H, T, N, H, I, &x[0, 0, 0] if I > 0 else NULL,
                            _cptr2(weight_ih), &h0[0, 0], yp, reverse, ones,
                            _ptr3(grad_x) if grad_x is not None else NULL,
                            &grad_weight_ih[0, 0] if grad_weight_ih is not None and I > 0
                            else NULL, &grad_weight_hh[0, 0] if grad_weight_hh is not None
                            else NULL, &grad_bias[0] if want_b else NULL, n_threads)
    finally:
        free(ones)


# ------------------------------------------------------------------- small helpers

cdef floating* _ones(Py_ssize_t n, floating sample) except NULL:
    cdef floating* p = _scratch(n, sample)
    cdef Py_ssize_t i
    for i in range(n):
        p[i] = 1
    return p


cdef void _copy_rows(const floating[:, ::1] src, floating[:, ::1] dst):
    """dst = src (same shape): a state-gradient output starts as the gradient into the
    final state; the backward steps then update it in place down to the initial one."""
    cdef Py_ssize_t n
    for n in range(dst.shape[0]):
        memcpy(&dst[n, 0], &src[n, 0], dst.shape[1] * sizeof(floating))


cdef void _zero_view(floating* p, Py_ssize_t size):
    if size > 0:
        _zero(p, size)


cdef void _zero_grads(floating[:, :, ::1] grad_x, floating[:, ::1] grad_w_ih,
                      floating[:, ::1] grad_w_hh, floating[::1] grad_b):
    """Empty sequence or batch: every gradient summed over steps and rows is zero."""
    if grad_x is not None:
        _zero_view(_ptr3(grad_x), grad_x.shape[0] * grad_x.shape[1] * grad_x.shape[2])
    if grad_w_ih is not None and grad_w_ih.shape[1] > 0:
        _zero_view(&grad_w_ih[0, 0], grad_w_ih.shape[0] * grad_w_ih.shape[1])
    if grad_w_hh is not None:
        _zero_view(&grad_w_hh[0, 0], grad_w_hh.shape[0] * grad_w_hh.shape[1])
    if grad_b is not None:
        _zero_view(&grad_b[0], grad_b.shape[0])
