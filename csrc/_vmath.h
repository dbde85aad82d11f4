/* Branch-free float32 exp, log1p, tanh and sigmoid that gcc and clang vectorize.
 *
 * libm's expf is a function call per element, so a loop calling it never becomes SIMD
 * code. These are static inline and built only from adds, multiplies, integer/bit
 * conversions and selects, so a loop over them vectorizes at -O3 on the x86-64 or
 * arm64 baseline. tests/test_vmath.py measures them against float64 over their range.
 *
 * The polynomial coefficients are our own weighted least-squares fits of
 *   exp:  (e^r - 1 - r) / r^2            on |r| <= ln2/2
 *   tanh: (tanh x - x) / x^3 in x^2       on |x| <= 0.625
 *   log:  (log((1+s)/(1-s)) - 2s) / s^3   on |s| <= 0.1716  (m in [sqrt(1/2), sqrt(2)))
 * Float64 kernels call libm instead: they serve gradient checks, where accuracy rules.
 */
#ifndef PYDL_VMATH_H
#define PYDL_VMATH_H

#include <stdint.h>
#include <math.h>
#include <stddef.h>
#include <string.h>

#if defined(_MSC_VER) && !defined(__cplusplus)
#define inline __inline  /* MSVC's C mode predates C99 inline */
#endif

/* SIMD dispatch. The span and row kernels below (and those of the other csrc/_*.h
 * headers) are compiled three times, for AVX-512 (x86-64-v4), AVX2+FMA (x86-64-v3)
 * and the baseline, and each name is bound once per process, when the module loads, to
 * one copy (a glibc ifunc whose resolver is pydl_cpu_capability). On the development
 * machine this made float32 sigmoid 2.3x faster than the SSE2 baseline. The
 * environment variable PYDL_CPU_CAPABILITY (read at load time, as PyTorch reads
 * ATEN_CPU_CAPABILITY) caps the choice: "default" forces the baseline copy, "avx2" the
 * AVX2 one, "avx512" allows everything; a cap above what the CPU has, or an unknown
 * value, leaves the CPU's best. So every copy runs and is tested on any AVX2 machine.
 * One process always runs the same copy, so results stay bitwise identical across
 * thread counts. Elsewhere (clang, macOS, Windows, musl, arm64, gcc before 12, which
 * lacks __builtin_cpu_supports("x86-64-v4")) each kernel is one plain function built
 * for the baseline.
 *
 * A family of dispatched functions is a macro DEFINE(ISA, ATTR, T, SUFFIX, ...) whose
 * functions are named name_##SUFFIX##ISA and carry ATTR; PYDL_SIMD_INSTANCES defines
 * the copies and PYDL_SIMD_RESOLVE(name_f) binds the plain name to them. */
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12 && defined(__x86_64__) \
    && defined(__linux__) && defined(__GLIBC__) && !defined(PYDL_NO_SIMD_DISPATCH)
#define PYDL_SIMD_CLONES 1
#include <stdlib.h>

/* a == b for C strings, by hand: the resolvers run while the loader relocates the
 * module, and libc's strcmp is itself an ifunc (not yet resolved in a statically
 * linked interpreter). */
static int pydl_str_equal(const char* a, const char* b)
{
    while (*a && *a == *b) { a++; b++; }
    return *a == *b;
}

/* 4: x86-64-v4 (AVX-512), 3: x86-64-v3 (AVX2+FMA), 0: baseline. Runs in the ifunc
 * resolvers, while the loader holds its lock: the cached value is computed once. */
static int pydl_cpu_capability(void)
{
    static int level = -1;
    if (level < 0) {
        int best, cap;
        const char* want = getenv("PYDL_CPU_CAPABILITY");
        __builtin_cpu_init();
        best = __builtin_cpu_supports("x86-64-v4") ? 4 : __builtin_cpu_supports("x86-64-v3") ? 3 : 0;
        cap = best;
        if (want && pydl_str_equal(want, "default")) cap = 0;
        else if (want && pydl_str_equal(want, "avx2")) cap = 3;
        level = cap < best ? cap : best;
    }
    return level;
}

#define PYDL_TARGET_V4 __attribute__((target("arch=x86-64-v4")))
#define PYDL_TARGET_V3 __attribute__((target("arch=x86-64-v3")))
#define PYDL_SIMD_INSTANCES(DEFINE, ...) DEFINE(_v4, PYDL_TARGET_V4, __VA_ARGS__)             \
                                         DEFINE(_v3, PYDL_TARGET_V3, __VA_ARGS__)             \
                                         DEFINE(_v0, , __VA_ARGS__)
#define PYDL_SIMD_RESOLVE(NAME)                                                             \
static __typeof__(NAME##_v0)* NAME##_resolver(void)                                         \
{                                                                                           \
    int level = pydl_cpu_capability();                                                      \
    return level >= 4 ? NAME##_v4 : level >= 3 ? NAME##_v3 : NAME##_v0;                     \
}                                                                                           \
__attribute__((unused)) static __typeof__(NAME##_v0) NAME __attribute__((ifunc(#NAME "_resolver")));
#else
#define PYDL_SIMD_CLONES 0
static int pydl_cpu_capability(void) { return -1; }   /* no dispatch in this build */
#define PYDL_SIMD_EXPAND(x) x   /* MSVC's preprocessor passes __VA_ARGS__ as one argument otherwise */
#define PYDL_SIMD_INSTANCES(DEFINE, ...) PYDL_SIMD_EXPAND(DEFINE(, , __VA_ARGS__))
#define PYDL_SIMD_RESOLVE(NAME)
#endif

static inline float pydl_bits_to_float(int32_t i) { float f; memcpy(&f, &i, sizeof f); return f; }
static inline int32_t pydl_float_to_bits(float f) { int32_t i; memcpy(&i, &f, sizeof i); return i; }

/* e^x for float32. Inputs below -87.3365 (results below FLT_MIN) give 0, inputs above
 * 88.7228 give +inf, NaN gives NaN. */
static inline float pydl_expf(float x)
{
    const float lo = -87.3365479f, hi = 88.7228391f;
    const float log2e = 1.44269504088896341f;
    const float ln2_hi = 0.693145751953125f;     /* few mantissa bits: n * ln2_hi is exact */
    const float ln2_lo = 1.428606765330187e-06f;
    const float shifter = 12582912.0f;            /* 1.5 * 2^23: adding it rounds to an integer */
    float xc = x < lo ? lo : x;
    xc = xc > hi ? hi : xc;
    float n = (xc * log2e + shifter) - shifter;   /* round(x / ln2), in [-126, 128] */
    float r = (xc - n * ln2_hi) - n * ln2_lo;     /* |r| <= ln2 / 2 */
    float q = 0.0013570574f;
    q = q * r + 0.0083718617f;
    q = q * r + 0.041673381f;
    q = q * r + 0.16666488f;
    q = q * r + 0.49999970f;
    float p = 1.0f + r + (r * r) * q;
    /* 2^n as two normal factors so n = -126 and n = 128 need no special case */
    int32_t ni = (int32_t)n;
    int32_t n1 = ni >> 1;
    int32_t n2 = ni - n1;
    float y = (p * pydl_bits_to_float((n1 + 127) << 23)) * pydl_bits_to_float((n2 + 127) << 23);
    y = x < lo ? 0.0f : y;
    y = x > hi ? (float)INFINITY : y;
    return x != x ? x : y;
}

/* log(v) for v in [1, 2]: enough for log1p of a value in [0, 1], the only use here. */
static inline float pydl_log_1_2(float v)
{
    const float ln2_hi = 0.693145751953125f;
    const float ln2_lo = 1.428606765330187e-06f;
    int32_t bits = pydl_float_to_bits(v);
    int32_t e = ((bits >> 23) & 0xff) - 127;
    float m = pydl_bits_to_float((bits & 0x007fffff) | 0x3f800000);  /* v = m * 2^e, m in [1, 2) */
    int big = m > 1.41421356f;
    m = big ? 0.5f * m : m;
    float ef = (float)(e + big);
    float s = (m - 1.0f) / (m + 1.0f);
    float s2 = s * s;
    float t = 0.23755035f;
    t = t * s2 + 0.28529862f;
    t = t * s2 + 0.40000415f;
    t = t * s2 + 0.66666663f;
    float logm = 2.0f * s + s * s2 * t;
    return ef * ln2_hi + (logm + ef * ln2_lo);
}

/* log(1 + u) for u in [0, 1], accurate also for tiny u (the rounding of 1 + u is
 * corrected for). Used for softplus-type terms log(1 + e^-|x|). */
static inline float pydl_log1pf_unit(float u)
{
    float v = 1.0f + u;
    float corr = (u - (v - 1.0f)) / v;   /* what rounding 1 + u lost, to first order */
    float y = pydl_log_1_2(v) + corr;
    return v == 1.0f ? u : y;
}

/* tanh for float32: an odd polynomial near 0 (no cancellation), (1-e)/(1+e) with
 * e = exp(-2|x|) elsewhere. */
static inline float pydl_tanhf(float x)
{
    float a = x < 0.0f ? -x : x;
    float x2 = x * x;
    float s = 0.0021382074f;
    s = s * x2 - 0.0081717689f;
    s = s * x2 + 0.021698201f;
    s = s * x2 - 0.053946253f;
    s = s * x2 + 0.13333201f;
    s = s * x2 - 0.33333331f;
    float small = x + x * x2 * s;
    float e = pydl_expf(-2.0f * a);
    float big = (1.0f - e) / (1.0f + e);
    big = x < 0.0f ? -big : big;
    float y = a < 0.625f ? small : big;
    return x != x ? x : y;
}

/* 1 / (1 + e^-x): exp overflows to inf for x < -88.7 and the result is then exactly 0. */
static inline float pydl_sigmoidf(float x)
{
    return 1.0f / (1.0f + pydl_expf(-x));
}


/* Row reductions in a fixed order, vectorizable without -ffast-math: PYDL_LANES
 * independent partial results, combined in lane order at the end. The order depends
 * only on the row length, so every thread count gives the same bits. */
#define PYDL_LANES 16

#define PYDL_DEFINE_ROW_OPS(ISA, ATTR, T, SUFFIX, EXPF)                                       \
/* max over x[0:n] (n >= 1); NaNs are skipped by the compare, a NaN row stays NaN  \
 * downstream because exp(NaN - m) is NaN */                                        \
ATTR static T pydl_row_max_##SUFFIX##ISA(const T* x, ptrdiff_t n)                     \
{                                                                                   \
    T acc[PYDL_LANES];                                                              \
    ptrdiff_t i, l, n_main = n - n % PYDL_LANES;                                   \
    T m = x[0];                                                                     \
    for (l = 0; l < PYDL_LANES; l++) acc[l] = m;                                    \
    for (i = 0; i < n_main; i += PYDL_LANES)                                        \
        for (l = 0; l < PYDL_LANES; l++)                                            \
            acc[l] = x[i + l] > acc[l] ? x[i + l] : acc[l];                         \
    for (l = 0; l < PYDL_LANES; l++) m = acc[l] > m ? acc[l] : m;                   \
    for (i = n_main; i < n; i++) m = x[i] > m ? x[i] : m;                           \
    return m;                                                                       \
}                                                                                   \
/* sum over x[0:n] */                                                               \
ATTR static T pydl_row_sum_##SUFFIX##ISA(const T* x, ptrdiff_t n)                     \
{                                                                                   \
    T acc[PYDL_LANES];                                                              \
    ptrdiff_t i, l, n_main = n - n % PYDL_LANES;                                   \
    T s = 0;                                                                        \
    for (l = 0; l < PYDL_LANES; l++) acc[l] = 0;                                    \
    for (i = 0; i < n_main; i += PYDL_LANES)                                        \
        for (l = 0; l < PYDL_LANES; l++) acc[l] += x[i + l];                        \
    for (l = 0; l < PYDL_LANES; l++) s += acc[l];                                   \
    for (i = n_main; i < n; i++) s += x[i];                                         \
    return s;                                                                       \
}                                                                                   \
/* sum over x[0:n] * y[0:n] */                                                      \
ATTR static T pydl_row_dot_##SUFFIX##ISA(const T* x, const T* y, ptrdiff_t n)         \
{                                                                                   \
    T acc[PYDL_LANES];                                                              \
    ptrdiff_t i, l, n_main = n - n % PYDL_LANES;                                   \
    T s = 0;                                                                        \
    for (l = 0; l < PYDL_LANES; l++) acc[l] = 0;                                    \
    for (i = 0; i < n_main; i += PYDL_LANES)                                        \
        for (l = 0; l < PYDL_LANES; l++) acc[l] += x[i + l] * y[i + l];             \
    for (l = 0; l < PYDL_LANES; l++) s += acc[l];                                   \
    for (i = n_main; i < n; i++) s += x[i] * y[i];                                  \
    return s;                                                                       \
}                                                                                   \
/* sum over (shift - x[0:n]) * w[0:n] (w may be NULL for all-ones); subtracting  \
 * before summing keeps precision when x is large and close to shift */          \
ATTR static T pydl_row_shift_dot_##SUFFIX##ISA(const T* x, const T* w, ptrdiff_t n, T shift) \
{                                                                                   \
    T acc[PYDL_LANES];                                                              \
    ptrdiff_t i, l, n_main = n - n % PYDL_LANES;                                   \
    T s = 0;                                                                        \
    for (l = 0; l < PYDL_LANES; l++) acc[l] = 0;                                    \
    if (w) {                                                                        \
        for (i = 0; i < n_main; i += PYDL_LANES)                                    \
            for (l = 0; l < PYDL_LANES; l++) acc[l] += (shift - x[i + l]) * w[i + l]; \
    } else {                                                                        \
        for (i = 0; i < n_main; i += PYDL_LANES)                                    \
            for (l = 0; l < PYDL_LANES; l++) acc[l] += shift - x[i + l];            \
    }                                                                               \
    for (l = 0; l < PYDL_LANES; l++) s += acc[l];                                   \
    for (i = n_main; i < n; i++) s += (shift - x[i]) * (w ? w[i] : (T)1);           \
    return s;                                                                       \
}                                                                                   \
/* out[j] = exp(x[j] - shift); returns the sum of out (out may alias x) */          \
ATTR static T pydl_row_exp_sum_##SUFFIX##ISA(const T* x, T* out, ptrdiff_t n, T shift) \
{                                                                                   \
    T acc[PYDL_LANES];                                                              \
    ptrdiff_t i, l, n_main = n - n % PYDL_LANES;                                   \
    T s = 0;                                                                        \
    for (l = 0; l < PYDL_LANES; l++) acc[l] = 0;                                    \
    for (i = 0; i < n_main; i += PYDL_LANES)                                        \
        for (l = 0; l < PYDL_LANES; l++) {                                          \
            T e = EXPF(x[i + l] - shift);                                           \
            out[i + l] = e;                                                         \
            acc[l] += e;                                                            \
        }                                                                           \
    for (l = 0; l < PYDL_LANES; l++) s += acc[l];                                   \
    for (i = n_main; i < n; i++) { T e = EXPF(x[i] - shift); out[i] = e; s += e; }  \
    return s;                                                                       \
}

/* float32: SIMD-dispatched; float64: libm's exp does not vectorize, so no clones. */
PYDL_SIMD_INSTANCES(PYDL_DEFINE_ROW_OPS, float, f, pydl_expf)
PYDL_SIMD_RESOLVE(pydl_row_max_f)
PYDL_SIMD_RESOLVE(pydl_row_sum_f)
PYDL_SIMD_RESOLVE(pydl_row_dot_f)
PYDL_SIMD_RESOLVE(pydl_row_shift_dot_f)
PYDL_SIMD_RESOLVE(pydl_row_exp_sum_f)
PYDL_DEFINE_ROW_OPS(, , double, d, exp)

/* Elementwise float32 spans: out[i] = f(x[i]) for i < n, SIMD-dispatched. Kernels call
 * them on fixed-size chunks from their OpenMP loops. */
#define PYDL_DEFINE_SPANS_F(ISA, ATTR, T, SUFFIX)                                           \
ATTR static void pydl_span_sigmoid_f##ISA(const float* x, float* out, ptrdiff_t n)          \
{                                                                                           \
    for (ptrdiff_t i = 0; i < n; i++) out[i] = pydl_sigmoidf(x[i]);                         \
}                                                                                           \
                                                                                            \
ATTR static void pydl_span_tanh_f##ISA(const float* x, float* out, ptrdiff_t n)             \
{                                                                                           \
    for (ptrdiff_t i = 0; i < n; i++) out[i] = pydl_tanhf(x[i]);                            \
}                                                                                           \
                                                                                            \
/* silu: x * sigmoid(x) */                                                                  \
ATTR static void pydl_span_silu_f##ISA(const float* x, float* out, ptrdiff_t n)             \
{                                                                                           \
    for (ptrdiff_t i = 0; i < n; i++) out[i] = x[i] * pydl_sigmoidf(x[i]);                  \
}                                                                                           \
                                                                                            \
/* d silu: g * s * (1 + x * (1 - s)), s = sigmoid(x) */                                     \
ATTR static void pydl_span_silu_backward_f##ISA(const float* g, const float* x,             \
                                                         float* out, ptrdiff_t n)           \
{                                                                                           \
    for (ptrdiff_t i = 0; i < n; i++) {                                                     \
        float s = pydl_sigmoidf(x[i]);                                                      \
        out[i] = g[i] * s * (1.0f + x[i] * (1.0f - s));                                     \
    }                                                                                       \
}                                                                                           \
                                                                                            \
/* elu: x if x > 0 else alpha * (exp(x) - 1) */                                             \
ATTR static void pydl_span_elu_f##ISA(const float* x, float* out, ptrdiff_t n,              \
                                               float alpha)                                 \
{                                                                                           \
    for (ptrdiff_t i = 0; i < n; i++) {                                                     \
        float v = x[i];                                                                     \
        float e = alpha * (pydl_expf(v) - 1.0f);                                            \
        out[i] = v > 0.0f ? v : e;                                                          \
    }                                                                                       \
}                                                                                           \
                                                                                            \
/* d elu: g if x > 0 else g * alpha * exp(x) */                                             \
ATTR static void pydl_span_elu_backward_f##ISA(const float* g, const float* x,              \
                                                        float* out, ptrdiff_t n, float alpha)\
{                                                                                           \
    for (ptrdiff_t i = 0; i < n; i++) {                                                     \
        float v = x[i], gi = g[i];                                                          \
        float d = gi * alpha * pydl_expf(v);                                                \
        out[i] = v > 0.0f ? gi : d;                                                         \
    }                                                                                       \
}

PYDL_SIMD_INSTANCES(PYDL_DEFINE_SPANS_F, float, f)
PYDL_SIMD_RESOLVE(pydl_span_sigmoid_f)
PYDL_SIMD_RESOLVE(pydl_span_tanh_f)
PYDL_SIMD_RESOLVE(pydl_span_silu_f)
PYDL_SIMD_RESOLVE(pydl_span_silu_backward_f)
PYDL_SIMD_RESOLVE(pydl_span_elu_f)
PYDL_SIMD_RESOLVE(pydl_span_elu_backward_f)

#endif
