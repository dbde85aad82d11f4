"""Activation kernels: one fused pass forward, one fused pass backward.

Elementwise kernels take flat (1-D) views of C-contiguous arrays; softmax and
log_softmax take 2-D (rows, classes) arrays and work row by row. Outputs may alias
inputs (in-place) for the elementwise kernels.
"""

from cython cimport floating
from cython.parallel cimport prange
from libc.math cimport log, erf, erff, sqrt
from libc.stdlib cimport free

from _channels cimport Partition, channel_partition
from _parallel cimport threads_for
from _scratch cimport scratch
from _vmath cimport (SPAN, vexp, vsigmoid, vtanh, vsoftplus_neg_abs, row_max, row_exp_sum,
                    row_dot, row_sum, span_sigmoid, span_tanh, span_silu,
                    span_silu_backward, span_elu, span_elu_backward)


# ----------------------------------------------------------------------------- relu

def relu_forward(const floating[::1] x, floating[::1] out, int n_threads):
    """out = max(x, 0); NaN stays NaN."""
    cdef Py_ssize_t i, n = x.shape[0]
    cdef floating v
    with nogil:
        for i in prange(n, num_threads=threads_for(n, n_threads), schedule='static'):
            v = x[i]
            out[i] = 0 if v < 0 else v


def relu_backward(const floating[::1] grad_out, const floating[::1] out,
                  floating[::1] grad_in, int n_threads):
    """grad_in = grad_out where out > 0, else 0 (uses the forward output)."""
    cdef Py_ssize_t i, n = grad_out.shape[0]
    cdef floating g
    with nogil:
        for i in prange(n, num_threads=threads_for(n, n_threads), schedule='static'):
            # load unconditionally: a load in one arm of the select keeps gcc from
            # vectorizing, and the branch it leaves mispredicts on half the elements
            g = grad_out[i]
            grad_in[i] = g if out[i] > 0 else 0


# ----------------------------------------------------------------------- leaky_relu

def leaky_relu_forward(const floating[::1] x, floating[::1] out,
                       double negative_slope, int n_threads):
    """out = x if x > 0 else negative_slope * x."""
    cdef Py_ssize_t i, n = x.shape[0]
    cdef floating s = <floating>negative_slope, v
    with nogil:
        for i in prange(n, num_threads=threads_for(n, n_threads), schedule='static'):
            v = x[i]
            out[i] = v if v > 0 else s * v


def leaky_relu_backward(const floating[::1] grad_out, const floating[::1] x,
                        floating[::1] grad_in, double negative_slope, int n_threads):
    """grad_in = grad_out * (1 if x > 0 else negative_slope) (uses the input)."""
    cdef Py_ssize_t i, n = grad_out.shape[0]
    cdef floating s = <floating>negative_slope, g
    with nogil:
        for i in prange(n, num_threads=threads_for(n, n_threads), schedule='static'):
            g = grad_out[i]
            grad_in[i] = g if x[i] > 0 else s * g


# ------------------------------------------------------------------------------ elu

def elu_forward(const floating[::1] x, floating[::1] out, double alpha, int n_threads):
    """out = x if x > 0 else alpha * (exp(x) - 1)."""
    cdef Py_ssize_t c, n = x.shape[0], n_spans = (n + SPAN - 1) // SPAN
    with nogil:
        for c in prange(n_spans, num_threads=threads_for(n, n_threads), schedule='static'):
            span_elu(&x[c * SPAN], &out[c * SPAN], min(SPAN, n - c * SPAN), <floating>alpha)


def elu_backward(const floating[::1] grad_out, const floating[::1] x,
                 floating[::1] grad_in, double alpha, int n_threads):
    """grad_in = grad_out * (1 if x > 0 else alpha * exp(x)) (uses the input)."""
    cdef Py_ssize_t c, n = x.shape[0], n_spans = (n + SPAN - 1) // SPAN
    with nogil:
        for c in prange(n_spans, num_threads=threads_for(n, n_threads), schedule='static'):
            span_elu_backward(&grad_out[c * SPAN], &x[c * SPAN], &grad_in[c * SPAN],
                              min(SPAN, n - c * SPAN), <floating>alpha)


# -------------------------------------------------------------------------- sigmoid

def sigmoid_forward(const floating[::1] x, floating[::1] out, int n_threads):
    """out = 1 / (1 + exp(-x)); exactly 0 or 1 only where float rounding says so."""
    cdef Py_ssize_t c, n = x.shape[0], n_spans = (n + SPAN - 1) // SPAN
    with nogil:
        for c in prange(n_spans, num_threads=threads_for(n, n_threads), schedule='static'):
            span_sigmoid(&x[c * SPAN], &out[c * SPAN], min(SPAN, n - c * SPAN))


def sigmoid_backward(const floating[::1] grad_out, const floating[::1] out,
                     floating[::1] grad_in, int n_threads):
    """grad_in = grad_out * out * (1 - out) (uses the forward output)."""
    cdef Py_ssize_t i, n = grad_out.shape[0]
    cdef floating y
    with nogil:
        for i in prange(n, num_threads=threads_for(n, n_threads), schedule='static'):
            y = out[i]
            grad_in[i] = grad_out[i] * y * (1 - y)


# ----------------------------------------------------------------------------- tanh

def tanh_forward(const floating[::1] x, floating[::1] out, int n_threads):
    """out = tanh(x)."""
    cdef Py_ssize_t c, n = x.shape[0], n_spans = (n + SPAN - 1) // SPAN
    with nogil:
        for c in prange(n_spans, num_threads=threads_for(n, n_threads), schedule='static'):
            span_tanh(&x[c * SPAN], &out[c * SPAN], min(SPAN, n - c * SPAN))


def tanh_backward(const floating[::1] grad_out, const floating[::1] out,
                  floating[::1] grad_in, int n_threads):
    """grad_in = grad_out * (1 - out**2) (uses the forward output)."""
    cdef Py_ssize_t i, n = grad_out.shape[0]
    cdef floating y
    with nogil:
        for i in prange(n, num_threads=threads_for(n, n_threads), schedule='static'):
            y = out[i]
            grad_in[i] = grad_out[i] * (1 - y * y)


# ----------------------------------------------------------------------------- silu

def silu_forward(const floating[::1] x, floating[::1] out, int n_threads):
    """out = x * sigmoid(x) (SiLU, also called swish)."""
    cdef Py_ssize_t c, n = x.shape[0], n_spans = (n + SPAN - 1) // SPAN
    with nogil:
        for c in prange(n_spans, num_threads=threads_for(n, n_threads), schedule='static'):
            span_silu(&x[c * SPAN], &out[c * SPAN], min(SPAN, n - c * SPAN))


def silu_backward(const floating[::1] grad_out, const floating[::1] x,
                  floating[::1] grad_in, int n_threads):
    """grad_in = grad_out * s * (1 + x * (1 - s)), s = sigmoid(x) (uses the input)."""
    cdef Py_ssize_t c, n = x.shape[0], n_spans = (n + SPAN - 1) // SPAN
    with nogil:
        for c in prange(n_spans, num_threads=threads_for(n, n_threads), schedule='static'):
            span_silu_backward(&grad_out[c * SPAN], &x[c * SPAN], &grad_in[c * SPAN],
                               min(SPAN, n - c * SPAN))


# -------------------------------------------------------------------------- softmax

def softmax_forward(const floating[:, ::1] x, floating[:, ::1] out, int n_threads):
    """Row-wise softmax, shifted by the row maximum so exp never overflows."""
    cdef Py_ssize_t r, j, rows = x.shape[0], cols = x.shape[1]
    cdef floating m, s, inv
    if rows == 0 or cols == 0:
        return
    with nogil:
        for r in prange(rows, num_threads=threads_for(rows * cols, n_threads),
                        schedule='static'):
            m = row_max(&x[r, 0], cols)
            s = row_exp_sum(&x[r, 0], &out[r, 0], cols, m)
            inv = 1 / s
            for j in range(cols):
                out[r, j] = out[r, j] * inv


def softmax_backward(const floating[:, ::1] grad_out, const floating[:, ::1] out,
                     floating[:, ::1] grad_in, int n_threads):
    """grad_in = out * (grad_out - sum(grad_out * out)) per row."""
    cdef Py_ssize_t r, j, rows = out.shape[0], cols = out.shape[1]
    cdef floating d
    if rows == 0 or cols == 0:
        return
    with nogil:
        for r in prange(rows, num_threads=threads_for(rows * cols, n_threads),
                        schedule='static'):
            d = row_dot(&grad_out[r, 0], &out[r, 0], cols)
            for j in range(cols):
                grad_in[r, j] = out[r, j] * (grad_out[r, j] - d)


def log_softmax_forward(const floating[:, ::1] x, floating[:, ::1] out, int n_threads):
    """Row-wise log-softmax: x - max - log(sum(exp(x - max)))."""
    cdef Py_ssize_t r, j, rows = x.shape[0], cols = x.shape[1]
    cdef floating m, shift
    if rows == 0 or cols == 0:
        return
    with nogil:
        for r in prange(rows, num_threads=threads_for(rows * cols, n_threads),
                        schedule='static'):
            m = row_max(&x[r, 0], cols)
            # exp values go to `out` as scratch, then are overwritten
            shift = m + <floating>log(row_exp_sum(&x[r, 0], &out[r, 0], cols, m))
            for j in range(cols):
                out[r, j] = x[r, j] - shift


def log_softmax_backward(const floating[:, ::1] grad_out, const floating[:, ::1] out,
                         floating[:, ::1] grad_in, int n_threads):
    """grad_in = grad_out - exp(out) * sum(grad_out) per row."""
    cdef Py_ssize_t r, j, rows = out.shape[0], cols = out.shape[1]
    cdef floating s
    if rows == 0 or cols == 0:
        return
    with nogil:
        for r in prange(rows, num_threads=threads_for(rows * cols, n_threads),
                        schedule='static'):
            s = row_sum(&grad_out[r, 0], cols)
            for j in range(cols):
                grad_in[r, j] = grad_out[r, j] - vexp(out[r, j]) * s


# ---------------------------------------------------------------------------- prelu

def prelu_forward(const floating[:, :, ::1] x,    # IN  (N, C, S)
                  const floating[::1] weight,     # IN  (C,) or (1,) slopes
                  floating[:, :, ::1] out,        # OUT (N, C, S); may alias x
                  int n_threads):
    """out = x if x > 0 else weight[c] * x (weight[0] for every channel when it has
    one element)."""
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], S = x.shape[2], n, c, r, s
    cdef bint shared = weight.shape[0] == 1
    cdef floating w, v
    cdef int nt = threads_for(N * C * S, n_threads)
    if N * C * S == 0:
        return
    with nogil:
        if S == 1 and not shared:
            for n in prange(N, num_threads=nt, schedule='static'):
                for c in range(C):
                    v = x[n, c, 0]
                    w = weight[c]
                    out[n, c, 0] = v if v > 0 else w * v
        else:
            for r in prange(N * C, num_threads=nt, schedule='static'):
                w = weight[0 if shared else r % C]
                for s in range(S):
                    v = x[r // C, r % C, s]
                    out[r // C, r % C, s] = v if v > 0 else w * v


cdef double _prelu_slope_grad(const floating* g, const floating* x,
                              Py_ssize_t n) noexcept nogil:
    """sum of x * g where x <= 0 (the slope's gradient), in order, in float64."""
    cdef Py_ssize_t i
    cdef double t = 0
    cdef floating v
    for i in range(n):
        v = x[i]
        t += (v * <double>g[i]) if v <= 0 else 0.0
    return t


def prelu_backward(const floating[:, :, ::1] grad_out,  # IN  (N, C, S)
                   const floating[:, :, ::1] x,         # IN  (N, C, S)
                   const floating[::1] weight,          # IN  (C,) or (1,)
                   floating[:, :, ::1] grad_in,         # OUT (N, C, S), or None
                   floating[::1] grad_weight,           # OUT like weight, or None
                   int n_threads):
    """grad_in = g if x > 0 else weight * g; grad_weight[c] = sum of x * g where
    x <= 0 over the channel (over everything for a single slope).

    The slope gradient is reduced over fixed units (per-channel slopes: the
    csrc/_channels.pxd split; one slope: chunks of SPAN elements), partial sums
    combined in order.
    """
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], S = x.shape[2], total = N * C * S
    cdef Py_ssize_t n, c, r, s, u, b, n0, n1, c0, c1, K, i0
    cdef bint shared = weight.shape[0] == 1
    cdef floating w, v, gv
    cdef double t
    cdef int nt = threads_for(total, n_threads)
    cdef Partition p = channel_partition(N, C, S)
    cdef Py_ssize_t n_chunks = (total + SPAN - 1) // SPAN
    cdef double* ws = NULL
    if grad_weight is not None and total == 0:
        for c in range(grad_weight.shape[0]):
            grad_weight[c] = 0
    if total == 0:
        return
    with nogil:
        if grad_in is not None:
            for r in prange(N * C, num_threads=nt, schedule='static'):
                w = weight[0 if shared else r % C]
                for s in range(S):
                    gv = grad_out[r // C, r % C, s]
                    grad_in[r // C, r % C, s] = gv if x[r // C, r % C, s] > 0 else w * gv
    if grad_weight is None:
        return
    K = n_chunks if shared else p.n_row_blocks * C
    ws = <double*>scratch(K, sizeof(double))
    try:
        with nogil:
            if shared:
                for u in prange(n_chunks, num_threads=nt, schedule='static'):
                    i0 = u * SPAN
                    ws[u] = _prelu_slope_grad(&grad_out[0, 0, 0] + i0, &x[0, 0, 0] + i0,
                                              min(SPAN, total - i0))
                t = 0
                for u in range(n_chunks):
                    t += ws[u]
                grad_weight[0] = <floating>t
            else:
                for u in prange(p.n_row_blocks * p.n_chan_blocks, num_threads=nt,
                                schedule='static'):
                    b = u // p.n_chan_blocks
                    n0 = b * p.rows
                    n1 = min(n0 + p.rows, N)
                    c0 = (u % p.n_chan_blocks) * p.chans
                    c1 = min(c0 + p.chans, C)
                    for c in range(c0, c1):
                        t = 0
                        for n in range(n0, n1):
                            t = t + _prelu_slope_grad(&grad_out[n, c, 0], &x[n, c, 0], S)
                        ws[b * C + c] = t
                for c in range(C):
                    t = 0
                    for b in range(p.n_row_blocks):
                        t += ws[b * C + c]
                    grad_weight[c] = <floating>t
    finally:
        free(ws)


# ------------------------------------------------------------------------- softplus

def softplus_forward(const floating[::1] x, floating[::1] out, double beta,
                     double threshold, int n_threads):
    """out = x where beta * x > threshold, else log(1 + exp(beta * x)) / beta."""
    cdef Py_ssize_t i, n = x.shape[0]
    cdef floating b = <floating>beta, th = <floating>threshold, v, z, sp
    with nogil:
        for i in prange(n, num_threads=threads_for(n, n_threads), schedule='static'):
            v = x[i]
            z = v * b
            # log1p(exp(z)) = max(z, 0) + log1p(exp(-|z|)): no overflow for large z
            sp = ((z if z > 0 else 0) + vsoftplus_neg_abs(z)) / b
            out[i] = v if z > th else sp


def softplus_backward(const floating[::1] grad_out, const floating[::1] x,
                      floating[::1] grad_in, double beta, double threshold, int n_threads):
    """grad_in = grad_out where beta * x > threshold, else grad_out * sigmoid(beta * x)."""
    cdef Py_ssize_t i, n = x.shape[0]
    cdef floating b = <floating>beta, th = <floating>threshold, z, g, d
    with nogil:
        for i in prange(n, num_threads=threads_for(n, n_threads), schedule='static'):
            g = grad_out[i]
            z = x[i] * b
            d = g * vsigmoid(z)
            grad_in[i] = g if z > th else d


# ------------------------------------------------------------------------- hardtanh

def hardtanh_forward(const floating[::1] x, floating[::1] out, double min_val,
                     double max_val, int n_threads):
    """out = min(max(x, min_val), max_val); NaN stays NaN."""
    cdef Py_ssize_t i, n = x.shape[0]
    cdef floating lo = <floating>min_val, hi = <floating>max_val, v
    with nogil:
        for i in prange(n, num_threads=threads_for(n, n_threads), schedule='static'):
            v = x[i]
            v = lo if v < lo else v
            out[i] = hi if v > hi else v


def hardtanh_backward(const floating[::1] grad_out, const floating[::1] x,
                      floating[::1] grad_in, double min_val, double max_val, int n_threads):
    """grad_in = grad_out where min_val < x < max_val, else 0 (PyTorch's convention at
    the edges)."""
    cdef Py_ssize_t i, n = x.shape[0]
    cdef floating lo = <floating>min_val, hi = <floating>max_val, v, g
    with nogil:
        for i in prange(n, num_threads=threads_for(n, n_threads), schedule='static'):
            g = grad_out[i]
            v = x[i]
            grad_in[i] = 0 if (v <= lo or v >= hi) else g


# ----------------------------------------------------------------------------- gelu

# sqrt(2 / pi) and the cubic coefficient of the tanh approximation; 1 / sqrt(2 pi)
cdef double GELU_K = 0.7978845608028654
cdef double GELU_C = 0.044715
cdef double INV_SQRT_2PI = 0.3989422804014327
cdef double SQRT1_2 = 0.7071067811865476


cdef inline floating _erf(floating x) noexcept nogil:
    if floating is float:
        return erff(x)
    else:
        return erf(x)


def gelu_forward(const floating[::1] x, floating[::1] out, bint tanh_approx, int n_threads):
    """out = x * Phi(x) = x/2 (1 + erf(x / sqrt 2)); with tanh_approx,
    x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))."""
    cdef Py_ssize_t i, n = x.shape[0]
    cdef floating v, k = <floating>GELU_K, c3 = <floating>GELU_C, r2 = <floating>SQRT1_2
    with nogil:
        if tanh_approx:
            for i in prange(n, num_threads=threads_for(n, n_threads), schedule='static'):
                v = x[i]
                out[i] = <floating>0.5 * v * (1 + vtanh(k * (v + c3 * v * v * v)))
        else:
            for i in prange(n, num_threads=threads_for(n, n_threads), schedule='static'):
                v = x[i]
                out[i] = v * <floating>0.5 * (1 + _erf(v * r2))


def gelu_backward(const floating[::1] grad_out, const floating[::1] x,
                  floating[::1] grad_in, bint tanh_approx, int n_threads):
    """grad_in = grad_out * d gelu / dx (uses the input)."""
    cdef Py_ssize_t i, n = x.shape[0]
    cdef floating v, t, cdf, pdf, k = <floating>GELU_K, c3 = <floating>GELU_C
    cdef floating r2 = <floating>SQRT1_2, ip = <floating>INV_SQRT_2PI
    with nogil:
        if tanh_approx:
            for i in prange(n, num_threads=threads_for(n, n_threads), schedule='static'):
                v = x[i]
                t = vtanh(k * (v + c3 * v * v * v))
                grad_in[i] = grad_out[i] * (<floating>0.5 * (1 + t) + <floating>0.5 * v
                                            * (1 - t * t) * k * (1 + 3 * c3 * v * v))
        else:
            for i in prange(n, num_threads=threads_for(n, n_threads), schedule='static'):
                v = x[i]
                cdf = <floating>0.5 * (1 + _erf(v * r2))
                pdf = vexp(<floating>-0.5 * v * v) * ip
                grad_in[i] = grad_out[i] * (cdf + v * pdf)
