"""Dropout kernels: a counter-based Bernoulli mask (csrc/_dropout.h) fused with the
scaling, and the masked scaling that backward and channel dropout apply.

Masks are uint8 (1 keep, 0 drop). Element i of a mask depends only on (seed, i), so
the mask is the same at any thread count.
"""

from cython cimport floating
from cython.parallel cimport prange
from libc.stdint cimport uint8_t, uint64_t

from _parallel cimport threads_for

cdef extern from "_dropout.h" nogil:
    void pydl_bernoulli_span(uint8_t* mask, Py_ssize_t n, uint64_t seed, uint64_t start,
                             uint64_t threshold)
    void pydl_dropout_span_f(const float* x, float* out, uint8_t* mask, Py_ssize_t n,
                             uint64_t seed, uint64_t start, uint64_t threshold, float scale)
    void pydl_dropout_span_d(const double* x, double* out, uint8_t* mask, Py_ssize_t n,
                             uint64_t seed, uint64_t start, uint64_t threshold, double scale)

# Elements per call of a span function (even, so each span starts on a 64-bit output).
SPAN = 8192
cdef Py_ssize_t _SPAN = SPAN


def dropout_forward(
        const floating[::1] x,    # IN  (n,)
        uint64_t seed,
        uint64_t threshold,       # drop where the element's 32-bit uniform < threshold
        double scale,             # kept elements are multiplied by this
        floating[::1] out,        # OUT (n,); may alias x
        uint8_t[::1] mask,        # OUT (n,) 1 keep, 0 drop
        int n_threads):
    """out = x * scale where kept, 0 where dropped (NaN/inf inputs give x * 0)."""
    cdef Py_ssize_t n = x.shape[0], n_spans = (n + _SPAN - 1) // _SPAN, c, i0
    cdef floating s = <floating>scale
    with nogil:
        for c in prange(n_spans, num_threads=threads_for(n, n_threads), schedule='static'):
            i0 = c * _SPAN
            if floating is float:
                pydl_dropout_span_f(&x[i0], &out[i0], &mask[i0], min(_SPAN, n - i0), seed,
                                    i0, threshold, s)
            else:
                pydl_dropout_span_d(&x[i0], &out[i0], &mask[i0], min(_SPAN, n - i0), seed,
                                    i0, threshold, s)


def bernoulli_mask(uint64_t seed, uint64_t threshold,
                   uint8_t[::1] mask,      # OUT (n,) 1 keep, 0 drop
                   int n_threads):
    """The mask dropout_forward would draw for an n-element input."""
    cdef Py_ssize_t n = mask.shape[0], n_spans = (n + _SPAN - 1) // _SPAN, c, i0
    with nogil:
        for c in prange(n_spans, num_threads=threads_for(n, n_threads), schedule='static'):
            i0 = c * _SPAN
            pydl_bernoulli_span(&mask[i0], min(_SPAN, n - i0), seed, i0, threshold)


def dropout_backward(
        const floating[::1] grad_out,  # IN  (n,)
        const uint8_t[::1] mask,       # IN  (n,) the forward mask
        double scale,
        floating[::1] grad_in,         # OUT (n,); may alias grad_out
        int n_threads):
    """grad_in = grad_out * (scale if kept else 0)."""
    cdef Py_ssize_t n = grad_out.shape[0], i
    cdef floating s = <floating>scale, g
    with nogil:
        for i in prange(n, num_threads=threads_for(n, n_threads), schedule='static'):
            g = grad_out[i]  # loaded unconditionally so that the loop vectorizes
            grad_in[i] = g * (s if mask[i] else 0)


def channel_dropout_apply(
        const floating[:, ::1] x,     # IN  (N * C, S)
        const uint8_t[::1] mask,      # IN  (N * C,) 1 keep, 0 drop, per channel
        double scale,
        floating[:, ::1] out,         # OUT (N * C, S); may alias x
        int n_threads):
    """out[r, :] = x[r, :] * (scale if mask[r] else 0): forward and backward of
    channel dropout (Dropout1d/2d/3d)."""
    cdef Py_ssize_t rows = x.shape[0], cols = x.shape[1], r, j
    cdef floating s = <floating>scale, f
    with nogil:
        for r in prange(rows, num_threads=threads_for(rows * cols, n_threads),
                        schedule='static'):
            f = s if mask[r] else 0
            for j in range(cols):
                out[r, j] = x[r, j] * f
