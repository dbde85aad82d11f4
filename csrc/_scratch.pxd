# Kernel workspace, allocated while the GIL is held so that failure raises MemoryError.

from libc.stdlib cimport malloc


cdef extern from "_workspace.h":
    void* pydl_workspace_take(size_t size)
    void pydl_workspace_give(void* p)
    size_t pydl_workspace_trim()


cdef inline void* scratch(Py_ssize_t n_items, size_t item_size) except NULL:
    """malloc(n_items * item_size) (at least one item), or MemoryError. free() it."""
    cdef void* p = malloc(max(n_items, 1) * item_size)
    if p == NULL:
        raise MemoryError(f"pydl: could not allocate {n_items * item_size} bytes of workspace")
    return p


cdef inline void* workspace(Py_ssize_t n_items, size_t item_size) except NULL:
    """A kept workspace block of n_items * item_size bytes (at least one item), 64-byte
    aligned, or MemoryError; its contents are undefined. Give it back with
    workspace_free, never free(); both with the GIL held (it serialises the cache)."""
    cdef void* p = pydl_workspace_take(max(n_items, 1) * item_size)
    if p == NULL:
        raise MemoryError(f"pydl: could not allocate {n_items * item_size} bytes of workspace")
    return p


cdef inline void workspace_free(void* p) noexcept:
    """Gives back a block of workspace() (NULL is ignored); with the GIL held."""
    pydl_workspace_give(p)
