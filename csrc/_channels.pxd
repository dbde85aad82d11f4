# How per-channel reductions over (N, C, S) arrays are split into work units.
#
# An (N, C, S) array (batch, channels, spatial positions flattened) is reduced per
# channel over N and S. The batch is cut into blocks of `rows` samples and the
# channels into groups of `chans`; one work unit is one (row block, channel group)
# pair, about UNIT elements. Each unit writes partial results for its row block and
# channels; they are combined over the row blocks in block order. The split depends
# only on (N, C, S), so results are bitwise identical at any thread count.

cdef enum:
    # elements per work unit: the unit is re-read from cache by two-pass kernels
    UNIT = 32768
    # a unit holds at least this many elements of each of its channels, which bounds
    # the partial results to about 1/MIN_RUN of the input
    MIN_RUN = 256


cdef struct Partition:
    Py_ssize_t rows            # samples per row block
    Py_ssize_t chans           # channels per group
    Py_ssize_t n_row_blocks
    Py_ssize_t n_chan_blocks


cdef inline Partition channel_partition(Py_ssize_t n, Py_ssize_t c, Py_ssize_t s) noexcept nogil:
    cdef Partition p
    cdef Py_ssize_t s1 = s if s > 0 else 1
    cdef Py_ssize_t c1 = c if c > 0 else 1
    cdef Py_ssize_t n1 = n if n > 0 else 1
    p.rows = (MIN_RUN + s1 - 1) // s1
    if p.rows * c1 * s1 < UNIT:
        p.rows = UNIT // (c1 * s1)
    p.rows = max(1, min(p.rows, n1))
    p.chans = max(1, min(UNIT // (p.rows * s1), c1))
    p.n_row_blocks = (n + p.rows - 1) // p.rows
    p.n_chan_blocks = (c + p.chans - 1) // p.chans
    return p
