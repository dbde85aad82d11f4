# Thread-local workspaces for kernels: allocated while holding the GIL, so that a
# failed allocation raises MemoryError instead of crashing inside a nogil block.

from libc.stdlib cimport malloc


cdef inline void* workspace(Py_ssize_t n_items, size_t item_size) except NULL:
    cdef void* p = malloc(max(n_items, 1) * item_size)
    if p == NULL:
        raise MemoryError(f"pydl: could not allocate {n_items * item_size} bytes of workspace")
    return p
