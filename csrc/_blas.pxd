# Row-major GEMM over scipy's BLAS, and the tiled parallel GEMM every kernel uses.
#
# Threading contract (see pydl/_threading.py): BLAS runs single-threaded; parallelism
# comes from pydl's OpenMP threads, each calling gemm() on its own output tile. Mixing
# an OpenMP region with a BLAS-threaded call right after it made that call 2-3x slower
# on 2 cores (libgomp's idle threads spin while OpenBLAS's start), so pydl never does.

from cython cimport floating
from cython.parallel cimport prange
from scipy.linalg.cython_blas cimport sgemm, dgemm, sgemv, dgemv

from _openmp cimport omp_get_num_procs


cdef inline bint _gemv(bint trans_a, bint trans_b, int m, int n, int k,
                       floating alpha, const floating* a, int lda,
                       const floating* b, int ldb,
                       floating beta, floating* c, int ldc) noexcept nogil:
    """A one-row or one-column gemm() as a gemv; False where the strides do not allow.

    scipy's OpenBLAS ran sgemm with one row 4-6x slower than sgemv (a dense layer at
    batch 1, a recurrent step with one sequence). Column-major view of each operand as
    in gemm(): a row-major (r, s) matrix with row stride ld is a column-major (s, r) one.
    """
    cdef char tr
    cdef int rows, cols, ld, incx, incy, i
    cdef const floating* mat
    cdef const floating* vec
    if m == 1:
        # c[0, :] (n) = op(B)^T-applied: y_j = sum_p a_p op(B)[p, j]
        mat = b
        ld = ldb
        incy = 1
        vec = a
        incx = lda if trans_a else 1
        if trans_b:     # B is (n, k) row-major: column-major (k, n); y = M^T x
            tr = b't'
            rows = k
            cols = n
        else:           # B is (k, n) row-major: column-major (n, k); y = M x
            tr = b'n'
            rows = n
            cols = k
    else:
        # c[:, 0] (m, stride ldc): y_i = sum_p op(A)[i, p] b_p
        mat = a
        ld = lda
        incy = ldc
        vec = b
        incx = 1 if trans_b else ldb
        if trans_a:     # A is (k, m) row-major: column-major (m, k); y = M x
            tr = b'n'
            rows = m
            cols = k
        else:           # A is (m, k) row-major: column-major (k, m); y = M^T x
            tr = b't'
            rows = k
            cols = m
    if ld < rows or incx < 1 or incy < 1:
        return False
    if beta == 0:
        # BLAS may scale y by beta, and 0 * NaN is NaN: y starts as uninitialised
        # memory (NaN-filled in the tests), so clear it
        for i in range(m if n == 1 else n):
            c[<Py_ssize_t>i * incy] = 0
    if floating is float:
        sgemv(&tr, &rows, &cols, &alpha, <float*>mat, &ld, <float*>vec, &incx, &beta,
              c, &incy)
    else:
        dgemv(&tr, &rows, &cols, &alpha, <double*>mat, &ld, <double*>vec, &incx, &beta,
              c, &incy)
    return True


cdef inline void gemm(bint trans_a, bint trans_b, int m, int n, int k,
                      floating alpha, const floating* a, int lda,
                      const floating* b, int ldb,
                      floating beta, floating* c, int ldc) noexcept nogil:
    """C = alpha * op(A) @ op(B) + beta * C for row-major matrices.

    op(A) is (m, k), op(B) is (k, n), C is (m, n); lda/ldb/ldc are row strides in
    elements. BLAS is column-major, so this computes C^T = op(B)^T op(A)^T there.
    """
    cdef char ta = b't' if trans_a else b'n'
    cdef char tb = b't' if trans_b else b'n'
    if m <= 0 or n <= 0:
        return
    # Fortran BLAS rejects a leading dimension of 0 (k == 0 or empty operands).
    if lda < 1:
        lda = 1
    if ldb < 1:
        ldb = 1
    if ldc < 1:
        ldc = 1
    if (m == 1 or n == 1) and k > 0 and _gemv(trans_a, trans_b, m, n, k, alpha, a, lda,
                                              b, ldb, beta, c, ldc):
        return
    if floating is float:
        sgemm(&tb, &ta, &n, &m, &k, &alpha, <float*>b, &ldb, <float*>a, &lda,
              &beta, c, &ldc)
    else:
        dgemm(&tb, &ta, &n, &m, &k, &alpha, <double*>b, &ldb, <double*>a, &lda,
              &beta, c, &ldc)


# Smallest tiles worth a BLAS call of their own: single-threaded sgemm on tiles of
# fewer than ~128 rows lost 25-45% of its GFLOP/s on the development machine.
cdef enum:
    GEMM_MIN_TILE_M = 128
    GEMM_MIN_TILE_N = 128
    GEMM_TILE_ALIGN = 16


cdef inline int _round_up(int x, int multiple) noexcept nogil:
    return ((x + multiple - 1) // multiple) * multiple


cdef inline void gemm_tiling(int m, int n, int* tile_m, int* tile_n) noexcept nogil:
    """Tile the (m, n) output into about as many tiles as the machine has processors.

    Halves the longer side until there are enough tiles or tiles would get smaller
    than the minimum. The tiling depends on the shape and the machine's processor
    count, never on the thread count in use, so results are bitwise identical
    whatever ``n_threads`` is (each output element sees the same BLAS call shape).
    """
    cdef int target = omp_get_num_procs()
    cdef int tm = m, tn = n
    while ((m + tm - 1) // tm) * ((n + tn - 1) // tn) < target:
        if tn >= tm and tn >= 2 * GEMM_MIN_TILE_N:
            tn = _round_up((tn + 1) // 2, GEMM_TILE_ALIGN)
        elif tm >= 2 * GEMM_MIN_TILE_M:
            tm = _round_up((tm + 1) // 2, GEMM_TILE_ALIGN)
        elif tn >= 2 * GEMM_MIN_TILE_N:
            tn = _round_up((tn + 1) // 2, GEMM_TILE_ALIGN)
        else:
            break
    tile_m[0] = tm if tm > 0 else 1
    tile_n[0] = tn if tn > 0 else 1


cdef inline void gemm_parallel(bint trans_a, bint trans_b, int m, int n, int k,
                               floating alpha, const floating* a, int lda,
                               const floating* b, int ldb,
                               floating beta, floating* c, int ldc,
                               int n_threads) noexcept nogil:
    """gemm() split into output tiles run on ``n_threads`` OpenMP threads.

    The caller holds BLAS at one thread (pydl._threading.blas_single_threaded).
    """
    cdef int tm, tn, tiles_m, tiles_n, t, i0, j0, mm, nn
    if m <= 0 or n <= 0:
        return
    gemm_tiling(m, n, &tm, &tn)
    tiles_m = (m + tm - 1) // tm
    tiles_n = (n + tn - 1) // tn
    if tiles_m * tiles_n == 1:
        gemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
        return
    # Same tiles at any n_threads (one thread walks them all): same bits.
    for t in prange(tiles_m * tiles_n, num_threads=n_threads, schedule='static'):
        i0 = (t // tiles_n) * tm
        j0 = (t % tiles_n) * tn
        mm = min(tm, m - i0)
        nn = min(tn, n - j0)
        gemm(trans_a, trans_b, mm, nn, k, alpha,
             a + (<Py_ssize_t>i0 if trans_a else <Py_ssize_t>i0 * lda), lda,
             b + (<Py_ssize_t>j0 * ldb if trans_b else <Py_ssize_t>j0), ldb,
             beta, c + <Py_ssize_t>i0 * ldc + j0, ldc)
