/* Multiply-add spans for the direct (depthwise) convolution kernels in conv.pyx.
 *
 * acc[i] += w * src[i] over long spans (a whole zero-padded plane at a time), and a
 * three-tap form that reads three shifted sources per pass over acc (one 3-wide kernel
 * row): fewer loads and stores of acc than three single passes. Compiled for AVX-512,
 * AVX2+FMA and the baseline and picked once per process, like csrc/_vmath.h's spans
 * (see PYDL_SIMD_INSTANCES there), so one machine always runs the same code. */
#ifndef PYDL_CONVROW_H
#define PYDL_CONVROW_H

#include <stddef.h>

#include "_vmath.h"

#if defined(_MSC_VER)
#define PYDL_RESTRICT __restrict
#else
#define PYDL_RESTRICT restrict
#endif

#define PYDL_DEFINE_CONV_ROWS(ISA, ATTR, T, SUFFIX)                                          \
ATTR static void pydl_axpy_##SUFFIX##ISA(T* PYDL_RESTRICT acc,                   \
                                                  const T* PYDL_RESTRICT src, T w,        \
                                                  ptrdiff_t n)                            \
{                                                                                       \
    ptrdiff_t i;                                                                        \
    for (i = 0; i < n; i++) acc[i] += w * src[i];                                       \
}                                                                                       \
ATTR static void pydl_axpy3_##SUFFIX##ISA(T* PYDL_RESTRICT acc,                  \
                                                   const T* PYDL_RESTRICT src,            \
                                                   ptrdiff_t step, T w0, T w1, T w2,      \
                                                   ptrdiff_t n)                           \
{                                                                                       \
    ptrdiff_t i;                                                                        \
    const T* s1 = src + step;                                                           \
    const T* s2 = src + 2 * step;                                                       \
    for (i = 0; i < n; i++) acc[i] += w0 * src[i] + w1 * s1[i] + w2 * s2[i];            \
}

PYDL_SIMD_INSTANCES(PYDL_DEFINE_CONV_ROWS, float, f)
PYDL_SIMD_INSTANCES(PYDL_DEFINE_CONV_ROWS, double, d)
PYDL_SIMD_RESOLVE(pydl_axpy_f)
PYDL_SIMD_RESOLVE(pydl_axpy3_f)
PYDL_SIMD_RESOLVE(pydl_axpy_d)
PYDL_SIMD_RESOLVE(pydl_axpy3_d)

#endif
