/* Span reductions for the normalization kernels, accumulated in double.
 *
 * Statistics of float32 data are summed in float64: a channel of a batch-norm layer
 * easily holds a million values, and a float32 running sum of that many loses most
 * of its digits (float32 only sums 16 terms per lane before moving to float64). Each
 * function keeps PYDL_LANES independent partial sums (so gcc and clang vectorize it
 * without -ffast-math) and combines them in lane order: the result depends only on
 * the span's length, never on threads.
 *
 * Variance is computed around a centre c close to the mean (the "corrected two-pass"
 * form): with s1 = sum(x - c) and s2 = sum((x - c)^2), the sum of squared deviations
 * is s2 - s1^2 / n, which loses nothing to cancellation while |mean - c| is within a
 * few thousand standard deviations.
 */
#ifndef PYDL_NORM_H
#define PYDL_NORM_H

#include "_vmath.h"

/* no aliasing between a kernel's outputs and inputs, so that fused loops vectorize */
#define PYDL_RESTRICT __restrict

#define PYDL_DEFINE_NORM_OPS(ISA, ATTR, T, SUFFIX)                                           \
/* s1 = sum(x - c), s2 = sum((x - c)^2) over x[0:n] */                               \
ATTR static void pydl_centered_moments_##SUFFIX##ISA(const T* x, ptrdiff_t n, double c,  \
                                                double* s1, double* s2)             \
{                                                                                   \
    double a1[PYDL_LANES], a2[PYDL_LANES];                                          \
    ptrdiff_t i, l, n_main = n - n % PYDL_LANES;                                   \
    double r1 = 0, r2 = 0;                                                          \
    for (l = 0; l < PYDL_LANES; l++) { a1[l] = 0; a2[l] = 0; }                      \
    for (i = 0; i < n_main; i += PYDL_LANES)                                        \
        for (l = 0; l < PYDL_LANES; l++) {                                          \
            double d = (double)x[i + l] - c;                                        \
            a1[l] += d;                                                             \
            a2[l] += d * d;                                                         \
        }                                                                           \
    for (l = 0; l < PYDL_LANES; l++) { r1 += a1[l]; r2 += a2[l]; }                  \
    for (i = n_main; i < n; i++) {                                                  \
        double d = (double)x[i] - c;                                                \
        r1 += d;                                                                    \
        r2 += d * d;                                                                \
    }                                                                               \
    *s1 = r1;                                                                       \
    *s2 = r2;                                                                       \
}                                                                                   \
/* sg = sum(g * w), sgx = sum(g * w * (x - c)) over [0:n]; w NULL means all ones */  \
ATTR static void pydl_grad_moments_##SUFFIX##ISA(const T* g, const T* w, const T* x,     \
                                            ptrdiff_t n, double c,                  \
                                            double* sg, double* sgx)                \
{                                                                                   \
    double a1[PYDL_LANES], a2[PYDL_LANES];                                          \
    ptrdiff_t i, l, n_main = n - n % PYDL_LANES;                                   \
    double r1 = 0, r2 = 0;                                                          \
    for (l = 0; l < PYDL_LANES; l++) { a1[l] = 0; a2[l] = 0; }                      \
    if (w) {                                                                        \
        for (i = 0; i < n_main; i += PYDL_LANES)                                    \
            for (l = 0; l < PYDL_LANES; l++) {                                      \
                double gw = (double)g[i + l] * (double)w[i + l];                    \
                a1[l] += gw;                                                        \
                a2[l] += gw * ((double)x[i + l] - c);                               \
            }                                                                       \
    } else {                                                                        \
        for (i = 0; i < n_main; i += PYDL_LANES)                                    \
            for (l = 0; l < PYDL_LANES; l++) {                                      \
                double gi = (double)g[i + l];                                       \
                a1[l] += gi;                                                        \
                a2[l] += gi * ((double)x[i + l] - c);                               \
            }                                                                       \
    }                                                                               \
    for (l = 0; l < PYDL_LANES; l++) { r1 += a1[l]; r2 += a2[l]; }                  \
    for (i = n_main; i < n; i++) {                                                  \
        double gi = (double)g[i] * (w ? (double)w[i] : 1.0);                        \
        r1 += gi;                                                                   \
        r2 += gi * ((double)x[i] - c);                                              \
    }                                                                               \
    *sg = r1;                                                                       \
    *sgx = r2;                                                                      \
}

PYDL_DEFINE_NORM_OPS(, , double, d)

/* The float32 versions sum blocks of PYDL_FBLOCK elements in float lanes (16 terms per
 * lane: twice the SIMD width of float64 and no conversions), adding each block's lane
 * sums to float64 totals in lane order. They work around cf = (float)c and move the
 * sums to the centre c exactly at the end. The 16 lanes are two 8-float vectors
 * (gcc/clang vector extensions: written as lane arrays, gcc vectorizes the outer loop
 * with strided loads instead); other compilers get the float64 lane version. */
#define PYDL_FBLOCK 256

#if !defined(__GNUC__)
/* other compilers: the float64-accumulating lane version */
PYDL_DEFINE_NORM_OPS(, , float, f)
#else
typedef float pydl_f8 __attribute__((vector_size(32)));
/* always_inline: a 32-byte vector returned from a baseline-ABI function to an AVX2 or
 * AVX-512 clone travels in memory on one side and in a register on the other; at -O0
 * (PYDL_CYTHON_DEBUG) nothing was inlined and that mismatch crashed batch norm. */
static inline __attribute__((always_inline)) pydl_f8 pydl_load_f8(const float* p)
{
    pydl_f8 v;
    memcpy(&v, p, sizeof v);
    return v;
}
#define PYDL_F16_DECLARE(a) pydl_f8 a##0 = {0}, a##1 = {0}
#define PYDL_F16_ADD_TO(r, a) do { int l_; for (l_ = 0; l_ < 8; l_++) r += a##0[l_];       \
                                   for (l_ = 0; l_ < 8; l_++) r += a##1[l_]; } while (0)

#define PYDL_DEFINE_NORM_OPS_F8(ISA, ATTR, T, SUFFIX)                                       \
ATTR static void pydl_centered_moments_f##ISA(const float* x, ptrdiff_t n, double c,        \
                                                       double* s1, double* s2)              \
{                                                                                           \
    float cf = (float)c;                                                                    \
    double dc = (double)cf - c, r1 = 0, r2 = 0;                                             \
    ptrdiff_t i0, i, n16 = n - n % 16, end;                                                 \
    for (i0 = 0; i0 < n16; i0 += PYDL_FBLOCK) {                                             \
        end = i0 + PYDL_FBLOCK < n16 ? i0 + PYDL_FBLOCK : n16;                              \
        PYDL_F16_DECLARE(a1);                                                               \
        PYDL_F16_DECLARE(a2);                                                               \
        for (i = i0; i < end; i += 16) {                                                    \
            pydl_f8 d0 = pydl_load_f8(x + i) - cf, d1 = pydl_load_f8(x + i + 8) - cf;       \
            a10 += d0;                                                                      \
            a11 += d1;                                                                      \
            a20 += d0 * d0;                                                                 \
            a21 += d1 * d1;                                                                 \
        }                                                                                   \
        PYDL_F16_ADD_TO(r1, a1);                                                            \
        PYDL_F16_ADD_TO(r2, a2);                                                            \
    }                                                                                       \
    for (i = n16; i < n; i++) {                                                             \
        double d = (double)x[i] - (double)cf;                                               \
        r1 += d;                                                                            \
        r2 += d * d;                                                                        \
    }                                                                                       \
    /* x - c = (x - cf) + dc: sum(x - c) = r1 + n dc, sum((x - c)^2) = r2 + 2 dc r1 + n dc^2\
     * (dc = 0 for the callers' centres, which are float32 values) */                       \
    *s1 = r1 + (double)n * dc;                                                              \
    *s2 = r2 + 2.0 * dc * r1 + (double)n * dc * dc;                                         \
}                                                                                           \
                                                                                            \
ATTR static void pydl_grad_moments_f##ISA(const float* g, const float* w,                   \
                                                   const float* x, ptrdiff_t n, double c,   \
                                                   double* sg, double* sgx)                 \
{                                                                                           \
    float cf = (float)c;                                                                    \
    double dc = (double)cf - c, r1 = 0, r2 = 0;                                             \
    ptrdiff_t i0, i, n16 = n - n % 16, end;                                                 \
    for (i0 = 0; i0 < n16; i0 += PYDL_FBLOCK) {                                             \
        end = i0 + PYDL_FBLOCK < n16 ? i0 + PYDL_FBLOCK : n16;                              \
        PYDL_F16_DECLARE(a1);                                                               \
        PYDL_F16_DECLARE(a2);                                                               \
        for (i = i0; i < end; i += 16) {                                                    \
            pydl_f8 g0 = pydl_load_f8(g + i), g1 = pydl_load_f8(g + i + 8);                 \
            if (w) {                                                                        \
                g0 *= pydl_load_f8(w + i);                                                  \
                g1 *= pydl_load_f8(w + i + 8);                                              \
            }                                                                               \
            a10 += g0;                                                                      \
            a11 += g1;                                                                      \
            a20 += g0 * (pydl_load_f8(x + i) - cf);                                         \
            a21 += g1 * (pydl_load_f8(x + i + 8) - cf);                                     \
        }                                                                                   \
        PYDL_F16_ADD_TO(r1, a1);                                                            \
        PYDL_F16_ADD_TO(r2, a2);                                                            \
    }                                                                                       \
    for (i = n16; i < n; i++) {                                                             \
        double gi = (double)g[i] * (w ? (double)w[i] : 1.0);                                \
        r1 += gi;                                                                           \
        r2 += gi * ((double)x[i] - (double)cf);                                             \
    }                                                                                       \
    /* sum(gw (x - c)) = sum(gw (x - cf)) + dc sum(gw) */                                   \
    *sg = r1;                                                                               \
    *sgx = r2 + dc * r1;                                                                    \
}
PYDL_SIMD_INSTANCES(PYDL_DEFINE_NORM_OPS_F8, float, f)
PYDL_SIMD_RESOLVE(pydl_centered_moments_f)
PYDL_SIMD_RESOLVE(pydl_grad_moments_f)
#endif

/* Column sums over `rows` rows of m contiguous elements, `ld` apart: batch norm on
 * inputs with few spatial positions (e.g. (N, C)), vectorized across the columns.
 * Each column j has its own centre c[j]; sums are added into s1 and s2 (float64). */
#define PYDL_DEFINE_COLUMN_OPS(ISA, ATTR, T, SUFFIX)                                         \
ATTR static void pydl_column_moments_##SUFFIX##ISA(                                           \
    const T* PYDL_RESTRICT x, ptrdiff_t rows, ptrdiff_t ld, ptrdiff_t m,                 \
    const double* PYDL_RESTRICT c, double* PYDL_RESTRICT s1, double* PYDL_RESTRICT s2)   \
{                                                                                        \
    ptrdiff_t n, j;                                                                      \
    for (n = 0; n < rows; n++) {                                                         \
        const T* row = x + n * ld;                                                       \
        for (j = 0; j < m; j++) {                                                        \
            double d = (double)row[j] - c[j];                                            \
            s1[j] += d;                                                                  \
            s2[j] += d * d;                                                              \
        }                                                                                \
    }                                                                                    \
}                                                                                        \
/* sg[j] += g, sgx[j] += g * (x - c[j]) over the rows */                                 \
ATTR static void pydl_column_grad_moments_##SUFFIX##ISA(                                      \
    const T* PYDL_RESTRICT g, const T* PYDL_RESTRICT x, ptrdiff_t rows, ptrdiff_t ld,    \
    ptrdiff_t m, const double* PYDL_RESTRICT c, double* PYDL_RESTRICT sg,                \
    double* PYDL_RESTRICT sgx)                                                           \
{                                                                                        \
    ptrdiff_t n, j;                                                                      \
    for (n = 0; n < rows; n++) {                                                         \
        const T* grow = g + n * ld;                                                      \
        const T* xrow = x + n * ld;                                                      \
        for (j = 0; j < m; j++) {                                                        \
            double gj = (double)grow[j];                                                 \
            sg[j] += gj;                                                                 \
            sgx[j] += gj * ((double)xrow[j] - c[j]);                                     \
        }                                                                                \
    }                                                                                    \
}                                                                                        \
/* one row of (N, C) batch norm: out = (x - mu) * a + b, per column */                   \
ATTR static void pydl_column_affine_##SUFFIX##ISA(                                            \
    const T* PYDL_RESTRICT x, const T* PYDL_RESTRICT mu, const T* PYDL_RESTRICT a,       \
    const T* PYDL_RESTRICT b, T* PYDL_RESTRICT out, ptrdiff_t m)                         \
{                                                                                        \
    ptrdiff_t j;                                                                         \
    for (j = 0; j < m; j++)                                                              \
        out[j] = (x[j] - mu[j]) * a[j] + b[j];                                           \
}                                                                                        \
/* its gradient: dx = a g + k (x - mu) + e, per column */                                \
ATTR static void pydl_column_affine_grad_##SUFFIX##ISA(                                       \
    const T* PYDL_RESTRICT g, const T* PYDL_RESTRICT x, const T* PYDL_RESTRICT a,        \
    const T* PYDL_RESTRICT k, const T* PYDL_RESTRICT mu, const T* PYDL_RESTRICT e,       \
    T* PYDL_RESTRICT dx, ptrdiff_t m)                                                    \
{                                                                                        \
    ptrdiff_t j;                                                                         \
    for (j = 0; j < m; j++)                                                              \
        dx[j] = a[j] * g[j] + k[j] * (x[j] - mu[j]) + e[j];                              \
}

PYDL_SIMD_INSTANCES(PYDL_DEFINE_COLUMN_OPS, float, f)
PYDL_SIMD_RESOLVE(pydl_column_moments_f)
PYDL_SIMD_RESOLVE(pydl_column_grad_moments_f)
PYDL_SIMD_RESOLVE(pydl_column_affine_f)
PYDL_SIMD_RESOLVE(pydl_column_affine_grad_f)
PYDL_DEFINE_COLUMN_OPS(, , double, d)

/* Layer norm, one row of d elements (d >= 1): the statistics in float64 around the
 * row's first element, then out = (x - mean) * rstd * w + b in the row's type. */
#define PYDL_DEFINE_LAYER_NORM(ISA, ATTR, T, SUFFIX)                                         \
ATTR static void pydl_layer_norm_row_##SUFFIX##ISA(const T* PYDL_RESTRICT x,                  \
                                              const T* PYDL_RESTRICT w,                  \
                                              const T* PYDL_RESTRICT b,                  \
                                              T* PYDL_RESTRICT out, ptrdiff_t d, double eps, \
                                              double* mean, double* rstd)                \
{                                                                                        \
    double s1, s2, mu, var, rs;                                                          \
    ptrdiff_t j;                                                                         \
    pydl_centered_moments_##SUFFIX##ISA(x, d, (double)x[0], &s1, &s2);                   \
    mu = (double)x[0] + s1 / (double)d;                                                  \
    var = (s2 - s1 * s1 / (double)d) / (double)d;                                        \
    rs = 1.0 / sqrt((var > 0 ? var : 0) + eps);                                          \
    *mean = mu;                                                                          \
    *rstd = rs;                                                                          \
    T m = (T)mu, r = (T)rs;                                                              \
    for (j = 0; j < d; j++)                                                              \
        out[j] = (x[j] - m) * r * w[j] + b[j];                                           \
}                                                                                        \
/* Layer norm backward, one row. With gw = g * w and xhat = (x - mean) * rstd:         \
 *   dx = rstd * (gw - mean(gw) - (x - mean) * rstd^2 * mean(gw * (x - mean)))         \
 * (the two means in float64); when pw and pb are given, pw += g * xhat and pb += g    \
 * in the row's type (the caller flushes them to float64 every few rows). */           \
ATTR static void pydl_layer_norm_backward_row_##SUFFIX##ISA(                                  \
    const T* PYDL_RESTRICT g, const T* PYDL_RESTRICT x, const T* PYDL_RESTRICT w,        \
    ptrdiff_t d, double mean, double rstd, T* PYDL_RESTRICT dx, T* PYDL_RESTRICT pw,     \
    T* PYDL_RESTRICT pb)                                                                 \
{                                                                                        \
    double sa = 0, sb = 0;                                                               \
    ptrdiff_t j;                                                                         \
    T m = (T)mean, r = (T)rstd, k1 = 0, k2 = 0;                                          \
    if (dx) {                                                                            \
        pydl_grad_moments_##SUFFIX##ISA(g, w, x, d, mean, &sa, &sb);                     \
        k1 = (T)(sa / (double)d);                                                        \
        k2 = (T)(rstd * rstd * sb / (double)d);                                          \
    }                                                                                    \
    if (dx && pw) {                                                                      \
        for (j = 0; j < d; j++) {                                                        \
            T gj = g[j], xc = x[j] - m;                                                  \
            dx[j] = r * (gj * w[j] - k1 - xc * k2);                                      \
            pw[j] += gj * (xc * r);                                                      \
            pb[j] += gj;                                                                 \
        }                                                                                \
    } else if (dx) {                                                                     \
        for (j = 0; j < d; j++)                                                          \
            dx[j] = r * (g[j] * w[j] - k1 - (x[j] - m) * k2);                            \
    } else if (pw) {                                                                     \
        for (j = 0; j < d; j++) {                                                        \
            T gj = g[j];                                                                 \
            pw[j] += gj * ((x[j] - m) * r);                                              \
            pb[j] += gj;                                                                 \
        }                                                                                \
    }                                                                                    \
}

PYDL_SIMD_INSTANCES(PYDL_DEFINE_LAYER_NORM, float, f)
PYDL_SIMD_RESOLVE(pydl_layer_norm_row_f)
PYDL_SIMD_RESOLVE(pydl_layer_norm_backward_row_f)
PYDL_DEFINE_LAYER_NORM(, , double, d)

#endif
