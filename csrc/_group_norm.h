/* Span kernels of group norm's elementwise passes (csrc/group_norm.pyx).
 *
 * One span is one (sample, channel) plane of S contiguous elements, which shares one
 * group mean and one per-channel scale, so each pass is a scalar-coefficient loop that
 * vectorizes; compiled per ISA (PYDL_SIMD_INSTANCES, csrc/_vmath.h) for float32. The
 * statistics come from csrc/_norm.h (float64 accumulation, corrected two-pass form).
 */
#ifndef PYDL_GROUP_NORM_H
#define PYDL_GROUP_NORM_H

/* _norm.h's always_inline 8-float loader trips gcc's "AVX vector return without AVX
 * enabled changes the ABI" note; it is always inlined, so no call crosses an ABI. The
 * note is emitted at code generation, past any push/pop, so it stays off for this file. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wpsabi"
#endif
#include "_norm.h"

#define PYDL_DEFINE_GROUP_NORM_OPS(ISA, ATTR, T, SUFFIX)                                      \
/* out = (x - m) * a + b: subtracting first keeps a constant plane exactly at b */      \
ATTR static void pydl_gn_affine_##SUFFIX##ISA(const T* PYDL_RESTRICT x, ptrdiff_t n, T m,     \
                                         T a, T b, T* PYDL_RESTRICT out)                 \
{                                                                                        \
    ptrdiff_t i;                                                                         \
    for (i = 0; i < n; i++)                                                              \
        out[i] = (x[i] - m) * a + b;                                                     \
}                                                                                        \
/* dx = a g + k (x - m) + e */                                                           \
ATTR static void pydl_gn_affine_grad_##SUFFIX##ISA(const T* PYDL_RESTRICT g,                  \
                                              const T* PYDL_RESTRICT x, ptrdiff_t n,     \
                                              T a, T k, T m, T e, T* PYDL_RESTRICT dx)   \
{                                                                                        \
    ptrdiff_t i;                                                                         \
    for (i = 0; i < n; i++)                                                              \
        dx[i] = a * g[i] + k * (x[i] - m) + e;                                           \
}

PYDL_SIMD_INSTANCES(PYDL_DEFINE_GROUP_NORM_OPS, float, f)
PYDL_SIMD_RESOLVE(pydl_gn_affine_f)
PYDL_SIMD_RESOLVE(pydl_gn_affine_grad_f)
PYDL_DEFINE_GROUP_NORM_OPS(, , double, d)

#endif
