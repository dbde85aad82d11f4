# Kernel workspace, allocated while the GIL is held so that failure raises MemoryError.

from libc.stdlib cimport malloc


cdef inline void* scratch(Py_ssize_t n_items, size_t item_size) except NULL:
    """malloc(n_items * item_size) (at least one item), or MemoryError. free() it."""
    cdef void* p = malloc(max(n_items, 1) * item_size)
    if p == NULL:
        raise MemoryError(f"pydl: could not allocate {n_items * item_size} bytes of workspace")
    return p
