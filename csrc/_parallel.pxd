# How many threads a loop over `work` elements should get.

# Below this many elements a parallel region costs more than it saves (fork/join is a
# few microseconds; an elementwise pass over 32k floats takes about as long).
cdef enum:
    PARALLEL_MIN_WORK = 32768


cdef inline int threads_for(Py_ssize_t work, int n_threads) noexcept nogil:
    if work < PARALLEL_MIN_WORK or n_threads < 1:
        return 1
    return n_threads
