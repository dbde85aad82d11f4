# The OpenMP shim: kernels cimport these names and compile with or without OpenMP.
#
# Cython's prange already degrades to a serial loop when _OPENMP is undefined; this
# file covers the few omp_* calls a kernel makes itself (thread-local workspaces are
# indexed by omp_get_thread_num()).

cdef extern from *:
    """
    #ifdef _OPENMP
    #include <omp.h>
    #define PYDL_HAVE_OPENMP 1
    #else
    #define PYDL_HAVE_OPENMP 0
    static inline int omp_get_thread_num(void) { return 0; }
    static inline int omp_get_max_threads(void) { return 1; }
    static inline int omp_get_num_procs(void) { return 1; }
    #endif
    """
    bint PYDL_HAVE_OPENMP
    int omp_get_thread_num() noexcept nogil
    int omp_get_max_threads() noexcept nogil
    int omp_get_num_procs() noexcept nogil
