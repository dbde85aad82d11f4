"""Convolution kernels: 1-, 2- and 3-D, strided, padded, dilated, grouped, transposed.

Every kernel works on 5-D arrays (N, C, D, H, W): pydl.functional views 1-D and 2-D
data with leading spatial sizes of 1, so one code path serves all three. Weights are
(K, C/groups, kD, kH, kW); padding is the low-side padding of each spatial dimension
(the high side follows from the output's shape, so PyTorch's asymmetric "same" padding
needs nothing special).

The paths, chosen by shape:

- stride 1 (any kernel, padding, dilation) with at least SHIFTED_MIN_CHANNELS input
  channels per group (and output channels, in 2-D): kernel offsets are constant shifts of a
  zero-padded, position-major slab of input rows, so the forward pass is kvol GEMMs
  of shifted slab views with weight slices, per (sample, output plane, slab of rows);
  no im2col matrix is written. The input gradient of a stride-1 convolution is itself
  a stride-1 convolution (of dy, with the flipped, transposed weight): the path of
  that convolution's shape.
- implicit (2-D and 1-D, fewer than SHIFTED_MIN_CHANNELS channels in or out per
  group, any stride where every stride phase is read): per (sample, tile of output
  rows), the zero-padded input window split into its stride phases is B of one GEMM
  whose row (c, kh, kw) is the window shifted by that tap, read in place by the panel
  GEMM (csrc/_panel_gemm.h, pydl_offset_gemm_*): no column matrix.
- strided otherwise, or 3-D stride 1 with fewer channels: im2col + GEMM. The columns
  of one tile of output rows of one sample and group go into a thread-local
  workspace (C/groups * kvol x tile): in the forward pass packed in panels (in 2-D
  gathered from a zero-padded window of the input rows) for the panel GEMM, which
  writes the output rows in place; in the backward pass row-major for BLAS. The
  input gradient is GEMM + col2im per sample.
- Winograd (2-D 3x3, stride 1, no dilation, one group, at least WINOGRAD_MIN_CHANNELS
  channels in and out): F(4x4, 3x3) where the output plane holds WINOGRAD4_MIN_TILES
  4x4 tiles (4x fewer multiply-adds than direct), else F(2x2, 3x3) where it holds
  WINOGRAD_MIN_TILES 2x2 tiles (2.25x fewer) (csrc/_winograd.h). Per block of at
  least WINOGRAD_MIN_BLOCK tiles (of one sample, or of several where a plane has
  fewer): the input transform writes packed GEMM panels, 36 or 16 small GEMMs
  (csrc/_panel_gemm.h) with the transformed weight, the output transform. The input
  gradient of such a convolution is one too (stride 1, flipped weight); the weight
  gradient sums the adjoint transforms' products over fixed batch chunks, in blocks
  of tiles that run across samples (F(4x4) only on planes of
  WINOGRAD4_WEIGHT_MIN_TILES tiles, see _wino_weight_geometry). F(2x2)'s transforms
  are exact on small integers; F(4x4)'s weight transform divides by 6 and 30, and its
  float32 error is about 5-8x F(2x2)'s (a few 1e-6 of the largest value).
- pointwise (1x1 kernel, stride 1, no padding): the input already is the column
  matrix; GEMM reads it in place.
- direct (one input channel per group, e.g. depthwise): multiply-adds over whole
  zero-padded planes (stride 1) or rows (strided; the weight gradient then takes one
  long dot per tap over a channel's im2col tile); a GEMM with k = kvol (9) and
  m = K/groups (1) would waste most of its time.

Work is split over (sample, tile) pairs, so even batch 1 runs on every thread. Every
workspace is per thread and bounded by a tile, slab or plane: it does not grow with
the batch. The weight gradient of the GEMM paths uses im2col tiles (any stride).

The weight gradient is a sum over the batch. It is split into chunks of samples whose
boundaries depend only on the shape (the batch size, and the work: a chunk has at
least CHUNK_MIN_MACS multiply-adds); each chunk accumulates its own partial
gradient (samples and tiles in order) and the partials are added in chunk order, so
the result is bitwise the same at any thread count. The direct kernels instead give
each output channel to one thread, which sums over the whole batch in order.

Work items (tiles, chunks, channels) are handed out dynamically: each writes its own
outputs or partial sums and fully rewrites the workspace it reads, so which thread
runs it changes no bit, and a thread that a busy machine preempts no longer holds the
others up at the barrier.

Contract (all kernels in csrc/): arrays arrive validated and C-contiguous from
pydl.functional, non-empty; outputs are preallocated; ``n_threads`` is explicit; BLAS
is held at one thread by the caller (pydl._threading.blas_single_threaded).
"""

from cython cimport floating
from cython.parallel cimport prange, parallel

from _scratch cimport pydl_workspace_trim, workspace as _workspace, \
    workspace_free as _workspace_free
from libc.string cimport memcpy, memset

from _blas cimport gemm
from _openmp cimport omp_get_thread_num
from _parallel cimport threads_for
from _panel_gemm cimport PYDL_NR, offset_gemm, rows_gemm
from _vmath cimport row_dot, row_sum

cdef extern from "_convrow.h" nogil:
    void pydl_axpy_f(float* acc, const float* src, float w, Py_ssize_t n)
    void pydl_axpy_d(double* acc, const double* src, double w, Py_ssize_t n)
    void pydl_axpy3_f(float* acc, const float* src, Py_ssize_t step, float w0, float w1,
                      float w2, Py_ssize_t n)
    void pydl_axpy3_d(double* acc, const double* src, Py_ssize_t step, double w0,
                      double w1, double w2, Py_ssize_t n)

cdef extern from "_winograd.h" nogil:
    # F(m x m, 3x3), m = 2 or 4 (Geom.wino_m); see the header for layouts
    void pydl_winograd_weight_f(int m, const float* w, Py_ssize_t K, Py_ssize_t C,
                                Py_ssize_t k0, Py_ssize_t k1, float* U)
    void pydl_winograd_weight_d(int m, const double* w, Py_ssize_t K, Py_ssize_t C,
                                Py_ssize_t k0, Py_ssize_t k1, double* U)
    void pydl_winograd_input_f(int m, const float* x, Py_ssize_t H, Py_ssize_t W,
                               Py_ssize_t ph, Py_ssize_t pw, Py_ssize_t tw_n, Py_ssize_t t0,
                               Py_ssize_t nt, float* dst, Py_ssize_t lane0, Py_ssize_t xs,
                               Py_ssize_t ps)
    void pydl_winograd_input_d(int m, const double* x, Py_ssize_t H, Py_ssize_t W,
                               Py_ssize_t ph, Py_ssize_t pw, Py_ssize_t tw_n, Py_ssize_t t0,
                               Py_ssize_t nt, double* dst, Py_ssize_t lane0, Py_ssize_t xs,
                               Py_ssize_t ps)
    void pydl_winograd_output_f(int m, const float* mm, Py_ssize_t xs, Py_ssize_t tw_n,
                                Py_ssize_t t0, Py_ssize_t nt, float bias, float* out,
                                Py_ssize_t OH, Py_ssize_t OW)
    void pydl_winograd_output_d(int m, const double* mm, Py_ssize_t xs, Py_ssize_t tw_n,
                                Py_ssize_t t0, Py_ssize_t nt, double bias, double* out,
                                Py_ssize_t OH, Py_ssize_t OW)
    void pydl_winograd_grad_output_f(int m, const float* dy, Py_ssize_t plane, int nch,
                                     Py_ssize_t OH, Py_ssize_t OW, Py_ssize_t tw_n,
                                     Py_ssize_t t0, Py_ssize_t nt, float* dst,
                                     Py_ssize_t xs)
    void pydl_winograd_grad_output_d(int m, const double* dy, Py_ssize_t plane, int nch,
                                     Py_ssize_t OH, Py_ssize_t OW, Py_ssize_t tw_n,
                                     Py_ssize_t t0, Py_ssize_t nt, double* dst,
                                     Py_ssize_t xs)
    void pydl_winograd_grad_weight_f(int m, const float* dU, Py_ssize_t K, Py_ssize_t C,
                                     float* dw)
    void pydl_winograd_grad_weight_d(int m, const double* dU, Py_ssize_t K, Py_ssize_t C,
                                     double* dw)

# Target size (elements) of one thread's im2col tile. A tile is a whole number of
# output rows, at least one.
TILE_ELEMENTS = 262144
# The stride-1 slab path (kvol GEMMs C/groups deep) from this many input channels per
# group; below it im2col (one GEMM C/groups * kvol deep).
SHIFTED_MIN_CHANNELS = 16
# Target size (elements) of one thread's padded input slab plus output accumulator on
# the stride-1 path.
SLAB_ELEMENTS = 131072
# Strided 2-D direct convolutions (depthwise) split a whole input plane into its stride
# phases where they take at most this many elements (else a row and tap at a time).
DIRECT_PHASES_MAX = 1048576
# At most this many partial weight gradients (chunks of the batch), and at most
# PARTIAL_BUDGET elements of them: the weight-gradient workspace is bounded too.
MAX_CHUNKS = 16
PARTIAL_BUDGET = 8 * 1024 * 1024
# ... and at least this many multiply-adds (of the direct convolution) a chunk: a chunk
# of two samples of 4x4 planes summed GEMMs 8 tiles long and zeroed and added 2 MB of
# partials for 4 M multiply-adds (the digits CNN's 32->64 layer at batch 32).
CHUNK_MIN_MACS = 1048576
# Winograd: below this many channels (in or out), or tiles per output plane, the
# transforms cost more than the multiply-adds they save (measured: 16->32 on 8x8, 16
# tiles, 1.16x the speed of the stride-1 path; 32->64 channels on 4x4 planes, 4 tiles,
# 0.78x while a block held one sample's tiles, 1.5x with blocks packed across samples:
# forward 0.85 -> 0.57 ms, batch 32, 1 thread). So from WINOGRAD_PACKED_MIN_TILES
# tiles where the batch fills a block (WINOGRAD_MIN_BLOCK tiles): at batch 1-4 the
# weight transform outweighs the rest (batch 1: 63 us stride-1, 134 us Winograd). F(4x4, 3x3) from 16 tiles of 4x4
# (16x16 planes: even with F(2x2) there; 32x32: forward and input gradient 1.37x
# faster than F(2x2)); its weight gradient from 32 (see _wino_weight_geometry). One
# thread's transformed tiles and GEMM outputs take about WINOGRAD_ELEMENTS elements
# (the weight gradient's, WINOGRAD_WEIGHT_ELEMENTS): blocks of 16 to 256 tiles, and of
# at least WINOGRAD_MIN_BLOCK lanes in the forward pass (a block reads every
# transformed weight).
WINOGRAD_MIN_CHANNELS = 16
WINOGRAD_MIN_TILES = 16
WINOGRAD_PACKED_MIN_TILES = 4
WINOGRAD4_MIN_TILES = 16
WINOGRAD4_WEIGHT_MIN_TILES = 32
WINOGRAD_ELEMENTS = 262144
WINOGRAD_MIN_BLOCK = 64
WINOGRAD_WEIGHT_ELEMENTS = 262144
WINOGRAD_WEIGHT_MAX_TILES = 256
BLAS_INT_MAX = 2**31 - 1
WORK_MAX = 2**40   # elements: a workspace size past this is an error, not an allocation


cdef struct Geom:
    Py_ssize_t n, c, k, groups, cg, kg      # batch, channels in/out, groups, per group
    Py_ssize_t isz[3]                       # input spatial size (D, H, W)
    Py_ssize_t osz[3]                       # output spatial size
    Py_ssize_t ksz[3]                       # kernel size
    Py_ssize_t s[3]                         # stride
    Py_ssize_t p[3]                         # low-side padding (may be negative)
    Py_ssize_t d[3]                         # dilation
    Py_ssize_t in_sp, out_sp, kvol, ckk     # spatial volumes; ckk = cg * kvol
    Py_ssize_t rows                         # output rows: oD * oH
    Py_ssize_t tile_rows, tile_p, n_tiles   # im2col: output rows per tile, positions
    Py_ssize_t wpad                         # stride 1: padded row width oW + (kW-1) dW
    Py_ssize_t slab_rows, slab_tiles        # stride 1: output rows per slab, per plane
    Py_ssize_t slab_pos, slab_size          # stride 1: slab positions, workspace elements
    bint pointwise                          # 1x1, stride 1, no padding: no im2col
    bint direct                             # one input channel per group
    bint shifted                            # stride 1: GEMMs over a padded slab
    bint stride1                            # every stride is 1
    bint winograd                           # 2-D 3x3 stride 1: F(m x m, 3x3)
    bint gather                             # 2-D: tiles read a padded input window of
    Py_ssize_t gat_rows, gat_w              #   gat_rows x gat_w (implicit: per phase)
    bint implicit                           # 2-D: implicit GEMM over a phase window
    Py_ssize_t imp_rows, imp_tiles          # implicit: output rows per tile, tiles
    Py_ssize_t win_n                        # elements of a tile's input window
    bint phased                             # strided 2-D direct: a plane's phases of
    Py_ssize_t ph_rows, ph_w                #   ph_rows x ph_w (_forward_direct_phases)
    Py_ssize_t wino_m, wino_nx              # Winograd: tile size m (2 or 4), (m + 2)^2
    Py_ssize_t wino_tw, wino_tiles          # Winograd: tiles per row, per plane
    Py_ssize_t wino_tb, wino_blocks         # lanes per block (whole panels), per plane
    Py_ssize_t wino_spb, wino_lanes         # samples per block, lanes per sample in it
    Py_ssize_t wino_tbw                     # weight gradient: tiles per block (any samples)


cdef Geom _geometry(const Py_ssize_t* in_shape, const Py_ssize_t* w_shape,
                    const Py_ssize_t* out_shape, tuple stride, tuple padding,
                    tuple dilation, Py_ssize_t groups) except *:
    """Geometry of a convolution: input (N, C, *sp), weight (K, C/g, *k), output."""
    cdef Geom g
    cdef Py_ssize_t i
    g.n, g.c = in_shape[0], in_shape[1]
    g.k, g.cg = w_shape[0], w_shape[1]
    g.groups = groups
    for i in range(3):
        g.isz[i] = in_shape[2 + i]
        g.osz[i] = out_shape[2 + i]
        g.ksz[i] = w_shape[2 + i]
        g.s[i], g.p[i], g.d[i] = stride[i], padding[i], dilation[i]
    _derive(&g)
    return g


cdef Geom _input_grad_geometry(const Geom* g) except *:
    """The stride-1 convolution whose output is g's input gradient: it convolves the
    output gradient with the flipped, transposed weight (see _flip_weight)."""
    cdef Geom t = g[0]
    cdef Py_ssize_t i
    t.c, t.k, t.cg = g.k, g.c, g.kg
    for i in range(3):
        t.isz[i], t.osz[i] = g.osz[i], g.isz[i]
        t.p[i] = (g.ksz[i] - 1) * g.d[i] - g.p[i]
    _derive(&t)
    return t


cdef Py_ssize_t _limited(object value, object limit, str what) except -1:
    """value (a Python int), refused with a ValueError above limit: GEMM sizes must fit
    BLAS's 32-bit ints, and no product may overflow on the way to a workspace size."""
    if value > limit:
        raise ValueError(f"convolution too large: {what} would be {value}, more than "
                         f"{limit}")
    return value


cdef int _derive(Geom* g) except -1:
    """Fill in what follows from the sizes: volumes, the path, the tiles. Products are
    formed as Python ints and checked, so extreme paddings or dilations give a
    ValueError, never an overflowed size."""
    cdef Py_ssize_t i, row_elems, ext, per_row
    g.kg = g.k // g.groups
    g.pointwise = g.stride1 = True
    for i in range(3):
        # isz == osz too: a transposed convolution's output_padding gives its output
        # (the input here) trailing elements no window of a 1x1 kernel reaches
        g.pointwise = g.pointwise and g.ksz[i] == 1 and g.s[i] == 1 and g.p[i] == 0 \
            and g.isz[i] == g.osz[i]
        g.stride1 = g.stride1 and g.s[i] == 1
    g.in_sp = _limited(int(g.isz[0]) * g.isz[1] * g.isz[2], BLAS_INT_MAX, "an input plane")
    g.out_sp = _limited(int(g.osz[0]) * g.osz[1] * g.osz[2], BLAS_INT_MAX,
                        "an output plane")
    g.kvol = _limited(int(g.ksz[0]) * g.ksz[1] * g.ksz[2], BLAS_INT_MAX, "a kernel")
    g.ckk = _limited(int(g.cg) * g.kvol, BLAS_INT_MAX, "a column (C/groups * kernel)")
    g.rows = g.osz[0] * g.osz[1]
    g.direct = g.cg == 1 and not g.pointwise
    _derive_winograd(g, WINOGRAD4_MIN_TILES)
    # 2-D (and 1-D) im2col tiles read a zero-padded window of input rows: the rows that a
    # tile's output rows reach, over the columns that any output column reaches.
    g.gather = g.isz[0] == 1 and g.osz[0] == 1 and g.ksz[0] == 1 and g.p[0] == 0
    # 2-D with fewer than SHIFTED_MIN_CHANNELS channels in or out per group: one
    # implicit GEMM per tile over a window of the input split into stride phases
    # (_fill_phases), where every kernel tap reads a contiguous run. At stride 1 the
    # slab's kvol GEMMs would be too shallow or too narrow (LeNet's 6->16 5x5: 25 BLAS
    # calls 6 deep per slab; its input gradient, 16 -> 6 channels: 25 calls 6 wide; a
    # 3-channel stem: 9 calls 3 deep). Strided only where every phase is read (not a
    # 1x1 stride-2 shortcut: its gathered columns are a quarter of the window). With
    # more channels the window outgrows L1 and the gathered panels were faster (ResNet's
    # 32->64 stride-2 3x3 on 16x16: 4.9 ms gathered, 6.7 ms implicit, batch 128).
    g.implicit = g.gather and not g.pointwise and not g.direct and not g.winograd \
        and (g.cg < SHIFTED_MIN_CHANNELS or g.kg < SHIFTED_MIN_CHANNELS) \
        and _every_phase(g.ksz[1], g.d[1], g.s[1]) and _every_phase(g.ksz[2], g.d[2], g.s[2])
    # 3-D stride 1 with fewer input channels per group: im2col (one GEMM C/groups * kvol
    # deep).
    g.shifted = g.stride1 and not g.pointwise and not g.direct and not g.implicit \
        and g.cg >= SHIFTED_MIN_CHANNELS
    # Stride-1 slabs: rows of one output plane, with the input rows they read.
    g.wpad = _limited(int(g.osz[2]) + (g.ksz[2] - 1) * int(g.d[2]), BLAS_INT_MAX,
                      "a padded row")
    ext = _limited((g.ksz[1] - 1) * int(g.d[1]), BLAS_INT_MAX, "a dilated kernel height")
    per_row = _limited(max((int(g.cg) + g.kg) * g.wpad, 1), WORK_MAX, "a slab row")
    g.slab_rows = min(max((SLAB_ELEMENTS - int(g.cg) * ext * g.wpad) // per_row, 1),
                      g.osz[1])
    g.slab_tiles = (g.osz[1] + g.slab_rows - 1) // g.slab_rows
    g.slab_rows = (g.osz[1] + g.slab_tiles - 1) // g.slab_tiles
    g.slab_tiles = (g.osz[1] + g.slab_rows - 1) // g.slab_rows
    _limited(int(g.slab_rows) * g.wpad, BLAS_INT_MAX, "a slab's positions")
    # the padded rows, plus the overrun of the last row's (kW-1) dW dropped columns
    g.slab_pos = _limited((int(g.slab_rows) + ext) * g.wpad + (g.ksz[2] - 1) * int(g.d[2]),
                          WORK_MAX, "a slab")
    g.slab_size = _limited(int(g.slab_pos) * g.cg + int(g.slab_rows) * g.wpad * g.kg,
                           WORK_MAX, "a slab and its accumulator")   # slab, accumulator
    # im2col tiles (the forward's, and every path's weight gradient and strided input
    # gradient): about TILE_ELEMENTS, balanced (32 rows at 3 per tile become 11 tiles
    # of 3 and one of 2, not 10 and 2).
    row_elems = _limited(max(int(g.ckk) * g.osz[2], 1), WORK_MAX, "an im2col row")
    g.tile_rows = min(max(TILE_ELEMENTS // row_elems, 1), g.rows)
    g.n_tiles = (g.rows + g.tile_rows - 1) // g.tile_rows
    g.tile_rows = (g.rows + g.n_tiles - 1) // g.n_tiles
    g.n_tiles = (g.rows + g.tile_rows - 1) // g.tile_rows
    # Strided 2-D direct (depthwise): the whole input plane split into its stride phases
    # (_fill_phases) so that each tap is one contiguous pass over the output rows; a
    # row and a tap at a time, with strided reads, cost 4-5x PyTorch's time on 7x7 to
    # 28x28 outputs.
    g.ph_rows = g.ph_w = 0
    g.phased = g.direct and not g.stride1 and g.gather
    if g.phased:
        g.ph_w = _limited(int(g.osz[2]) + (g.ksz[2] - 1) * int(g.d[2]) // g.s[2],
                          BLAS_INT_MAX, "an input window row")
        g.ph_rows = _limited(int(g.osz[1]) + (g.ksz[1] - 1) * int(g.d[1]) // g.s[1],
                             BLAS_INT_MAX, "an input window")
        g.phased = _phase_elements(g) <= DIRECT_PHASES_MAX
    g.imp_rows = g.imp_tiles = 0
    if g.implicit:
        # The forward's tiles: the window (C/groups x sH x sW phases of gat_rows x
        # gat_w) and the GEMM's output (K/groups x imp_rows x gat_w) take about a
        # slab's room.
        g.gat_w = _limited(int(g.osz[2]) + (g.ksz[2] - 1) * int(g.d[2]) // g.s[2],
                           BLAS_INT_MAX, "an input window row")
        ext = (g.ksz[1] - 1) * g.d[1] // g.s[1]
        per_row = _limited((int(g.cg) * g.s[1] * g.s[2] + g.kg) * g.gat_w, WORK_MAX,
                           "an input window")
        g.imp_rows = min(max((SLAB_ELEMENTS - int(g.cg) * g.s[1] * g.s[2] * ext * g.gat_w)
                             // per_row, 1), g.rows)
        g.imp_tiles = (g.rows + g.imp_rows - 1) // g.imp_rows
        g.imp_rows = (g.rows + g.imp_tiles - 1) // g.imp_tiles
        g.imp_tiles = (g.rows + g.imp_rows - 1) // g.imp_rows
        g.tile_p = g.tile_rows * g.osz[2]
        g.gat_rows = g.imp_rows + ext
        g.win_n = _limited(int(g.cg) * g.s[1] * g.s[2] * g.gat_rows * g.gat_w, WORK_MAX,
                           "an input window")
        _limited(int(g.imp_rows) * g.gat_w + PYDL_NR, BLAS_INT_MAX, "a tile's positions")
        return 0
    g.tile_p = g.tile_rows * g.osz[2]
    g.gat_rows = _limited((int(g.tile_rows) - 1) * g.s[1] + (g.ksz[1] - 1) * int(g.d[1]) + 1,
                          BLAS_INT_MAX, "an input window")
    g.gat_w = _limited((int(g.osz[2]) - 1) * g.s[2] + (g.ksz[2] - 1) * int(g.d[2]) + 1,
                       BLAS_INT_MAX, "an input window row")
    g.win_n = _limited(int(g.cg) * g.gat_rows * g.gat_w, WORK_MAX, "an input window")
    return 0


cdef Py_ssize_t _phase_elements(const Geom* g) except -1:
    """One thread's workspace on the phased direct path: the plane's sH x sW phases,
    the overrun of the last row's dropped columns, the output rows at width ph_w."""
    return _limited((int(g.s[1]) * g.s[2] * g.ph_rows + 1 + g.osz[1]) * int(g.ph_w),
                    WORK_MAX, "a plane's stride phases")


cdef bint _every_phase(Py_ssize_t k, Py_ssize_t d, Py_ssize_t s):
    """Whether the taps 0, d, ..., (k - 1) d of a kernel axis fall on every residue
    modulo the stride s (every phase of the implicit path's window is read)."""
    cdef Py_ssize_t i
    seen = set()
    for i in range(min(k, s * s + 1)):
        seen.add(i * d % s)
    return len(seen) == s


cdef void _derive_winograd(Geom* g, Py_ssize_t min_tiles4) except *:
    """Whether the Winograd path serves g, with which tile (F(4x4, 3x3) where the plane
    holds min_tiles4 tiles of 4x4 outputs, else F(2x2, 3x3)), and its blocks of tiles:
    a function of the shape only, so the result is the same at any thread count."""
    cdef Py_ssize_t tb, m
    g.winograd = (g.stride1 and g.groups == 1 and g.ksz[0] == 1 and g.ksz[1] == 3
                  and g.ksz[2] == 3 and g.d[1] == 1 and g.d[2] == 1 and g.isz[0] == 1
                  and g.osz[0] == 1 and g.p[0] == 0 and g.c >= WINOGRAD_MIN_CHANNELS
                  and g.k >= WINOGRAD_MIN_CHANNELS)
    g.wino_m = g.wino_nx = g.wino_tw = g.wino_tiles = g.wino_tb = g.wino_blocks = 0
    g.wino_tbw = g.wino_spb = g.wino_lanes = 0
    if not g.winograd:
        return
    m = 4 if (g.osz[1] + 3) // 4 * ((g.osz[2] + 3) // 4) >= min_tiles4 else 2
    g.wino_tw = (g.osz[2] + m - 1) // m
    g.wino_tiles = _limited(int(g.wino_tw) * ((g.osz[1] + m - 1) // m), BLAS_INT_MAX,
                            "a plane's Winograd tiles")
    if m == 2 and g.wino_tiles < WINOGRAD_MIN_TILES and not (
            g.wino_tiles >= WINOGRAD_PACKED_MIN_TILES
            and g.n * g.wino_tiles >= WINOGRAD_MIN_BLOCK):
        g.winograd = False
        g.wino_tw = g.wino_tiles = 0
        return
    g.wino_m = m
    g.wino_nx = (m + 2) * (m + 2)
    tb = WINOGRAD_ELEMENTS // (g.wino_nx * (g.c + g.k))
    tb = min(max(tb - tb % PYDL_NR, PYDL_NR), 256)
    g.wino_blocks = (g.wino_tiles + tb - 1) // tb
    tb = (g.wino_tiles + g.wino_blocks - 1) // g.wino_blocks     # balanced
    g.wino_tb = _panel_round(tb)
    g.wino_blocks = (g.wino_tiles + g.wino_tb - 1) // g.wino_tb
    # Every block reads all nx transformed weights (nx K C): a block of few tiles reads
    # them for few multiply-adds (VGG's 512 channels on 14x14 planes: 36 MB for 8 tiles
    # of one sample). Blocks of at least WINOGRAD_MIN_BLOCK lanes, across samples where
    # a plane has fewer tiles, packed one after another (a 4x4 plane has 4 tiles).
    g.wino_spb, g.wino_lanes = 1, g.wino_tb
    if g.wino_tb < WINOGRAD_MIN_BLOCK:
        if g.wino_blocks > 1:
            g.wino_blocks = (g.wino_tiles + WINOGRAD_MIN_BLOCK - 1) // WINOGRAD_MIN_BLOCK
            g.wino_tb = _panel_round((g.wino_tiles + g.wino_blocks - 1) // g.wino_blocks)
            g.wino_blocks = (g.wino_tiles + g.wino_tb - 1) // g.wino_tb
            g.wino_lanes = g.wino_tb
        if g.wino_blocks == 1:
            g.wino_lanes = g.wino_tiles
            g.wino_spb = max(1, min(g.n, WINOGRAD_MIN_BLOCK // g.wino_lanes))
            g.wino_tb = _panel_round(g.wino_spb * g.wino_lanes)
    # The weight gradient's blocks are the GEMMs' sums (their k): they run on across
    # samples, so that a small plane does not make short sums.
    tb = WINOGRAD_WEIGHT_ELEMENTS // (g.wino_nx * (g.c + _panel_round(g.k)))
    g.wino_tbw = min(max(tb - tb % PYDL_NR, PYDL_NR), WINOGRAD_WEIGHT_MAX_TILES)


cdef inline Py_ssize_t _wino_items(const Geom* g) noexcept nogil:
    """Work items of the Winograd forward pass: (group of wino_spb samples, block)."""
    return (g.n + g.wino_spb - 1) // g.wino_spb * g.wino_blocks


cdef inline Py_ssize_t _panel_round(Py_ssize_t n) noexcept nogil:
    """n rounded up to whole panels of PYDL_NR."""
    return (n + PYDL_NR - 1) // PYDL_NR * PYDL_NR


cdef inline Py_ssize_t _wino_stride(Py_ssize_t rows, Py_ssize_t tb) noexcept nogil:
    """Elements from one of the 16 or 36 transformed blocks (rows x tb) to the next:
    one cache line more than the block, so that the streams a transform writes are not
    a multiple of 4 KiB apart (they would share L1 sets and evict one another)."""
    return rows * tb + PYDL_NR


cdef inline Py_ssize_t _wino_thread_elements(const Geom* g) noexcept nogil:
    """One thread's Winograd workspace: nx transformed input blocks (C x tiles, packed)
    and nx GEMM outputs (K x tiles)."""
    return g.wino_nx * (_wino_stride(g.c, g.wino_tb) + _wino_stride(g.k, g.wino_tb))


cdef Py_ssize_t _n_chunks(const Geom* g):
    """Chunks of the batch for the weight gradient: a function of the shape only."""
    cdef Py_ssize_t w_size = g.k * g.ckk
    cdef Py_ssize_t n = min(g.n, MAX_CHUNKS, _macs(g) // CHUNK_MIN_MACS)
    return max(1, min(n, PARTIAL_BUDGET // max(w_size, 1)))


# ------------------------------------------------------------------ index helpers

cdef inline void _valid_span(Py_ssize_t offset, Py_ssize_t stride, Py_ssize_t size,
                             Py_ssize_t n_out, Py_ssize_t* lo, Py_ssize_t* hi) noexcept nogil:
    """[lo, hi): the outputs o with 0 <= o * stride + offset < size (others read padding)."""
    cdef Py_ssize_t a = 0, b
    if stride == 1:   # the common case, without divisions
        a = -offset if offset < 0 else 0
        b = size - offset
    else:
        if offset < 0:
            a = (-offset + stride - 1) // stride
        b = (size - offset + stride - 1) // stride if size > offset else 0
    a = min(a, n_out)
    lo[0] = a
    hi[0] = min(max(b, a), n_out)


cdef inline Py_ssize_t _input_row(const Geom* g, Py_ssize_t od, Py_ssize_t oh,
                                  Py_ssize_t kd, Py_ssize_t kh) noexcept nogil:
    """Input row (id * H + ih) that kernel row (kd, kh) reads for output row (od, oh),
    or -1 when it lies in the padding."""
    cdef Py_ssize_t i_d = od * g.s[0] - g.p[0] + kd * g.d[0]
    cdef Py_ssize_t i_h = oh * g.s[1] - g.p[1] + kh * g.d[1]
    if i_d < 0 or i_d >= g.isz[0] or i_h < 0 or i_h >= g.isz[1]:
        return -1
    return i_d * g.isz[1] + i_h


# ---------------------------------------------------------------- im2col / col2im
#
# Both walk the tile's output rows (od, oh) once per (channel, kd, kh) and handle the
# kW kernel columns from the same input row.

cdef void _im2col(const Geom* g, const Py_ssize_t* spans, const floating* xg,
                  floating* col, Py_ssize_t r0, Py_ssize_t r1) noexcept nogil:
    """col[(c, kd, kh, kw), (r - r0) * oW + ow] = x[c, id, ih, iw] (0 in the padding),
    for output rows r0 <= r < r1 of one sample and group; xg points at its channel 0;
    spans: _tap_spans."""
    cdef Py_ssize_t tp = (r1 - r0) * g.osz[2], ow_n = g.osz[2], w_in = g.isz[2]
    cdef Py_ssize_t sw = g.s[2], c, kd, kh, kw, r, od, oh, ow, lo, hi, off, row
    cdef const floating* src
    cdef floating* dst
    cdef floating* block
    for c in range(g.cg):
        for kd in range(g.ksz[0]):
            for kh in range(g.ksz[1]):
                block = col + ((c * g.ksz[0] + kd) * g.ksz[1] + kh) * g.ksz[2] * tp
                od = r0 // g.osz[1]
                oh = r0 % g.osz[1]
                for r in range(r1 - r0):
                    row = _input_row(g, od, oh, kd, kh)
                    for kw in range(g.ksz[2]):
                        dst = block + kw * tp + r * ow_n
                        if row < 0:
                            memset(dst, 0, ow_n * sizeof(floating))
                            continue
                        off, lo, hi = spans[3 * kw], spans[3 * kw + 1], spans[3 * kw + 2]
                        src = xg + c * g.in_sp + row * w_in + off
                        for ow in range(lo):
                            dst[ow] = 0
                        if sw == 1:
                            memcpy(dst + lo, src + lo, (hi - lo) * sizeof(floating))
                        else:
                            for ow in range(lo, hi):
                                dst[ow] = src[ow * sw]
                        for ow in range(hi, ow_n):
                            dst[ow] = 0
                    oh = oh + 1
                    if oh == g.osz[1]:
                        oh = 0
                        od = od + 1


cdef inline void _panel_run(floating* bp, Py_ssize_t ckk, Py_ssize_t kidx, Py_ssize_t pos,
                            const floating* src, Py_ssize_t step, Py_ssize_t n) noexcept nogil:
    """Positions pos .. pos + n - 1 of column row kidx, in the panel layout of
    _im2col_panels, = src[0], src[step], ... (zeros when src is NULL)."""
    cdef Py_ssize_t seg, i
    cdef floating* dst
    while n > 0:
        seg = min(PYDL_NR - pos % PYDL_NR, n)
        dst = bp + ((pos // PYDL_NR) * ckk + kidx) * PYDL_NR + pos % PYDL_NR
        if src == NULL:
            for i in range(seg):
                dst[i] = 0
        else:
            for i in range(seg):
                dst[i] = src[i * step]
            src = src + seg * step
        pos = pos + seg
        n = n - seg


cdef void _im2col_panels(const Geom* g, const Py_ssize_t* spans, const floating* xg,
                         floating* bp, Py_ssize_t r0, Py_ssize_t r1) noexcept nogil:
    """_im2col's columns written straight into the panels of csrc/_panel_gemm.h: column
    row kidx = (c, kd, kh, kw) and position q of the tile go to
    bp[((q // NR) * ckk + kidx) * NR + q % NR]; lanes past the tile are zeros."""
    cdef Py_ssize_t tp = (r1 - r0) * g.osz[2], ow_n = g.osz[2], w_in = g.isz[2]
    cdef Py_ssize_t sw = g.s[2], ckk = g.ckk, c, kd, kh, kw, r, od, oh, lo, hi, off, row
    cdef Py_ssize_t kidx, q
    cdef const floating* src
    for c in range(g.cg):
        for kd in range(g.ksz[0]):
            for kh in range(g.ksz[1]):
                kidx = ((c * g.ksz[0] + kd) * g.ksz[1] + kh) * g.ksz[2]
                od = r0 // g.osz[1]
                oh = r0 % g.osz[1]
                for r in range(r1 - r0):
                    row = _input_row(g, od, oh, kd, kh)
                    q = r * ow_n
                    for kw in range(g.ksz[2]):
                        if row < 0:
                            _panel_run(bp, ckk, kidx + kw, q, NULL, 0, ow_n)
                            continue
                        off, lo, hi = spans[3 * kw], spans[3 * kw + 1], spans[3 * kw + 2]
                        src = xg + c * g.in_sp + row * w_in + off
                        _panel_run(bp, ckk, kidx + kw, q, NULL, 0, lo)
                        _panel_run(bp, ckk, kidx + kw, q + lo, src + lo * sw, sw, hi - lo)
                        _panel_run(bp, ckk, kidx + kw, q + hi, NULL, 0, ow_n - hi)
                    oh = oh + 1
                    if oh == g.osz[1]:
                        oh = 0
                        od = od + 1
    if tp % PYDL_NR:
        for kidx in range(ckk):
            _panel_run(bp, ckk, kidx, tp, NULL, 0, PYDL_NR - tp % PYDL_NR)


cdef void _col2im(const Geom* g, const Py_ssize_t* spans, const floating* col,
                  floating* xg, Py_ssize_t r0, Py_ssize_t r1) noexcept nogil:
    """The adjoint of _im2col: x[c, id, ih, iw] += col[...] (padding dropped)."""
    cdef Py_ssize_t tp = (r1 - r0) * g.osz[2], ow_n = g.osz[2], w_in = g.isz[2]
    cdef Py_ssize_t sw = g.s[2], c, kd, kh, kw, r, od, oh, ow, lo, hi, off, row
    cdef const floating* src
    cdef const floating* block
    cdef floating* dst
    for c in range(g.cg):
        for kd in range(g.ksz[0]):
            for kh in range(g.ksz[1]):
                block = col + ((c * g.ksz[0] + kd) * g.ksz[1] + kh) * g.ksz[2] * tp
                od = r0 // g.osz[1]
                oh = r0 % g.osz[1]
                for r in range(r1 - r0):
                    row = _input_row(g, od, oh, kd, kh)
                    if row >= 0:
                        for kw in range(g.ksz[2]):
                            src = block + kw * tp + r * ow_n
                            off, lo, hi = spans[3 * kw], spans[3 * kw + 1], spans[3 * kw + 2]
                            dst = xg + c * g.in_sp + row * w_in + off
                            if sw == 1:
                                for ow in range(lo, hi):
                                    dst[ow] += src[ow]
                            else:
                                for ow in range(lo, hi):
                                    dst[ow * sw] += src[ow]
                    oh = oh + 1
                    if oh == g.osz[1]:
                        oh = 0
                        od = od + 1


cdef inline void _fill(floating* a, Py_ssize_t n, floating v) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(n):
        a[i] = v


cdef void _seed_channels(floating* a, Py_ssize_t channels, Py_ssize_t size,
                         const floating* values) noexcept nogil:
    """a[c, :] = values[c], or 0 when values is NULL."""
    cdef Py_ssize_t c
    if values == NULL:
        memset(a, 0, channels * size * sizeof(floating))
        return
    for c in range(channels):
        _fill(a + c * size, size, values[c])


# ------------------------------------------------------------------- GEMM path

cdef inline Py_ssize_t _im2col_elements(const Geom* g) noexcept nogil:
    """One thread's forward workspace on the im2col path: the tile's columns in panels
    of PYDL_NR positions, and in 2-D the padded input window they are gathered from."""
    return g.ckk * _panel_round(g.tile_p) + (g.win_n if g.gather else 0)


cdef void _gather_offsets(const Geom* g, Py_ssize_t* pos_off, Py_ssize_t* col_off) noexcept nogil:
    """For _gather_panels: pos_off[q] = where in the window output position q of a tile
    starts reading, col_off[(c, kh, kw)] = where column row (c, kh, kw) reads from there."""
    cdef Py_ssize_t q, c, kh, kw, ow_n = g.osz[2]
    for q in range(g.tile_p):
        pos_off[q] = (q // ow_n) * g.s[1] * g.gat_w + (q % ow_n) * g.s[2]
    for c in range(g.cg):
        for kh in range(g.ksz[1]):
            for kw in range(g.ksz[2]):
                col_off[(c * g.ksz[1] + kh) * g.ksz[2] + kw] = \
                    (c * g.gat_rows + kh * g.d[1]) * g.gat_w + kw * g.d[2]


cdef void _fill_window(const Geom* g, const floating* xg, floating* win,
                       Py_ssize_t r0) noexcept nogil:
    """win[c, i, j] = x[c, r0 * sH - pH + i, j - pW] (0 outside x): the input window of
    the tile from output row r0 (a 2-D convolution); xg points at the group's channel 0."""
    cdef Py_ssize_t wn = g.gat_w, w_in = g.isz[2], pw = g.p[2], c, i, ih, lo, hi
    cdef floating* dst
    lo = min(max(pw, 0), wn)           # window columns [lo, hi) hold x's columns
    hi = min(max(w_in + pw, lo), wn)
    for c in range(g.cg):
        for i in range(g.gat_rows):
            ih = r0 * g.s[1] - g.p[1] + i
            dst = win + (c * g.gat_rows + i) * wn
            if ih < 0 or ih >= g.isz[1]:
                memset(dst, 0, wn * sizeof(floating))
                continue
            memset(dst, 0, lo * sizeof(floating))
            memcpy(dst + lo, xg + c * g.in_sp + ih * w_in + lo - pw,
                   (hi - lo) * sizeof(floating))
            memset(dst + hi, 0, (wn - hi) * sizeof(floating))


cdef void _gather_panels(const Geom* g, const floating* win, const Py_ssize_t* pos_off,
                         const Py_ssize_t* col_off, Py_ssize_t tp,
                         floating* bp) noexcept nogil:
    """The tile's columns (tp positions) in the panels of _im2col_panels, gathered from
    the padded window: no bounds to check, one load and one store per element."""
    cdef Py_ssize_t p, kidx, l, lanes, ckk = g.ckk
    cdef const Py_ssize_t* po
    cdef const floating* src
    cdef floating* dst
    for p in range((tp + PYDL_NR - 1) // PYDL_NR):
        lanes = min(<Py_ssize_t>PYDL_NR, tp - p * PYDL_NR)
        po = pos_off + p * PYDL_NR
        for kidx in range(ckk):
            src = win + col_off[kidx]
            dst = bp + (p * ckk + kidx) * PYDL_NR
            for l in range(lanes):
                dst[l] = src[po[l]]
            for l in range(lanes, PYDL_NR):
                dst[l] = 0


cdef inline Py_ssize_t _implicit_elements(const Geom* g) noexcept nogil:
    """One thread's workspace on the implicit-GEMM path: the padded window, the zeros
    its last rows' panels may read past it, and the GEMM's output (K/groups x a tile of
    padded-row positions)."""
    return (g.win_n + _window_slack(g) + g.kg * _panel_round(g.imp_rows * g.gat_w))


cdef inline Py_ssize_t _window_slack(const Geom* g) noexcept nogil:
    """Zeros after the implicit path's window: the last panel of a tile reads up to
    PYDL_NR - 1 positions past the tile, shifted by up to (kW - 1) dW / sW."""
    return (g.ksz[2] - 1) * g.d[2] // g.s[2] + PYDL_NR


cdef void _implicit_offsets(const Geom* g, Py_ssize_t* col_off) noexcept nogil:
    """col_off[(c, kh, kw)]: where in the phase window (_fill_phases) tap (kh, kw) of
    channel c reads for the tile's first position; position q = r * gat_w + ow then
    reads col_off + q."""
    cdef Py_ssize_t c, kh, kw, sh = g.s[1], sw = g.s[2], oh, ow
    for c in range(g.cg):
        for kh in range(g.ksz[1]):
            oh = kh * g.d[1]
            for kw in range(g.ksz[2]):
                ow = kw * g.d[2]
                col_off[(c * g.ksz[1] + kh) * g.ksz[2] + kw] = \
                    (((c * sh + oh % sh) * sw + ow % sw) * g.gat_rows + oh // sh) * g.gat_w \
                    + ow // sw


cdef inline void _phase_columns(const Geom* g, Py_ssize_t b, Py_ssize_t wn, Py_ssize_t* lo,
                                Py_ssize_t* hi) noexcept nogil:
    """[lo, hi): the columns j < wn of column phase b that read inside x (0 <= j sW + b
    - pW < W); the others are padding."""
    cdef Py_ssize_t sw = g.s[2], w_in = g.isz[2], a = 0, e
    if g.p[2] - b > 0:
        a = (g.p[2] - b + sw - 1) // sw
    e = (w_in + g.p[2] - b + sw - 1) // sw if w_in + g.p[2] - b > 0 else 0
    lo[0] = min(a, wn)
    hi[0] = min(max(e, lo[0]), wn)


cdef void _fill_phases(const Geom* g, const floating* xg, floating* win,
                       Py_ssize_t r0, Py_ssize_t rows, Py_ssize_t wn) noexcept nogil:
    """win[c, a, b, i, j] = x[c, (r0 + i) sH + a - pH, j sW + b - pW] (0 outside x), for
    i < rows and j < wn: the input a tile from output row r0 reads, split into its
    sH x sW stride phases, so that output (r, ow) and tap (kh, kw) read phase
    (kh dH % sH, kw dW % sW) at (r + kh dH // sH, ow + kw dW // sW). xg points at the
    group's channel 0."""
    cdef Py_ssize_t w_in = g.isz[2], sh = g.s[1], sw = g.s[2]
    cdef Py_ssize_t c, a, b, i, j, ih, lo, hi
    cdef const floating* src
    cdef floating* dst
    for c in range(g.cg):
        for a in range(sh):
            for b in range(sw):
                _phase_columns(g, b, wn, &lo, &hi)
                for i in range(rows):
                    ih = (r0 + i) * sh + a - g.p[1]
                    dst = win + (((c * sh + a) * sw + b) * rows + i) * wn
                    if ih < 0 or ih >= g.isz[1]:
                        memset(dst, 0, wn * sizeof(floating))
                        continue
                    memset(dst, 0, lo * sizeof(floating))
                    if hi > lo:     # x's column lo sW + b - pW onwards
                        src = xg + c * g.in_sp + ih * w_in + lo * sw + b - g.p[2]
                        if sw == 1:
                            memcpy(dst + lo, src, (hi - lo) * sizeof(floating))
                        else:
                            for j in range(hi - lo):
                                dst[lo + j] = src[j * sw]
                    memset(dst + hi, 0, (wn - hi) * sizeof(floating))


cdef void _forward_implicit(const Geom* g, const Py_ssize_t* col_off, const floating* x,
                            const floating* w, const floating* bias, floating* out,
                            floating* ws, Py_ssize_t ws_stride, int nt) noexcept nogil:
    """2-D convolution, one (sample, tile of output rows) per work item: the zero-padded
    input window split into stride phases (_fill_phases) is B of an implicit GEMM whose
    row (c, kh, kw) is the window shifted by that tap (col_off: _implicit_offsets), so
    positions run over whole window rows of gat_w; the first oW of each row are the
    outputs. No im2col matrix: the panel GEMM loads B's rows from the window."""
    cdef Py_ssize_t win_n = g.win_n, wn = g.gat_w, ow_n = g.osz[2]
    cdef Py_ssize_t ld = _panel_round(g.imp_rows * g.gat_w)
    cdef Py_ssize_t item, nn, r0, r1, grp, kk, r, ow
    cdef floating bv
    cdef floating* win
    cdef floating* acc
    cdef floating* orow
    cdef const floating* arow
    win = acc = NULL  # thread-private below; set to quiet gcc's firstprivate warning
    with parallel(num_threads=nt):
        win = ws + omp_get_thread_num() * ws_stride
        acc = win + win_n + _window_slack(g)
        memset(win + win_n, 0, _window_slack(g) * sizeof(floating))
        for item in prange(g.n * g.imp_tiles, schedule='dynamic'):
            nn = item // g.imp_tiles
            r0 = (item % g.imp_tiles) * g.imp_rows
            r1 = min(r0 + g.imp_rows, g.rows)
            for grp in range(g.groups):
                _fill_phases(g, x + (nn * g.c + grp * g.cg) * g.in_sp, win, r0, g.gat_rows,
                             g.gat_w)
                offset_gemm(w + grp * g.kg * g.ckk, g.ckk, g.kg, g.ckk, win, col_off,
                            (r1 - r0) * wn, acc, ld)
                for kk in range(g.kg):
                    bv = bias[grp * g.kg + kk] if bias != NULL else 0
                    for r in range(r1 - r0):
                        orow = out + (nn * g.k + grp * g.kg + kk) * g.out_sp \
                            + (r0 + r) * ow_n
                        arow = acc + kk * ld + r * wn
                        for ow in range(ow_n):
                            orow[ow] = arow[ow] + bv


cdef void _forward_gemm(const Geom* g, const Py_ssize_t* spans, const Py_ssize_t* offs,
                        const floating* x,
                        const floating* w, const floating* bias, floating* out,
                        floating* ws, Py_ssize_t ws_stride, int nt) noexcept nogil:
    """out = conv(x, w) + bias, one (sample, tile) pair per work item (spans:
    _tap_spans; offs: _gather_offsets, tile_p position offsets then ckk column
    offsets, when g.gather). A tile's columns are packed in panels and multiplied by the panel GEMM
    (csrc/_panel_gemm.h), which writes the output rows in place: these products are
    small (K/groups rows, C/groups * kvol deep, a tile of positions wide), and BLAS
    packed both operands again on every call (LeNet's 6->16 5x5 layer on 14x14 planes:
    16 x 150 @ 150 x 100 per sample)."""
    cdef Py_ssize_t item, nn, r0, r1, tp, grp, kk, ow_n = g.osz[2]
    cdef floating beta
    cdef floating* bp
    cdef floating* win
    cdef floating* og
    cdef const floating* xg
    bp = win = NULL  # thread-private below; initialised to quiet gcc's firstprivate warning
    with parallel(num_threads=nt):
        bp = ws + omp_get_thread_num() * ws_stride
        win = bp + g.ckk * _panel_round(g.tile_p)
        for item in prange(g.n * g.n_tiles, schedule='dynamic'):
            nn = item // g.n_tiles
            r0 = (item % g.n_tiles) * g.tile_rows
            r1 = min(r0 + g.tile_rows, g.rows)
            tp = (r1 - r0) * ow_n
            for grp in range(g.groups):
                xg = x + (nn * g.c + grp * g.cg) * g.in_sp
                og = out + (nn * g.k + grp * g.kg) * g.out_sp + r0 * ow_n
                beta = 0
                if bias != NULL:
                    for kk in range(g.kg):
                        _fill(og + kk * g.out_sp, tp, bias[grp * g.kg + kk])
                    beta = 1
                if g.pointwise:
                    gemm(False, False, <int>g.kg, <int>tp, <int>g.cg, <floating>1,
                         w + grp * g.kg * g.ckk, <int>g.ckk, xg + r0 * ow_n, <int>g.in_sp,
                         beta, og, <int>g.out_sp)
                else:
                    if g.gather:
                        _fill_window(g, xg, win, r0)
                        _gather_panels(g, win, offs, offs + g.tile_p, tp, bp)
                    else:
                        _im2col_panels(g, spans, xg, bp, r0, r1)
                    rows_gemm(w + grp * g.kg * g.ckk, g.ckk, g.kg, g.ckk, bp, tp, og,
                              g.out_sp, NULL, bias != NULL)


cdef void _backward_gemm(const Geom* g, const Py_ssize_t* spans, const floating* dy,
                         const floating* x,
                         const floating* w, floating* dx, const floating* dx_seed,
                         floating* dw, floating* partials, Py_ssize_t n_chunks,
                         floating* ws, Py_ssize_t ws_stride, int nt) noexcept nogil:
    """dx = conv's input gradient (seeded with dx_seed per channel, or 0) when dx is not
    NULL; dw = its weight gradient when dw is not NULL: chunk c of the batch accumulates
    partials[c], transposed per group ((C/groups * kvol) x K/groups: the GEMM then packs
    the large column matrix the way OpenBLAS does fastest), and _combine_partials adds
    them up in chunk order."""
    cdef Py_ssize_t ch, nn, n0, n1, t, r0, r1, tp, grp, ow_n = g.osz[2]
    cdef Py_ssize_t w_size = g.k * g.ckk, j
    cdef bint want_x = dx != NULL, want_w = dw != NULL
    cdef floating beta, acc
    cdef floating* col
    cdef floating* dwc
    cdef floating* dxg
    cdef const floating* xg
    cdef const floating* dyg
    cdef const floating* wg
    col = NULL  # thread-private below; initialised to quiet gcc's firstprivate warning
    with parallel(num_threads=nt):
        col = ws + omp_get_thread_num() * ws_stride
        for ch in prange(n_chunks, schedule='dynamic'):
            n0 = ch * g.n // n_chunks
            n1 = (ch + 1) * g.n // n_chunks
            dwc = NULL
            if want_w:
                dwc = partials + ch * w_size
                memset(dwc, 0, w_size * sizeof(floating))
            for nn in range(n0, n1):
                if want_x and not g.pointwise:
                    _seed_channels(dx + nn * g.c * g.in_sp, g.c, g.in_sp, dx_seed)
                for t in range(g.n_tiles):
                    r0 = t * g.tile_rows
                    r1 = min(r0 + g.tile_rows, g.rows)
                    tp = (r1 - r0) * ow_n
                    for grp in range(g.groups):
                        xg = x + (nn * g.c + grp * g.cg) * g.in_sp if x != NULL else NULL
                        dyg = dy + (nn * g.k + grp * g.kg) * g.out_sp + r0 * ow_n
                        wg = w + grp * g.kg * g.ckk
                        # dw.T (ckk x kg) += columns (ckk x tp) @ dy.T (tp x kg)
                        if want_w and g.pointwise:
                            gemm(False, True, <int>g.cg, <int>g.kg, <int>tp, <floating>1,
                                 xg + r0 * ow_n, <int>g.in_sp, dyg, <int>g.out_sp,
                                 <floating>1, dwc + grp * g.kg * g.ckk, <int>g.kg)
                        elif want_w:
                            _im2col(g, spans, xg, col, r0, r1)
                            gemm(False, True, <int>g.ckk, <int>g.kg, <int>tp, <floating>1,
                                 col, <int>tp, dyg, <int>g.out_sp,
                                 <floating>1, dwc + grp * g.kg * g.ckk, <int>g.kg)
                        if not want_x:
                            continue
                        dxg = dx + (nn * g.c + grp * g.cg) * g.in_sp
                        if g.pointwise:
                            beta = 0
                            if dx_seed != NULL:
                                for j in range(g.cg):
                                    _fill(dxg + j * g.in_sp + r0 * ow_n, tp,
                                          dx_seed[grp * g.cg + j])
                                beta = 1
                            gemm(True, False, <int>g.cg, <int>tp, <int>g.kg, <floating>1,
                                 wg, <int>g.ckk, dyg, <int>g.out_sp,
                                 beta, dxg + r0 * ow_n, <int>g.in_sp)
                        else:
                            gemm(True, False, <int>g.ckk, <int>tp, <int>g.kg, <floating>1,
                                 wg, <int>g.ckk, dyg, <int>g.out_sp,
                                 <floating>0, col, <int>tp)
                            _col2im(g, spans, col, dxg, r0, r1)
    if want_w:
        _combine_partials(g, partials, n_chunks, dw, nt)


cdef void _combine_partials(const Geom* g, const floating* partials, Py_ssize_t n_chunks,
                            floating* dw, int nt) noexcept nogil:
    """dw[grp*kg + k, r] = sum over chunks, in chunk order, of partials[c][grp][r, k];
    one (group, r) row of every partial at a time, read contiguously."""
    cdef Py_ssize_t w_size = g.k * g.ckk, row, grp, r, k, ch
    cdef floating acc
    cdef const floating* src
    for row in prange(g.groups * g.ckk, num_threads=threads_for(w_size * n_chunks, nt),
                      schedule='static'):
        grp = row // g.ckk
        r = row % g.ckk
        src = partials + grp * g.kg * g.ckk + r * g.kg
        for k in range(g.kg):
            acc = src[k]
            for ch in range(1, n_chunks):
                acc = acc + src[ch * w_size + k]
            dw[(grp * g.kg + k) * g.ckk + r] = acc


# ------------------------------------------------------------- stride-1 path
#
# With stride 1, kernel offset (kd, kh, kw) reads the input shifted by a constant: if
# each input row is zero-padded to the width wpad = oW + (kW-1) dW, the columns for
# that offset over a run of output rows are one contiguous stretch of the padded rows
# (the wpad - oW extra columns per row are computed and dropped). So the convolution
# is kvol GEMMs of shifted views of one padded slab with (C/groups x K/groups) weight
# slices, accumulating into a tile of output rows; no im2col matrix kvol times the
# input's size is ever written.
#
# The slab is position-major (positions x channels, like NHWC), so every GEMM is
# acc = slab_view @ weight_slice.T with the large operand non-transposed and channels
# contiguous: the layout OpenBLAS packs fastest (measured: 14% of the kernel's time on
# copies, against 40% for the channel-major slab).

cdef void _pack_weight(const Geom* g, const floating* w, floating* wt) noexcept nogil:
    """wt[o, k, c] = w[k, c, o]: one contiguous (K x C/groups) matrix per kernel offset."""
    cdef Py_ssize_t o, kk, c
    for o in range(g.kvol):
        for kk in range(g.k):
            for c in range(g.cg):
                wt[(o * g.k + kk) * g.cg + c] = w[(kk * g.cg + c) * g.kvol + o]


cdef void _flip_weight(const Geom* g, const floating* w, floating* wf) noexcept nogil:
    """The weight of _input_grad_geometry(g): wf[grp*cg + c, k, o] =
    w[grp*kg + k, c, kvol - 1 - o] (in and out channels swapped, kernel reversed)."""
    cdef Py_ssize_t grp, c, kk, o
    for grp in range(g.groups):
        for c in range(g.cg):
            for kk in range(g.kg):
                for o in range(g.kvol):
                    wf[((grp * g.cg + c) * g.kg + kk) * g.kvol + o] = \
                        w[((grp * g.kg + kk) * g.cg + c) * g.kvol + g.kvol - 1 - o]


cdef enum:
    FILL_CHANNELS = 16   # channels transposed together into the slab


cdef void _fill_slab(const Geom* g, const floating* xp, floating* slab,
                     Py_ssize_t oh0, Py_ssize_t n_rows) noexcept nogil:
    """slab[y * wpad + j, c] = x[c, plane, oh0 - pH + y, j - pW] (0 outside x) for the
    input rows that output rows oh0 .. oh0 + n_rows - 1 read; xp points at channel 0's
    input plane. Rows past them (a shorter last tile) and the overrun are zeroed."""
    cdef Py_ssize_t wp = g.wpad, w_in = g.isz[2], cg = g.cg, pw = g.p[2]
    cdef Py_ssize_t used = n_rows + (g.ksz[1] - 1) * g.d[1]
    cdef Py_ssize_t y, ih, j, lo, hi, blk, c0, cb, c
    cdef const floating* src
    cdef floating* row
    cdef floating* dst
    lo = min(max(pw, 0), wp)           # slab columns [lo, hi) hold x's columns
    hi = min(max(w_in + pw, lo), wp)
    for y in range(g.slab_pos // wp):
        ih = oh0 - g.p[1] + y
        row = slab + y * wp * cg
        if y >= used or ih < 0 or ih >= g.isz[1]:
            memset(row, 0, wp * cg * sizeof(floating))
            continue
        memset(row, 0, lo * cg * sizeof(floating))
        memset(row + hi * cg, 0, (wp - hi) * cg * sizeof(floating))
        src = xp + ih * w_in - pw
        if cg == 1:   # one channel (depthwise): the row is contiguous on both sides
            memcpy(row + lo, src + lo, (hi - lo) * sizeof(floating))
            continue
        for blk in range((cg + FILL_CHANNELS - 1) // FILL_CHANNELS):
            c0 = blk * FILL_CHANNELS
            cb = min(<Py_ssize_t>FILL_CHANNELS, cg - c0)
            for j in range(lo, hi):
                dst = row + j * cg + c0
                for c in range(cb):
                    dst[c] = src[(c0 + c) * g.in_sp + j]
    y = g.slab_pos // wp
    memset(slab + y * wp * cg, 0, (g.slab_pos - y * wp) * cg * sizeof(floating))


cdef void _forward_shifted(const Geom* g, const floating* x, const floating* wt,
                           const floating* bias, floating* out, floating* ws,
                           Py_ssize_t ws_stride, int nt) noexcept nogil:
    """Stride-1 convolution, one (sample, output plane, slab of rows) per work item;
    wt is _pack_weight's layout."""
    cdef Py_ssize_t per_plane = g.osz[0] * g.slab_tiles, wp = g.wpad, ow_n = g.osz[2]
    cdef Py_ssize_t item, nn, od, oh0, n_rows, npos, grp, kd, kh, kw, i_d, kk, t, ow
    cdef Py_ssize_t kg = g.kg
    cdef bint first
    cdef floating bv
    cdef floating* slab
    cdef floating* acc
    cdef floating* orow
    cdef const floating* arow
    slab = acc = NULL   # thread-private below; set to quiet gcc's firstprivate warning
    with parallel(num_threads=nt):
        slab = ws + omp_get_thread_num() * ws_stride
        acc = slab + g.slab_pos * g.cg
        for item in prange(g.n * per_plane, schedule='dynamic'):
            nn = item // per_plane
            od = (item % per_plane) // g.slab_tiles
            oh0 = (item % g.slab_tiles) * g.slab_rows
            n_rows = min(g.slab_rows, g.osz[1] - oh0)
            npos = n_rows * wp
            for grp in range(g.groups):
                first = True
                for kd in range(g.ksz[0]):
                    i_d = od - g.p[0] + kd * g.d[0]
                    if i_d < 0 or i_d >= g.isz[0]:
                        continue
                    _fill_slab(g, x + (nn * g.c + grp * g.cg) * g.in_sp
                               + i_d * g.isz[1] * g.isz[2], slab, oh0, n_rows)
                    for kh in range(g.ksz[1]):
                        for kw in range(g.ksz[2]):
                            # acc (npos x kg) (+)= slab view (npos x cg) @ slice.T
                            gemm(False, True, <int>npos, <int>kg, <int>g.cg, <floating>1,
                                 slab + (kh * g.d[1] * wp + kw * g.d[2]) * g.cg, <int>g.cg,
                                 wt + ((((kd * g.ksz[1] + kh) * g.ksz[2] + kw) * g.k)
                                       + grp * kg) * g.cg, <int>g.cg,
                                 <floating>(0 if first else 1), acc, <int>kg)
                            first = False
                if first:   # every kernel plane fell in the depth padding
                    memset(acc, 0, kg * npos * sizeof(floating))
                for kk in range(kg):
                    bv = bias[grp * kg + kk] if bias != NULL else 0
                    for t in range(n_rows):
                        orow = out + (nn * g.k + grp * kg + kk) * g.out_sp \
                            + (od * g.osz[1] + oh0 + t) * ow_n
                        arow = acc + t * wp * kg + kk
                        for ow in range(ow_n):
                            orow[ow] = arow[ow * kg] + bv


# -------------------------------------------------------------- Winograd path

# Each wrapper picks the float type; the header picks the tile size (g.wino_m).

cdef inline void _wino_input(const floating* x, const Geom* g, Py_ssize_t t0,
                             Py_ssize_t nt, floating* dst, Py_ssize_t lane0, Py_ssize_t xs,
                             Py_ssize_t ps) noexcept nogil:
    """Tiles [t0, t0 + nt) of plane x into lanes lane0, lane0 + 1, ... of the panels at
    dst (panel stride ps)."""
    if floating is float:
        pydl_winograd_input_f(g.wino_m, x, g.isz[1], g.isz[2], g.p[1], g.p[2], g.wino_tw,
                              t0, nt, dst, lane0, xs, ps)
    else:
        pydl_winograd_input_d(g.wino_m, x, g.isz[1], g.isz[2], g.p[1], g.p[2], g.wino_tw,
                              t0, nt, dst, lane0, xs, ps)


cdef inline void _wino_output(const floating* m, Py_ssize_t xs, const Geom* g,
                              Py_ssize_t t0, Py_ssize_t nt, floating bias,
                              floating* out) noexcept nogil:
    if floating is float:
        pydl_winograd_output_f(g.wino_m, m, xs, g.wino_tw, t0, nt, bias, out, g.osz[1],
                               g.osz[2])
    else:
        pydl_winograd_output_d(g.wino_m, m, xs, g.wino_tw, t0, nt, bias, out, g.osz[1],
                               g.osz[2])


cdef inline void _wino_grad_output(const floating* dy, int nch, const Geom* g,
                                   Py_ssize_t t0, Py_ssize_t nt, floating* dst,
                                   Py_ssize_t xs) noexcept nogil:
    """The output-gradient transform of nch <= 8 consecutive output channels (planes
    dy, dy + out_sp, ...) into lanes dst, dst + 1, ... of a panel."""
    if floating is float:
        pydl_winograd_grad_output_f(g.wino_m, dy, g.out_sp, nch, g.osz[1], g.osz[2],
                                    g.wino_tw, t0, nt, dst, xs)
    else:
        pydl_winograd_grad_output_d(g.wino_m, dy, g.out_sp, nch, g.osz[1], g.osz[2],
                                    g.wino_tw, t0, nt, dst, xs)


cdef void _wino_weight(const Geom* g, const floating* w, floating* U,
                       int nt) noexcept nogil:
    """U = the transformed weight, a filter (output channel) per item: each element
    is computed alike on any thread."""
    cdef Py_ssize_t k
    for k in prange(g.k, num_threads=nt, schedule='static'):
        if floating is float:
            pydl_winograd_weight_f(g.wino_m, w, g.k, g.c, k, k + 1, U)
        else:
            pydl_winograd_weight_d(g.wino_m, w, g.k, g.c, k, k + 1, U)


cdef void _wino_grad_weight(const Geom* g, const floating* dU,
                            floating* dw) noexcept nogil:
    if floating is float:
        pydl_winograd_grad_weight_f(g.wino_m, dU, g.k, g.c, dw)
    else:
        pydl_winograd_grad_weight_d(g.wino_m, dU, g.k, g.c, dw)


cdef void _forward_winograd(const Geom* g, const floating* x, const floating* U,
                            const floating* bias, floating* out, floating* ws,
                            Py_ssize_t ws_stride, int nt) noexcept nogil:
    """F(m x m, 3x3) convolution with the transformed weight U (_wino_weight), one
    (sample, block of tiles) per work item. The workspace arrives zeroed: panel lanes
    past a short last block hold zeros or an earlier block's finite values, and reach
    only GEMM columns that are not written back."""
    cdef Py_ssize_t tb = g.wino_tb, vx = _wino_stride(g.c, tb), mx = _wino_stride(g.k, tb)
    cdef Py_ssize_t item, nn, n0, ns, t0, n_t, c, xi, kk, lane, cols
    cdef floating* v
    cdef floating* m
    v = m = NULL   # thread-private below; set to quiet gcc's firstprivate warning
    with parallel(num_threads=nt):
        v = ws + omp_get_thread_num() * ws_stride
        m = v + g.wino_nx * vx
        for item in prange(_wino_items(g), schedule='dynamic'):
            n0 = item // g.wino_blocks * g.wino_spb
            ns = min(g.wino_spb, g.n - n0)
            t0 = (item % g.wino_blocks) * g.wino_lanes
            n_t = min(g.wino_lanes, g.wino_tiles - t0)
            # sample n0 + j's tiles take lanes [j * wino_lanes, + n_t) of the block
            for nn in range(n0, n0 + ns):
                lane = (nn - n0) * g.wino_lanes
                for c in range(g.c):
                    _wino_input(x + (nn * g.c + c) * g.in_sp, g, t0, n_t, v + c * PYDL_NR,
                                lane, vx, g.c * PYDL_NR)
            cols = (ns - 1) * g.wino_lanes + n_t
            for xi in range(g.wino_nx):
                rows_gemm(U + xi * g.k * g.c, g.c, g.k, g.c, v + xi * vx, cols, m + xi * mx,
                          tb, <const floating*>NULL, False)
            for nn in range(n0, n0 + ns):
                lane = (nn - n0) * g.wino_lanes
                for kk in range(g.k):
                    _wino_output(m + kk * tb + lane, mx, g, t0, n_t,
                                 bias[kk] if bias != NULL else 0,
                                 out + (nn * g.k + kk) * g.out_sp)


cdef enum:
    REDUCE_BLOCK = 2048   # elements of the partial sums one work item adds up


cdef inline void _add_to(floating* acc, const floating* src,
                         Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(n):
        acc[i] = acc[i] + src[i]


cdef Geom _wino_weight_geometry(const Geom* g) except *:
    """g as the Winograd weight gradient takes it: F(4x4, 3x3) only where the plane
    holds WINOGRAD4_WEIGHT_MIN_TILES tiles and its partial sums (36 C K elements a
    chunk, 2.25x F(2x2)'s) fit PARTIAL_BUDGET (_wino_weight_chunks), else F(2x2, 3x3).
    Measured at 2 threads, N=32, 64 channels: F(4x4) took 0.81x F(2x2)'s speed on 16x16
    planes, 1.16x on 24x24, 1.13x on 32x32; with 128 channels its partials did not fit
    and the GEMM path it fell back to took 1.45x F(2x2)'s time."""
    cdef Geom w = g[0]
    if w.winograd and w.wino_m == 4 and (w.wino_tiles < WINOGRAD4_WEIGHT_MIN_TILES
                                         or _wino_weight_chunks(&w) == 0):
        _derive_winograd(&w, BLAS_INT_MAX)
    return w


cdef Py_ssize_t _wino_weight_chunks(const Geom* g) except -1:
    """Chunks of the batch for the Winograd weight gradient, or 0 where its partial
    sums (nx C K elements a chunk) would not fit PARTIAL_BUDGET with as many chunks as
    the GEMM path could use; a function of the shape only."""
    cdef Py_ssize_t n_chunks = max(1, min(g.n, MAX_CHUNKS, _macs(g) // CHUNK_MIN_MACS))
    if not g.winograd or g.wino_nx * g.c * g.k * n_chunks > PARTIAL_BUDGET:
        return 0
    return n_chunks


cdef inline Py_ssize_t _wino_weight_thread_elements(const Geom* g) noexcept nogil:
    """One thread's workspace for the Winograd weight gradient: nx transformed input
    blocks (C x tiles) and nx transformed output-gradient blocks (tiles x K, K rounded
    up to whole panels)."""
    return g.wino_nx * (_wino_stride(g.c, g.wino_tbw)
                        + _wino_stride(_panel_round(g.k), g.wino_tbw))


cdef void _backward_weight_winograd(const Geom* g, const floating* dy, const floating* x,
                                    floating* dw, floating* partials, Py_ssize_t n_chunks,
                                    floating* ws, Py_ssize_t ws_stride,
                                    int nt) noexcept nogil:
    """Weight gradient of _forward_winograd: dU_xi = sum over tiles of (A dy A^T)_xi
    times V_xi, then dw = G^T dU G. Chunk ch of the batch sums its tiles, (sample, tile)
    in order, in blocks of wino_tbw (a block may span samples) into its own partial dU
    (C x K per xi); partials are added in chunk order."""
    cdef Py_ssize_t tb = g.wino_tbw, vx = _wino_stride(g.c, tb)
    cdef Py_ssize_t yx = _wino_stride(_panel_round(g.k), tb)
    cdef Py_ssize_t u_size = g.wino_nx * g.c * g.k, tiles = g.wino_tiles
    cdef Py_ssize_t ch, nn, b, t0, n_t, c, kk, xi, f, f_end, q, seg
    cdef floating* v
    cdef floating* yt
    cdef floating* part
    v = yt = NULL   # thread-private below; set to quiet gcc's firstprivate warning
    with parallel(num_threads=nt):
        v = ws + omp_get_thread_num() * ws_stride
        yt = v + g.wino_nx * vx
        for ch in prange(n_chunks, schedule='dynamic'):
            part = partials + ch * u_size
            memset(part, 0, u_size * sizeof(floating))
            # the chunk's tiles, numbered nn * tiles + t
            f = (ch * g.n // n_chunks) * tiles
            f_end = ((ch + 1) * g.n // n_chunks) * tiles
            while f < f_end:
                n_t = min(tb, f_end - f)
                q = 0
                while q < n_t:      # the block's runs of one sample's tiles
                    nn = (f + q) // tiles
                    t0 = (f + q) % tiles
                    seg = min(n_t - q, tiles - t0)
                    for c in range(g.c):
                        _wino_input(x + (nn * g.c + c) * g.in_sp, g, t0, seg,
                                    v + c * tb + q, 0, vx, PYDL_NR)
                    # B (tiles x K), packed in panels of NR channels, n_t rows each;
                    # eight channels (half a panel) at a time
                    for kk in range(0, g.k, 8):
                        _wino_grad_output(dy + (nn * g.k + kk) * g.out_sp,
                                          <int>min(8, g.k - kk), g, t0, seg,
                                          yt + ((kk // PYDL_NR) * n_t + q) * PYDL_NR
                                          + kk % PYDL_NR, yx)
                    q = q + seg
                for xi in range(g.wino_nx):
                    rows_gemm(v + xi * vx, tb, g.c, n_t, yt + xi * yx, g.k,
                              part + xi * g.c * g.k, g.k, <const floating*>NULL, True)
                f = f + n_t
    # Chunk ch's partial is added to blocks of the first in chunk order (the order of
    # the sums over the batch): a vector loop per (block, chunk), where a loop over
    # chunks per element was a chain of dependent scalar additions (8% of the time).
    for b in prange((u_size + REDUCE_BLOCK - 1) // REDUCE_BLOCK,
                    num_threads=threads_for(u_size * n_chunks, nt), schedule='static'):
        t0 = b * REDUCE_BLOCK
        n_t = min(REDUCE_BLOCK, u_size - t0)
        for ch in range(1, n_chunks):
            _add_to(partials + t0, partials + ch * u_size + t0, n_t)
    _wino_grad_weight(g, partials, dw)


# ----------------------------------------------------------------- direct path

cdef Py_ssize_t* _tap_spans(const Geom* g) except NULL:
    """For each kernel column kw: its input offset along the row and the output span
    [lo, hi) that reads inside the row, as (off, lo, hi) triples. Computed once per
    call: with a stride, _valid_span divides, and per (row, tap) those divisions took
    most of a strided depthwise convolution's time."""
    cdef Py_ssize_t* spans = <Py_ssize_t*>_workspace(3 * g.ksz[2], sizeof(Py_ssize_t))
    cdef Py_ssize_t kw, off
    for kw in range(g.ksz[2]):
        off = kw * g.d[2] - g.p[2]
        spans[3 * kw] = off
        _valid_span(off, g.s[2], g.isz[2], g.osz[2], &spans[3 * kw + 1], &spans[3 * kw + 2])
    return spans


cdef void _direct_channel(const Geom* g, const Py_ssize_t* spans, const floating* wk,
                          const floating* src, floating* dst, bint adjoint) noexcept nogil:
    """One (input channel, output channel) pair of a convolution with weight slice wk
    (spans: _tap_spans).

    Forward: dst (an output channel) += sum over kernel offsets of wk[offset] times
    src (an input channel) shifted. Adjoint: dst (an input channel) += the transpose
    of that map applied to src (an output-channel gradient).
    """
    cdef Py_ssize_t r, od, kd, kh, kw, ow, lo, hi, off, row
    cdef Py_ssize_t ow_n = g.osz[2], w_in = g.isz[2], sw = g.s[2]
    cdef floating wv
    cdef floating* o
    cdef const floating* i
    for r in range(g.rows):
        od = r // g.osz[1]
        for kd in range(g.ksz[0]):
            for kh in range(g.ksz[1]):
                row = _input_row(g, od, r - od * g.osz[1], kd, kh)
                if row < 0:
                    continue
                for kw in range(g.ksz[2]):
                    wv = wk[(kd * g.ksz[1] + kh) * g.ksz[2] + kw]
                    off, lo, hi = spans[3 * kw], spans[3 * kw + 1], spans[3 * kw + 2]
                    if not adjoint:
                        o = dst + r * ow_n
                        i = src + row * w_in + off
                        if sw == 1:
                            for ow in range(lo, hi):
                                o[ow] += wv * i[ow]
                        else:
                            for ow in range(lo, hi):
                                o[ow] += wv * i[ow * sw]
                    else:
                        o = dst + row * w_in + off
                        i = src + r * ow_n
                        if sw == 1:
                            for ow in range(lo, hi):
                                o[ow] += wv * i[ow]
                        else:
                            for ow in range(lo, hi):
                                o[ow * sw] += wv * i[ow]


cdef void _copy_plane_phases(const Geom* g, const floating* xp,
                             floating* win) noexcept nogil:
    """The inside of _fill_phases(g, xp, win, 0, ph_rows, ph_w) for one channel: the
    values of x only. The zeros around them sit at the same places for every plane, so
    the caller zeroes the window once (per-row memsets cost more than the copies on
    small planes)."""
    cdef Py_ssize_t wn = g.ph_w, w_in = g.isz[2], sh = g.s[1], sw = g.s[2]
    cdef Py_ssize_t a, b, i, j, ih, lo, hi
    cdef const floating* src
    cdef floating* dst
    for a in range(sh):
        for b in range(sw):
            _phase_columns(g, b, wn, &lo, &hi)
            for i in range(g.ph_rows):
                ih = i * sh + a - g.p[1]
                if ih < 0 or ih >= g.isz[1]:
                    continue
                dst = win + ((a * sw + b) * g.ph_rows + i) * wn + lo
                src = xp + ih * w_in + lo * sw + b - g.p[2]
                if sw == 2:      # the common stride, as a constant: vector loads
                    for j in range(hi - lo):
                        dst[j] = src[2 * j]
                else:
                    for j in range(hi - lo):
                        dst[j] = src[j * sw]


cdef inline Py_ssize_t _phase_tap(const Geom* g, Py_ssize_t kh, Py_ssize_t kw) noexcept nogil:
    """Where tap (kh, kw) starts reading in a plane's stride phases (_copy_plane_phases)."""
    cdef Py_ssize_t a = kh * g.d[1], b = kw * g.d[2]
    return (((a % g.s[1]) * g.s[2] + b % g.s[2]) * g.ph_rows + a // g.s[1]) * g.ph_w \
        + b // g.s[2]


cdef void _forward_direct_phases(const Geom* g, const floating* x, const floating* w,
                                 const floating* bias, floating* out, floating* ws,
                                 Py_ssize_t ws_stride, int nt) noexcept nogil:
    """Strided 2-D direct convolution (one input channel per group), one (sample, input
    channel) per work item: the zero-padded plane split into its stride phases
    (_copy_plane_phases) makes each tap one multiply-add over the output rows at the phase
    width ph_w, of which the first oW of each row are kept. Each output starts from
    its bias and adds the taps in order, as _forward_direct does."""
    cdef Py_ssize_t wn = g.ph_w, win_n = g.s[1] * g.s[2] * g.ph_rows * g.ph_w
    cdef Py_ssize_t npos = g.osz[1] * wn, ow_n = g.osz[2]
    cdef Py_ssize_t item, j, kk, kh, kw, r, ow
    cdef floating bv
    cdef floating* win
    cdef floating* acc
    cdef floating* orow
    cdef const floating* wk
    win = acc = NULL   # thread-private below; set to quiet gcc's firstprivate warning
    with parallel(num_threads=nt):
        win = ws + omp_get_thread_num() * ws_stride
        acc = win + win_n + wn
        # the zeros of every plane's phases (_copy_plane_phases writes the rest); the
        # last phase's last row reads up to (kW-1) dW // sW values past it, for dropped
        # columns only
        memset(win, 0, (win_n + wn) * sizeof(floating))
        for item in prange(g.n * g.c, schedule='dynamic'):
            _copy_plane_phases(g, x + item * g.in_sp, win)
            for j in range(g.kg):
                kk = (item % g.c) * g.kg + j
                wk = w + kk * g.kvol
                bv = bias[kk] if bias != NULL else 0
                _fill(acc, npos, bv)
                for kh in range(g.ksz[1]):
                    for kw in range(g.ksz[2]):
                        _axpy(acc, win + _phase_tap(g, kh, kw), wk[kh * g.ksz[2] + kw], npos)
                orow = out + ((item // g.c) * g.k + kk) * g.out_sp
                for r in range(g.osz[1]):
                    for ow in range(ow_n):
                        orow[r * ow_n + ow] = acc[r * wn + ow]


cdef void _forward_direct(const Geom* g, const Py_ssize_t* spans, const floating* x,
                          const floating* w, const floating* bias, floating* out,
                          int nt) noexcept nogil:
    """One input channel per group: out[n, k] = bias[k] + the shifted x[n, k // kg]
    weighted by w[k], one (sample, output channel) per work item."""
    cdef Py_ssize_t item, kk
    for item in prange(g.n * g.k, num_threads=nt, schedule='dynamic'):
        kk = item % g.k
        _fill(out + item * g.out_sp, g.out_sp, bias[kk] if bias != NULL else 0)
        _direct_channel(g, spans, w + kk * g.kvol,
                        x + ((item // g.k) * g.c + kk // g.kg) * g.in_sp,
                        out + item * g.out_sp, False)


cdef void _backward_input_direct(const Geom* g, const Py_ssize_t* spans, const floating* dy,
                                 const floating* w, floating* dx, const floating* dx_seed,
                                 int nt) noexcept nogil:
    """Input gradient of _forward_direct, one (sample, input channel) per work item; the
    channel's kg output channels are added in order."""
    cdef Py_ssize_t item, cc, j, kk
    for item in prange(g.n * g.c, num_threads=nt, schedule='dynamic'):
        cc = item % g.c
        _fill(dx + item * g.in_sp, g.in_sp, dx_seed[cc] if dx_seed != NULL else 0)
        for j in range(g.kg):
            kk = cc * g.kg + j
            _direct_channel(g, spans, w + kk * g.kvol,
                            dy + ((item // g.c) * g.k + kk) * g.out_sp, dx + item * g.in_sp,
                            True)


cdef void _backward_weight_direct(const Geom* g, const Py_ssize_t* spans,
                                  const floating* dy, const floating* x, floating* dw,
                                  double* ws, floating* cols, int nt) noexcept nogil:
    """Weight gradient of _forward_direct: each output channel on one thread, summed
    over samples and im2col tiles in order (float64 accumulators, one per kernel
    offset). A tile's columns (kvol x tile positions, ``cols``: g.kvol * g.tile_p
    elements per thread) make each tap's share one long dot product with dy; per
    output row the dots were 8-16 elements long and their setup cost more than the
    multiply-adds (a depthwise stride-2 weight gradient took 16-33 ms, torch 3)."""
    cdef Py_ssize_t kk, nn, t, r0, r1, tp, o
    cdef double* acc
    cdef floating* col
    cdef const floating* dyp
    acc = NULL
    col = NULL
    with parallel(num_threads=nt):
        acc = ws + omp_get_thread_num() * g.kvol
        col = cols + omp_get_thread_num() * g.kvol * g.tile_p
        for kk in prange(g.k, schedule='dynamic'):
            for o in range(g.kvol):
                acc[o] = 0
            for nn in range(g.n):
                dyp = dy + (nn * g.k + kk) * g.out_sp
                for t in range(g.n_tiles):
                    r0 = t * g.tile_rows
                    r1 = min(r0 + g.tile_rows, g.rows)
                    tp = (r1 - r0) * g.osz[2]
                    _im2col(g, spans, x + (nn * g.c + kk // g.kg) * g.in_sp, col, r0, r1)
                    for o in range(g.kvol):
                        acc[o] += row_dot(dyp + r0 * g.osz[2], col + o * tp, tp)
            for o in range(g.kvol):
                dw[kk * g.kvol + o] = <floating>acc[o]


# --------------------------------------------------------- direct, stride 1
#
# One input channel per group and stride 1: a zero-padded plane (the stride-1 slab
# with one channel) makes every kernel offset a shift of one long span, so the
# multiply-adds run over whole planes instead of 32-element rows.

cdef inline void _axpy(floating* acc, const floating* src, floating w,
                       Py_ssize_t n) noexcept nogil:
    if floating is float:
        pydl_axpy_f(acc, src, w, n)
    else:
        pydl_axpy_d(acc, src, w, n)


cdef inline void _axpy3(floating* acc, const floating* src, Py_ssize_t step, floating w0,
                        floating w1, floating w2, Py_ssize_t n) noexcept nogil:
    if floating is float:
        pydl_axpy3_f(acc, src, step, w0, w1, w2, n)
    else:
        pydl_axpy3_d(acc, src, step, w0, w1, w2, n)


cdef void _plane_taps(const Geom* g, const floating* slab, const floating* wk,
                      floating* acc, Py_ssize_t npos) noexcept nogil:
    """acc += sum over (kh, kw) of wk[kh, kw] * slab shifted by (kh dH, kw dW): one
    kernel depth plane's taps, three kernel columns per pass over acc."""
    cdef Py_ssize_t kh, kw, wp = g.wpad, dw_ = g.d[2]
    cdef const floating* base
    cdef const floating* wr
    for kh in range(g.ksz[1]):
        base = slab + kh * g.d[1] * wp
        wr = wk + kh * g.ksz[2]
        kw = 0
        while kw + 3 <= g.ksz[2]:
            _axpy3(acc, base + kw * dw_, dw_, wr[kw], wr[kw + 1], wr[kw + 2], npos)
            kw = kw + 3
        while kw < g.ksz[2]:
            _axpy(acc, base + kw * dw_, wr[kw], npos)
            kw = kw + 1


cdef void _forward_direct_s1(const Geom* g, const floating* x, const floating* w,
                             const floating* bias, floating* out, floating* ws,
                             Py_ssize_t ws_stride, int nt) noexcept nogil:
    """Stride-1 direct convolution, one (sample, input channel, output plane, slab of
    rows) per work item, its K/groups output channels accumulated side by side."""
    cdef Py_ssize_t per_chan = g.osz[0] * g.slab_tiles, wp = g.wpad, ow_n = g.osz[2]
    cdef Py_ssize_t item, nn, cc, od, oh0, n_rows, npos, kd, i_d, j, kk, t, ow
    cdef floating bv
    cdef floating* slab
    cdef floating* acc
    cdef floating* orow
    cdef const floating* arow
    slab = acc = NULL   # thread-private below; set to quiet gcc's firstprivate warning
    with parallel(num_threads=nt):
        slab = ws + omp_get_thread_num() * ws_stride
        acc = slab + g.slab_pos
        for item in prange(g.n * g.c * per_chan, schedule='dynamic'):
            nn = item // (g.c * per_chan)
            cc = (item // per_chan) % g.c
            od = (item % per_chan) // g.slab_tiles
            oh0 = (item % g.slab_tiles) * g.slab_rows
            n_rows = min(g.slab_rows, g.osz[1] - oh0)
            npos = n_rows * wp
            memset(acc, 0, g.kg * npos * sizeof(floating))
            for kd in range(g.ksz[0]):
                i_d = od - g.p[0] + kd * g.d[0]
                if i_d < 0 or i_d >= g.isz[0]:
                    continue
                _fill_slab(g, x + (nn * g.c + cc) * g.in_sp + i_d * g.isz[1] * g.isz[2],
                           slab, oh0, n_rows)
                for j in range(g.kg):
                    _plane_taps(g, slab, w + (cc * g.kg + j) * g.kvol
                                + kd * g.ksz[1] * g.ksz[2], acc + j * npos, npos)
            for j in range(g.kg):
                kk = cc * g.kg + j
                bv = bias[kk] if bias != NULL else 0
                for t in range(n_rows):
                    orow = out + (nn * g.k + kk) * g.out_sp + (od * g.osz[1] + oh0 + t) * ow_n
                    arow = acc + j * npos + t * wp
                    for ow in range(ow_n):
                        orow[ow] = arow[ow] + bv


cdef void _backward_weight_direct_s1(const Geom* g, const floating* dy, const floating* x,
                                     floating* dw, floating* ws, Py_ssize_t ws_stride,
                                     double* sums, int nt) noexcept nogil:
    """Weight gradient of _forward_direct_s1: each output channel on one thread, summed
    over samples, planes and slabs in order. dy is copied to the slab's padded width
    with zeros in the dropped columns, so that each tap's gradient is one long dot
    product with the shifted slab."""
    cdef Py_ssize_t wp = g.wpad, ow_n = g.osz[2]
    cdef Py_ssize_t kk, nn, od, tile, oh0, n_rows, npos, t, kd, kh, kw, i_d, o, ow
    cdef floating* slab
    cdef floating* dyp
    cdef double* acc
    cdef const floating* dyrow
    slab = dyp = NULL   # thread-private below; set to quiet gcc's firstprivate warning
    acc = NULL
    with parallel(num_threads=nt):
        slab = ws + omp_get_thread_num() * ws_stride
        dyp = slab + g.slab_pos
        acc = sums + omp_get_thread_num() * g.kvol
        for kk in prange(g.k, schedule='dynamic'):
            for o in range(g.kvol):
                acc[o] = 0
            for nn in range(g.n):
                for od in range(g.osz[0]):
                    for tile in range(g.slab_tiles):
                        oh0 = tile * g.slab_rows
                        n_rows = min(g.slab_rows, g.osz[1] - oh0)
                        npos = n_rows * wp
                        for t in range(n_rows):
                            dyrow = dy + (nn * g.k + kk) * g.out_sp \
                                + (od * g.osz[1] + oh0 + t) * ow_n
                            for ow in range(ow_n):
                                dyp[t * wp + ow] = dyrow[ow]
                            for ow in range(ow_n, wp):
                                dyp[t * wp + ow] = 0
                        for kd in range(g.ksz[0]):
                            i_d = od - g.p[0] + kd * g.d[0]
                            if i_d < 0 or i_d >= g.isz[0]:
                                continue
                            _fill_slab(g, x + (nn * g.c + kk // g.kg) * g.in_sp
                                       + i_d * g.isz[1] * g.isz[2], slab, oh0, n_rows)
                            for kh in range(g.ksz[1]):
                                for kw in range(g.ksz[2]):
                                    acc[(kd * g.ksz[1] + kh) * g.ksz[2] + kw] += row_dot(
                                        dyp, slab + kh * g.d[1] * wp + kw * g.d[2], npos)
            for o in range(g.kvol):
                dw[kk * g.kvol + o] = <floating>acc[o]


cdef void _channel_sums(const floating* a, Py_ssize_t n, Py_ssize_t c, Py_ssize_t size,
                        floating* out, int nt) noexcept nogil:
    """out[c] = sum of a[n, c, :] over n and the spatial positions, in a fixed order."""
    cdef Py_ssize_t cc, nn
    cdef double acc
    for cc in prange(c, num_threads=nt, schedule='static'):
        acc = 0
        for nn in range(n):
            acc = acc + row_sum(a + (nn * c + cc) * size, size)
        out[cc] = <floating>acc


# ----------------------------------------------------------------- entry points

cdef Py_ssize_t _macs(const Geom* g):
    return g.n * g.k * g.out_sp * g.ckk


cdef int _threads(const Geom* g, Py_ssize_t items, int n_threads):
    # threads_for counts elementwise work; a multiply-add in a GEMM costs ~1/32 of that
    return <int>max(1, min(threads_for(_macs(g) // 32, n_threads), items))


cdef void _forward(const Geom* g, const floating* x, const floating* w,
                   const floating* bias, floating* out, int n_threads) except *:
    cdef int nt, nt_u
    cdef floating* ws = NULL
    cdef floating* wt = NULL
    cdef Py_ssize_t ws_stride = 0
    cdef Py_ssize_t* spans = NULL
    cdef Py_ssize_t* offs = NULL
    try:
        if g.phased:
            nt = _threads(g, g.n * g.c, n_threads)
            ws_stride = _phase_elements(g)
            ws = <floating*>_workspace(nt * ws_stride, sizeof(floating))
            with nogil:
                _forward_direct_phases(g, x, w, bias, out, ws, ws_stride, nt)
        elif g.direct and not g.stride1:
            nt = _threads(g, g.n * g.k, n_threads)
            spans = _tap_spans(g)
            with nogil:
                _forward_direct(g, spans, x, w, bias, out, nt)
        elif g.winograd:
            nt = _threads(g, _wino_items(g), n_threads)
            ws_stride = _wino_thread_elements(g)
            ws = <floating*>_workspace(nt * ws_stride, sizeof(floating))
            wt = <floating*>_workspace(g.wino_nx * g.k * g.c, sizeof(floating))
            nt_u = _threads(g, g.k, n_threads)
            with nogil:
                memset(ws, 0, nt * ws_stride * sizeof(floating))
                _wino_weight(g, w, wt, nt_u)
                _forward_winograd(g, x, wt, bias, out, ws, ws_stride, nt)
        elif g.direct:
            nt = _threads(g, g.n * g.c * g.osz[0] * g.slab_tiles, n_threads)
            ws_stride = g.slab_size
            ws = <floating*>_workspace(nt * ws_stride, sizeof(floating))
            with nogil:
                _forward_direct_s1(g, x, w, bias, out, ws, ws_stride, nt)
        elif g.implicit:
            nt = _threads(g, g.n * g.imp_tiles, n_threads)
            ws_stride = _implicit_elements(g)
            ws = <floating*>_workspace(nt * ws_stride, sizeof(floating))
            offs = <Py_ssize_t*>_workspace(g.ckk, sizeof(Py_ssize_t))
            _implicit_offsets(g, offs)
            with nogil:
                _forward_implicit(g, offs, x, w, bias, out, ws, ws_stride, nt)
        elif g.shifted:
            nt = _threads(g, g.n * g.osz[0] * g.slab_tiles, n_threads)
            ws_stride = g.slab_size
            ws = <floating*>_workspace(nt * ws_stride, sizeof(floating))
            wt = <floating*>_workspace(g.k * g.ckk, sizeof(floating))
            with nogil:
                _pack_weight(g, w, wt)
                _forward_shifted(g, x, wt, bias, out, ws, ws_stride, nt)
        else:
            nt = _threads(g, g.n * g.n_tiles, n_threads)
            if not g.pointwise:
                ws_stride = _im2col_elements(g)
                ws = <floating*>_workspace(nt * ws_stride, sizeof(floating))
            spans = _tap_spans(g)
            if g.gather and not g.pointwise:
                offs = <Py_ssize_t*>_workspace(g.tile_p + g.ckk, sizeof(Py_ssize_t))
                _gather_offsets(g, offs, offs + g.tile_p)
            with nogil:
                _forward_gemm(g, spans, offs, x, w, bias, out, ws, ws_stride, nt)
    finally:
        _workspace_free(ws)
        _workspace_free(wt)
        _workspace_free(spans)
        _workspace_free(offs)


cdef bint _input_grad_by_convolution(const Geom* g) noexcept:
    """Stride 1: the input gradient is a stride-1 convolution of dy (no col2im), except
    for a pointwise convolution (a GEMM already) and a direct one with several output
    channels per input channel (its transpose would be a GEMM with one output column)."""
    return g.stride1 and not g.pointwise and (not g.direct or g.kg == 1)


cdef void _backward(const Geom* g, const floating* dy, const floating* x,
                    const floating* w, floating* dx, const floating* dx_seed,
                    floating* dw, int n_threads) except *:
    """dx and/or dw (either may be NULL) of the convolution described by g."""
    cdef int nt
    cdef Py_ssize_t n_chunks, ws_stride = 0
    cdef floating* ws = NULL
    cdef floating* partials = NULL
    cdef floating* wf = NULL
    cdef double* sums = NULL
    cdef Py_ssize_t* spans
    cdef Geom t
    if dx != NULL and _input_grad_by_convolution(g):
        t = _input_grad_geometry(g)
        wf = <floating*>_workspace(g.k * g.ckk, sizeof(floating))
        try:
            with nogil:
                _flip_weight(g, w, wf)
            _forward(&t, dy, wf, dx_seed, dx, n_threads)
        finally:
            _workspace_free(wf)
        dx = NULL
    t = _wino_weight_geometry(g)
    n_chunks = _wino_weight_chunks(&t) if dw != NULL else 0
    if n_chunks > 0:
        nt = _threads(&t, n_chunks, n_threads)
        try:
            ws_stride = _wino_weight_thread_elements(&t)
            ws = <floating*>_workspace(nt * ws_stride, sizeof(floating))
            partials = <floating*>_workspace(n_chunks * t.wino_nx * t.c * t.k,
                                           sizeof(floating))
            with nogil:
                # lanes of a partial last panel are never written; they reach only
                # GEMM columns that are not stored, but should not be garbage
                memset(ws, 0, nt * ws_stride * sizeof(floating))
                _backward_weight_winograd(&t, dy, x, dw, partials, n_chunks, ws, ws_stride,
                                          nt)
        finally:
            _workspace_free(ws)
            _workspace_free(partials)
        return
    if g.direct:
        spans = _tap_spans(g)
        try:
            if dx != NULL:
                nt = _threads(g, g.n * g.c, n_threads)
                with nogil:
                    _backward_input_direct(g, spans, dy, w, dx, dx_seed, nt)
            if dw != NULL:
                nt = _threads(g, g.k, n_threads)
                sums = <double*>_workspace(nt * g.kvol, sizeof(double))
                if g.stride1:
                    ws_stride = g.slab_size
                    ws = <floating*>_workspace(nt * ws_stride, sizeof(floating))
                    with nogil:
                        _backward_weight_direct_s1(g, dy, x, dw, ws, ws_stride, sums, nt)
                else:
                    ws = <floating*>_workspace(nt * g.kvol * g.tile_p, sizeof(floating))
                    with nogil:
                        _backward_weight_direct(g, spans, dy, x, dw, sums, ws, nt)
        finally:
            _workspace_free(spans)
            _workspace_free(sums)
            _workspace_free(ws)
        return
    if dx == NULL and dw == NULL:
        return
    # Without a weight gradient nothing is reduced over the batch: a chunk per sample.
    n_chunks = _n_chunks(g) if dw != NULL else g.n
    nt = _threads(g, n_chunks, n_threads)
    spans = NULL
    try:
        if not g.pointwise:
            ws_stride = g.ckk * g.tile_p
            ws = <floating*>_workspace(nt * ws_stride, sizeof(floating))
        if dw != NULL:
            partials = <floating*>_workspace(n_chunks * g.k * g.ckk, sizeof(floating))
        spans = _tap_spans(g)
        with nogil:
            _backward_gemm(g, spans, dy, x, w, dx, dx_seed, dw, partials, n_chunks,
                           ws, ws_stride, nt)
    finally:
        _workspace_free(ws)
        _workspace_free(partials)
        _workspace_free(spans)


cdef Py_ssize_t _forward_workspace(const Geom* g, int n_threads) except -1:
    if g.winograd:
        return _threads(g, _wino_items(g), n_threads) * _wino_thread_elements(g) \
            + g.wino_nx * g.k * g.c
    if g.phased:
        return _threads(g, g.n * g.c, n_threads) * _phase_elements(g)
    if g.direct and not g.stride1:
        return 0
    if g.direct:
        return _threads(g, g.n * g.c * g.osz[0] * g.slab_tiles, n_threads) * g.slab_size
    if g.implicit:
        return _threads(g, g.n * g.imp_tiles, n_threads) * _implicit_elements(g)
    if g.shifted:
        return _threads(g, g.n * g.osz[0] * g.slab_tiles, n_threads) * g.slab_size \
            + g.k * g.ckk
    if g.pointwise:
        return 0
    return _threads(g, g.n * g.n_tiles, n_threads) * _im2col_elements(g)


cdef Geom _geometry_of_shapes(tuple in_shape, tuple w_shape, tuple out_shape,
                              tuple stride, tuple padding, tuple dilation,
                              Py_ssize_t groups) except *:
    """_geometry from 5-D shapes given as Python tuples (the size queries below)."""
    cdef Py_ssize_t i_sh[5]
    cdef Py_ssize_t w_sh[5]
    cdef Py_ssize_t o_sh[5]
    cdef Py_ssize_t i
    for i in range(5):
        i_sh[i], w_sh[i], o_sh[i] = in_shape[i], w_shape[i], out_shape[i]
    return _geometry(i_sh, w_sh, o_sh, stride, padding, dilation, groups)


def release_workspace():
    """Free the idle workspace blocks this module keeps between calls.

    The convolution kernels keep up to 64 MiB of workspace (a few blocks) after a call
    so that the next call does not map and fault in fresh pages; they are reused by
    later calls and freed at exit. Returns the number of bytes released.
    """
    return pydl_workspace_trim()


def workspace_elements(tuple in_shape, tuple w_shape, tuple out_shape, tuple stride,
                       tuple padding, tuple dilation, Py_ssize_t groups, int n_threads):
    """Workspace (elements) the kernels allocate for this 5-D convolution.

    Returns ``(forward, backward)``, the largest allocation live at once in each:
    per-thread tiles or slabs (and a repacked weight) in the forward pass; in the
    backward pass the input gradient's (a stride-1 convolution of its own) or the
    weight gradient's tiles plus up to ``MAX_CHUNKS`` partial weight gradients.
    Neither grows with the batch.
    """
    cdef Py_ssize_t i, n_chunks, backward = 0
    cdef Geom g = _geometry_of_shapes(in_shape, w_shape, out_shape, stride, padding,
                                      dilation, groups)
    cdef Geom t
    if _input_grad_by_convolution(&g):
        t = _input_grad_geometry(&g)
        backward = _forward_workspace(&t, n_threads) + g.k * g.ckk
    if g.direct:
        i = _threads(&g, g.k, n_threads)   # float64 sums count double
        backward = max(backward, i * (2 * g.kvol
                                      + (g.slab_size if g.stride1 else g.kvol * g.tile_p)))
        return _forward_workspace(&g, n_threads), backward
    t = _wino_weight_geometry(&g)
    n_chunks = _wino_weight_chunks(&t)
    if n_chunks > 0:
        backward = max(backward, _threads(&t, n_chunks, n_threads)
                       * _wino_weight_thread_elements(&t)
                       + n_chunks * t.wino_nx * t.c * t.k)
        return _forward_workspace(&g, n_threads), backward
    n_chunks = _n_chunks(&g)
    tile = 0 if g.pointwise else g.ckk * g.tile_p
    backward = max(backward, _threads(&g, n_chunks, n_threads) * tile
                   + n_chunks * g.k * g.ckk)
    return _forward_workspace(&g, n_threads), backward


def forward_path(tuple in_shape, tuple w_shape, tuple out_shape, tuple stride,
                 tuple padding, tuple dilation, Py_ssize_t groups):
    """Name of the kernel path that computes this 5-D convolution's forward pass:
    ``"winograd-2x2"`` or ``"winograd-4x4"`` (F(2x2, 3x3) or F(4x4, 3x3)),
    ``"direct"``, ``"implicit"`` (implicit GEMM over a padded, phase-split window),
    ``"shifted"`` (stride-1 slabs), ``"pointwise"`` or
    ``"im2col"``. The input gradient of a stride-1 convolution takes the path of its
    own convolution (see _input_grad_geometry)."""
    cdef Geom g = _geometry_of_shapes(in_shape, w_shape, out_shape, stride, padding,
                                      dilation, groups)
    if g.winograd:
        return "winograd-4x4" if g.wino_m == 4 else "winograd-2x2"
    if g.direct:
        return "direct"
    if g.implicit:
        return "implicit"
    if g.shifted:
        return "shifted"
    return "pointwise" if g.pointwise else "im2col"


def conv_forward(const floating[:, :, :, :, ::1] x,        # IN  (N, C, D, H, W)
                 const floating[:, :, :, :, ::1] weight,   # IN  (K, C/groups, kD, kH, kW)
                 const floating[::1] bias,                 # IN  (K,) or None
                 floating[:, :, :, :, ::1] out,            # OUT (N, K, oD, oH, oW)
                 tuple stride, tuple padding, tuple dilation, Py_ssize_t groups,
                 int n_threads):
    """out = conv(x, weight) + bias; padding is the low side of each dimension."""
    cdef Geom g = _geometry(x.shape, weight.shape,
                            out.shape, stride, padding, dilation, groups)
    _forward(&g, &x[0, 0, 0, 0, 0], &weight[0, 0, 0, 0, 0],
             &bias[0] if bias is not None else NULL, &out[0, 0, 0, 0, 0], n_threads)


def conv_backward(const floating[:, :, :, :, ::1] grad_out,  # IN  (N, K, oD, oH, oW)
                  const floating[:, :, :, :, ::1] x,         # IN  (N, C, D, H, W)
                  const floating[:, :, :, :, ::1] weight,    # IN  (K, C/groups, kD, kH, kW)
                  floating[:, :, :, :, ::1] grad_x,          # OUT like x, or None
                  floating[:, :, :, :, ::1] grad_weight,     # OUT like weight, or None
                  floating[::1] grad_bias,                   # OUT (K,), or None
                  tuple stride, tuple padding, tuple dilation, Py_ssize_t groups,
                  int n_threads):
    """Gradients of conv_forward; any output may be None to skip it."""
    cdef Geom g = _geometry(x.shape, weight.shape,
                            grad_out.shape, stride, padding, dilation, groups)
    _backward(&g, &grad_out[0, 0, 0, 0, 0], &x[0, 0, 0, 0, 0], &weight[0, 0, 0, 0, 0],
              &grad_x[0, 0, 0, 0, 0] if grad_x is not None else NULL, NULL,
              &grad_weight[0, 0, 0, 0, 0] if grad_weight is not None else NULL, n_threads)
    cdef int nt = _threads(&g, g.k, n_threads)
    if grad_bias is not None:
        with nogil:
            _channel_sums(&grad_out[0, 0, 0, 0, 0], g.n, g.k, g.out_sp, &grad_bias[0], nt)


def conv_transpose_forward(const floating[:, :, :, :, ::1] x,       # IN  (N, C_in, D, H, W)
                           const floating[:, :, :, :, ::1] weight,  # IN  (C_in, C_out/groups, kD, kH, kW)
                           const floating[::1] bias,                # IN  (C_out,) or None
                           floating[:, :, :, :, ::1] out,           # OUT (N, C_out, oD, oH, oW)
                           tuple stride, tuple padding, tuple dilation, Py_ssize_t groups,
                           int n_threads):
    """Transposed convolution: the input gradient of the convolution that maps ``out``'s
    shape to ``x``'s with this weight, plus bias. ``output_padding`` is implied by
    ``out``'s shape."""
    cdef Geom g = _geometry(out.shape, weight.shape,
                            x.shape, stride, padding, dilation, groups)
    _backward(&g, &x[0, 0, 0, 0, 0], NULL, &weight[0, 0, 0, 0, 0], &out[0, 0, 0, 0, 0],
              &bias[0] if bias is not None else NULL, NULL, n_threads)


def conv_transpose_backward(const floating[:, :, :, :, ::1] grad_out,  # IN  (N, C_out, oD, oH, oW)
                            const floating[:, :, :, :, ::1] x,         # IN  (N, C_in, D, H, W)
                            const floating[:, :, :, :, ::1] weight,    # IN  (C_in, C_out/groups, k...)
                            floating[:, :, :, :, ::1] grad_x,          # OUT like x, or None
                            floating[:, :, :, :, ::1] grad_weight,     # OUT like weight, or None
                            floating[::1] grad_bias,                   # OUT (C_out,), or None
                            tuple stride, tuple padding, tuple dilation, Py_ssize_t groups,
                            int n_threads):
    """Gradients of conv_transpose_forward: grad_x is the convolution of grad_out, the
    weight gradient that convolution's weight gradient with the roles of input and
    output gradient swapped."""
    cdef Geom g = _geometry(grad_out.shape, weight.shape,
                            x.shape, stride, padding, dilation, groups)
    if grad_x is not None:
        _forward(&g, &grad_out[0, 0, 0, 0, 0], &weight[0, 0, 0, 0, 0], NULL,
                 &grad_x[0, 0, 0, 0, 0], n_threads)
    if grad_weight is not None:
        _backward(&g, &x[0, 0, 0, 0, 0], &grad_out[0, 0, 0, 0, 0], &weight[0, 0, 0, 0, 0],
                  NULL, NULL, &grad_weight[0, 0, 0, 0, 0], n_threads)
    cdef int nt = _threads(&g, g.c, n_threads)
    if grad_bias is not None:
        with nogil:
            _channel_sums(&grad_out[0, 0, 0, 0, 0], g.n, g.c, g.in_sp, &grad_bias[0], nt)


# pydl.functional's conv1d/2d/3d and conv_transpose1d/2d/3d ops all reach these kernels
# through 5-D views; the aliases keep the one-name-per-op rule greppable.
conv1d_forward = conv2d_forward = conv3d_forward = conv_forward
conv1d_backward = conv2d_backward = conv3d_backward = conv_backward
conv_transpose1d_forward = conv_transpose2d_forward = conv_transpose_forward
conv_transpose3d_forward = conv_transpose_forward
conv_transpose1d_backward = conv_transpose2d_backward = conv_transpose_backward
conv_transpose3d_backward = conv_transpose_backward
