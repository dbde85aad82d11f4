/* Winograd F(2x2, 3x3) transforms for csrc/conv.pyx's 3x3 stride-1 convolutions.
 *
 * A 2x2 block of outputs of a 3x3 convolution, over all input channels, is
 *     Y = A^T [ sum_c (G g_kc G^T) .* (B^T d_c B) ] A
 * with d_c the 4x4 input patch of channel c and g_kc the 3x3 kernel (Lavin and Gray,
 * "Fast Algorithms for Convolutional Neural Networks", 2016). The sum over channels
 * is, for each of the 16 positions xi of the 4x4 transformed tile, one GEMM
 *     M_xi (K x tiles) = U_xi (K x C) @ V_xi (C x tiles),
 * 16 multiplies per 2x2 outputs instead of 36: 2.25x fewer multiply-adds than any
 * direct or GEMM-based convolution. The transforms add and subtract (and halve, in
 * G: exact in binary), so the float32 error stays within a few units of the direct
 * sum's.
 *
 * Layouts: U[xi][k][c] (the GEMM's A operand, rows k); V_xi packed in column panels
 * of PYDL_NR tiles (csrc/_panel_gemm.h), written directly by the input transform;
 * M[xi][k][tile]. Tiles are numbered row-major over the output plane, 2x2 outputs
 * each; tiles past the plane's edge read zeros and write only what lies inside.
 */
#ifndef PYDL_WINOGRAD_H
#define PYDL_WINOGRAD_H

#include <stddef.h>
#include "_panel_gemm.h"

/* Tiles in the run that starts at tile t with `left` tiles to go: up to the end of
 * t's tile row (tw_n tiles a row), at most cap. */
static inline ptrdiff_t pydl_wino_run(ptrdiff_t t, ptrdiff_t left, ptrdiff_t tw_n,
                                      ptrdiff_t cap)
{
    ptrdiff_t n = left, row_left = tw_n - t % tw_n;
    if (n > row_left) n = row_left;
    return n < cap ? n : cap;
}

#define PYDL_DEFINE_WINOGRAD(T, SUFFIX)                                                    \
/* U[xi * K * C + k * C + c] = (G w[k, c] G^T)[xi] for w (K, C, 3, 3) */                 \
static void pydl_wino_weight_##SUFFIX(const T* w, ptrdiff_t K, ptrdiff_t C, T* U)        \
{                                                                                        \
    for (ptrdiff_t k = 0; k < K; k++)                                                    \
        for (ptrdiff_t c = 0; c < C; c++) {                                              \
            const T* g = w + (k * C + c) * 9;                                            \
            T t[4][3];                                                                   \
            for (int s = 0; s < 3; s++) {                                                \
                t[0][s] = g[s];                                                          \
                t[1][s] = (g[s] + g[3 + s] + g[6 + s]) * (T)0.5;                         \
                t[2][s] = (g[s] - g[3 + s] + g[6 + s]) * (T)0.5;                         \
                t[3][s] = g[6 + s];                                                      \
            }                                                                            \
            for (int i = 0; i < 4; i++) {                                                \
                T* u = U + (4 * i) * K * C + k * C + c;                                  \
                u[0] = t[i][0];                                                          \
                u[K * C] = (t[i][0] + t[i][1] + t[i][2]) * (T)0.5;                       \
                u[2 * K * C] = (t[i][0] - t[i][1] + t[i][2]) * (T)0.5;                   \
                u[3 * K * C] = t[i][2];                                                  \
            }                                                                            \
        }                                                                                \
}                                                                                        \
/* Columns [c0, c0 + len) of row r of the plane x (H x W), zeros outside the plane:   \
 * x's own row where all of them lie inside it, else a copy in buf. */                \
static inline const T* pydl_wino_row_##SUFFIX(const T* x, ptrdiff_t H, ptrdiff_t W,    \
        ptrdiff_t r, ptrdiff_t c0, ptrdiff_t len, T* buf)                                \
{                                                                                        \
    ptrdiff_t lo = c0 < 0 ? -c0 : 0, hi = W - c0 < len ? W - c0 : len, j;                \
    if (r >= 0 && r < H && lo == 0 && hi == len)                                         \
        return x + r * W + c0;                                                           \
    if (r < 0 || r >= H || hi <= lo) {                                                   \
        for (j = 0; j < len; j++) buf[j] = 0;                                            \
        return buf;                                                                      \
    }                                                                                    \
    for (j = 0; j < lo; j++) buf[j] = 0;                                                 \
    for (j = lo; j < hi; j++) buf[j] = x[r * W + c0 + j];                                \
    for (j = hi; j < len; j++) buf[j] = 0;                                               \
    return buf;                                                                          \
}                                                                                        \
/* V of tiles [t0, t0 + nt) of one channel plane x (H x W, low padding ph, pw; tw_n     \
 * tiles per row): value xi of the q-th tile goes to                                   \
 * dst[xi * xs + (q / NR) * ps + q % NR] (ps: the panel stride, C * NR). Runs of up to \
 * NR tiles in one tile row and one panel at a time: their four input rows are split   \
 * into even and odd columns, so that both transforms are unit-stride loops over the   \
 * run's tiles. */                                                                     \
PYDL_SIMD_DISPATCH static void pydl_wino_input_##SUFFIX(const T* x, ptrdiff_t H,        \
        ptrdiff_t W, ptrdiff_t ph, ptrdiff_t pw, ptrdiff_t tw_n, ptrdiff_t t0,           \
        ptrdiff_t nt, T* dst, ptrdiff_t xs, ptrdiff_t ps)                                \
{                                                                                        \
    T buf[2 * PYDL_NR + 2], ev[4][PYDL_NR + 1], od[4][PYDL_NR + 1];                      \
    ptrdiff_t q = 0;                                                                     \
    while (q < nt) {                                                                     \
        ptrdiff_t t = t0 + q, a = t % tw_n, k;                                           \
        ptrdiff_t n = pydl_wino_run(t, nt - q, tw_n, PYDL_NR - q % PYDL_NR);             \
        ptrdiff_t r0 = 2 * (t / tw_n) - ph, c0 = 2 * a - pw;                             \
        for (int i = 0; i < 4; i++) {                                                    \
            const T* row = pydl_wino_row_##SUFFIX(x, H, W, r0 + i, c0, 2 * n + 2, buf);  \
            for (k = 0; k <= n; k++) {                                                   \
                ev[i][k] = row[2 * k];                                                   \
                od[i][k] = row[2 * k + 1];                                               \
            }                                                                            \
        }                                                                                \
        for (k = 0; k <= n; k++) {              /* B^T d, on even and odd columns */     \
            T e0 = ev[0][k], e1 = ev[1][k], e2 = ev[2][k], e3 = ev[3][k];                \
            T o0 = od[0][k], o1 = od[1][k], o2 = od[2][k], o3 = od[3][k];                \
            ev[0][k] = e0 - e2; ev[1][k] = e1 + e2; ev[2][k] = e2 - e1; ev[3][k] = e1 - e3;\
            od[0][k] = o0 - o2; od[1][k] = o1 + o2; od[2][k] = o2 - o1; od[3][k] = o1 - o3;\
        }                                                                                \
        T* o = dst + (q / PYDL_NR) * ps + q % PYDL_NR;                                   \
        for (int i = 0; i < 4; i++) {           /* (B^T d) B: columns 2k .. 2k + 3 */    \
            T* o0 = o + (4 * i) * xs;                                                    \
            T* o1 = o0 + xs;                                                             \
            T* o2 = o1 + xs;                                                             \
            T* o3 = o2 + xs;                                                             \
            for (k = 0; k < n; k++) {                                                    \
                o0[k] = ev[i][k] - ev[i][k + 1];                                         \
                o1[k] = od[i][k] + ev[i][k + 1];                                         \
                o2[k] = ev[i][k + 1] - od[i][k];                                         \
                o3[k] = od[i][k] - od[i][k + 1];                                         \
            }                                                                            \
        }                                                                                \
        q += n;                                                                          \
    }                                                                                    \
}                                                                                        \
/* Outputs of tiles [t0, t0 + nt) of one output channel plane out (OH x OW) from m     \
 * (value xi of the q-th tile at m[xi * xs + q]): Y = A^T m A + bias, runs of up to NR  \
 * tiles of one tile row at a time (two output rows, copied out within the plane). */  \
PYDL_SIMD_DISPATCH static void pydl_wino_output_##SUFFIX(const T* m, ptrdiff_t xs,      \
        ptrdiff_t tw_n, ptrdiff_t t0, ptrdiff_t nt, T bias, T* out, ptrdiff_t OH,        \
        ptrdiff_t OW)                                                                    \
{                                                                                        \
    T top[2 * PYDL_NR], bot[2 * PYDL_NR];                                                \
    ptrdiff_t q = 0;                                                                     \
    while (q < nt) {                                                                     \
        ptrdiff_t t = t0 + q, a = t % tw_n, oh = 2 * (t / tw_n), k;                      \
        ptrdiff_t n = pydl_wino_run(t, nt - q, tw_n, PYDL_NR);                           \
        const T* mq = m + q;                                                             \
        for (k = 0; k < n; k++) {                                                        \
            T s[4], u[4];                                                                \
            for (int j = 0; j < 4; j++) {       /* A^T m */                              \
                T m0 = mq[j * xs + k], m1 = mq[(4 + j) * xs + k];                        \
                T m2 = mq[(8 + j) * xs + k], m3 = mq[(12 + j) * xs + k];                 \
                s[j] = m0 + m1 + m2;                                                     \
                u[j] = m1 - m2 - m3;                                                     \
            }                                                                            \
            top[2 * k] = (s[0] + s[1] + s[2]) + bias;                                    \
            top[2 * k + 1] = (s[1] - s[2] - s[3]) + bias;                                \
            bot[2 * k] = (u[0] + u[1] + u[2]) + bias;                                    \
            bot[2 * k + 1] = (u[1] - u[2] - u[3]) + bias;                                \
        }                                                                                \
        ptrdiff_t w = 2 * n < OW - 2 * a ? 2 * n : OW - 2 * a;                           \
        T* o = out + oh * OW + 2 * a;                                                    \
        for (k = 0; k < w; k++) o[k] = top[k];                                           \
        if (oh + 1 < OH)                                                                 \
            for (k = 0; k < w; k++) o[OW + k] = bot[k];                                  \
        q += n;                                                                          \
    }                                                                                    \
}                                                                                        \
/* The weight gradient's two transforms (adjoints of the output and weight ones).      \
 * dst[xi * xs + q * NR] = (A dy A^T)[xi] for the q-th tile of [t0, t0 + nt), dy the    \
 * 2x2 output-gradient block of the tile in the plane dy (OH x OW), zero outside it:   \
 * one output channel's lane of the packed GEMM panels (tiles x NR channels), written  \
 * in place rather than packed afterwards (a transposing pack took 12% of the time). */\
PYDL_SIMD_DISPATCH static void pydl_wino_grad_output_##SUFFIX(const T* dy, ptrdiff_t OH,\
        ptrdiff_t OW, ptrdiff_t tw_n, ptrdiff_t t0, ptrdiff_t nt, T* dst, ptrdiff_t xs) \
{                                                                                        \
    T buf0[2 * PYDL_NR], buf1[2 * PYDL_NR];                                              \
    ptrdiff_t q = 0;                                                                     \
    while (q < nt) {                                                                     \
        ptrdiff_t t = t0 + q, a = t % tw_n, oh = 2 * (t / tw_n), k;                      \
        ptrdiff_t n = pydl_wino_run(t, nt - q, tw_n, PYDL_NR);                           \
        const T* top = pydl_wino_row_##SUFFIX(dy, OH, OW, oh, 2 * a, 2 * n, buf0);       \
        const T* bot = pydl_wino_row_##SUFFIX(dy, OH, OW, oh + 1, 2 * a, 2 * n, buf1);   \
        T* o = dst + q * PYDL_NR;                                                        \
        for (k = 0; k < n; k++) {                                                        \
            T y00 = top[2 * k], y01 = top[2 * k + 1];                                    \
            T y10 = bot[2 * k], y11 = bot[2 * k + 1];                                    \
            T r[4][2] = {{y00, y01}, {y00 + y10, y01 + y11}, {y00 - y10, y01 - y11},     \
                         {-y10, -y11}};         /* A dy */                               \
            for (int i = 0; i < 4; i++) {       /* (A dy) A^T */                         \
                o[(4 * i) * xs + k * PYDL_NR] = r[i][0];                                 \
                o[(4 * i + 1) * xs + k * PYDL_NR] = r[i][0] + r[i][1];                   \
                o[(4 * i + 2) * xs + k * PYDL_NR] = r[i][0] - r[i][1];                   \
                o[(4 * i + 3) * xs + k * PYDL_NR] = -r[i][1];                            \
            }                                                                            \
        }                                                                                \
        q += n;                                                                          \
    }                                                                                    \
}                                                                                        \
/* dw[k, c] = G^T D G (3 x 3) for D[i][j] = dU[(4i + j) * C * K + c * K + k] */          \
static void pydl_wino_grad_weight_##SUFFIX(const T* dU, ptrdiff_t K, ptrdiff_t C, T* dw) \
{                                                                                        \
    ptrdiff_t xs = C * K;                                                                \
    for (ptrdiff_t k = 0; k < K; k++)                                                    \
        for (ptrdiff_t c = 0; c < C; c++) {                                              \
            const T* d = dU + c * K + k;                                                 \
            T h[3][4];                          /* G^T D */                              \
            for (int j = 0; j < 4; j++) {                                                \
                T d0 = d[j * xs], d1 = d[(4 + j) * xs];                                  \
                T d2 = d[(8 + j) * xs], d3 = d[(12 + j) * xs];                           \
                h[0][j] = d0 + (d1 + d2) * (T)0.5;                                       \
                h[1][j] = (d1 - d2) * (T)0.5;                                            \
                h[2][j] = (d1 + d2) * (T)0.5 + d3;                                       \
            }                                                                            \
            T* o = dw + (k * C + c) * 9;                                                 \
            for (int r = 0; r < 3; r++) {       /* (G^T D) G */                          \
                o[3 * r] = h[r][0] + (h[r][1] + h[r][2]) * (T)0.5;                       \
                o[3 * r + 1] = (h[r][1] - h[r][2]) * (T)0.5;                             \
                o[3 * r + 2] = (h[r][1] + h[r][2]) * (T)0.5 + h[r][3];                   \
            }                                                                            \
        }                                                                                \
}


PYDL_DEFINE_WINOGRAD(float, f)
PYDL_DEFINE_WINOGRAD(double, d)

#endif
