"""Embedding kernels: a row gather forward, a scatter-add backward.

The backward adds every gradient row into the weight row its index names. Threads own
disjoint ranges of weight rows and each scans all indices in order, adding only those
in its range, so every row is summed in index order at any thread count (no atomics,
bitwise identical results).
"""

from cython cimport floating
from cython.parallel cimport prange
from libc.stdint cimport int64_t
from libc.string cimport memcpy, memset

from _parallel cimport threads_for


def embedding_forward(const int64_t[::1] indices,     # IN  (n,) in [0, V), validated
                      const floating[:, ::1] weight,  # IN  (V, D)
                      floating[:, ::1] out,           # OUT (n, D)
                      int n_threads):
    """out[i] = weight[indices[i]]."""
    cdef Py_ssize_t n = indices.shape[0], D = weight.shape[1], i
    if n == 0 or D == 0:
        return
    with nogil:
        for i in prange(n, num_threads=threads_for(n * D, n_threads), schedule='static'):
            memcpy(&out[i, 0], &weight[indices[i], 0], D * sizeof(floating))


def embedding_backward(const floating[:, ::1] grad_out,  # IN  (n, D)
                       const int64_t[::1] indices,       # IN  (n,) in [0, V), validated
                       int64_t padding_idx,              # a row that gets no gradient, or -1
                       floating[:, ::1] grad_weight,     # OUT (V, D)
                       int n_threads):
    """grad_weight[v] = sum of grad_out[i] over i with indices[i] == v (in order of i);
    zero for v == padding_idx and for rows no index names."""
    cdef Py_ssize_t n = indices.shape[0], V = grad_weight.shape[0], D = grad_weight.shape[1]
    cdef int nt = threads_for(n * D + V * D, n_threads)
    cdef Py_ssize_t b, i, j, r0, r1
    cdef int64_t v
    cdef floating* row
    cdef const floating* g
    if V == 0 or D == 0:
        return
    with nogil:
        for b in prange(nt, num_threads=nt, schedule='static'):
            r0 = V * b // nt
            r1 = V * (b + 1) // nt
            memset(&grad_weight[r0, 0], 0, (r1 - r0) * D * sizeof(floating))
            for i in range(n):
                v = indices[i]
                if v < r0 or v >= r1 or v == padding_idx:
                    continue
                row = &grad_weight[v, 0]
                g = &grad_out[i, 0]
                for j in range(D):
                    row[j] += g[j]
