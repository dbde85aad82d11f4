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

/* Planes of at most PYDL_WINO_SMALL_PLANE padded input elements (the tile rows read,
 * 2 th + 2 by 2 tw + 2: 8x8 planes and smaller) take the input transform a tile at a
 * time from a zero-padded copy of the plane; output rows of at most PYDL_WINO_SMALL_ROW
 * tiles, the output transform a tile at a time. Runs of 2-4 tiles spent their time in
 * per-row edge copies and loop control (4x4 planes: ~90 cycles a tile). The same adds
 * in the same order: the values are bitwise those of the run paths. */
#define PYDL_WINO_SMALL_PLANE 100
#define PYDL_WINO_SMALL_ROW 4

#define PYDL_DEFINE_WINOGRAD(T, SUFFIX)                                                    \
/* pydl_wino_input_* for a small plane (th: one past the last tile row read) */          \
PYDL_INLINE void pydl_wino_input_small_##SUFFIX(const T* x, ptrdiff_t H, ptrdiff_t W,    \
        ptrdiff_t ph, ptrdiff_t pw, ptrdiff_t tw_n, ptrdiff_t th, ptrdiff_t t0,          \
        ptrdiff_t nt, T* dst, ptrdiff_t lane0, ptrdiff_t xs, ptrdiff_t ps)               \
{                                                                                        \
    T P[PYDL_WINO_SMALL_PLANE];                                                          \
    ptrdiff_t ty0 = t0 / tw_n, pr = 2 * (th - ty0) + 2, pc = 2 * tw_n + 2;               \
    for (ptrdiff_t r = 0; r < pr; r++) {        /* P row r: plane row 2 ty0 - ph + r */  \
        ptrdiff_t xr = 2 * ty0 - ph + r;                                                 \
        T* prow = P + r * pc;                                                            \
        for (ptrdiff_t c = 0; c < pc; c++) {    /* P column c: plane column c - pw */    \
            ptrdiff_t xc = c - pw;                                                       \
            prow[c] = xr >= 0 && xr < H && xc >= 0 && xc < W ? x[xr * W + xc] : (T)0;    \
        }                                                                                \
    }                                                                                    \
    for (ptrdiff_t q = 0; q < nt; q++) {                                                 \
        ptrdiff_t t = t0 + q, lane = lane0 + q;                                          \
        const T* d = P + 2 * (t / tw_n - ty0) * pc + 2 * (t % tw_n);                     \
        T* o = dst + (lane / PYDL_NR) * ps + lane % PYDL_NR;                             \
        T v[4][4];                                                                       \
        for (int j = 0; j < 4; j++) {           /* B^T d: down each column */            \
            T d0 = d[j], d1 = d[pc + j], d2 = d[2 * pc + j], d3 = d[3 * pc + j];         \
            v[0][j] = d0 - d2; v[1][j] = d1 + d2; v[2][j] = d2 - d1; v[3][j] = d1 - d3;  \
        }                                                                                \
        for (int i = 0; i < 4; i++) {           /* (B^T d) B: along each row */          \
            o[(4 * i) * xs] = v[i][0] - v[i][2];                                         \
            o[(4 * i + 1) * xs] = v[i][1] + v[i][2];                                     \
            o[(4 * i + 2) * xs] = v[i][2] - v[i][1];                                     \
            o[(4 * i + 3) * xs] = v[i][1] - v[i][3];                                     \
        }                                                                                \
    }                                                                                    \
}                                                                                        \
/* pydl_wino_output_* on short rows: A^T m A for up to NR tiles as vector lanes (m's   \
 * lanes are contiguous), then each tile's 2x2 outputs stored into the plane */         \
PYDL_INLINE void pydl_wino_output_small_##SUFFIX(const T* m, ptrdiff_t xs,               \
        ptrdiff_t tw_n, ptrdiff_t t0, ptrdiff_t nt, T bias, T* out, ptrdiff_t OH,        \
        ptrdiff_t OW)                                                                    \
{                                                                                        \
    T y[4][PYDL_NR];                                                                     \
    for (ptrdiff_t q0 = 0; q0 < nt; q0 += PYDL_NR) {                                     \
        ptrdiff_t n = nt - q0 < PYDL_NR ? nt - q0 : PYDL_NR, k;                          \
        const T* mq = m + q0;                                                            \
        for (k = 0; k < n; k++) {                                                        \
            T s[4], u[4];                                                                \
            for (int j = 0; j < 4; j++) {       /* A^T m */                              \
                T m0 = mq[j * xs + k], m1 = mq[(4 + j) * xs + k];                        \
                T m2 = mq[(8 + j) * xs + k], m3 = mq[(12 + j) * xs + k];                 \
                s[j] = m0 + m1 + m2;                                                     \
                u[j] = m1 - m2 - m3;                                                     \
            }                                                                            \
            y[0][k] = (s[0] + s[1] + s[2]) + bias;                                       \
            y[1][k] = (s[1] - s[2] - s[3]) + bias;                                       \
            y[2][k] = (u[0] + u[1] + u[2]) + bias;                                       \
            y[3][k] = (u[1] - u[2] - u[3]) + bias;                                       \
        }                                                                                \
        for (k = 0; k < n; k++) {                                                        \
            ptrdiff_t t = t0 + q0 + k, a = t % tw_n, oh = 2 * (t / tw_n);                \
            T* o = out + oh * OW + 2 * a;                                                \
            int right = 2 * a + 1 < OW;                                                  \
            o[0] = y[0][k];                                                              \
            if (right) o[1] = y[1][k];                                                   \
            if (oh + 1 < OH) {                                                           \
                o[OW] = y[2][k];                                                         \
                if (right) o[OW + 1] = y[3][k];                                          \
            }                                                                            \
        }                                                                                \
    }                                                                                    \
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

#define PYDL_DEFINE_WINOGRAD_SPANS(ISA, ATTR, T, SUFFIX)                                 \
/* Up to eight output channels of pydl_wino_grad_output_* on short rows (planes dy +   \
 * l * plane into lanes dst + l, l < nch): a panel row holds the eight channels of a   \
 * tile side by side, so each of a tile's 16 values is one 8-lane store, where a        \
 * channel at a time stored them one by one (30% of a 16->32 weight gradient on 8x8). */\
ATTR static void pydl_wino_grad_output8_##SUFFIX##ISA(const T* dy, ptrdiff_t plane,    \
        int nch, ptrdiff_t OH, ptrdiff_t OW, ptrdiff_t tw_n, ptrdiff_t t0, ptrdiff_t nt, \
        T* dst, ptrdiff_t xs)                                                            \
{                                                                                        \
    T r[16][8];                                                                          \
    for (ptrdiff_t q = 0; q < nt; q++) {                                                 \
        ptrdiff_t t = t0 + q, a = t % tw_n, oh = 2 * (t / tw_n);                         \
        int right = 2 * a + 1 < OW, below = oh + 1 < OH;                                 \
        for (int l = 0; l < 8; l++) {                                                    \
            const T* y = dy + (l < nch ? l : 0) * plane + oh * OW + 2 * a;               \
            T y00 = y[0], y01 = right ? y[1] : (T)0;                                     \
            T y10 = below ? y[OW] : (T)0, y11 = below && right ? y[OW + 1] : (T)0;       \
            T a0[4] = {y00, y00 + y10, y00 - y10, -y10};   /* A dy, column 0 */         \
            T a1[4] = {y01, y01 + y11, y01 - y11, -y11};   /* and column 1 */           \
            for (int i = 0; i < 4; i++) {       /* (A dy) A^T */                         \
                r[4 * i][l] = a0[i];                                                     \
                r[4 * i + 1][l] = a0[i] + a1[i];                                         \
                r[4 * i + 2][l] = a0[i] - a1[i];                                         \
                r[4 * i + 3][l] = -a1[i];                                                \
            }                                                                            \
        }                                                                                \
        T* o = dst + q * PYDL_NR;                                                        \
        if (nch == 8)                                                                    \
            for (int xi = 0; xi < 16; xi++)                                              \
                for (int l = 0; l < 8; l++) o[xi * xs + l] = r[xi][l];                   \
        else                                                                             \
            for (int xi = 0; xi < 16; xi++)                                              \
                for (int l = 0; l < nch; l++) o[xi * xs + l] = r[xi][l];                 \
    }                                                                                    \
}                                                                                        \
/* V of tiles [t0, t0 + nt) of one channel plane x (H x W, low padding ph, pw; tw_n     \
 * tiles per row): value xi of the q-th tile goes to                                   \
 * dst[xi * xs + (q / NR) * ps + q % NR] (ps: the panel stride, C * NR). Runs of up to \
 * NR tiles in one tile row and one panel at a time: their four input rows are split   \
 * into even and odd columns, so that both transforms are unit-stride loops over the   \
 * run's tiles. */                                                                     \
ATTR static void pydl_wino_input_##SUFFIX##ISA(const T* x, ptrdiff_t H,             \
        ptrdiff_t W, ptrdiff_t ph, ptrdiff_t pw, ptrdiff_t tw_n, ptrdiff_t t0,           \
        ptrdiff_t nt, T* dst, ptrdiff_t lane0, ptrdiff_t xs, ptrdiff_t ps)               \
{                                                                                        \
    T buf[2 * PYDL_NR + 2], ev[4][PYDL_NR + 1], od[4][PYDL_NR + 1];                      \
    ptrdiff_t q = lane0, end = lane0 + nt;                                               \
    ptrdiff_t th = (t0 + nt - 1) / tw_n + 1;   /* tile rows read: [t0 / tw_n, th) */     \
    if ((2 * th + 2) * (2 * tw_n + 2) <= PYDL_WINO_SMALL_PLANE) {                        \
        pydl_wino_input_small_##SUFFIX(x, H, W, ph, pw, tw_n, th, t0, nt, dst, lane0, xs,\
                                       ps);                                              \
        return;                                                                          \
    }                                                                                    \
    while (q < end) {                                                                    \
        ptrdiff_t t = t0 + (q - lane0), a = t % tw_n, k;                                 \
        ptrdiff_t n = pydl_wino_run(t, end - q, tw_n, PYDL_NR - q % PYDL_NR);            \
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
ATTR static void pydl_wino_output_##SUFFIX##ISA(const T* m, ptrdiff_t xs,           \
        ptrdiff_t tw_n, ptrdiff_t t0, ptrdiff_t nt, T bias, T* out, ptrdiff_t OH,        \
        ptrdiff_t OW)                                                                    \
{                                                                                        \
    T top[2 * PYDL_NR], bot[2 * PYDL_NR];                                                \
    ptrdiff_t q = 0;                                                                     \
    if (tw_n <= PYDL_WINO_SMALL_ROW) {                                                   \
        pydl_wino_output_small_##SUFFIX(m, xs, tw_n, t0, nt, bias, out, OH, OW);         \
        return;                                                                          \
    }                                                                                    \
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
ATTR static void pydl_wino_grad_output_##SUFFIX##ISA(const T* dy, ptrdiff_t OH,     \
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
}

/* Winograd F(4x4, 3x3): a 4x4 block of outputs from a 6x6 input patch, 36 multiplies
 * per 16 outputs instead of 144 (4x fewer than direct, 1.78x fewer than F(2x2, 3x3)).
 * The interpolation points are 0, 1, -1, 1/2, -2 and infinity; the common choice
 * 0, +-1, +-2 gave about 2.5x the float32 error in a NumPy model of the transforms
 * (64 channels, N(0, 1) data: largest error 1.1e-5 of the largest output for +-2,
 * 4.2e-6 for these points; F(2x2, 3x3) 1.4e-6; a direct float32 sum 5.5e-7). With
 * rows scaled to small integers:
 *     B^T = [2 -3 -4  3  2  0]    G = [ 1/2    0     0  ]    A^T = [1 1  1 8  1 0]
 *           [0 -2  1  5  2  0]        [ 1/6   1/6   1/6 ]          [0 1 -1 4 -2 0]
 *           [0 -2  5 -1 -2  0]        [ 1/6  -1/6   1/6 ]          [0 1  1 2  4 0]
 *           [0  2  1 -2 -1  0]        [ 2/15  1/15  1/30]          [0 1 -1 1 -8 1]
 *           [0  1 -2 -1  2  0]        [ 1/30 -1/15  2/15]
 *           [0  2 -3 -4  3  2]        [ 0     0     1/2 ]
 * G's thirds and fifteenths are not exact in binary: unlike F(2x2, 3x3), this path does
 * not reproduce sums of small integers bit for bit. The weight transforms (once per
 * call) run in double. Layouts and tile numbering as above, with 36 values per tile
 * (xi = 6 * row + column of the transformed tile) and 4x4 outputs per tile. */

/* The 1-D transforms, for scalars of either type and float32 vectors alike (integer
 * constants convert to both); o0.. are lvalues. B^T v for the six values of one row
 * or column of a 6x6 input patch: */
#define PYDL_WINO4_BT(v0, v1, v2, v3, v4, v5, o0, o1, o2, o3, o4, o5)                   \
    do {                                                                                \
        o0 = 2 * (v0 + v4) - 4 * v2 - 3 * (v1 - v3);                                    \
        o1 = 5 * v3 + v2 + 2 * (v4 - v1);                                               \
        o2 = 5 * v2 - v3 - 2 * (v1 + v4);                                               \
        o3 = 2 * (v1 - v3) + (v2 - v4);                                                 \
        o4 = (v1 - v3) - 2 * (v2 - v4);                                                 \
        o5 = 2 * (v1 + v5) - 4 * v3 - 3 * (v2 - v4);                                    \
    } while (0)

/* A^T m: six values to four outputs */
#define PYDL_WINO4_AT(m0, m1, m2, m3, m4, m5, o0, o1, o2, o3)                           \
    do {                                                                                \
        o0 = m0 + (m1 + m2) + 8 * m3 + m4;                                              \
        o1 = (m1 - m2) + 4 * m3 - 2 * m4;                                               \
        o2 = (m1 + m2) + 2 * m3 + 4 * m4;                                               \
        o3 = (m1 - m2) + m3 - 8 * m4 + m5;                                              \
    } while (0)

/* A y (the adjoint of A^T): four values to six */
#define PYDL_WINO4_A(y0, y1, y2, y3, o0, o1, o2, o3, o4, o5)                            \
    do {                                                                                \
        o0 = y0;                                                                        \
        o1 = (y0 + y2) + (y1 + y3);                                                     \
        o2 = (y0 + y2) - (y1 + y3);                                                     \
        o3 = 8 * y0 + 4 * y1 + 2 * y2 + y3;                                             \
        o4 = y0 - 2 * y1 + 4 * y2 - 8 * y3;                                             \
        o5 = y3;                                                                        \
    } while (0)

/* G^T d for six values d0..d5 (the adjoint of G), in double: three values */
static inline void pydl_wino4_gt(const double* d, double* r)
{
    r[0] = d[0] / 2 + (d[1] + d[2]) / 6 + (4 * d[3] + d[4]) / 30;
    r[1] = (d[1] - d[2]) / 6 + (2 * d[3] - 2 * d[4]) / 30;
    r[2] = (d[1] + d[2]) / 6 + (d[3] + 4 * d[4]) / 30 + d[5] / 2;
}

#define PYDL_DEFINE_WINO4_ROWS(T, SUFFIX)                                                 \
/* The four column phases of an input row xr (W columns; NULL: a row of zeros) for a   \
 * run of n tiles whose first column is c0: p[r][k] = xr[c0 + 4k + r], zero outside    \
 * [0, W), for k < n, and p[0..1][n] (the last tile's fifth and sixth columns). Tiles   \
 * whose four columns lie inside are read without tests; copying the row out first     \
 * (pydl_wino_row_*) cost a memcpy call per row. */                                    \
static inline void pydl_wino4_phases_##SUFFIX(const T* xr, ptrdiff_t W, ptrdiff_t c0,   \
        ptrdiff_t n, T p[4][PYDL_NR + 1])                                                \
{                                                                                        \
    ptrdiff_t klo = 0, khi = 0, k;                                                       \
    if (xr) {                                                                            \
        klo = c0 >= 0 ? 0 : (3 - c0) / 4;                                                \
        khi = W - 4 - c0 >= 0 ? (W - 4 - c0) / 4 + 1 : 0;                                \
        if (khi > n) khi = n;                                                            \
        if (khi < klo) khi = klo;                                                        \
    }                                                                                    \
    for (k = klo; k < khi; k++) {                                                        \
        const T* s = xr + c0 + 4 * k;                                                    \
        p[0][k] = s[0]; p[1][k] = s[1]; p[2][k] = s[2]; p[3][k] = s[3];                  \
    }                                                                                    \
    for (k = 0; k <= n; k++) {                                                           \
        if (k == klo && khi > klo) k = khi;                                              \
        for (int r = 0; r < (k < n ? 4 : 2); r++) {                                      \
            ptrdiff_t col = c0 + 4 * k + r;                                              \
            p[r][k] = xr && col >= 0 && col < W ? xr[col] : (T)0;                        \
        }                                                                                \
    }                                                                                    \
}                                                                                        \
/* d B for one input row xr and a segment of seg tiles (columns c0 + 4k .. c0 + 4k + 5 \
 * for tile k): hi[j][s0 + k] = (B^T d)_j. Lanes from s0 + seg up to the next multiple  \
 * of 8 may be written with values from zeros or neighbouring columns. */             \
PYDL_INLINE void pydl_wino4_rows_generic_##SUFFIX(const T* xr, ptrdiff_t W, ptrdiff_t c0,\
        ptrdiff_t seg, T (*hi)[2 * PYDL_NR], ptrdiff_t s0)                               \
{                                                                                        \
    T p[4][PYDL_NR + 1];                                                                 \
    pydl_wino4_phases_##SUFFIX(xr, W, c0, seg, p);                                       \
    for (ptrdiff_t k = 0; k < seg; k++) {                                                \
        T v0 = p[0][k], v1 = p[1][k], v2 = p[2][k], v3 = p[3][k];                        \
        T v4 = p[0][k + 1], v5 = p[1][k + 1];                                            \
        PYDL_WINO4_BT(v0, v1, v2, v3, v4, v5, hi[0][s0 + k], hi[1][s0 + k],              \
                      hi[2][s0 + k], hi[3][s0 + k], hi[4][s0 + k], hi[5][s0 + k]);       \
    }                                                                                    \
}                                                                                        \
/* B^T (d B) for a panel's run: dst[(6i + j) * xs + k] = (B^T h[.][j][k])_i, k < n */ \
PYDL_INLINE void pydl_wino4_cols_generic_##SUFFIX(T (*h)[6][2 * PYDL_NR], T* dst,        \
                                                  ptrdiff_t xs, ptrdiff_t n)             \
{                                                                                        \
    for (int j = 0; j < 6; j++)                                                          \
        for (ptrdiff_t k = 0; k < n; k++) {                                              \
            T v0 = h[0][j][k], v1 = h[1][j][k], v2 = h[2][j][k];                         \
            T v3 = h[3][j][k], v4 = h[4][j][k], v5 = h[5][j][k];                         \
            PYDL_WINO4_BT(v0, v1, v2, v3, v4, v5, dst[j * xs + k], dst[(6 + j) * xs + k],  \
                          dst[(12 + j) * xs + k], dst[(18 + j) * xs + k],                \
                          dst[(24 + j) * xs + k], dst[(30 + j) * xs + k]);               \
        }                                                                                \
}
PYDL_DEFINE_WINO4_ROWS(float, f)
PYDL_DEFINE_WINO4_ROWS(double, d)

#if (defined(__GNUC__) || defined(__clang__)) && defined(__has_builtin)
#if __has_builtin(__builtin_shufflevector)
#define PYDL_WINO4_VECTOR_ROWS 1
#endif
#endif

#ifdef PYDL_WINO4_VECTOR_ROWS
/* float32 d B eight tiles at a time: 32 consecutive columns are four vectors, split
 * into their four phases (column 4k + r of tile k) by shuffles; columns 4k + 4 and
 * 4k + 5 are phases 0 and 1 moved one tile on. Reading and splitting the row element
 * by element (the generic version) took four times the arithmetic's time. */
typedef float pydl_wino_v8 __attribute__((vector_size(32), aligned(4), may_alias));

/* Columns [c, c + 8) of the row xr (W columns; NULL: zeros), zero outside [0, W) */
PYDL_INLINE void pydl_wino_load8(const float* xr, ptrdiff_t W, ptrdiff_t c,
                                 pydl_wino_v8* v)
{
    if (xr && c >= 0 && c + 8 <= W) {
        *v = *(const pydl_wino_v8*)(xr + c);
        return;
    }
    if (xr && c == -1 && W >= 7) {          /* the first columns of a padding-1 row */
        pydl_wino_v8 zero = {0, 0, 0, 0, 0, 0, 0, 0};
        pydl_wino_v8 x0;
        if (W >= 8) {
            x0 = *(const pydl_wino_v8*)xr;
        } else {
            for (int l = 0; l < 8; l++) x0[l] = l < W ? xr[l] : 0.0f;
        }
        *v = __builtin_shufflevector(zero, x0, 7, 8, 9, 10, 11, 12, 13, 14);
        return;
    }
    for (int l = 0; l < 8; l++)
        (*v)[l] = xr && c + l >= 0 && c + l < W ? xr[c + l] : 0.0f;
}

/* Columns [c, c + 32) of the row xr split into their four phases: p[r][k] = column
 * c + 4k + r (zeros outside the row) */
PYDL_INLINE void pydl_wino_phases8(const float* xr, ptrdiff_t W, ptrdiff_t c,
                                   pydl_wino_v8* p)
{
    pydl_wino_v8 a, b, cc, d;
    pydl_wino_load8(xr, W, c, &a);
    pydl_wino_load8(xr, W, c + 8, &b);
    pydl_wino_load8(xr, W, c + 16, &cc);
    pydl_wino_load8(xr, W, c + 24, &d);
    pydl_wino_v8 lab = __builtin_shufflevector(a, b, 0, 4, 8, 12, 1, 5, 9, 13);
    pydl_wino_v8 hab = __builtin_shufflevector(a, b, 2, 6, 10, 14, 3, 7, 11, 15);
    pydl_wino_v8 lcd = __builtin_shufflevector(cc, d, 0, 4, 8, 12, 1, 5, 9, 13);
    pydl_wino_v8 hcd = __builtin_shufflevector(cc, d, 2, 6, 10, 14, 3, 7, 11, 15);
    p[0] = __builtin_shufflevector(lab, lcd, 0, 1, 2, 3, 8, 9, 10, 11);
    p[1] = __builtin_shufflevector(lab, lcd, 4, 5, 6, 7, 12, 13, 14, 15);
    p[2] = __builtin_shufflevector(hab, hcd, 0, 1, 2, 3, 8, 9, 10, 11);
    p[3] = __builtin_shufflevector(hab, hcd, 4, 5, 6, 7, 12, 13, 14, 15);
}

PYDL_INLINE void pydl_wino4_rows_f(const float* xr, ptrdiff_t W, ptrdiff_t c0,
                                   ptrdiff_t seg, float (*hi)[2 * PYDL_NR], ptrdiff_t s0)
{
    for (ptrdiff_t g = 0; g < (seg + 7) / 8; g++) {
        ptrdiff_t c = c0 + 32 * g, o = s0 + 8 * g;
        pydl_wino_v8 p[4];
        pydl_wino_phases8(xr, W, c, p);
        /* columns 4k + 4 and 4k + 5: phases 0 and 1 one tile on */
        float e0 = xr && c + 32 >= 0 && c + 32 < W ? xr[c + 32] : 0.0f;
        float e1 = xr && c + 33 >= 0 && c + 33 < W ? xr[c + 33] : 0.0f;
        pydl_wino_v8 n0 = {e0, e0, e0, e0, e0, e0, e0, e0};
        pydl_wino_v8 n1 = {e1, e1, e1, e1, e1, e1, e1, e1};
        pydl_wino_v8 v4 = __builtin_shufflevector(p[0], n0, 1, 2, 3, 4, 5, 6, 7, 8);
        pydl_wino_v8 v5 = __builtin_shufflevector(p[1], n1, 1, 2, 3, 4, 5, 6, 7, 8);
        PYDL_WINO4_BT(p[0], p[1], p[2], p[3], v4, v5, *(pydl_wino_v8*)(hi[0] + o),
                      *(pydl_wino_v8*)(hi[1] + o), *(pydl_wino_v8*)(hi[2] + o),
                      *(pydl_wino_v8*)(hi[3] + o), *(pydl_wino_v8*)(hi[4] + o),
                      *(pydl_wino_v8*)(hi[5] + o));
    }
}

/* The same as pydl_wino4_cols_generic_f, eight lanes at a time */
PYDL_INLINE void pydl_wino4_cols_f(float (*h)[6][2 * PYDL_NR], float* dst, ptrdiff_t xs,
                                   ptrdiff_t n)
{
    for (int j = 0; j < 6; j++)
        for (ptrdiff_t k = 0; k < n; k += 8) {
            pydl_wino_v8 v0 = *(pydl_wino_v8*)(h[0][j] + k), v1 = *(pydl_wino_v8*)(h[1][j] + k);
            pydl_wino_v8 v2 = *(pydl_wino_v8*)(h[2][j] + k), v3 = *(pydl_wino_v8*)(h[3][j] + k);
            pydl_wino_v8 v4 = *(pydl_wino_v8*)(h[4][j] + k), v5 = *(pydl_wino_v8*)(h[5][j] + k);
            pydl_wino_v8 r[6];
            PYDL_WINO4_BT(v0, v1, v2, v3, v4, v5, r[0], r[1], r[2], r[3], r[4], r[5]);
            for (int i = 0; i < 6; i++) {
                float* o = dst + (6 * i + j) * xs + k;
                if (k + 8 <= n)
                    *(pydl_wino_v8*)o = r[i];
                else
                    for (ptrdiff_t l = 0; l < n - k; l++) o[l] = r[i][l];
            }
        }
}
/* 8x8 transpose: r[l][k] -> c[k][l] */
PYDL_INLINE void pydl_wino_transpose8(const pydl_wino_v8* r, pydl_wino_v8* c)
{
    pydl_wino_v8 t[8], u[8];
    for (int i = 0; i < 8; i += 2) {
        t[i] = __builtin_shufflevector(r[i], r[i + 1], 0, 8, 1, 9, 4, 12, 5, 13);
        t[i + 1] = __builtin_shufflevector(r[i], r[i + 1], 2, 10, 3, 11, 6, 14, 7, 15);
    }
    for (int i = 0; i < 8; i += 4) {
        u[i] = __builtin_shufflevector(t[i], t[i + 2], 0, 1, 8, 9, 4, 5, 12, 13);
        u[i + 1] = __builtin_shufflevector(t[i], t[i + 2], 2, 3, 10, 11, 6, 7, 14, 15);
        u[i + 2] = __builtin_shufflevector(t[i + 1], t[i + 3], 0, 1, 8, 9, 4, 5, 12, 13);
        u[i + 3] = __builtin_shufflevector(t[i + 1], t[i + 3], 2, 3, 10, 11, 6, 7, 14, 15);
    }
    for (int i = 0; i < 4; i++) {
        c[i] = __builtin_shufflevector(u[i], u[i + 4], 0, 1, 2, 3, 8, 9, 10, 11);
        c[i + 4] = __builtin_shufflevector(u[i], u[i + 4], 4, 5, 6, 7, 12, 13, 14, 15);
    }
}

#define PYDL_DEFINE_WINO4_VECTOR_SPANS(ISA, ATTR, T, SUFFIX)                                \
/* The F(4x4) weight gradient's output transform for eight output channels at once          \
 * (planes dy + l * plane, l < nch; lanes l >= nch get zeros): dst[xi * xs + q * NR + l]    \
 * = (A dy_l A^T)[xi] for the q-th tile of [t0, t0 + nt). Eight tiles of one channel        \
 * are transformed as vectors (rows split into column phases as in pydl_wino4_rows_f),      \
 * then each of the 36 values is turned from (channel, tile) to (tile, channel) by an       \
 * 8x8 transpose and stored as eight lanes of a panel row: one element at a time,           \
 * those stores took more time than the weight gradient's GEMMs. */                         \
ATTR static void pydl_wino4_grad_output8_f##ISA(const float* dy,                            \
        ptrdiff_t plane, int nch, ptrdiff_t OH, ptrdiff_t OW, ptrdiff_t tw_n,               \
        ptrdiff_t t0, ptrdiff_t nt, float* dst, ptrdiff_t xs)                               \
{                                                                                           \
    pydl_wino_v8 buf[36][8], col[8];                                                        \
    ptrdiff_t q = 0;                                                                        \
    while (q < nt) {                                                                        \
        ptrdiff_t t = t0 + q, a = t % tw_n, oh = 4 * (t / tw_n);                            \
        ptrdiff_t n = pydl_wino_run(t, nt - q, tw_n, 8);                                    \
        for (int l = 0; l < 8; l++) {                                                       \
            pydl_wino_v8 p[4][4], z[6][4];                                                  \
            for (int i = 0; i < 4; i++) {       /* row i's four column phases */            \
                const float* y = l < nch && oh + i < OH ? dy + l * plane + (oh + i) * OW    \
                                                        : NULL;                             \
                pydl_wino_phases8(y, OW, 4 * a, p[i]);                                      \
            }                                                                               \
            for (int c = 0; c < 4; c++)         /* A dy: down each column */                \
                PYDL_WINO4_A(p[0][c], p[1][c], p[2][c], p[3][c], z[0][c], z[1][c],          \
                             z[2][c], z[3][c], z[4][c], z[5][c]);                           \
            for (int i = 0; i < 6; i++)         /* (A dy) A^T: along each row */            \
                PYDL_WINO4_A(z[i][0], z[i][1], z[i][2], z[i][3], buf[6 * i][l],             \
                             buf[6 * i + 1][l], buf[6 * i + 2][l], buf[6 * i + 3][l],       \
                             buf[6 * i + 4][l], buf[6 * i + 5][l]);                         \
        }                                                                                   \
        /* tiles past the plane's last tile column read zeros and are not stored */         \
        float* o = dst + q * PYDL_NR;                                                       \
        for (int xi = 0; xi < 36; xi++) {                                                   \
            pydl_wino_transpose8(buf[xi], col);                                             \
            for (ptrdiff_t k = 0; k < n; k++)                                               \
                *(pydl_wino_v8*)(o + xi * xs + k * PYDL_NR) = col[k];                       \
        }                                                                                   \
        q += n;                                                                             \
    }                                                                                       \
}                                                                                           \
                                                                                            \
/* pydl_wino4_output_* for float32, eight tiles as vector lanes: the 36 values of each      \
 * tile in, A^T m A out as four column phases, interleaved by shuffles into 32              \
 * consecutive output columns. */                                                           \
ATTR static void pydl_wino4_output8_f##ISA(const float* m, ptrdiff_t xs,                    \
        ptrdiff_t tw_n, ptrdiff_t t0, ptrdiff_t nt, float bias, float* out, ptrdiff_t OH,   \
        ptrdiff_t OW)                                                                       \
{                                                                                           \
    ptrdiff_t q = 0;                                                                        \
    while (q < nt) {                                                                        \
        ptrdiff_t t = t0 + q, a = t % tw_n, oh = 4 * (t / tw_n);                            \
        ptrdiff_t n = pydl_wino_run(t, nt - q, tw_n, 8);                                    \
        /* lanes past the run read the block's next tiles or the workspace's padding        \
         * (finite) and are not stored */                                                   \
        pydl_wino_v8 s[4][6];                                                               \
        for (int j = 0; j < 6; j++) {           /* A^T m: down each column */               \
            const float* mj = m + j * xs + q;                                               \
            pydl_wino_v8 v0 = *(const pydl_wino_v8*)mj;                                     \
            pydl_wino_v8 v1 = *(const pydl_wino_v8*)(mj + 6 * xs);                          \
            pydl_wino_v8 v2 = *(const pydl_wino_v8*)(mj + 12 * xs);                         \
            pydl_wino_v8 v3 = *(const pydl_wino_v8*)(mj + 18 * xs);                         \
            pydl_wino_v8 v4 = *(const pydl_wino_v8*)(mj + 24 * xs);                         \
            pydl_wino_v8 v5 = *(const pydl_wino_v8*)(mj + 30 * xs);                         \
            PYDL_WINO4_AT(v0, v1, v2, v3, v4, v5, s[0][j], s[1][j], s[2][j], s[3][j]);      \
        }                                                                                   \
        ptrdiff_t w = 4 * n < OW - 4 * a ? 4 * n : OW - 4 * a;                              \
        for (int i = 0; i < 4 && oh + i < OH; i++) {    /* (A^T m) A: along each row */     \
            pydl_wino_v8 r[4], c[4];                                                        \
            PYDL_WINO4_AT(s[i][0], s[i][1], s[i][2], s[i][3], s[i][4], s[i][5], r[0], r[1], \
                          r[2], r[3]);                                                      \
            for (int p = 0; p < 4; p++) r[p] += bias;                                       \
            /* phases r[p][k] -> columns 4k + p */                                          \
            pydl_wino_v8 l01 = __builtin_shufflevector(r[0], r[1], 0, 8, 1, 9, 2, 10, 3, 11);\
            pydl_wino_v8 l23 = __builtin_shufflevector(r[2], r[3], 0, 8, 1, 9, 2, 10, 3, 11);\
            pydl_wino_v8 h01 = __builtin_shufflevector(r[0], r[1], 4, 12, 5, 13, 6, 14, 7, 15);\
            pydl_wino_v8 h23 = __builtin_shufflevector(r[2], r[3], 4, 12, 5, 13, 6, 14, 7, 15);\
            c[0] = __builtin_shufflevector(l01, l23, 0, 1, 8, 9, 2, 3, 10, 11);             \
            c[1] = __builtin_shufflevector(l01, l23, 4, 5, 12, 13, 6, 7, 14, 15);           \
            c[2] = __builtin_shufflevector(h01, h23, 0, 1, 8, 9, 2, 3, 10, 11);             \
            c[3] = __builtin_shufflevector(h01, h23, 4, 5, 12, 13, 6, 7, 14, 15);           \
            float* o = out + (oh + i) * OW + 4 * a;                                         \
            if (w == 32) {                                                                  \
                for (int g = 0; g < 4; g++) *(pydl_wino_v8*)(o + 8 * g) = c[g];             \
            } else {                                                                        \
                for (ptrdiff_t k = 0; k < w; k++) o[k] = c[k / 8][k % 8];                   \
            }                                                                               \
        }                                                                                   \
        q += n;                                                                             \
    }                                                                                       \
}

PYDL_SIMD_INSTANCES(PYDL_DEFINE_WINO4_VECTOR_SPANS, float, f)
PYDL_SIMD_RESOLVE(pydl_wino4_grad_output8_f)
PYDL_SIMD_RESOLVE(pydl_wino4_output8_f)
#define PYDL_WINO4_OUTPUT_f pydl_wino4_output8_f
#define PYDL_WINO4_GRAD_OUTPUT8_f pydl_wino4_grad_output8_f
#else
#define pydl_wino4_rows_f pydl_wino4_rows_generic_f
#define pydl_wino4_cols_f pydl_wino4_cols_generic_f
#define PYDL_WINO4_OUTPUT_f pydl_wino4_output_f
#define PYDL_WINO4_GRAD_OUTPUT8_f pydl_wino4_grad_output8_generic_f
#endif
#define PYDL_WINO4_OUTPUT_d pydl_wino4_output_d
#define PYDL_WINO4_GRAD_OUTPUT8_d pydl_wino4_grad_output8_generic_d
#define pydl_wino4_rows_d pydl_wino4_rows_generic_d
#define pydl_wino4_cols_d pydl_wino4_cols_generic_d

/* G g for three values g0..g2 of each of PYDL_WINO_WB lanes (one filter a lane), in
 * double: r[i][l] = (G g)[i] of lane l. The divisions stay divisions (no reciprocal
 * multiplies) so that every copy gives the bits of exact division; a loop over lanes
 * so that they run as vector divisions. */
#define PYDL_WINO_WB 8
#define PYDL_WINO4_G_LANES(G0, G1, G2, R, AT)                                             \
    for (int l = 0; l < PYDL_WINO_WB; l++) {                                              \
        double g0 = G0[l], g1 = G1[l], g2 = G2[l];                                        \
        R[0]AT[l] = g0 / 2;                                                               \
        R[1]AT[l] = (g0 + g1 + g2) / 6;                                                   \
        R[2]AT[l] = (g0 - g1 + g2) / 6;                                                   \
        R[3]AT[l] = (4 * g0 + 2 * g1 + g2) / 30;                                          \
        R[4]AT[l] = (g0 - 2 * g1 + 4 * g2) / 30;                                          \
        R[5]AT[l] = g2 / 2;                                                               \
    }

/* The 3x3 filters of nb <= PYDL_WINO_WB input channels (wk: the first) as lanes of G,
 * as TYPE; lanes past nb are zeros */
#define PYDL_WINO_LOAD_FILTERS(G, WK, NB, TYPE)                                           \
    for (int l = 0; l < PYDL_WINO_WB; l++)                                                \
        for (int e = 0; e < 9; e++)                                                       \
            G[e][l] = l < (NB) ? (TYPE)(WK)[9 * l + e] : (TYPE)0;

#define PYDL_DEFINE_WINOGRAD2_WEIGHT(ISA, ATTR, T, SUFFIX)                                \
/* U[xi * K * C + k * C + c] = (G w[k, c] G^T)[xi] for w (K, C, 3, 3), k in [k0, k1):  \
 * PYDL_WINO_WB channels at a time as vector lanes (the scalar loop took a tenth of a   \
 * 32->64 forward pass on 4x4 planes), in T, the scalar loop's operations in its order. */\
ATTR static void pydl_wino_weight_##SUFFIX##ISA(const T* w, ptrdiff_t K, ptrdiff_t C,   \
        ptrdiff_t k0, ptrdiff_t k1, T* U)                                                \
{                                                                                        \
    T g[9][PYDL_WINO_WB], t[4][3][PYDL_WINO_WB], u[4][PYDL_WINO_WB];                     \
    for (ptrdiff_t k = k0; k < k1; k++)                                                  \
        for (ptrdiff_t c0 = 0; c0 < C; c0 += PYDL_WINO_WB) {                             \
            ptrdiff_t nb = C - c0 < PYDL_WINO_WB ? C - c0 : PYDL_WINO_WB;                \
            const T* wk = w + (k * C + c0) * 9;                                          \
            PYDL_WINO_LOAD_FILTERS(g, wk, nb, T)                                         \
            for (int s = 0; s < 3; s++)         /* G g: down each column */              \
                for (int l = 0; l < PYDL_WINO_WB; l++) {                                 \
                    t[0][s][l] = g[s][l];                                                \
                    t[1][s][l] = (g[s][l] + g[3 + s][l] + g[6 + s][l]) * (T)0.5;         \
                    t[2][s][l] = (g[s][l] - g[3 + s][l] + g[6 + s][l]) * (T)0.5;         \
                    t[3][s][l] = g[6 + s][l];                                            \
                }                                                                        \
            for (int i = 0; i < 4; i++) {       /* (G g) G^T: along each row */          \
                for (int l = 0; l < PYDL_WINO_WB; l++) {                                 \
                    u[0][l] = t[i][0][l];                                                \
                    u[1][l] = (t[i][0][l] + t[i][1][l] + t[i][2][l]) * (T)0.5;           \
                    u[2][l] = (t[i][0][l] - t[i][1][l] + t[i][2][l]) * (T)0.5;           \
                    u[3][l] = t[i][2][l];                                                \
                }                                                                        \
                for (int j = 0; j < 4; j++) {                                            \
                    T* dst = U + (4 * i + j) * K * C + k * C + c0;                       \
                    for (ptrdiff_t l = 0; l < nb; l++) dst[l] = u[j][l];                 \
                }                                                                        \
            }                                                                            \
        }                                                                                \
}

#define PYDL_DEFINE_WINOGRAD4_WEIGHT(ISA, ATTR, T, SUFFIX)                                \
/* U[xi * K * C + k * C + c] = (G w[k, c] G^T)[xi] for w (K, C, 3, 3), filters k in    \
 * [k0, k1): PYDL_WINO_WB channels at a time as lanes (the scalar loop's 54 divisions  \
 * a filter took a fifth of a 512-channel forward pass), each of U's 36 rows written   \
 * PYDL_WINO_WB values at a time. */                                                    \
ATTR static void pydl_wino4_weight_##SUFFIX##ISA(const T* w, ptrdiff_t K, ptrdiff_t C,  \
        ptrdiff_t k0, ptrdiff_t k1, T* U)                                                \
{                                                                                        \
    double g[9][PYDL_WINO_WB], t[6][3][PYDL_WINO_WB], u[6][PYDL_WINO_WB];                \
    for (ptrdiff_t k = k0; k < k1; k++)                                                  \
        for (ptrdiff_t c0 = 0; c0 < C; c0 += PYDL_WINO_WB) {                             \
            ptrdiff_t nb = C - c0 < PYDL_WINO_WB ? C - c0 : PYDL_WINO_WB;                \
            const T* wk = w + (k * C + c0) * 9;                                          \
            PYDL_WINO_LOAD_FILTERS(g, wk, nb, double)                                    \
            for (int s = 0; s < 3; s++)         /* G g: down each column */              \
                PYDL_WINO4_G_LANES(g[s], g[3 + s], g[6 + s], t, [s])                     \
            for (int i = 0; i < 6; i++) {       /* (G g) G^T: along each row */          \
                PYDL_WINO4_G_LANES(t[i][0], t[i][1], t[i][2], u, )                       \
                for (int j = 0; j < 6; j++) {                                            \
                    T* dst = U + (6 * i + j) * K * C + k * C + c0;                       \
                    for (ptrdiff_t l = 0; l < nb; l++) dst[l] = (T)u[j][l];              \
                }                                                                        \
            }                                                                            \
        }                                                                                \
}

#define PYDL_DEFINE_WINOGRAD4_SPANS(ISA, ATTR, T, SUFFIX)                                \
/* V of tiles [t0, t0 + nt) of one channel plane, as pydl_wino_input_* (tw_n tiles of \
 * 4x4 outputs a row, 6x6 input patches): rows first (d B, pydl_wino4_rows_*), then    \
 * columns (B^T (d B), pydl_wino4_cols_*), each over a run of tiles as vector lanes. */ \
ATTR static void pydl_wino4_input_##SUFFIX##ISA(const T* x, ptrdiff_t H,            \
        ptrdiff_t W, ptrdiff_t ph, ptrdiff_t pw, ptrdiff_t tw_n, ptrdiff_t t0,           \
        ptrdiff_t nt, T* dst, ptrdiff_t lane0, ptrdiff_t xs, ptrdiff_t ps)               \
{                                                                                        \
    /* A panel's run of tiles at a time (it may span tile rows: rows first, a tile row \
     * at a time), then the columns over all NR lanes (fixed-length loops, which gcc   \
     * vectorizes whole; lanes past the run are zeros or spill-over and never stored). \
     * h holds two panels so that a segment's spill-over may pass the first. */        \
    T h[6][6][2 * PYDL_NR];                                                              \
    ptrdiff_t q = lane0, end = lane0 + nt, k;                                            \
    while (q < end) {                                                                    \
        ptrdiff_t n = end - q < PYDL_NR - q % PYDL_NR ? end - q : PYDL_NR - q % PYDL_NR; \
        if (n < PYDL_NR)                                                                 \
            for (int i = 0; i < 6; i++)                                                  \
                for (int j = 0; j < 6; j++)                                              \
                    for (k = n; k < PYDL_NR; k++) h[i][j][k] = 0;                        \
        for (ptrdiff_t s0 = 0; s0 < n;) {                                                \
            ptrdiff_t t = t0 + (q - lane0) + s0, a = t % tw_n;                           \
            ptrdiff_t seg = pydl_wino_run(t, n - s0, tw_n, PYDL_NR);                     \
            ptrdiff_t r0 = 4 * (t / tw_n) - ph, c0 = 4 * a - pw;                         \
            for (int i = 0; i < 6; i++)                                                  \
                pydl_wino4_rows_##SUFFIX(r0 + i >= 0 && r0 + i < H ? x + (r0 + i) * W    \
                                         : NULL, W, c0, seg, h[i], s0);                  \
            s0 += seg;                                                                   \
        }                                                                                \
        pydl_wino4_cols_##SUFFIX(h, dst + (q / PYDL_NR) * ps + q % PYDL_NR, xs, n);      \
        q += n;                                                                          \
    }                                                                                    \
}                                                                                        \
/* Outputs of tiles [t0, t0 + nt) of one output channel plane from m, as               \
 * pydl_wino_output_*: Y = A^T m A + bias, four output rows per run; columns first     \
 * (A^T m), then rows, unit stride over the run's tiles, phases interleaved last. */    \
ATTR static void pydl_wino4_output_##SUFFIX##ISA(const T* m, ptrdiff_t xs,          \
        ptrdiff_t tw_n, ptrdiff_t t0, ptrdiff_t nt, T bias, T* out, ptrdiff_t OH,        \
        ptrdiff_t OW)                                                                    \
{                                                                                        \
    T s[6][4][PYDL_NR], r[4][PYDL_NR], rows[4 * PYDL_NR];                                \
    ptrdiff_t q = 0;                                                                     \
    while (q < nt) {                                                                     \
        ptrdiff_t t = t0 + q, a = t % tw_n, oh = 4 * (t / tw_n), k;                      \
        ptrdiff_t n = pydl_wino_run(t, nt - q, tw_n, PYDL_NR);                           \
        const T* mq = m + q;                                                             \
        for (int j = 0; j < 6; j++) {           /* A^T m: down each column */            \
            const T* m0 = mq + j * xs;                                                   \
            for (k = 0; k < n; k++) {                                                    \
                T v0 = m0[k], v1 = m0[6 * xs + k], v2 = m0[12 * xs + k];                 \
                T v3 = m0[18 * xs + k], v4 = m0[24 * xs + k], v5 = m0[30 * xs + k];      \
                PYDL_WINO4_AT(v0, v1, v2, v3, v4, v5, s[j][0][k], s[j][1][k], s[j][2][k],\
                              s[j][3][k]);                                               \
            }                                                                            \
        }                                                                                \
        ptrdiff_t w = 4 * n < OW - 4 * a ? 4 * n : OW - 4 * a;                           \
        for (int i = 0; i < 4 && oh + i < OH; i++) {  /* (A^T m) A: along each row */    \
            for (k = 0; k < n; k++) {                                                    \
                T v0 = s[0][i][k], v1 = s[1][i][k], v2 = s[2][i][k];                     \
                T v3 = s[3][i][k], v4 = s[4][i][k], v5 = s[5][i][k];                     \
                PYDL_WINO4_AT(v0, v1, v2, v3, v4, v5, r[0][k], r[1][k], r[2][k],         \
                              r[3][k]);                                                  \
            }                                                                            \
            T* o = out + (oh + i) * OW + 4 * a;                                          \
            T* d = w == 4 * n ? o : rows;       /* a run cut by the plane's edge: copy */\
            for (k = 0; k < n; k++) {                                                    \
                d[4 * k] = r[0][k] + bias;                                               \
                d[4 * k + 1] = r[1][k] + bias;                                           \
                d[4 * k + 2] = r[2][k] + bias;                                           \
                d[4 * k + 3] = r[3][k] + bias;                                           \
            }                                                                            \
            if (d == rows)                                                               \
                for (k = 0; k < w; k++) o[k] = rows[k];                                  \
        }                                                                                \
        q += n;                                                                          \
    }                                                                                    \
}                                                                                        \
/* The weight gradient's transforms, as pydl_wino_grad_output_* and                    \
 * pydl_wino_grad_weight_*: dst[xi * xs + q * NR] = (A dy A^T)[xi] for the 4x4 block   \
 * of output gradient of the q-th tile (zero outside the plane). */                    \
ATTR static void pydl_wino4_grad_output_##SUFFIX##ISA(const T* dy,                 \
        ptrdiff_t OH, ptrdiff_t OW, ptrdiff_t tw_n, ptrdiff_t t0, ptrdiff_t nt, T* dst,  \
        ptrdiff_t xs)                                                                    \
{                                                                                        \
    T buf[4 * PYDL_NR], p[4][4][PYDL_NR], z[6][4][PYDL_NR], r[6][PYDL_NR];               \
    ptrdiff_t q = 0;                                                                     \
    while (q < nt) {                                                                     \
        ptrdiff_t t = t0 + q, a = t % tw_n, oh = 4 * (t / tw_n), k;                      \
        ptrdiff_t n = pydl_wino_run(t, nt - q, tw_n, PYDL_NR);                           \
        for (int i = 0; i < 4; i++) {           /* row i's four column phases */         \
            const T* y = pydl_wino_row_##SUFFIX(dy, OH, OW, oh + i, 4 * a, 4 * n, buf);  \
            for (k = 0; k < n; k++) {                                                    \
                p[i][0][k] = y[4 * k];                                                   \
                p[i][1][k] = y[4 * k + 1];                                               \
                p[i][2][k] = y[4 * k + 2];                                               \
                p[i][3][k] = y[4 * k + 3];                                               \
            }                                                                            \
        }                                                                                \
        for (int l = 0; l < 4; l++)             /* A dy: down each column */             \
            for (k = 0; k < n; k++) {                                                    \
                T y0 = p[0][l][k], y1 = p[1][l][k], y2 = p[2][l][k], y3 = p[3][l][k];    \
                PYDL_WINO4_A(y0, y1, y2, y3, z[0][l][k], z[1][l][k], z[2][l][k],         \
                             z[3][l][k], z[4][l][k], z[5][l][k]);                        \
            }                                                                            \
        T* o = dst + q * PYDL_NR;                                                        \
        for (int i = 0; i < 6; i++) {           /* (A dy) A^T: along each row */         \
            for (k = 0; k < n; k++) {                                                    \
                T y0 = z[i][0][k], y1 = z[i][1][k], y2 = z[i][2][k], y3 = z[i][3][k];    \
                PYDL_WINO4_A(y0, y1, y2, y3, r[0][k], r[1][k], r[2][k], r[3][k],         \
                             r[4][k], r[5][k]);                                          \
            }                                                                            \
            for (int j = 0; j < 6; j++)                                                  \
                for (k = 0; k < n; k++) o[(6 * i + j) * xs + k * PYDL_NR] = r[j][k];     \
        }                                                                                \
        q += n;                                                                          \
    }                                                                                    \
}

#define PYDL_DEFINE_WINOGRAD4_GRAD(T, SUFFIX)                                            \
/* Up to eight channels of pydl_wino4_grad_output_* (planes dy + l * plane, lanes     \
 * dst + l, l < nch), as pydl_wino4_grad_output8_f does them as vectors */             \
static void pydl_wino4_grad_output8_generic_##SUFFIX(const T* dy, ptrdiff_t plane,      \
        int nch, ptrdiff_t OH, ptrdiff_t OW, ptrdiff_t tw_n, ptrdiff_t t0, ptrdiff_t nt, \
        T* dst, ptrdiff_t xs)                                                            \
{                                                                                        \
    for (int l = 0; l < nch; l++)                                                        \
        pydl_wino4_grad_output_##SUFFIX(dy + l * plane, OH, OW, tw_n, t0, nt, dst + l,   \
                                        xs);                                             \
}                                                                                        \
/* dw[k, c] = G^T D G (3 x 3) for D[i][j] = dU[(6i + j) * C * K + c * K + k] */          \
static void pydl_wino4_grad_weight_##SUFFIX(const T* dU, ptrdiff_t K, ptrdiff_t C,       \
                                            T* dw)                                       \
{                                                                                        \
    ptrdiff_t xs = C * K;                                                                \
    for (ptrdiff_t k = 0; k < K; k++)                                                    \
        for (ptrdiff_t c = 0; c < C; c++) {                                              \
            const T* d = dU + c * K + k;                                                 \
            double h[3][6], col[6], r[3];                                                \
            for (int j = 0; j < 6; j++) {       /* G^T D: down each column */            \
                for (int i = 0; i < 6; i++) col[i] = d[(6 * i + j) * xs];                \
                pydl_wino4_gt(col, r);                                                   \
                for (int i = 0; i < 3; i++) h[i][j] = r[i];                              \
            }                                                                            \
            T* o = dw + (k * C + c) * 9;                                                 \
            for (int i = 0; i < 3; i++) {       /* (G^T D) G: along each row */          \
                pydl_wino4_gt(h[i], r);                                                  \
                for (int j = 0; j < 3; j++) o[3 * i + j] = (T)r[j];                      \
            }                                                                            \
        }                                                                                \
}


PYDL_DEFINE_WINOGRAD(float, f)
PYDL_DEFINE_WINOGRAD(double, d)
PYDL_SIMD_INSTANCES(PYDL_DEFINE_WINOGRAD_SPANS, float, f)
PYDL_SIMD_INSTANCES(PYDL_DEFINE_WINOGRAD_SPANS, double, d)
PYDL_SIMD_INSTANCES(PYDL_DEFINE_WINOGRAD2_WEIGHT, float, f)
PYDL_DEFINE_WINOGRAD2_WEIGHT(, , double, d)
PYDL_SIMD_RESOLVE(pydl_wino_weight_f)
PYDL_SIMD_INSTANCES(PYDL_DEFINE_WINOGRAD4_WEIGHT, float, f)
PYDL_DEFINE_WINOGRAD4_WEIGHT(, , double, d)
PYDL_SIMD_RESOLVE(pydl_wino4_weight_f)
PYDL_SIMD_INSTANCES(PYDL_DEFINE_WINOGRAD4_SPANS, float, f)
PYDL_SIMD_INSTANCES(PYDL_DEFINE_WINOGRAD4_SPANS, double, d)
PYDL_SIMD_RESOLVE(pydl_wino_input_f)
PYDL_SIMD_RESOLVE(pydl_wino_output_f)
PYDL_SIMD_RESOLVE(pydl_wino_grad_output_f)
PYDL_SIMD_RESOLVE(pydl_wino_grad_output8_f)
PYDL_SIMD_RESOLVE(pydl_wino4_input_f)
PYDL_SIMD_RESOLVE(pydl_wino4_output_f)
PYDL_SIMD_RESOLVE(pydl_wino4_grad_output_f)
PYDL_SIMD_RESOLVE(pydl_wino_input_d)
PYDL_SIMD_RESOLVE(pydl_wino_output_d)
PYDL_SIMD_RESOLVE(pydl_wino_grad_output_d)
PYDL_SIMD_RESOLVE(pydl_wino_grad_output8_d)
PYDL_SIMD_RESOLVE(pydl_wino4_input_d)
PYDL_SIMD_RESOLVE(pydl_wino4_output_d)
PYDL_SIMD_RESOLVE(pydl_wino4_grad_output_d)
PYDL_DEFINE_WINOGRAD4_GRAD(float, f)
PYDL_DEFINE_WINOGRAD4_GRAD(double, d)

/* The entry points csrc/conv.pyx calls: F(m x m, 3x3) for m = 2 or 4. */
#define PYDL_DEFINE_WINOGRAD_DISPATCH(T, SUFFIX)                                          \
static inline void pydl_winograd_weight_##SUFFIX(int m, const T* w, ptrdiff_t K,         \
        ptrdiff_t C, ptrdiff_t k0, ptrdiff_t k1, T* U)                                   \
{                                                                                        \
    (m == 4 ? pydl_wino4_weight_##SUFFIX : pydl_wino_weight_##SUFFIX)(w, K, C, k0, k1, U);\
}                                                                                        \
static inline void pydl_winograd_input_##SUFFIX(int m, const T* x, ptrdiff_t H,          \
        ptrdiff_t W, ptrdiff_t ph, ptrdiff_t pw, ptrdiff_t tw_n, ptrdiff_t t0,           \
        ptrdiff_t nt, T* dst, ptrdiff_t lane0, ptrdiff_t xs, ptrdiff_t ps)               \
{                                                                                        \
    (m == 4 ? pydl_wino4_input_##SUFFIX : pydl_wino_input_##SUFFIX)(x, H, W, ph, pw,     \
                                                                   tw_n, t0, nt, dst,    \
                                                                   lane0, xs, ps);       \
}                                                                                        \
static inline void pydl_winograd_output_##SUFFIX(int m, const T* mm, ptrdiff_t xs,       \
        ptrdiff_t tw_n, ptrdiff_t t0, ptrdiff_t nt, T bias, T* out, ptrdiff_t OH,        \
        ptrdiff_t OW)                                                                    \
{                                                                                        \
    (m == 4 ? PYDL_WINO4_OUTPUT_##SUFFIX : pydl_wino_output_##SUFFIX)(mm, xs, tw_n, t0,  \
                                                                     nt, bias, out, OH,  \
                                                                     OW);                \
}                                                                                        \
/* Up to 8 output channels (planes dy + l * plane, lanes dst + l), l < nch */            \
static inline void pydl_winograd_grad_output_##SUFFIX(int m, const T* dy,               \
        ptrdiff_t plane, int nch, ptrdiff_t OH, ptrdiff_t OW, ptrdiff_t tw_n,            \
        ptrdiff_t t0, ptrdiff_t nt, T* dst, ptrdiff_t xs)                                \
{                                                                                        \
    if (m == 4) {                                                                        \
        PYDL_WINO4_GRAD_OUTPUT8_##SUFFIX(dy, plane, nch, OH, OW, tw_n, t0, nt, dst, xs); \
        return;                                                                          \
    }                                                                                    \
    if (tw_n <= PYDL_WINO_SMALL_ROW) {                                                   \
        pydl_wino_grad_output8_##SUFFIX(dy, plane, nch, OH, OW, tw_n, t0, nt, dst, xs);  \
        return;                                                                          \
    }                                                                                    \
    for (int l = 0; l < nch; l++)                                                        \
        pydl_wino_grad_output_##SUFFIX(dy + l * plane, OH, OW, tw_n, t0, nt, dst + l, xs);\
}                                                                                        \
static inline void pydl_winograd_grad_weight_##SUFFIX(int m, const T* dU, ptrdiff_t K,   \
                                                      ptrdiff_t C, T* dw)                \
{                                                                                        \
    (m == 4 ? pydl_wino4_grad_weight_##SUFFIX : pydl_wino_grad_weight_##SUFFIX)(         \
        dU, K, C, dw);                                                                   \
}

PYDL_DEFINE_WINOGRAD_DISPATCH(float, f)
PYDL_DEFINE_WINOGRAD_DISPATCH(double, d)

#endif
