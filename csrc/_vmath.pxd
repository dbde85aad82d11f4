# Elementwise math and fixed-order row reductions for both float types.
#
# float32 goes through csrc/_vmath.h (inline, vectorizable); float64 through libm,
# because float64 kernels serve gradient checks where accuracy rules.

from cython cimport floating
from libc.math cimport exp, tanh, log1p, fabs

# Elementwise kernels process their arrays in spans of this many elements, one span per
# call of a SIMD-dispatched function (csrc/_vmath.h).
cdef enum:
    SPAN = 8192

cdef extern from "_vmath.h" nogil:
    float pydl_expf(float x)
    float pydl_tanhf(float x)
    float pydl_sigmoidf(float x)
    float pydl_log1pf_unit(float u)
    void pydl_span_sigmoid_f(const float* x, float* out, Py_ssize_t n)
    void pydl_span_tanh_f(const float* x, float* out, Py_ssize_t n)
    void pydl_span_silu_f(const float* x, float* out, Py_ssize_t n)
    void pydl_span_silu_backward_f(const float* g, const float* x, float* out, Py_ssize_t n)
    void pydl_span_elu_f(const float* x, float* out, Py_ssize_t n, float alpha)
    void pydl_span_elu_backward_f(const float* g, const float* x, float* out, Py_ssize_t n,
                                  float alpha)
    float pydl_row_max_f(const float* x, Py_ssize_t n)
    double pydl_row_max_d(const double* x, Py_ssize_t n)
    float pydl_row_sum_f(const float* x, Py_ssize_t n)
    double pydl_row_sum_d(const double* x, Py_ssize_t n)
    float pydl_row_dot_f(const float* x, const float* y, Py_ssize_t n)
    double pydl_row_dot_d(const double* x, const double* y, Py_ssize_t n)
    float pydl_row_shift_dot_f(const float* x, const float* w, Py_ssize_t n, float shift)
    double pydl_row_shift_dot_d(const double* x, const double* w, Py_ssize_t n, double shift)
    float pydl_row_exp_sum_f(const float* x, float* out, Py_ssize_t n, float shift)
    double pydl_row_exp_sum_d(const double* x, double* out, Py_ssize_t n, double shift)


cdef inline floating vexp(floating x) noexcept nogil:
    if floating is float:
        return pydl_expf(x)
    else:
        return exp(x)


cdef inline floating vtanh(floating x) noexcept nogil:
    if floating is float:
        return pydl_tanhf(x)
    else:
        return tanh(x)


cdef inline floating vsigmoid(floating x) noexcept nogil:
    if floating is float:
        return pydl_sigmoidf(x)
    else:
        return 1.0 / (1.0 + exp(-x))


cdef inline floating vlog1p_unit(floating u) noexcept nogil:
    """log(1 + u) for u in [0, 1]."""
    if floating is float:
        return pydl_log1pf_unit(u)
    else:
        return log1p(u)


cdef inline floating vsoftplus_neg_abs(floating x) noexcept nogil:
    """log(1 + exp(-|x|)): the bounded part of softplus, in (0, log 2]."""
    return vlog1p_unit(vexp(<floating>-fabs(x)))


cdef inline floating row_max(const floating* x, Py_ssize_t n) noexcept nogil:
    if floating is float:
        return pydl_row_max_f(x, n)
    else:
        return pydl_row_max_d(x, n)


cdef inline floating row_sum(const floating* x, Py_ssize_t n) noexcept nogil:
    if floating is float:
        return pydl_row_sum_f(x, n)
    else:
        return pydl_row_sum_d(x, n)


cdef inline floating row_dot(const floating* x, const floating* y, Py_ssize_t n) noexcept nogil:
    if floating is float:
        return pydl_row_dot_f(x, y, n)
    else:
        return pydl_row_dot_d(x, y, n)


cdef inline floating row_exp_sum(const floating* x, floating* out, Py_ssize_t n,
                                 floating shift) noexcept nogil:
    """out = exp(x - shift), returning sum(out)."""
    if floating is float:
        return pydl_row_exp_sum_f(x, out, n, shift)
    else:
        return pydl_row_exp_sum_d(x, out, n, shift)


cdef inline floating row_shift_dot(const floating* x, const floating* w, Py_ssize_t n,
                                   floating shift) noexcept nogil:
    """sum((shift - x) * w), with w NULL meaning all ones."""
    if floating is float:
        return pydl_row_shift_dot_f(x, w, n, shift)
    else:
        return pydl_row_shift_dot_d(x, w, n, shift)


# ------------------------------------------------------------- elementwise spans
# float32 goes to the SIMD-dispatched C loops; float64 loops here over libm.

cdef inline void span_sigmoid(const floating* x, floating* out, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    if floating is float:
        pydl_span_sigmoid_f(x, out, n)
    else:
        for i in range(n):
            out[i] = 1.0 / (1.0 + exp(-x[i]))


cdef inline void span_tanh(const floating* x, floating* out, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    if floating is float:
        pydl_span_tanh_f(x, out, n)
    else:
        for i in range(n):
            out[i] = tanh(x[i])


cdef inline void span_silu(const floating* x, floating* out, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    if floating is float:
        pydl_span_silu_f(x, out, n)
    else:
        for i in range(n):
            out[i] = x[i] / (1.0 + exp(-x[i]))


cdef inline void span_silu_backward(const floating* g, const floating* x, floating* out,
                                    Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    cdef double s
    if floating is float:
        pydl_span_silu_backward_f(g, x, out, n)
    else:
        for i in range(n):
            s = 1.0 / (1.0 + exp(-x[i]))
            out[i] = g[i] * s * (1.0 + x[i] * (1.0 - s))


cdef inline void span_elu(const floating* x, floating* out, Py_ssize_t n,
                          floating alpha) noexcept nogil:
    cdef Py_ssize_t i
    if floating is float:
        pydl_span_elu_f(x, out, n, alpha)
    else:
        for i in range(n):
            out[i] = x[i] if x[i] > 0 else alpha * (exp(x[i]) - 1.0)


cdef inline void span_elu_backward(const floating* g, const floating* x, floating* out,
                                   Py_ssize_t n, floating alpha) noexcept nogil:
    cdef Py_ssize_t i
    if floating is float:
        pydl_span_elu_backward_f(g, x, out, n, alpha)
    else:
        for i in range(n):
            out[i] = g[i] if x[i] > 0 else g[i] * alpha * exp(x[i])
