/* Small GEMMs with a packed right operand: C (M x n) (+)= A (M x K) @ B (K x n), B
 * packed into panels of PYDL_NR columns (pydl_pack_panels_*, or written in that layout
 * directly by its producer).
 *
 * Why not BLAS: these products are small (M = batch rows of an RNN step; M = output
 * channels, n = a block of tiles in a Winograd convolution) and BLAS packs its
 * operands again on every call: on the LSTM shape (batch 32, hidden 256)
 * packing took about 40% of the step's GEMM time. csrc/rnn.pyx packs the recurrent
 * weights once per sequence, and each panel is reused from cache by every step;
 * csrc/conv.pyx's Winograd input transform writes its tiles straight into panels.
 * Rows of A are taken in register blocks of PYDL_MR from A's first row, so every row
 * is computed by the same code, with its sums over k in the same order, however the
 * caller splits rows between threads.
 *
 * Panel p holds columns [p*NR, p*NR + NR) of B as K rows of NR contiguous values
 * (columns past n: any finite values; they only reach columns of C that are not
 * written). The register block is PYDL_MR rows x NR columns: 8 AVX2 or 4 AVX-512
 * accumulators for float32 (the SSE baseline: two rows at a time, 8 accumulators of 4
 * lanes). Plain C that gcc and clang vectorize; compiled for
 * AVX-512, AVX2+FMA and the baseline like _vmath.h.
 */
#ifndef PYDL_PANEL_GEMM_H
#define PYDL_PANEL_GEMM_H

#include <stddef.h>
#include "_vmath.h"

#define PYDL_NR 16
#define PYDL_MR 4
#define PYDL_KC 256   /* 16 KB of float32 panel */
#define PYDL_PANELS_L2 (128 * 1024)   /* bytes: see pydl_rows_gemm_* */
#define PYDL_A_L2 (256 * 1024)

/* The register blocks must be inlined into the SIMD-dispatched panel function to be
 * compiled for its target. */
#if defined(__GNUC__) || defined(__clang__)
#define PYDL_INLINE static inline __attribute__((always_inline))
#else
#define PYDL_INLINE static __forceinline
#endif

/* Bp[p][k][c] = B(k, p*NR + c), B(k, j) = b[k * sk + j * sj], zero for j >= n */
#define PYDL_DEFINE_PACK(T, SUFFIX)                                                      \
static void pydl_pack_panels_##SUFFIX(const T* b, ptrdiff_t K, ptrdiff_t n,            \
                                      ptrdiff_t sk, ptrdiff_t sj, T* Bp)               \
{                                                                                       \
    ptrdiff_t n_panels = (n + PYDL_NR - 1) / PYDL_NR;                                   \
    for (ptrdiff_t p = 0; p < n_panels; p++)                                            \
        for (ptrdiff_t k = 0; k < K; k++)                                               \
            for (ptrdiff_t c = 0; c < PYDL_NR; c++) {                                   \
                ptrdiff_t j = p * PYDL_NR + c;                                          \
                Bp[(p * K + k) * PYDL_NR + c] = j < n ? b[k * sk + j * sj] : (T)0;      \
            }                                                                           \
}
PYDL_DEFINE_PACK(float, f)
PYDL_DEFINE_PACK(double, d)

/* Row k of a panel: packed (boff NULL), or at Bp + boff[k] (an implicit GEMM reading
 * B's rows in place, see pydl_offset_gemm_*). The blocks are inlined with boff a
 * constant NULL or not, so the test folds away. */
#define PYDL_PANEL_ROW(Bp, boff, k) ((boff) ? (Bp) + (boff)[k] : (Bp) + (k) * PYDL_NR)

/* Starting value of C's column c: bias[c] if bias, else C[c] if accumulate, else 0;
 * 0 past the panel's last column nc. */
#define PYDL_PANEL_INIT(T, C, c, nc, bias, accumulate)                                  \
    ((c) >= (nc) ? (T)0 : (bias) ? (bias)[c] : (accumulate) ? (C)[c] : (T)0)

/* Generic register block: rows [0, mr) of a panel, plain C (float64, and float32 where
 * the compiler has no vector extensions). */
#define PYDL_DEFINE_PANEL_GENERIC(T, SUFFIX)                                              \
PYDL_INLINE void pydl_panel_rows_##SUFFIX(const T* A, ptrdiff_t lda, int mr,          \
        ptrdiff_t K, const T* Bp, const ptrdiff_t* boff, T* C, ptrdiff_t ldc,           \
        ptrdiff_t nc, const T* bias, int accumulate)                                    \
{                                                                                       \
    T acc[PYDL_MR][PYDL_NR];                                                            \
    for (int r = 0; r < mr; r++)                                                        \
        for (int c = 0; c < PYDL_NR; c++)                                               \
            acc[r][c] = PYDL_PANEL_INIT(T, C + r * ldc, c, nc, bias, accumulate);      \
    for (ptrdiff_t k = 0; k < K; k++) {                                                 \
        const T* b = PYDL_PANEL_ROW(Bp, boff, k);                                       \
        for (int r = 0; r < mr; r++) {                                                  \
            T a = A[r * lda + k];                                                       \
            for (int c = 0; c < PYDL_NR; c++)                                           \
                acc[r][c] += a * b[c];                                                  \
        }                                                                               \
    }                                                                                   \
    for (int r = 0; r < mr; r++)                                                        \
        for (int c = 0; c < nc; c++)                                                    \
            C[r * ldc + c] = acc[r][c];                                                 \
}
PYDL_DEFINE_PANEL_GENERIC(float, generic_f)
PYDL_DEFINE_PANEL_GENERIC(double, d)

#if defined(__GNUC__) || defined(__clang__)
/* float32 with AVX: 4 rows x 16 columns in eight 8-wide vector accumulators, one
 * register each (the SSE baseline inlines pydl_panel_rows_f4 below). */
typedef float pydl_v8sf __attribute__((vector_size(32), aligned(4), may_alias));

PYDL_INLINE void pydl_panel_rows_f(const float* A, ptrdiff_t lda, int mr, ptrdiff_t K,
                                     const float* Bp, const ptrdiff_t* boff, float* C,
                                     ptrdiff_t ldc, ptrdiff_t nc, const float* bias,
                                     int accumulate)
{
    pydl_v8sf c00, c01, c10, c11, c20, c21, c30, c31;
    float init[PYDL_MR][PYDL_NR];
    /* A block of fewer than PYDL_MR rows (a batch of 1-3 rows, the last rows of a
     * batch) runs the same register code with its missing rows aliased to row 0 and
     * never stored: the generic path kept its sums in memory and ran an LSTM step at
     * batch 1 about 4x slower. Each row's arithmetic is that of a full block. */
    const ptrdiff_t l1 = mr > 1 ? ldc : 0, l2 = mr > 2 ? 2 * ldc : 0, l3 = mr > 3 ? 3 * ldc : 0;
    /* A full panel starts from vectors loaded in place (gcc turned the element loops
     * into memcpy calls: 10% of a Winograd convolution's time); a partial one from a
     * copy with zeros past column nc. Same starting values either way. */
    if (nc == PYDL_NR && (bias || accumulate)) {
        const float* s0 = bias ? bias : C;
        const float* s1 = bias ? bias : C + l1;
        const float* s2 = bias ? bias : C + l2;
        const float* s3 = bias ? bias : C + l3;
        c00 = *(const pydl_v8sf*)s0; c01 = *(const pydl_v8sf*)(s0 + 8);
        c10 = *(const pydl_v8sf*)s1; c11 = *(const pydl_v8sf*)(s1 + 8);
        c20 = *(const pydl_v8sf*)s2; c21 = *(const pydl_v8sf*)(s2 + 8);
        c30 = *(const pydl_v8sf*)s3; c31 = *(const pydl_v8sf*)(s3 + 8);
    } else if (nc == PYDL_NR) {
        c00 = c01 = c10 = c11 = c20 = c21 = c30 = c31 = (pydl_v8sf){0, 0, 0, 0, 0, 0, 0, 0};
    } else {
        for (int r = 0; r < PYDL_MR; r++)
            for (int c = 0; c < PYDL_NR; c++)
                init[r][c] = PYDL_PANEL_INIT(float, C + (r < mr ? r : 0) * ldc, c, nc, bias,
                                             accumulate);
        c00 = *(const pydl_v8sf*)&init[0][0]; c01 = *(const pydl_v8sf*)&init[0][8];
        c10 = *(const pydl_v8sf*)&init[1][0]; c11 = *(const pydl_v8sf*)&init[1][8];
        c20 = *(const pydl_v8sf*)&init[2][0]; c21 = *(const pydl_v8sf*)&init[2][8];
        c30 = *(const pydl_v8sf*)&init[3][0]; c31 = *(const pydl_v8sf*)&init[3][8];
    }
    const float* a0 = A;
    const float* a1 = A + (mr > 1 ? lda : 0);
    const float* a2 = A + (mr > 2 ? 2 * lda : 0);
    const float* a3 = A + (mr > 3 ? 3 * lda : 0);
    for (ptrdiff_t k = 0; k < K; k++) {
        const float* b = PYDL_PANEL_ROW(Bp, boff, k);
        pydl_v8sf b0 = *(const pydl_v8sf*)b;
        pydl_v8sf b1 = *(const pydl_v8sf*)(b + 8);
        pydl_v8sf v;
        v = (pydl_v8sf){a0[k], a0[k], a0[k], a0[k], a0[k], a0[k], a0[k], a0[k]}; c00 += v * b0; c01 += v * b1;
        v = (pydl_v8sf){a1[k], a1[k], a1[k], a1[k], a1[k], a1[k], a1[k], a1[k]}; c10 += v * b0; c11 += v * b1;
        v = (pydl_v8sf){a2[k], a2[k], a2[k], a2[k], a2[k], a2[k], a2[k], a2[k]}; c20 += v * b0; c21 += v * b1;
        v = (pydl_v8sf){a3[k], a3[k], a3[k], a3[k], a3[k], a3[k], a3[k], a3[k]}; c30 += v * b0; c31 += v * b1;
    }
    if (nc == PYDL_NR && mr == PYDL_MR) {
        *(pydl_v8sf*)C = c00; *(pydl_v8sf*)(C + 8) = c01;
        *(pydl_v8sf*)(C + ldc) = c10; *(pydl_v8sf*)(C + ldc + 8) = c11;
        *(pydl_v8sf*)(C + 2 * ldc) = c20; *(pydl_v8sf*)(C + 2 * ldc + 8) = c21;
        *(pydl_v8sf*)(C + 3 * ldc) = c30; *(pydl_v8sf*)(C + 3 * ldc + 8) = c31;
        return;
    }
    *(pydl_v8sf*)&init[0][0] = c00; *(pydl_v8sf*)&init[0][8] = c01;
    *(pydl_v8sf*)&init[1][0] = c10; *(pydl_v8sf*)&init[1][8] = c11;
    *(pydl_v8sf*)&init[2][0] = c20; *(pydl_v8sf*)&init[2][8] = c21;
    *(pydl_v8sf*)&init[3][0] = c30; *(pydl_v8sf*)&init[3][8] = c31;
    for (int r = 0; r < mr; r++)
        for (int c = 0; c < nc; c++)
            C[r * ldc + c] = init[r][c];
}

/* float32 for the SSE baseline: the 8-wide block above, lowered without AVX, kept its
 * accumulators in memory (1.5 GFLOP/s against 76 for the AVX2 copy on an LSTM step's
 * product, so LSTM and Winograd convolutions ran 13-18x slower on the baseline copy).
 * Here 4-wide vectors, two rows at a time: 8 accumulators, 4 panel vectors and the
 * broadcast fit SSE's 16 registers. Each row's sums are formed in the same order
 * whatever mr is (a lone row is paired with itself and stored once). */
typedef float pydl_v4sf __attribute__((vector_size(16), aligned(4), may_alias));

PYDL_INLINE void pydl_panel_rows_f4(const float* A, ptrdiff_t lda, int mr, ptrdiff_t K,
                                    const float* Bp, const ptrdiff_t* boff, float* C,
                                    ptrdiff_t ldc, ptrdiff_t nc, const float* bias,
                                    int accumulate)
{
    for (int r = 0; r < mr; r += 2) {
        const int pair = mr - r > 1;
        const float* a0 = A + r * lda;
        const float* a1 = pair ? a0 + lda : a0;
        float* C0 = C + r * ldc;
        float* C1 = pair ? C0 + ldc : C0;
        float init[2][PYDL_NR];
        pydl_v4sf c00, c01, c02, c03, c10, c11, c12, c13;
        for (int c = 0; c < PYDL_NR; c++) {
            init[0][c] = PYDL_PANEL_INIT(float, C0, c, nc, bias, accumulate);
            init[1][c] = PYDL_PANEL_INIT(float, C1, c, nc, bias, accumulate);
        }
        c00 = *(const pydl_v4sf*)&init[0][0]; c01 = *(const pydl_v4sf*)&init[0][4];
        c02 = *(const pydl_v4sf*)&init[0][8]; c03 = *(const pydl_v4sf*)&init[0][12];
        c10 = *(const pydl_v4sf*)&init[1][0]; c11 = *(const pydl_v4sf*)&init[1][4];
        c12 = *(const pydl_v4sf*)&init[1][8]; c13 = *(const pydl_v4sf*)&init[1][12];
        for (ptrdiff_t k = 0; k < K; k++) {
            const float* b = PYDL_PANEL_ROW(Bp, boff, k);
            pydl_v4sf b0 = *(const pydl_v4sf*)b, b1 = *(const pydl_v4sf*)(b + 4);
            pydl_v4sf b2 = *(const pydl_v4sf*)(b + 8), b3 = *(const pydl_v4sf*)(b + 12);
            pydl_v4sf v = {a0[k], a0[k], a0[k], a0[k]};
            c00 += v * b0; c01 += v * b1; c02 += v * b2; c03 += v * b3;
            v = (pydl_v4sf){a1[k], a1[k], a1[k], a1[k]};
            c10 += v * b0; c11 += v * b1; c12 += v * b2; c13 += v * b3;
        }
        if (nc == PYDL_NR) {
            *(pydl_v4sf*)C1 = c10; *(pydl_v4sf*)(C1 + 4) = c11;
            *(pydl_v4sf*)(C1 + 8) = c12; *(pydl_v4sf*)(C1 + 12) = c13;
            *(pydl_v4sf*)C0 = c00; *(pydl_v4sf*)(C0 + 4) = c01;     /* row 0 last: C1 may be C0 */
            *(pydl_v4sf*)(C0 + 8) = c02; *(pydl_v4sf*)(C0 + 12) = c03;
            continue;
        }
        *(pydl_v4sf*)&init[0][0] = c00; *(pydl_v4sf*)&init[0][4] = c01;
        *(pydl_v4sf*)&init[0][8] = c02; *(pydl_v4sf*)&init[0][12] = c03;
        for (int c = 0; c < nc; c++)
            C0[c] = init[0][c];
        if (pair) {
            *(pydl_v4sf*)&init[1][0] = c10; *(pydl_v4sf*)&init[1][4] = c11;
            *(pydl_v4sf*)&init[1][8] = c12; *(pydl_v4sf*)&init[1][12] = c13;
            for (int c = 0; c < nc; c++)
                C1[c] = init[1][c];
        }
    }
}

#endif

/* The register block each copy of the panel GEMM inlines, named by the copy's suffix
 * (_v4, _v3, _v0; none in a one-copy build) + _blk: 8-wide vectors where the copy has
 * AVX or the target is not x86, 4-wide for the SSE baseline. */
#if defined(__GNUC__) || defined(__clang__)
#define pydl_panel_rows_f_v4_blk pydl_panel_rows_f
#define pydl_panel_rows_f_v3_blk pydl_panel_rows_f
#define pydl_panel_rows_f_v0_blk pydl_panel_rows_f4
#if (defined(__x86_64__) || defined(__i386__)) && !defined(__AVX__)
#define pydl_panel_rows_f_blk pydl_panel_rows_f4
#else
#define pydl_panel_rows_f_blk pydl_panel_rows_f
#endif
#else
#define pydl_panel_rows_f_blk pydl_panel_rows_generic_f
#endif
#define pydl_panel_rows_d_blk pydl_panel_rows_d

/* Columns [j0, j0 + nc) of C = A @ B (+ bias, or + C when accumulate), all M rows:
 * B's rows are a packed panel (boff NULL: B + k NR) or B + boff[k]. K is walked in
 * chunks of PYDL_KC so that a chunk of B's columns stays in L1 while every row block
 * reads it; between chunks the partial sums wait in C, which repeats the additions of
 * an unchunked loop exactly. Both GEMMs below are this loop over their panels. */
#define PYDL_DEFINE_PANEL_COLUMNS(ISA, ATTR, T, SUFFIX)                                     \
ATTR PYDL_INLINE void pydl_panel_columns_##SUFFIX##ISA(const T* A, ptrdiff_t lda,        \
        ptrdiff_t M, ptrdiff_t K, const T* B, const ptrdiff_t* boff, T* C, ptrdiff_t ldc,\
        ptrdiff_t nc, const T* bias, int accumulate)                                    \
{                                                                                       \
    ptrdiff_t k0 = 0;                                                                   \
    do {                                                                                \
        ptrdiff_t kc = K - k0 < PYDL_KC ? K - k0 : PYDL_KC;                             \
        const T* bk = boff ? B : B + k0 * PYDL_NR;                                      \
        const ptrdiff_t* ok = boff ? boff + k0 : NULL;                                  \
        for (ptrdiff_t m = 0; m < M; m += PYDL_MR) {                                    \
            int mr = M - m < PYDL_MR ? (int)(M - m) : PYDL_MR;                          \
            pydl_panel_rows_##SUFFIX##ISA##_blk(A + m * lda + k0, lda, mr, kc, bk, ok,  \
                                                C + m * ldc, ldc, nc, k0 ? NULL : bias, \
                                                k0 ? 1 : accumulate);                   \
        }                                                                               \
        k0 += kc;                                                                       \
    } while (k0 < K);                                                                   \
}

/* Panel p of C = A @ B (+ bias, or + C when accumulate): columns [p*NR, p*NR + NR)
 * that are < n. */
#define PYDL_DEFINE_PANEL_GEMM(ISA, ATTR, T, SUFFIX)                                        \
PYDL_DEFINE_PANEL_COLUMNS(ISA, ATTR, T, SUFFIX)                                          \
ATTR static void pydl_panel_gemm_##SUFFIX##ISA(const T* A, ptrdiff_t lda, ptrdiff_t M,  \
        ptrdiff_t K, const T* Bp, ptrdiff_t p, ptrdiff_t n, T* C, ptrdiff_t ldc,        \
        const T* bias, int accumulate)                                                  \
{                                                                                       \
    ptrdiff_t j0 = p * PYDL_NR;                                                         \
    ptrdiff_t nc = n - j0 < PYDL_NR ? n - j0 : PYDL_NR;                                 \
    pydl_panel_columns_##SUFFIX##ISA(A, lda, M, K, Bp + p * K * PYDL_NR, NULL, C + j0,   \
                                     ldc, nc, bias ? bias + j0 : NULL, accumulate);     \
}                                                                                       \
/* An implicit GEMM: C (M x n) = A (M x K) @ B with B(k, j) = B[boff[k] + j], rows of  \
 * B read in place (a convolution: B's row k is the zero-padded input window shifted   \
 * by kernel tap k, csrc/conv.pyx). A partial last panel reads up to NR - 1 values past \
 * column n - 1 of every row (the caller's buffer must have them; they reach only      \
 * columns of C that are not written). */                                               \
ATTR static void pydl_offset_gemm_##SUFFIX##ISA(const T* A, ptrdiff_t lda, ptrdiff_t M, \
        ptrdiff_t K, const T* B, const ptrdiff_t* boff, ptrdiff_t n, T* C, ptrdiff_t ldc)\
{                                                                                       \
    for (ptrdiff_t j0 = 0; j0 < n; j0 += PYDL_NR)                                       \
        pydl_panel_columns_##SUFFIX##ISA(A, lda, M, K, B + j0, boff, C + j0, ldc,       \
                                         n - j0 < PYDL_NR ? n - j0 : PYDL_NR, NULL, 0); \
}                                                                                       \
/* All panels of C = A @ B (+ bias, or + C when accumulate), each chunk of K taken by  \
 * a block of A's rows across every panel before the next block: A is read once per   \
 * call instead of once per panel (pydl_panel_gemm_*'s order, for a B too big to stay \
 * in cache). The sums of each element are those of that order, bit for bit. */        \
ATTR static void pydl_panels_gemm_##SUFFIX##ISA(const T* A, ptrdiff_t lda, ptrdiff_t M, \
        ptrdiff_t K, const T* Bp, ptrdiff_t n, T* C, ptrdiff_t ldc, const T* bias,       \
        int accumulate)                                                                 \
{                                                                                       \
    ptrdiff_t k0 = 0;                                                                   \
    do {                                                                                \
        ptrdiff_t kc = K - k0 < PYDL_KC ? K - k0 : PYDL_KC;                             \
        for (ptrdiff_t m = 0; m < M; m += PYDL_MR) {                                    \
            int mr = M - m < PYDL_MR ? (int)(M - m) : PYDL_MR;                          \
            for (ptrdiff_t j0 = 0; j0 < n; j0 += PYDL_NR)                               \
                pydl_panel_rows_##SUFFIX##ISA##_blk(A + m * lda + k0, lda, mr, kc,      \
                    Bp + j0 * K + k0 * PYDL_NR, NULL, C + m * ldc + j0, ldc,            \
                    n - j0 < PYDL_NR ? n - j0 : PYDL_NR,                                \
                    k0 || !bias ? NULL : bias + j0, k0 ? 1 : accumulate);               \
        }                                                                               \
        k0 += kc;                                                                       \
    } while (k0 < K);                                                                   \
}

PYDL_SIMD_INSTANCES(PYDL_DEFINE_PANEL_GEMM, float, f)
PYDL_SIMD_RESOLVE(pydl_panel_gemm_f)
PYDL_SIMD_RESOLVE(pydl_offset_gemm_f)
PYDL_SIMD_RESOLVE(pydl_panels_gemm_f)
PYDL_DEFINE_PANEL_GEMM(, , double, d)

/* All panels: C (M x n) = A @ B (+ bias, or + C when accumulate). */
#define PYDL_DEFINE_ROWS_GEMM(T, SUFFIX)                                                   \
static void pydl_rows_gemm_##SUFFIX(const T* A, ptrdiff_t lda, ptrdiff_t M, ptrdiff_t K, \
        const T* Bp, ptrdiff_t n, T* C, ptrdiff_t ldc, const T* bias, int accumulate)    \
{                                                                                        \
    ptrdiff_t n_panels = (n + PYDL_NR - 1) / PYDL_NR;                                    \
    ptrdiff_t kc = K < PYDL_KC ? K : PYDL_KC;                                            \
    if (M <= 0)                                                                          \
        return;                                                                          \
    /* A panel at a time streams A once per panel: right while A stays in L2 (an RNN  \
     * step's batch rows). An A past L2 (a Winograd block's 512 x 512 weights, 1 MB,  \
     * x36) would come from L3 or memory for every panel: when a K chunk of all the    \
     * panels fits L2 instead, each block of A's rows takes every panel in turn. */    \
    if (n_panels > 1 && (size_t)(M * K) * sizeof(T) > PYDL_A_L2                          \
        && (size_t)(n_panels * kc * PYDL_NR) * sizeof(T) <= PYDL_PANELS_L2)               \
        pydl_panels_gemm_##SUFFIX(A, lda, M, K, Bp, n, C, ldc, bias, accumulate);        \
    else                                                                                 \
        for (ptrdiff_t p = 0; p < n_panels; p++)                                         \
            pydl_panel_gemm_##SUFFIX(A, lda, M, K, Bp, p, n, C, ldc, bias, accumulate);  \
}
PYDL_DEFINE_ROWS_GEMM(float, f)
PYDL_DEFINE_ROWS_GEMM(double, d)

#endif
