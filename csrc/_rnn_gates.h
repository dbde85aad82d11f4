/* Fused gate passes of the recurrent kernels (csrc/rnn.pyx): one batch row of one time
 * step per call, straight loops over the hidden units.
 *
 * Written in C rather than Cython so that every pointer can be declared restrict:
 * the same loops in Cython stayed scalar (gcc would not version a loop with ten
 * possibly aliasing streams) and took more time than the recurrent GEMM. float32
 * versions use the branch-free _vmath.h sigmoid/tanh and are compiled for AVX-512,
 * AVX2+FMA and the baseline like _vmath.h's spans; float64 versions call libm (they
 * serve gradient checks). Gate blocks are H apart: LSTM [i f g o | c], GRU [r z n | hn].
 */
#ifndef PYDL_RNN_GATES_H
#define PYDL_RNN_GATES_H

#include <math.h>
#include <stddef.h>
#include "_vmath.h"

#if defined(_MSC_VER)
#define PYDL_RESTRICT __restrict
#else
#define PYDL_RESTRICT __restrict__
#endif

static inline double pydl_sigmoid_d(double x) { return 1.0 / (1.0 + exp(-x)); }

#define PYDL_DEFINE_GATES(ISA, ATTR, T, SUFFIX, SIGMOID, TANH)                                \
/* g: [i f g o] pre-activations in, activations out, c written to g[4H:5H];          \
 * h = o * tanh(c) */                                                                \
ATTR static void pydl_lstm_row_##SUFFIX##ISA(T* PYDL_RESTRICT g, const T* PYDL_RESTRICT c_prev,\
                                        T* PYDL_RESTRICT h, ptrdiff_t H)              \
{                                                                                    \
    T* PYDL_RESTRICT gi = g;                                                         \
    T* PYDL_RESTRICT gf = g + H;                                                     \
    T* PYDL_RESTRICT gg = g + 2 * H;                                                 \
    T* PYDL_RESTRICT go = g + 3 * H;                                                 \
    T* PYDL_RESTRICT gc = g + 4 * H;                                                 \
    for (ptrdiff_t j = 0; j < H; j++) {                                              \
        T i = SIGMOID(gi[j]), f = SIGMOID(gf[j]), gt = TANH(gg[j]), o = SIGMOID(go[j]); \
        T c = f * c_prev[j] + i * gt;                                                \
        gi[j] = i; gf[j] = f; gg[j] = gt; go[j] = o; gc[j] = c;                      \
        h[j] = o * TANH(c);                                                          \
    }                                                                                \
}                                                                                    \
/* From the gradients into h (gy + dh) and c (dc): pre-activation gradients dg       \
 * [di df dg do], and dc for the previous cell state (in place). */                  \
ATTR static void pydl_lstm_row_backward_##SUFFIX##ISA(const T* PYDL_RESTRICT g,           \
        const T* PYDL_RESTRICT c_prev, const T* PYDL_RESTRICT gy,                    \
        const T* PYDL_RESTRICT dh, T* PYDL_RESTRICT dc, T* PYDL_RESTRICT dg, ptrdiff_t H) \
{                                                                                    \
    for (ptrdiff_t j = 0; j < H; j++) {                                              \
        T i = g[j], f = g[H + j], gt = g[2 * H + j], o = g[3 * H + j];               \
        T tc = TANH(g[4 * H + j]);                                                   \
        T d_h = gy[j] + dh[j];                                                       \
        T d_c = dc[j] + d_h * o * (1 - tc * tc);                                     \
        dg[j] = d_c * gt * i * (1 - i);                                              \
        dg[H + j] = d_c * c_prev[j] * f * (1 - f);                                   \
        dg[2 * H + j] = d_c * i * (1 - gt * gt);                                     \
        dg[3 * H + j] = d_h * tc * o * (1 - o);                                      \
        dc[j] = d_c * f;                                                             \
    }                                                                                \
}                                                                                    \
/* g: [xr xz xn] (input side, with b_ih) in, [r z n hn] out; hh: [hr hz hn] (hidden \
 * side, with b_hh); h = n + z (h_prev - n) */                                       \
ATTR static void pydl_gru_row_##SUFFIX##ISA(T* PYDL_RESTRICT g, const T* PYDL_RESTRICT hh,  \
        const T* PYDL_RESTRICT h_prev, T* PYDL_RESTRICT h, ptrdiff_t H)              \
{                                                                                    \
    T* PYDL_RESTRICT gr = g;                                                         \
    T* PYDL_RESTRICT gz = g + H;                                                     \
    T* PYDL_RESTRICT gn = g + 2 * H;                                                 \
    T* PYDL_RESTRICT ghn = g + 3 * H;                                                \
    for (ptrdiff_t j = 0; j < H; j++) {                                              \
        T r = SIGMOID(gr[j] + hh[j]);                                                \
        T z = SIGMOID(gz[j] + hh[H + j]);                                            \
        T hn = hh[2 * H + j];                                                        \
        T n = TANH(gn[j] + r * hn);                                                  \
        gr[j] = r; gz[j] = z; gn[j] = n; ghn[j] = hn;                                \
        h[j] = n + z * (h_prev[j] - n);                                              \
    }                                                                                \
}                                                                                    \
/* dgh = [dr dz dn*r] (hidden side), dxn = dn (input side of n); dh (in: gradient   \
 * from the next step) becomes z * (gy + dh), the direct share into h_prev. */       \
ATTR static void pydl_gru_row_backward_##SUFFIX##ISA(const T* PYDL_RESTRICT g,            \
        const T* PYDL_RESTRICT h_prev, const T* PYDL_RESTRICT gy, T* PYDL_RESTRICT dh,\
        T* PYDL_RESTRICT dgh, T* PYDL_RESTRICT dxn, ptrdiff_t H)                     \
{                                                                                    \
    for (ptrdiff_t j = 0; j < H; j++) {                                              \
        T r = g[j], z = g[H + j], n = g[2 * H + j], hn = g[3 * H + j];               \
        T d_h = gy[j] + dh[j];                                                       \
        T d_n = d_h * (1 - z) * (1 - n * n);                                         \
        dgh[j] = d_n * hn * r * (1 - r);                                             \
        dgh[H + j] = d_h * (h_prev[j] - n) * z * (1 - z);                            \
        dgh[2 * H + j] = d_n * r;                                                    \
        dxn[j] = d_n;                                                                \
        dh[j] = d_h * z;                                                             \
    }                                                                                \
}                                                                                    \
/* Elman RNN: y holds pre-activations, becomes tanh(y) or relu(y) */                 \
ATTR static void pydl_rnn_row_##SUFFIX##ISA(T* PYDL_RESTRICT y, ptrdiff_t H, int relu)   \
{                                                                                    \
    if (relu) {                                                                      \
        for (ptrdiff_t j = 0; j < H; j++) { T v = y[j]; y[j] = v > 0 ? v : 0; }      \
    } else {                                                                         \
        for (ptrdiff_t j = 0; j < H; j++) y[j] = TANH(y[j]);                         \
    }                                                                                \
}                                                                                    \
/* dpre = (gy + dh) * act'(.), from the activation's output y */                     \
ATTR static void pydl_rnn_row_backward_##SUFFIX##ISA(const T* PYDL_RESTRICT y,            \
        const T* PYDL_RESTRICT gy, const T* PYDL_RESTRICT dh, T* PYDL_RESTRICT dpre, \
        ptrdiff_t H, int relu)                                                       \
{                                                                                    \
    if (relu) {                                                                      \
        for (ptrdiff_t j = 0; j < H; j++) {                                          \
            T v = y[j], d = gy[j] + dh[j];                                           \
            dpre[j] = v > 0 ? d : 0;                                                 \
        }                                                                            \
    } else {                                                                         \
        for (ptrdiff_t j = 0; j < H; j++) {                                          \
            T v = y[j];                                                              \
            dpre[j] = (gy[j] + dh[j]) * (1 - v * v);                                 \
        }                                                                            \
    }                                                                                \
}

PYDL_SIMD_INSTANCES(PYDL_DEFINE_GATES, float, f, pydl_sigmoidf, pydl_tanhf)
PYDL_SIMD_RESOLVE(pydl_lstm_row_f)
PYDL_SIMD_RESOLVE(pydl_lstm_row_backward_f)
PYDL_SIMD_RESOLVE(pydl_gru_row_f)
PYDL_SIMD_RESOLVE(pydl_gru_row_backward_f)
PYDL_SIMD_RESOLVE(pydl_rnn_row_f)
PYDL_SIMD_RESOLVE(pydl_rnn_row_backward_f)
PYDL_DEFINE_GATES(, , double, d, pydl_sigmoid_d, tanh)

#endif
