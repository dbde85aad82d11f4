/* Span reductions for the normalization kernels, accumulated in double.
 *
 * Statistics of float32 data are summed in float64: a channel of a batch-norm layer
 * easily holds a million values, and a float32 running sum of that many loses most
 * of its digits. Each function keeps PYDL_LANES independent partial sums (so gcc and
 * clang vectorize it without -ffast-math) and combines them in lane order: the
 * result depends only on the span's length, never on threads.
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

#define PYDL_DEFINE_NORM_OPS(T, SUFFIX, ATTR)                                             \
/* s1 = sum(x - c), s2 = sum((x - c)^2) over x[0:n] */                               \
ATTR static void pydl_centered_moments_##SUFFIX(const T* x, ptrdiff_t n, double c,  \
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
ATTR static void pydl_grad_moments_##SUFFIX(const T* g, const T* w, const T* x,     \
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

PYDL_DEFINE_NORM_OPS(float, f, PYDL_SIMD_DISPATCH)
PYDL_DEFINE_NORM_OPS(double, d, )

/* Layer norm, one row of d elements (d >= 1): the statistics in float64 around the
 * row's first element, then out = (x - mean) * rstd * w + b in the row's type. */
#define PYDL_DEFINE_LAYER_NORM(T, SUFFIX, ATTR)                                          \
ATTR static void pydl_layer_norm_row_##SUFFIX(const T* PYDL_RESTRICT x,                  \
                                              const T* PYDL_RESTRICT w,                  \
                                              const T* PYDL_RESTRICT b,                  \
                                              T* PYDL_RESTRICT out, ptrdiff_t d, double eps, \
                                              double* mean, double* rstd)                \
{                                                                                        \
    double s1, s2, mu, var, rs;                                                          \
    ptrdiff_t j;                                                                         \
    pydl_centered_moments_##SUFFIX(x, d, (double)x[0], &s1, &s2);                        \
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
ATTR static void pydl_layer_norm_backward_row_##SUFFIX(                                  \
    const T* PYDL_RESTRICT g, const T* PYDL_RESTRICT x, const T* PYDL_RESTRICT w,        \
    ptrdiff_t d, double mean, double rstd, T* PYDL_RESTRICT dx, T* PYDL_RESTRICT pw,     \
    T* PYDL_RESTRICT pb)                                                                 \
{                                                                                        \
    double sa = 0, sb = 0;                                                               \
    ptrdiff_t j;                                                                         \
    T m = (T)mean, r = (T)rstd, k1 = 0, k2 = 0;                                          \
    if (dx) {                                                                            \
        pydl_grad_moments_##SUFFIX(g, w, x, d, mean, &sa, &sb);                          \
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

PYDL_DEFINE_LAYER_NORM(float, f, PYDL_SIMD_DISPATCH)
PYDL_DEFINE_LAYER_NORM(double, d, )

#endif
