# Small GEMMs with a packed right operand (csrc/_panel_gemm.h), for both float types.

from cython cimport floating

cdef extern from "_panel_gemm.h" nogil:
    enum: PYDL_NR
    enum: PYDL_MR
    void pydl_pack_panels_f(const float* b, Py_ssize_t K, Py_ssize_t n, Py_ssize_t sk,
                            Py_ssize_t sj, float* Bp)
    void pydl_pack_panels_d(const double* b, Py_ssize_t K, Py_ssize_t n, Py_ssize_t sk,
                            Py_ssize_t sj, double* Bp)
    void pydl_rows_gemm_f(const float* A, Py_ssize_t lda, Py_ssize_t M, Py_ssize_t K,
                          const float* Bp, Py_ssize_t n, float* C, Py_ssize_t ldc,
                          const float* bias, int accumulate)
    void pydl_rows_gemm_d(const double* A, Py_ssize_t lda, Py_ssize_t M, Py_ssize_t K,
                          const double* Bp, Py_ssize_t n, double* C, Py_ssize_t ldc,
                          const double* bias, int accumulate)
    void pydl_offset_gemm_f(const float* A, Py_ssize_t lda, Py_ssize_t M, Py_ssize_t K,
                            const float* B, const Py_ssize_t* boff, Py_ssize_t n, float* C,
                            Py_ssize_t ldc)
    void pydl_offset_gemm_d(const double* A, Py_ssize_t lda, Py_ssize_t M, Py_ssize_t K,
                            const double* B, const Py_ssize_t* boff, Py_ssize_t n,
                            double* C, Py_ssize_t ldc)


cdef inline void pack_panels(const floating* b, Py_ssize_t K, Py_ssize_t n, Py_ssize_t sk,
                             Py_ssize_t sj, floating* Bp) noexcept nogil:
    """B(k, j) = b[k * sk + j * sj] (K x n) into column panels for rows_gemm."""
    if floating is float:
        pydl_pack_panels_f(b, K, n, sk, sj, Bp)
    else:
        pydl_pack_panels_d(b, K, n, sk, sj, Bp)


cdef inline void rows_gemm(const floating* A, Py_ssize_t lda, Py_ssize_t M, Py_ssize_t K,
                           const floating* Bp, Py_ssize_t n, floating* C, Py_ssize_t ldc,
                           const floating* bias, bint accumulate) noexcept nogil:
    """C (M x n) = A (M x K) @ B, B packed in panels; starting from bias (if not NULL),
    else C (if accumulate), else 0. Rows are taken in blocks of PYDL_MR from A's first."""
    if floating is float:
        pydl_rows_gemm_f(A, lda, M, K, Bp, n, C, ldc, bias, accumulate)
    else:
        pydl_rows_gemm_d(A, lda, M, K, Bp, n, C, ldc, bias, accumulate)


cdef inline void offset_gemm(const floating* A, Py_ssize_t lda, Py_ssize_t M, Py_ssize_t K,
                             const floating* B, const Py_ssize_t* boff, Py_ssize_t n,
                             floating* C, Py_ssize_t ldc) noexcept nogil:
    """C (M x n) = A (M x K) @ B, B(k, j) = B[boff[k] + j] read in place (up to
    PYDL_NR - 1 values past column n - 1 of each row)."""
    if floating is float:
        pydl_offset_gemm_f(A, lda, M, K, B, boff, n, C, ldc)
    else:
        pydl_offset_gemm_d(A, lda, M, K, B, boff, n, C, ldc)
