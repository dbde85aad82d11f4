"""Dense (fully connected) layer kernels: y = x @ weight.T + bias and its gradients.

Contract (all kernels in csrc/): arrays arrive validated and C-contiguous from
pydl.functional; outputs are preallocated by the caller; ``n_threads`` is explicit;
BLAS is held at one thread by the caller (pydl._threading.blas_single_threaded).
"""

from cython cimport floating
from cython.parallel cimport prange
from libc.stdlib cimport malloc, free

from _blas cimport gemm_parallel
from _parallel cimport threads_for


def linear_forward(const floating[:, ::1] x,        # IN  (N, in_features)
                   const floating[:, ::1] weight,   # IN  (out_features, in_features)
                   const floating[::1] bias,        # IN  (out_features,) or None
                   floating[:, ::1] out,            # OUT (N, out_features)
                   int n_threads):
    """out = x @ weight.T + bias."""
    cdef Py_ssize_t n = x.shape[0], k = x.shape[1], m = weight.shape[0], i, j
    cdef bint has_bias = bias is not None
    cdef floating beta = 0
    if n == 0 or m == 0:
        return
    with nogil:
        if has_bias:
            # Seed the output with the bias; the GEMM then accumulates onto it.
            for i in prange(n, num_threads=threads_for(n * m, n_threads), schedule='static'):
                for j in range(m):
                    out[i, j] = bias[j]
            beta = 1
        gemm_parallel(False, True, <int>n, <int>m, <int>k, <floating>1,
                      &x[0, 0] if k > 0 else NULL, <int>k,
                      &weight[0, 0] if k > 0 else NULL, <int>k,
                      beta, &out[0, 0], <int>m, n_threads)


cdef void _column_sums(const floating[:, ::1] a, floating[::1] out,
                       int n_threads) noexcept nogil:
    """out[j] = sum_i a[i, j], accumulated in float64, rows in order.

    Columns are split in fixed blocks across threads; each column's sum runs over the
    rows in the same order at any thread count.
    """
    cdef Py_ssize_t n = a.shape[0], m = a.shape[1], block = 256
    cdef Py_ssize_t n_blocks = (m + block - 1) // block, b, i, j, j0, j1
    cdef double* acc
    for b in prange(n_blocks, num_threads=threads_for(n * m, n_threads), schedule='static'):
        acc = <double*>malloc(block * sizeof(double))
        j0 = b * block
        j1 = min(j0 + block, m)
        for j in range(j1 - j0):
            acc[j] = 0
        for i in range(n):
            for j in range(j1 - j0):
                acc[j] += a[i, j0 + j]
        for j in range(j1 - j0):
            out[j0 + j] = <floating>acc[j]
        free(acc)


def linear_backward(const floating[:, ::1] grad_out,  # IN  (N, out_features)
                    const floating[:, ::1] x,         # IN  (N, in_features)
                    const floating[:, ::1] weight,    # IN  (out_features, in_features)
                    floating[:, ::1] grad_x,          # OUT (N, in_features) or None
                    floating[:, ::1] grad_weight,     # OUT (out_features, in_features) or None
                    floating[::1] grad_bias,          # OUT (out_features,) or None
                    int n_threads):
    """Gradients of out = x @ weight.T + bias; any output may be None to skip it.

    grad_x = grad_out @ weight; grad_weight = grad_out.T @ x; grad_bias = sum over N.
    """
    cdef Py_ssize_t n = grad_out.shape[0], m = grad_out.shape[1], k = x.shape[1]
    cdef bint want_x = grad_x is not None
    cdef bint want_w = grad_weight is not None
    cdef bint want_b = grad_bias is not None
    cdef Py_ssize_t i, j
    with nogil:
        if want_x and n > 0 and k > 0:
            if m == 0:
                for i in range(n):
                    for j in range(k):
                        grad_x[i, j] = 0
            else:
                gemm_parallel(False, False, <int>n, <int>k, <int>m, <floating>1,
                              &grad_out[0, 0], <int>m, &weight[0, 0], <int>k,
                              <floating>0, &grad_x[0, 0], <int>k, n_threads)
        if want_w and m > 0 and k > 0:
            if n == 0:
                for i in range(m):
                    for j in range(k):
                        grad_weight[i, j] = 0
            else:
                gemm_parallel(True, False, <int>m, <int>k, <int>n, <floating>1,
                              &grad_out[0, 0], <int>m, &x[0, 0], <int>k,
                              <floating>0, &grad_weight[0, 0], <int>k, n_threads)
        if want_b and m > 0:
            _column_sums(grad_out, grad_bias, n_threads)
