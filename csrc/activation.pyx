"""Activation kernels: one fused pass forward, one fused pass backward.

Elementwise kernels take flat (1-D) views of C-contiguous arrays; softmax and
log_softmax take 2-D (rows, classes) arrays and work row by row. Outputs may alias
inputs (in-place) for the elementwise kernels.
"""

from cython cimport floating
from cython.parallel cimport prange
from libc.math cimport log

from _parallel cimport threads_for
from _vmath cimport (SPAN, vexp, row_max, row_exp_sum, row_dot, row_sum, span_sigmoid,
                    span_tanh, span_silu, span_silu_backward, span_elu, span_elu_backward)


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
