/* Dropout masks from a counter-based random stream, and the fused mask-and-scale.
 *
 * The stream is SplitMix64 (Steele, Lea and Flood 2014; it passes BigCrush): output k
 * of seed s is mix64(s + (k + 1) * golden), a function of k alone, so any span of it
 * can be computed by any thread and the mask does not depend on the thread count.
 * Each 64-bit output gives two 32-bit uniforms: element i of a tensor uses half
 * (i & 1) of output i >> 1. Element i is dropped when its uniform is below
 * `threshold` = round(p * 2^32) (so p = 1 drops everything, p = 0 nothing).
 * The seed is drawn from a numpy.random.Generator by pydl.functional.dropout.
 */
#ifndef PYDL_DROPOUT_H
#define PYDL_DROPOUT_H

#include <stdint.h>
#include "_vmath.h"

#define PYDL_GOLDEN 0x9E3779B97F4A7C15ULL

static inline uint64_t pydl_mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* Elements per block: the stream is first written to a small buffer in plain uint64
 * arithmetic (vectorizable), then compared as 32-bit halves. */
#define PYDL_DROPOUT_BLOCK 512

typedef union {
    uint64_t w[PYDL_DROPOUT_BLOCK / 2];
    uint32_t h[PYDL_DROPOUT_BLOCK];
} pydl_stream_block;

/* u[j] = 32-bit uniform of element start + j, for j < n <= PYDL_DROPOUT_BLOCK (start even) */
static inline void pydl_stream_fill(pydl_stream_block* b, ptrdiff_t n, uint64_t seed,
                                    uint64_t start)
{
    ptrdiff_t k, pairs = (n + 1) / 2;
    uint64_t base = seed + (start / 2 + 1) * PYDL_GOLDEN;
    for (k = 0; k < pairs; k++)
        b->w[k] = pydl_mix64(base + (uint64_t)k * PYDL_GOLDEN);
#if !(defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__) && \
    !defined(_M_X64) && !defined(_M_ARM64)
    /* big-endian (or unknown): put the low half first, as on little-endian machines */
    for (k = 0; k < pairs; k++) {
        uint64_t w = b->w[k];
        uint32_t lo = (uint32_t)w, hi = (uint32_t)(w >> 32);
        b->h[2 * k] = lo;
        b->h[2 * k + 1] = hi;
    }
#endif
}

/* mask[i] = 1 (keep) or 0 (drop) for elements start .. start + n - 1 (start even) */
#define PYDL_DEFINE_BERNOULLI(ISA, ATTR, T, SUFFIX)                                         \
ATTR static void pydl_bernoulli_span##ISA(uint8_t* mask, ptrdiff_t n, uint64_t seed,        \
                                                   uint64_t start, uint64_t threshold)      \
{                                                                                           \
    pydl_stream_block b;                                                                    \
    ptrdiff_t i0, j, m;                                                                     \
    if (threshold > 0xFFFFFFFFULL) {    /* p = 1 */                                         \
        for (j = 0; j < n; j++) mask[j] = 0;                                                \
        return;                                                                             \
    }                                                                                       \
    uint32_t t = (uint32_t)threshold;                                                       \
    for (i0 = 0; i0 < n; i0 += PYDL_DROPOUT_BLOCK) {                                        \
        m = n - i0 < PYDL_DROPOUT_BLOCK ? n - i0 : PYDL_DROPOUT_BLOCK;                      \
        pydl_stream_fill(&b, m, seed, start + (uint64_t)i0);                                \
        for (j = 0; j < m; j++) mask[i0 + j] = b.h[j] >= t;                                 \
    }                                                                                       \
}

/* out = x * (kept ? scale : 0), with the mask written too; out may alias x */
#define PYDL_DEFINE_DROPOUT(ISA, ATTR, T, SUFFIX)                                               \
ATTR static void pydl_dropout_span_##SUFFIX##ISA(                                     \
    const T* x, T* out, uint8_t* mask, ptrdiff_t n, uint64_t seed, uint64_t start,     \
    uint64_t threshold, T scale)                                                       \
{                                                                                      \
    pydl_stream_block b;                                                               \
    ptrdiff_t i0, j, m;                                                                \
    if (threshold > 0xFFFFFFFFULL) {    /* p = 1: x * 0 keeps NaN and inf as NaN */     \
        for (j = 0; j < n; j++) { mask[j] = 0; out[j] = x[j] * (T)0; }                 \
        return;                                                                        \
    }                                                                                  \
    uint32_t t = (uint32_t)threshold;                                                  \
    for (i0 = 0; i0 < n; i0 += PYDL_DROPOUT_BLOCK) {                                   \
        m = n - i0 < PYDL_DROPOUT_BLOCK ? n - i0 : PYDL_DROPOUT_BLOCK;                  \
        pydl_stream_fill(&b, m, seed, start + (uint64_t)i0);                           \
        for (j = 0; j < m; j++) {                                                      \
            T v = x[i0 + j];                                                           \
            int keep = b.h[j] >= t;                                                    \
            mask[i0 + j] = (uint8_t)keep;                                              \
            out[i0 + j] = v * (keep ? scale : (T)0);                                   \
        }                                                                              \
    }                                                                                  \
}

PYDL_SIMD_INSTANCES(PYDL_DEFINE_BERNOULLI, uint8_t, u8)
PYDL_SIMD_INSTANCES(PYDL_DEFINE_DROPOUT, float, f)
PYDL_SIMD_INSTANCES(PYDL_DEFINE_DROPOUT, double, d)
PYDL_SIMD_RESOLVE(pydl_bernoulli_span)
PYDL_SIMD_RESOLVE(pydl_dropout_span_f)
PYDL_SIMD_RESOLVE(pydl_dropout_span_d)

#endif
