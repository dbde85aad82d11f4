"""Group norm kernels (instance norm is group norm with one channel per group).

Input is viewed as (N, C, S), S the spatial positions flattened; the C channels form G
groups of C // G consecutive channels, and each (sample, group) is normalized over its
(C // G) * S values, then scaled and shifted per channel.

Every pass runs over (sample, channel) planes: each plane's sums are written to its
own slot, and the slots are added in channel order (statistics) or sample order
(parameter gradients) by one thread, so the bits never depend on the thread count.
Sums are float64 (csrc/_norm.h); a group's variance uses the corrected two-pass form
around the group's first element, as layer norm does around a row's first element.
"""

from cython cimport floating
from cython.parallel cimport prange
from libc.math cimport sqrt
from libc.stdlib cimport free

from _parallel cimport threads_for
from _scratch cimport scratch

cdef extern from "_group_norm.h" nogil:
    void pydl_centered_moments_f(const float* x, Py_ssize_t n, double c,
                                 double* s1, double* s2)
    void pydl_centered_moments_d(const double* x, Py_ssize_t n, double c,
                                 double* s1, double* s2)
    void pydl_grad_moments_f(const float* g, const float* w, const float* x, Py_ssize_t n,
                             double c, double* sg, double* sgx)
    void pydl_grad_moments_d(const double* g, const double* w, const double* x,
                             Py_ssize_t n, double c, double* sg, double* sgx)
    void pydl_gn_affine_f(const float* x, Py_ssize_t n, float m, float a, float b,
                          float* out)
    void pydl_gn_affine_d(const double* x, Py_ssize_t n, double m, double a, double b,
                          double* out)
    void pydl_gn_affine_grad_f(const float* g, const float* x, Py_ssize_t n, float a,
                               float k, float m, float e, float* dx)
    void pydl_gn_affine_grad_d(const double* g, const double* x, Py_ssize_t n, double a,
                               double k, double m, double e, double* dx)


cdef inline void _moments(const floating* x, Py_ssize_t n, double c, double* s1,
                          double* s2) noexcept nogil:
    if floating is float:
        pydl_centered_moments_f(x, n, c, s1, s2)
    else:
        pydl_centered_moments_d(x, n, c, s1, s2)


cdef inline void _grad_moments(const floating* g, const floating* x, Py_ssize_t n,
                               double c, double* sg, double* sgx) noexcept nogil:
    if floating is float:
        pydl_grad_moments_f(g, NULL, x, n, c, sg, sgx)
    else:
        pydl_grad_moments_d(g, NULL, x, n, c, sg, sgx)


cdef inline void _affine(const floating* x, Py_ssize_t n, floating m, floating a,
                         floating b, floating* out) noexcept nogil:
    if floating is float:
        pydl_gn_affine_f(x, n, m, a, b, out)
    else:
        pydl_gn_affine_d(x, n, m, a, b, out)


cdef inline void _affine_grad(const floating* g, const floating* x, Py_ssize_t n,
                              floating a, floating k, floating m, floating e,
                              floating* dx) noexcept nogil:
    if floating is float:
        pydl_gn_affine_grad_f(g, x, n, a, k, m, e, dx)
    else:
        pydl_gn_affine_grad_d(g, x, n, a, k, m, e, dx)


def group_norm_forward(
        const floating[:, :, ::1] x,      # IN  (N, C, S)
        Py_ssize_t num_groups,            # G >= 1, dividing C
        const floating[::1] weight,       # IN  (C,) gamma
        const floating[::1] bias,         # IN  (C,) beta
        double eps,
        bint use_input_stats,
        floating[:, :, ::1] out,          # OUT (N, C, S)
        double[:, ::1] mean,              # OUT (N, G) group means; IN when not use_input_stats
        double[:, ::1] rstd,              # OUT (N, G) 1/sqrt(var + eps), var biased; IN likewise
        int n_threads):
    """out[n, c] = (x[n, c] - mean[n, g]) * rstd[n, g] * weight[c] + bias[c], g = c // (C // G).

    With use_input_stats the statistics are computed over each (sample, group) and
    written to mean and rstd; otherwise mean and rstd are given (e.g. running
    statistics broadcast over the samples) and only the affine pass runs.
    """
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], S = x.shape[2], G = num_groups
    cdef Py_ssize_t cg = C // G, u, n, c, g
    cdef double d = <double>(cg * S), s1, s2, centre, var
    cdef int nt = threads_for(N * C * S, n_threads)
    cdef double* ws = NULL
    if use_input_stats and C * S == 0:   # empty groups: mean 0, var 0
        for n in range(N):
            for g in range(G):
                mean[n, g] = 0
                rstd[n, g] = 1.0 / sqrt(eps)
        return
    if N * C * S == 0:
        return
    if use_input_stats:
        ws = <double*>scratch(2 * N * C, sizeof(double))
        try:
            with nogil:
                for u in prange(N * C, num_threads=nt, schedule='static'):
                    n = u // C
                    c = u % C
                    _moments(&x[n, c, 0], S, <double>x[n, (c // cg) * cg, 0],
                             &ws[2 * u], &ws[2 * u + 1])
                for n in range(N):
                    for g in range(G):
                        s1 = 0
                        s2 = 0
                        for c in range(g * cg, (g + 1) * cg):
                            s1 = s1 + ws[2 * (n * C + c)]
                            s2 = s2 + ws[2 * (n * C + c) + 1]
                        centre = <double>x[n, g * cg, 0]
                        var = (s2 - s1 * s1 / d) / d
                        mean[n, g] = centre + s1 / d
                        rstd[n, g] = 1.0 / sqrt((var if var > 0 else 0.0) + eps)
        finally:
            free(ws)
    with nogil:
        for u in prange(N * C, num_threads=nt, schedule='static'):
            n = u // C
            c = u % C
            g = c // cg
            _affine(&x[n, c, 0], S, <floating>mean[n, g],
                    <floating>(rstd[n, g] * weight[c]), bias[c], &out[n, c, 0])


def group_norm_backward(
        const floating[:, :, ::1] grad_out,   # IN  (N, C, S)
        const floating[:, :, ::1] x,          # IN  (N, C, S) the forward input
        Py_ssize_t num_groups,                # G >= 1, dividing C
        const floating[::1] weight,           # IN  (C,) gamma
        const double[:, ::1] mean,            # IN  (N, G) the means forward used
        const double[:, ::1] rstd,            # IN  (N, G) the rstd forward used
        bint use_input_stats,                 # forward computed the statistics from x
        floating[:, :, ::1] grad_in,          # OUT (N, C, S), or None
        floating[::1] grad_weight,            # OUT (C,), or None
        floating[::1] grad_bias,              # OUT (C,), or None
        int n_threads):
    """Gradients of group norm. With D = (C // G) * S, xhat = (x - mean) * rstd and
    gw = g * weight[c], per (sample, group):

        grad_in     = rstd * (gw - sum(gw) / D - xhat * sum(gw * xhat) / D)
                      (use_input_stats; otherwise grad_in = rstd * gw)
        grad_weight = sum over samples and positions of g * xhat
        grad_bias   = sum over samples and positions of g
    """
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], S = x.shape[2], G = num_groups
    cdef Py_ssize_t cg = C // G, u, n, c, g, i
    cdef bint want_in = grad_in is not None
    cdef bint want_w = grad_weight is not None, want_b = grad_bias is not None
    cdef bint dependent = want_in and use_input_stats
    cdef bint need_sums = want_w or want_b or dependent
    cdef double d = <double>(cg * S), t1, t2, r
    cdef int nt = threads_for(N * C * S, n_threads)
    cdef double* ws = NULL
    cdef double* k = NULL
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
        # (N, C) pairs (sum g, sum g (x - mean)), then (N, G) pairs of dx coefficients
        ws = <double*>scratch(2 * N * C + 2 * N * G, sizeof(double))
        k = ws + 2 * N * C
    try:
        with nogil:
            if need_sums:
                for u in prange(N * C, num_threads=nt, schedule='static'):
                    n = u // C
                    c = u % C
                    _grad_moments(&grad_out[n, c, 0], &x[n, c, 0], S, mean[n, c // cg],
                                  &ws[2 * u], &ws[2 * u + 1])
                for c in range(C):
                    t1 = 0
                    t2 = 0
                    for n in range(N):
                        i = 2 * (n * C + c)
                        t1 = t1 + ws[i]
                        t2 = t2 + ws[i + 1] * rstd[n, c // cg]
                    if want_b:
                        grad_bias[c] = <floating>t1
                    if want_w:
                        grad_weight[c] = <floating>t2
            if dependent:
                for n in range(N):
                    for g in range(G):
                        t1 = 0
                        t2 = 0
                        for c in range(g * cg, (g + 1) * cg):
                            i = 2 * (n * C + c)
                            t1 = t1 + weight[c] * ws[i]
                            t2 = t2 + weight[c] * ws[i + 1]
                        r = rstd[n, g]
                        k[2 * (n * G + g)] = -r * r * r * t2 / d
                        k[2 * (n * G + g) + 1] = -r * t1 / d
            if want_in:
                for u in prange(N * C, num_threads=nt, schedule='static'):
                    n = u // C
                    c = u % C
                    g = c // cg
                    if dependent:
                        _affine_grad(&grad_out[n, c, 0], &x[n, c, 0], S,
                                     <floating>(rstd[n, g] * weight[c]),
                                     <floating>k[2 * (n * G + g)], <floating>mean[n, g],
                                     <floating>k[2 * (n * G + g) + 1], &grad_in[n, c, 0])
                    else:
                        _affine(&grad_out[n, c, 0], S, 0, <floating>(rstd[n, g] * weight[c]),
                                0, &grad_in[n, c, 0])
    finally:
        free(ws)
