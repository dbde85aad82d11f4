/* Max pooling with a 2x2 window, stride 2, no padding or dilation: the pooling of
 * LeNet, VGG and the digits CNN. Each output reads a = x[2oh][2ow], b = x[2oh][2ow+1],
 * c = x[2oh+1][2ow], d = x[2oh+1][2ow+1] and must pick exactly what the general
 * kernel's update (pydl_max_update_*: take v when v > best or v is NaN, in the order
 * a, b, c, d, starting from best = a) picks: the last NaN of the window if there is
 * one, else the first element equal to the maximum. That rule composes: picking
 * between a and b, between c and d, then between the two winners (top first) gives
 * the same element, bits and index. All selects are bit masks (no branch to
 * mispredict on random data) in plain loops the compiler can vectorize; every ISA copy
 * picks the same element, so results do not depend on the CPU or the thread count.
 *
 * pydl_max2x2_{f,d}(x, out, idx, r0, r1, OH, OW, W, plane_in): output rows r0..r1-1
 * of P * OH (row r: plane r / OH, row r % OH); x is (P, plane_in), out and idx are
 * (P * OH, OW) flat; idx holds the flat index within the input plane. */
#ifndef PYDL_MAXPOOL_H
#define PYDL_MAXPOOL_H

#include <stdint.h>
#include <string.h>
#include "_vmath.h"

#define PYDL_DEFINE_MAX2X2(ISA, ATTR, T, UT, SUFFIX)                                        \
ATTR static void pydl_max2x2_##SUFFIX##ISA(const T* x, T* out, int64_t* idx,                 \
                                           int64_t r0, int64_t r1, int64_t OH, int64_t OW,   \
                                           int64_t W, int64_t plane_in)                      \
{                                                                                          \
    int64_t r, ow, p = r0 / OH, oh = r0 - p * OH;                                          \
    for (r = r0; r < r1; r++, oh++) {                                                      \
        if (oh == OH) { oh = 0; p++; }                                                     \
        int64_t top = 2 * oh * W;                                                          \
        const UT* t = (const UT*)(x + p * plane_in + top);                                 \
        const UT* u = t + W;                                                               \
        UT* op = (UT*)(out + r * OW);                                                      \
        int64_t* ip = idx + r * OW;                                                        \
        for (ow = 0; ow < OW; ow++) {                                                      \
            UT ab = t[2 * ow], bb = t[2 * ow + 1], cb = u[2 * ow], db = u[2 * ow + 1];     \
            T a, b, c, d, l, rr;                                                           \
            memcpy(&a, &ab, sizeof a); memcpy(&b, &bb, sizeof b);                          \
            memcpy(&c, &cb, sizeof c); memcpy(&d, &db, sizeof d);                          \
            UT mb = -(UT)((b > a) | (b != b));                                             \
            UT md = -(UT)((d > c) | (d != d));                                             \
            UT lb = (bb & mb) | (ab & ~mb), rb = (db & md) | (cb & ~md);                   \
            int64_t li = (int64_t)(mb & 1), ri = W + (int64_t)(md & 1);                   \
            memcpy(&l, &lb, sizeof l); memcpy(&rr, &rb, sizeof rr);                        \
            UT mr = -(UT)((rr > l) | (rr != rr));                                          \
            int64_t mi = -(int64_t)(mr & 1);                                               \
            op[ow] = (rb & mr) | (lb & ~mr);                                               \
            ip[ow] = top + 2 * ow + ((ri & mi) | (li & ~mi));                              \
        }                                                                                  \
    }                                                                                      \
}

PYDL_SIMD_INSTANCES(PYDL_DEFINE_MAX2X2, float, uint32_t, f)
PYDL_SIMD_INSTANCES(PYDL_DEFINE_MAX2X2, double, uint64_t, d)
PYDL_SIMD_RESOLVE(pydl_max2x2_f)
PYDL_SIMD_RESOLVE(pydl_max2x2_d)

/* The loop above leaves narrow rows (W = 4 and W = 8 input columns: 2 and 4 outputs
 * a row, the digits CNN's late layers) at about 8 ns an output, and compilers differ
 * in how they vectorize its strided loads. Where the CPU has AVX2, a row takes 4
 * outputs a step: even and odd columns apart (shuffle), the pick along each row, then
 * the pick between the top and bottom row's winners, each a compare-and-blend with
 * the same rule, so the same bits and indices as the loop above; a row's last
 * outputs (OW not a multiple of 4) go one at a time. For W = 4 the planes must have
 * an even number of rows (H = 2 OH), so the row pairs lie back to back (row pair r
 * at x + 2 r W) and two of them make the 4 outputs of a step. */
#if PYDL_SIMD_CLONES
#include <immintrin.h>

/* (b > a) | isnan(b) lane by lane: where the pick takes b over a */
#define PYDL_MAX2X2_TAKE(a, b) _mm256_or_ps(_mm256_cmp_ps((b), (a), _CMP_GT_OQ),            \
                                            _mm256_cmp_ps((b), (b), _CMP_UNORD_Q))

/* 4 outputs from E (even columns) and O (odd columns) laid out as 64-bit chunks
 * [top 0-1, top 2-3, bottom 0-1, bottom 2-3] (after the caller's permute): their
 * values, and their offsets (0, 1, W, W + 1) from each window's first element. */
__attribute__((target("arch=x86-64-v3")))
static inline void pydl_max2x2_four(__m256 E, __m256 O, int32_t W, float* op, __m128i* off)
{
    __m256 mh = PYDL_MAX2X2_TAKE(E, O);
    __m256 h = _mm256_blendv_ps(E, O, mh);
    __m128 top = _mm256_castps256_ps128(h), bot = _mm256_extractf128_ps(h, 1);
    __m128 mv = _mm_or_ps(_mm_cmp_ps(bot, top, _CMP_GT_OQ),
                          _mm_cmp_ps(bot, bot, _CMP_UNORD_Q));
    _mm_storeu_ps(op, _mm_blendv_ps(top, bot, mv));
    __m128i ht = _mm_sub_epi32(_mm_setzero_si128(),
                               _mm256_castsi256_si128(_mm256_castps_si256(mh)));
    __m128i hb = _mm_sub_epi32(_mm_set1_epi32(W),
                               _mm256_extractf128_si256(_mm256_castps_si256(mh), 1));
    *off = _mm_blendv_epi8(ht, hb, _mm_castps_si128(mv));
}

/* The output whose window starts at t (offset first from the plane's start): the
 * loop body of pydl_max2x2_f, for the ends of rows. */
static inline void pydl_max2x2_one_f(const float* t, int64_t W, int64_t first,
                                     float* op, int64_t* ip)
{
    uint32_t ab, bb, cb, db, lb, rb;
    float a = t[0], b = t[1], c = t[W], d = t[W + 1], l, rr;
    memcpy(&ab, &a, 4); memcpy(&bb, &b, 4); memcpy(&cb, &c, 4); memcpy(&db, &d, 4);
    uint32_t mb = -(uint32_t)((b > a) | (b != b)), md = -(uint32_t)((d > c) | (d != d));
    lb = (bb & mb) | (ab & ~mb);
    rb = (db & md) | (cb & ~md);
    int64_t li = (int64_t)(mb & 1), ri = W + (int64_t)(md & 1);
    memcpy(&l, &lb, 4); memcpy(&rr, &rb, 4);
    uint32_t mr = -(uint32_t)((rr > l) | (rr != rr));
    int64_t mi = -(int64_t)(mr & 1);
    lb = (rb & mr) | (lb & ~mr);
    memcpy(op, &lb, 4);
    *ip = first + ((ri & mi) | (li & ~mi));
}

__attribute__((target("arch=x86-64-v3")))
static void pydl_max2x2_avx2_f(const float* x, float* out, int64_t* idx, int64_t r0,
                               int64_t r1, int64_t OH, int64_t OW, int64_t W,
                               int64_t plane_in)
{
    int64_t r = r0, p = r0 / OH, oh = r0 - p * OH, ow;
    __m128i off;
    if (W == 8 && plane_in == 2 * OH * W) {   /* row pairs back to back, one a step */
        for (; r < r1; r++, oh++) {
            if (oh == OH) { oh = 0; }
            const float* t = x + 2 * r * W;
            __m256 T = _mm256_loadu_ps(t), B = _mm256_loadu_ps(t + 8);
            __m256 E = _mm256_shuffle_ps(T, B, 0x88), O = _mm256_shuffle_ps(T, B, 0xDD);
            E = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(E), 0xD8));
            O = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(O), 0xD8));
            pydl_max2x2_four(E, O, 8, out + r * 4, &off);
            __m256i base = _mm256_add_epi64(_mm256_set1_epi64x(2 * oh * W),
                                            _mm256_setr_epi64x(0, 2, 4, 6));
            _mm256_storeu_si256((__m256i*)(idx + r * 4),
                                _mm256_add_epi64(base, _mm256_cvtepi32_epi64(off)));
        }
        return;
    }
    if (W != 4) {   /* W >= 8: 4 outputs of a row a step, any leftover one at a time */
        for (; r < r1; r++, oh++) {
            if (oh == OH) { oh = 0; p++; }
            int64_t top = 2 * oh * W;
            const float* t = x + p * plane_in + top;
            float* op = out + r * OW;
            int64_t* ip = idx + r * OW;
            for (ow = 0; ow + 4 <= OW; ow += 4) {
                __m256 T = _mm256_loadu_ps(t + 2 * ow), B = _mm256_loadu_ps(t + W + 2 * ow);
                __m256 E = _mm256_shuffle_ps(T, B, 0x88), O = _mm256_shuffle_ps(T, B, 0xDD);
                /* [t0 t2 b0 b2 | t4 t6 b4 b6] -> [t0 t2 t4 t6 | b0 b2 b4 b6] */
                E = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(E), 0xD8));
                O = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(O), 0xD8));
                pydl_max2x2_four(E, O, (int32_t)W, op + ow, &off);
                __m256i base = _mm256_add_epi64(_mm256_set1_epi64x(top + 2 * ow),
                                                _mm256_setr_epi64x(0, 2, 4, 6));
                _mm256_storeu_si256((__m256i*)(ip + ow),
                                    _mm256_add_epi64(base, _mm256_cvtepi32_epi64(off)));
            }
            for (; ow < OW; ow++)
                pydl_max2x2_one_f(t + 2 * ow, W, top + 2 * ow, op + ow, ip + ow);
        }
        return;
    }
    /* W == 4 with H = 2 OH: two row pairs (r, r + 1), back to back, a step */
    for (; r + 1 < r1; r += 2) {
        int64_t oh1 = oh + 1 == OH ? 0 : oh + 1;
        const float* t = x + 2 * r * W;
        __m256 V0 = _mm256_loadu_ps(t), V1 = _mm256_loadu_ps(t + 8);
        /* [t0 t2 t0' t2' | b0 b2 b0' b2']: already top half, bottom half */
        __m256 E = _mm256_shuffle_ps(V0, V1, 0x88), O = _mm256_shuffle_ps(V0, V1, 0xDD);
        pydl_max2x2_four(E, O, 4, out + r * 2, &off);
        __m256i base = _mm256_setr_epi64x(2 * oh * W, 2 * oh * W + 2,
                                          2 * oh1 * W, 2 * oh1 * W + 2);
        _mm256_storeu_si256((__m256i*)(idx + r * 2),
                            _mm256_add_epi64(base, _mm256_cvtepi32_epi64(off)));
        oh = oh1 + 1 == OH ? 0 : oh1 + 1;
    }
    if (r < r1)
        pydl_max2x2_f(x, out, idx, r, r1, OH, OW, W, plane_in);
}
#endif

/* pydl_max2x2_f, or its AVX2 form where that applies */
static void pydl_max2x2_fast_f(const float* x, float* out, int64_t* idx, int64_t r0,
                               int64_t r1, int64_t OH, int64_t OW, int64_t W, int64_t plane_in)
{
#if PYDL_SIMD_CLONES
    if ((W >= 8 || (W == 4 && plane_in == 2 * OH * W)) && W < ((int64_t)1 << 30)
            && pydl_cpu_capability() >= 3) {
        pydl_max2x2_avx2_f(x, out, idx, r0, r1, OH, OW, W, plane_in);
        return;
    }
#endif
    pydl_max2x2_f(x, out, idx, r0, r1, OH, OW, W, plane_in);
}

#endif
