"""Recurrent layer kernels: Elman RNN (tanh / relu), LSTM and GRU, one layer and one
direction per call, the whole time loop inside the kernel.

Forward: the input projection of every time step is one BLAS GEMM into the gate
cache. Then each step runs the recurrent GEMM (csrc/_panel_gemm.h: the recurrent weights
packed once per call) and one fused gate pass (csrc/_rnn_gates.h: activations, cell
update, new hidden state; no temporaries). Backward walks the steps in reverse the same
way: a fused gate-gradient pass, then the GEMM for the gradient into the previous
hidden state.

A batch row at one step depends only on the same row at the step before (forward and
backward alike), so threads split the batch rows and each runs the whole time loop on
its rows, with no synchronisation between steps: a barrier per step was cheap on an
idle machine but cost up to a scheduler time slice on oversubscribed cores (a small
LSTM training loop ran 35x slower at 2 threads than at 1 on a loaded 2-core machine). The input and weight gradients are BLAS GEMMs over
all steps at the end, the bias gradients column sums.

Layouts (time-major; batch_first is handled by the caller):
    x (T, N, I), y (T, N, H), h0 / c0 (N, H); weights as PyTorch: weight_ih (G*H, I),
    weight_hh (G*H, H), biases (G*H,), G = 1 (RNN), 4 (LSTM: i, f, g, o), 3 (GRU: r, z, n).
Caches (what backward reads, written by forward):
    LSTM (T, N, 5H): activations i, f, g, o, then the cell state c.
    GRU  (T, N, 4H): activations r, z, n, then hn = W_hn h_prev + b_hn.
    RNN: none; the output y is enough (tanh' = 1 - y^2, relu' = [y > 0]).
``reverse`` runs the steps from T - 1 down to 0 (the second direction of a
bidirectional layer); y[t] is then that direction's output at position t.

Determinism: BLAS GEMMs are tiled by shape only (gemm_parallel); the batch rows are
split at multiples of the recurrent GEMM's register block, so each row is computed by
the same code whatever the thread count; gate passes are per row; column sums run over
rows in order. Results are
bitwise identical at any thread count.
"""

from cython cimport floating
from cython.parallel cimport prange
from libc.string cimport memcpy

from _blas cimport gemm_parallel
from _panel_gemm cimport PYDL_MR, PYDL_NR, pack_panels as _pack, rows_gemm as _rows_gemm
from _parallel cimport threads_for
from _scratch cimport pydl_workspace_trim, workspace, workspace_free


cdef extern from "_rnn_gates.h" nogil:
    void pydl_lstm_row_f(float* g, const float* c_prev, float* h, Py_ssize_t H)
    void pydl_lstm_row_d(double* g, const double* c_prev, double* h, Py_ssize_t H)
    void pydl_lstm_row_backward_f(const float* g, const float* c_prev, const float* gy,
                                  const float* dh, float* dc, float* dg, Py_ssize_t H)
    void pydl_lstm_row_backward_d(const double* g, const double* c_prev, const double* gy,
                                  const double* dh, double* dc, double* dg, Py_ssize_t H)
    void pydl_gru_row_f(float* g, const float* hh, const float* h_prev, float* h,
                        Py_ssize_t H)
    void pydl_gru_row_d(double* g, const double* hh, const double* h_prev, double* h,
                        Py_ssize_t H)
    void pydl_gru_row_backward_f(const float* g, const float* h_prev, const float* gy,
                                 float* dh, float* dgh, float* dxn, Py_ssize_t H)
    void pydl_gru_row_backward_d(const double* g, const double* h_prev, const double* gy,
                                 double* dh, double* dgh, double* dxn, Py_ssize_t H)
    void pydl_rnn_row_f(float* y, Py_ssize_t H, int relu)
    void pydl_rnn_row_d(double* y, Py_ssize_t H, int relu)
    void pydl_rnn_row_backward_f(const float* y, const float* gy, const float* dh,
                                 float* dpre, Py_ssize_t H, int relu)
    void pydl_rnn_row_backward_d(const double* y, const double* gy, const double* dh,
                                 double* dpre, Py_ssize_t H, int relu)


cdef enum:
    # The time loop runs threaded once a step's recurrent GEMM has about 1M
    # multiply-adds (~12 us on one core; threads_for's threshold is 32K work units).
    MACS_PER_WORK = 32
    # Columns per block of the bias-gradient column sums.
    SUM_BLOCK = 64


# ------------------------------------------------------------ fused-type dispatch

cdef inline void _lstm_row(floating* g, const floating* c_prev, floating* h,
                           Py_ssize_t H) noexcept nogil:
    if floating is float:
        pydl_lstm_row_f(g, c_prev, h, H)
    else:
        pydl_lstm_row_d(g, c_prev, h, H)


cdef inline void _lstm_row_backward(const floating* g, const floating* c_prev,
                                    const floating* gy, floating* dh, floating* dc,
                                    floating* dg, Py_ssize_t H) noexcept nogil:
    if floating is float:
        pydl_lstm_row_backward_f(g, c_prev, gy, dh, dc, dg, H)
    else:
        pydl_lstm_row_backward_d(g, c_prev, gy, dh, dc, dg, H)


cdef inline void _gru_row(floating* g, const floating* hh, const floating* h_prev,
                          floating* h, Py_ssize_t H) noexcept nogil:
    if floating is float:
        pydl_gru_row_f(g, hh, h_prev, h, H)
    else:
        pydl_gru_row_d(g, hh, h_prev, h, H)


cdef inline void _gru_row_backward(const floating* g, const floating* h_prev,
                                   const floating* gy, floating* dh, floating* dgh,
                                   floating* dxn, Py_ssize_t H) noexcept nogil:
    if floating is float:
        pydl_gru_row_backward_f(g, h_prev, gy, dh, dgh, dxn, H)
    else:
        pydl_gru_row_backward_d(g, h_prev, gy, dh, dgh, dxn, H)


cdef inline void _rnn_row(floating* y, Py_ssize_t H, bint relu) noexcept nogil:
    if floating is float:
        pydl_rnn_row_f(y, H, relu)
    else:
        pydl_rnn_row_d(y, H, relu)


cdef inline void _rnn_row_backward(const floating* y, const floating* gy, floating* dh,
                                   floating* dpre, Py_ssize_t H, bint relu) noexcept nogil:
    if floating is float:
        pydl_rnn_row_backward_f(y, gy, dh, dpre, H, relu)
    else:
        pydl_rnn_row_backward_d(y, gy, dh, dpre, H, relu)


# ------------------------------------------------------------------ shared helpers

cdef floating* _packed(const floating* w, Py_ssize_t K, Py_ssize_t n, Py_ssize_t sk,
                       Py_ssize_t sj) except NULL:
    """B(k, j) = w[k * sk + j * sj] (K x n) packed into column panels for _rows_gemm."""
    cdef Py_ssize_t n_panels = (n + PYDL_NR - 1) // PYDL_NR
    cdef floating* Bp = <floating*>workspace(n_panels * K * PYDL_NR, sizeof(floating))
    _pack(w, K, n, sk, sj, Bp)
    return Bp


cdef inline int _row_threads(Py_ssize_t N, Py_ssize_t macs_per_row,
                             int n_threads) noexcept nogil:
    """Threads for the time loop, each owning a range of batch rows for all steps:
    by the multiply-adds of one step's recurrent GEMM, and at most one per two
    register blocks of rows (a thread reads all the packed weights every step, so it
    needs some rows to reuse them on)."""
    cdef int nt = threads_for(N * macs_per_row // MACS_PER_WORK, n_threads)
    cdef Py_ssize_t pairs = (N + 2 * PYDL_MR - 1) // (2 * PYDL_MR)
    return <int>max(1, min(nt, pairs))


cdef inline Py_ssize_t _row_start(Py_ssize_t N, Py_ssize_t part, int n_parts) noexcept nogil:
    """First row of part ``part`` of ``n_parts``: whole register blocks of PYDL_MR rows
    each, so a row's block and the code that computes it never depend on n_parts."""
    cdef Py_ssize_t blocks = (N + PYDL_MR - 1) // PYDL_MR
    return min(N, PYDL_MR * (blocks * part // n_parts))


cdef inline floating* _ptr3(floating[:, :, ::1] a) noexcept nogil:
    return &a[0, 0, 0] if a.shape[0] > 0 and a.shape[1] > 0 and a.shape[2] > 0 else NULL


cdef inline const floating* _cptr2(const floating[:, ::1] a) noexcept nogil:
    return &a[0, 0] if a.shape[0] > 0 and a.shape[1] > 0 else NULL


cdef void _input_projection(const floating* x, Py_ssize_t rows, Py_ssize_t n_in,
                            const floating* w_ih, Py_ssize_t gh,
                            const floating* b1, const floating* b2,
                            floating* out, Py_ssize_t ld, int n_threads) noexcept nogil:
    """out[r, :gh] = x[r] @ w_ih.T + b1 + b2 (NULL biases count as 0) for all T*N rows
    at once (row stride ld)."""
    cdef Py_ssize_t r, j
    cdef floating* o
    for r in prange(rows, num_threads=threads_for(rows * gh, n_threads), schedule='static'):
        o = out + r * ld
        for j in range(gh):
            o[j] = (b1[j] if b1 != NULL else 0) + (b2[j] if b2 != NULL else 0)
    if n_in > 0 and rows > 0:
        gemm_parallel(False, True, <int>rows, <int>gh, <int>n_in, <floating>1,
                      x, <int>n_in, w_ih, <int>n_in, <floating>1, out, <int>ld, n_threads)


cdef void _sum_block(const floating* a, Py_ssize_t rows, Py_ssize_t lda, Py_ssize_t w,
                     floating* out) noexcept nogil:
    """out[j] = sum over rows of a[r, j] for j < w <= SUM_BLOCK, in float64, rows in
    order (the accumulators live on this call's stack: one set per thread)."""
    cdef double acc[SUM_BLOCK]
    cdef Py_ssize_t r, j
    for j in range(w):
        acc[j] = 0
    for r in range(rows):
        for j in range(w):
            acc[j] += a[r * lda + j]
    for j in range(w):
        out[j] = <floating>acc[j]


cdef void _column_sums(const floating* a, Py_ssize_t rows, Py_ssize_t cols, Py_ssize_t lda,
                       floating* out, int n_threads) noexcept nogil:
    """Column sums of a (rows x cols, row stride lda): threads split the columns in
    fixed blocks, so the sums do not depend on the number of threads."""
    cdef Py_ssize_t n_blocks = (cols + SUM_BLOCK - 1) // SUM_BLOCK, b
    for b in prange(n_blocks, num_threads=threads_for(rows * cols, n_threads),
                    schedule='static'):
        _sum_block(a + b * SUM_BLOCK, rows, lda, min(SUM_BLOCK, cols - b * SUM_BLOCK),
                   out + b * SUM_BLOCK)


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


cdef void _all_step_grads(const floating* dg, Py_ssize_t gh, Py_ssize_t T, Py_ssize_t N,
                          Py_ssize_t H, Py_ssize_t I, const floating* x,
                          const floating* w_ih, const floating* h0, const floating* y,
                          bint reverse, floating* grad_x, floating* grad_w_ih,
                          floating* grad_w_hh, floating* grad_b,
                          int n_threads) noexcept nogil:
    """The sums over all steps from the gate gradients dg (T*N, gh): input, weight and
    bias gradients (each output may be NULL to skip it)."""
    _input_side_grads(dg, gh, gh, T * N, I, x, w_ih, 0, grad_x, grad_w_ih, n_threads)
    if grad_w_hh != NULL:
        _weight_grad_hh(dg, gh, gh, T, N, H, h0, y, reverse, grad_w_hh, n_threads)
    if grad_b != NULL:
        _column_sums(dg, T * N, gh, gh, grad_b, n_threads)


# ------------------------------------------------------------------------- forward

def release_workspace():
    """Free the idle workspace blocks (packed recurrent weights) this module keeps
    between calls (at most 64 MiB); returns the number of bytes released."""
    return pydl_workspace_trim()


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
    cdef Py_ssize_t ld = 5 * H, s, t, tp, n, r0, r1
    cdef floating* ws = _ptr3(cache)
    cdef floating* yp = _ptr3(y)
    cdef floating* Bp
    cdef const floating* h0p = _cptr2(h0)
    cdef const floating* c0p = _cptr2(c0)
    cdef const floating* hp
    cdef const floating* cp
    cdef const floating* b1 = &bias_ih[0] if bias_ih is not None else NULL
    cdef const floating* b2 = &bias_hh[0] if bias_hh is not None else NULL
    cdef int nt = _row_threads(N, H * 4 * H, n_threads), tid
    if T == 0 or N == 0:
        return
    Bp = _packed(&weight_hh[0, 0], H, 4 * H, 1, H)   # B = weight_hh.T
    try:
        with nogil:
            _input_projection(&x[0, 0, 0] if I > 0 else NULL, T * N, I, _cptr2(weight_ih),
                              4 * H, b1, b2, ws, ld, n_threads)
            for tid in prange(nt, num_threads=nt, schedule='static'):
                r0 = _row_start(N, tid, nt)
                r1 = _row_start(N, tid + 1, nt)
                for s in range(T):
                    t = T - 1 - s if reverse else s
                    tp = t + 1 if reverse else t - 1
                    hp = h0p if s == 0 else yp + tp * N * H
                    _rows_gemm(hp + r0 * H, H, r1 - r0, H, Bp, 4 * H, ws + (t * N + r0) * ld,
                               ld, NULL, True)
                    for n in range(r0, r1):
                        cp = c0p + n * H if s == 0 else ws + (tp * N + n) * ld + 4 * H
                        _lstm_row(ws + (t * N + n) * ld, cp, yp + (t * N + n) * H, H)
            t = 0 if reverse else T - 1
            for n in range(N):
                memcpy(&h_n[n, 0], yp + (t * N + n) * H, H * sizeof(floating))
                memcpy(&c_n[n, 0], ws + (t * N + n) * ld + 4 * H, H * sizeof(floating))
    finally:
        workspace_free(Bp)


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
    cdef Py_ssize_t ld = 4 * H, s, t, tp, n, r0, r1
    cdef floating* ws = _ptr3(cache)
    cdef floating* yp = _ptr3(y)
    cdef floating* hh = NULL
    cdef floating* Bp = NULL
    cdef const floating* h0p = _cptr2(h0)
    cdef const floating* hp
    cdef const floating* b1 = &bias_ih[0] if bias_ih is not None else NULL
    cdef const floating* b2 = &bias_hh[0] if bias_hh is not None else NULL
    cdef int nt = _row_threads(N, H * 3 * H, n_threads), tid
    if T == 0 or N == 0:
        return
    try:
        Bp = _packed(&weight_hh[0, 0], H, 3 * H, 1, H)
        hh = <floating*>workspace(N * 3 * H, sizeof(floating))     # hidden-side gate pre-activations of a step
        with nogil:
            _input_projection(&x[0, 0, 0] if I > 0 else NULL, T * N, I, _cptr2(weight_ih),
                              3 * H, b1, NULL, ws, ld, n_threads)
            for tid in prange(nt, num_threads=nt, schedule='static'):
                r0 = _row_start(N, tid, nt)
                r1 = _row_start(N, tid + 1, nt)
                for s in range(T):
                    t = T - 1 - s if reverse else s
                    tp = t + 1 if reverse else t - 1
                    hp = h0p if s == 0 else yp + tp * N * H
                    _rows_gemm(hp + r0 * H, H, r1 - r0, H, Bp, 3 * H, hh + r0 * 3 * H, 3 * H,
                               b2, False)
                    for n in range(r0, r1):
                        _gru_row(ws + (t * N + n) * ld, hh + n * 3 * H, hp + n * H,
                                 yp + (t * N + n) * H, H)
            t = 0 if reverse else T - 1
            memcpy(&h_n[0, 0], yp + t * N * H, N * H * sizeof(floating))
    finally:
        workspace_free(hh)
        workspace_free(Bp)


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
    cdef Py_ssize_t s, t, tp, n, r0, r1
    cdef floating* yp = _ptr3(y)
    cdef floating* Bp
    cdef const floating* h0p = _cptr2(h0)
    cdef const floating* hp
    cdef const floating* b1 = &bias_ih[0] if bias_ih is not None else NULL
    cdef const floating* b2 = &bias_hh[0] if bias_hh is not None else NULL
    cdef int nt = _row_threads(N, H * H, n_threads), tid
    if T == 0 or N == 0:
        return
    Bp = _packed(&weight_hh[0, 0], H, H, 1, H)
    try:
        with nogil:
            _input_projection(&x[0, 0, 0] if I > 0 else NULL, T * N, I, _cptr2(weight_ih),
                              H, b1, b2, yp, H, n_threads)
            for tid in prange(nt, num_threads=nt, schedule='static'):
                r0 = _row_start(N, tid, nt)
                r1 = _row_start(N, tid + 1, nt)
                for s in range(T):
                    t = T - 1 - s if reverse else s
                    tp = t + 1 if reverse else t - 1
                    hp = h0p if s == 0 else yp + tp * N * H
                    _rows_gemm(hp + r0 * H, H, r1 - r0, H, Bp, H, yp + (t * N + r0) * H, H,
                               NULL, True)
                    for n in range(r0, r1):
                        _rnn_row(yp + (t * N + n) * H, H, relu)
            t = 0 if reverse else T - 1
            memcpy(&h_n[0, 0], yp + t * N * H, N * H * sizeof(floating))
    finally:
        workspace_free(Bp)


# ------------------------------------------------------------------------ backward

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
                  floating[::1] grad_bias,              # OUT (4H,) or None: d bias_ih = d bias_hh
                  int n_threads):
    """Backward through time of :func:`lstm_forward`."""
    cdef Py_ssize_t T = x.shape[0], N = x.shape[1], I = x.shape[2], H = h0.shape[1]
    cdef Py_ssize_t ld = 5 * H, s, t, tp, n, r0, r1
    cdef const floating* ws = &cache[0, 0, 0] if T * N > 0 else NULL
    cdef const floating* gyp = &grad_y[0, 0, 0] if T * N > 0 else NULL
    cdef const floating* c0p = _cptr2(c0)
    cdef floating* dg = _ptr3(dgates)
    cdef floating* dh = &grad_h0[0, 0] if N > 0 else NULL
    cdef floating* dc = &grad_c0[0, 0] if N > 0 else NULL
    cdef const floating* cp
    cdef floating* Bp
    cdef int nt = _row_threads(N, 4 * H * H, n_threads), tid
    _copy_rows(grad_h_n, grad_h0)
    _copy_rows(grad_c_n, grad_c0)
    if T == 0 or N == 0:
        _zero_grads(grad_x, grad_weight_ih, grad_weight_hh, grad_bias)
        return
    Bp = _packed(&weight_hh[0, 0], 4 * H, H, H, 1)   # B = weight_hh
    try:
        with nogil:
            for tid in prange(nt, num_threads=nt, schedule='static'):
                r0 = _row_start(N, tid, nt)
                r1 = _row_start(N, tid + 1, nt)
                for s in range(T):
                    t = s if reverse else T - 1 - s      # steps in reverse of forward order
                    tp = t + 1 if reverse else t - 1
                    for n in range(r0, r1):
                        cp = c0p + n * H if s == T - 1 else ws + (tp * N + n) * ld + 4 * H
                        _lstm_row_backward(ws + (t * N + n) * ld, cp, gyp + (t * N + n) * H,
                                           dh + n * H, dc + n * H, dg + (t * N + n) * 4 * H, H)
                    _rows_gemm(dg + (t * N + r0) * 4 * H, 4 * H, r1 - r0, 4 * H, Bp, H,
                               dh + r0 * H, H, NULL, False)
            _all_step_grads(dg, 4 * H, T, N, H, I, &x[0, 0, 0] if I > 0 else NULL,
                            _cptr2(weight_ih), &h0[0, 0], &y[0, 0, 0], reverse,
                            _ptr3(grad_x) if grad_x is not None else NULL,
                            &grad_weight_ih[0, 0] if grad_weight_ih is not None and I > 0
                            else NULL, &grad_weight_hh[0, 0] if grad_weight_hh is not None
                            else NULL, &grad_bias[0] if grad_bias is not None else NULL,
                            n_threads)
    finally:
        workspace_free(Bp)


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
    cdef Py_ssize_t ld = 4 * H, rows = T * N, s, t, tp, n, r0, r1
    cdef const floating* ws = &cache[0, 0, 0] if T * N > 0 else NULL
    cdef const floating* gyp = &grad_y[0, 0, 0] if T * N > 0 else NULL
    cdef floating* dg = _ptr3(dgates)
    cdef floating* dh = &grad_h0[0, 0] if N > 0 else NULL
    cdef const floating* yp = &y[0, 0, 0] if T * N > 0 else NULL
    cdef const floating* xp = &x[0, 0, 0] if T * N * I > 0 else NULL
    cdef const floating* h0p = _cptr2(h0)
    cdef const floating* wih = _cptr2(weight_ih)
    cdef const floating* hp
    cdef floating* gx = _ptr3(grad_x) if grad_x is not None else NULL
    cdef floating* gw = &grad_weight_ih[0, 0] if grad_weight_ih is not None and I > 0 else NULL
    cdef floating* Bp
    cdef int nt = _row_threads(N, 3 * H * H, n_threads), tid
    _copy_rows(grad_h_n, grad_h0)
    if T == 0 or N == 0:
        _zero_grads(grad_x, grad_weight_ih, grad_weight_hh, grad_bias_ih)
        if grad_bias_hh is not None:
            _zero_view(&grad_bias_hh[0], grad_bias_hh.shape[0])
        return
    Bp = _packed(&weight_hh[0, 0], 3 * H, H, H, 1)
    try:
        with nogil:
            for tid in prange(nt, num_threads=nt, schedule='static'):
                r0 = _row_start(N, tid, nt)
                r1 = _row_start(N, tid + 1, nt)
                for s in range(T):
                    t = s if reverse else T - 1 - s
                    tp = t + 1 if reverse else t - 1
                    hp = h0p if s == T - 1 else yp + tp * N * H
                    for n in range(r0, r1):
                        _gru_row_backward(ws + (t * N + n) * ld, hp + n * H,
                                          gyp + (t * N + n) * H, dh + n * H,
                                          dg + (t * N + n) * ld, dg + (t * N + n) * ld + 3 * H,
                                          H)
                    # dh holds z * (gradient into h); add the share through the gates
                    _rows_gemm(dg + (t * N + r0) * ld, ld, r1 - r0, 3 * H, Bp, H, dh + r0 * H,
                               H, NULL, True)
            # input side: blocks r, z from [dr dz], block n from dn
            _input_side_grads(dg, ld, 2 * H, rows, I, xp, wih, 0, gx, gw, n_threads)
            _input_side_grads(dg + 3 * H, ld, H, rows, I, xp,
                              wih + 2 * H * I if wih != NULL else NULL, 1, gx,
                              gw + 2 * H * I if gw != NULL else NULL, n_threads)
            if grad_weight_hh is not None:
                _weight_grad_hh(dg, ld, 3 * H, T, N, H, &h0[0, 0], yp, reverse,
                                &grad_weight_hh[0, 0], n_threads)
            if grad_bias_hh is not None:
                _column_sums(dg, rows, 3 * H, ld, &grad_bias_hh[0], n_threads)
            if grad_bias_ih is not None:
                _column_sums(dg, rows, 2 * H, ld, &grad_bias_ih[0], n_threads)
                _column_sums(dg + 3 * H, rows, H, ld, &grad_bias_ih[2 * H], n_threads)
    finally:
        workspace_free(Bp)


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
                 floating[::1] grad_bias,              # OUT (H,) or None: d bias_ih = d bias_hh
                 int n_threads):
    """Backward through time of :func:`rnn_forward`."""
    cdef Py_ssize_t T = x.shape[0], N = x.shape[1], I = x.shape[2], H = h0.shape[1]
    cdef Py_ssize_t s, t, n, r0, r1
    cdef const floating* yp = &y[0, 0, 0] if T * N > 0 else NULL
    cdef const floating* gyp = &grad_y[0, 0, 0] if T * N > 0 else NULL
    cdef floating* dg = _ptr3(dpre)
    cdef floating* dh = &grad_h0[0, 0] if N > 0 else NULL
    cdef floating* Bp
    cdef int nt = _row_threads(N, H * H, n_threads), tid
    _copy_rows(grad_h_n, grad_h0)
    if T == 0 or N == 0:
        _zero_grads(grad_x, grad_weight_ih, grad_weight_hh, grad_bias)
        return
    Bp = _packed(&weight_hh[0, 0], H, H, H, 1)
    try:
        with nogil:
            for tid in prange(nt, num_threads=nt, schedule='static'):
                r0 = _row_start(N, tid, nt)
                r1 = _row_start(N, tid + 1, nt)
                for s in range(T):
                    t = s if reverse else T - 1 - s
                    for n in range(r0, r1):
                        _rnn_row_backward(yp + (t * N + n) * H, gyp + (t * N + n) * H,
                                          dh + n * H, dg + (t * N + n) * H, H, relu)
                    _rows_gemm(dg + (t * N + r0) * H, H, r1 - r0, H, Bp, H, dh + r0 * H, H,
                               NULL, False)
            _all_step_grads(dg, H, T, N, H, I, &x[0, 0, 0] if I > 0 else NULL,
                            _cptr2(weight_ih), &h0[0, 0], yp, reverse,
                            _ptr3(grad_x) if grad_x is not None else NULL,
                            &grad_weight_ih[0, 0] if grad_weight_ih is not None and I > 0
                            else NULL, &grad_weight_hh[0, 0] if grad_weight_hh is not None
                            else NULL, &grad_bias[0] if grad_bias is not None else NULL,
                            n_threads)
    finally:
        workspace_free(Bp)


# ------------------------------------------------------------------- small helpers

cdef void _copy_rows(const floating[:, ::1] src, floating[:, ::1] dst):
    """dst = src (same shape): a state-gradient output starts as the gradient into the
    final state; the backward steps then update it in place down to the initial one."""
    cdef Py_ssize_t n
    for n in range(dst.shape[0]):
        memcpy(&dst[n, 0], &src[n, 0], dst.shape[1] * sizeof(floating))


cdef void _zero_view(floating* p, Py_ssize_t size) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(size):
        p[i] = 0


cdef void _zero_grads(floating[:, :, ::1] grad_x, floating[:, ::1] grad_w_ih,
                      floating[:, ::1] grad_w_hh, floating[::1] grad_b):
    """Empty batch: every gradient summed over steps and rows is zero."""
    if grad_x is not None and grad_x.shape[0] * grad_x.shape[1] * grad_x.shape[2] > 0:
        _zero_view(_ptr3(grad_x), grad_x.shape[0] * grad_x.shape[1] * grad_x.shape[2])
    if grad_w_ih is not None and grad_w_ih.shape[1] > 0:
        _zero_view(&grad_w_ih[0, 0], grad_w_ih.shape[0] * grad_w_ih.shape[1])
    if grad_w_hh is not None:
        _zero_view(&grad_w_hh[0, 0], grad_w_hh.shape[0] * grad_w_hh.shape[1])
    if grad_b is not None:
        _zero_view(&grad_b[0], grad_b.shape[0])
