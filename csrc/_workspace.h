/* Kernel workspaces kept between calls of one extension module.

   A convolution needs megabytes of workspace per call (im2col tiles, Winograd
   transforms, the weight gradient's per-chunk partial sums). Handed back to malloc
   after each call, glibc trims the top of the heap or unmaps the block and the next
   call faults the pages in again: in the digits CNN train step at 2 threads that was
   ~900 page faults and ~2.5 ms of a ~7 ms step. A few idle blocks are kept instead.

   Contract: take and give only while holding the GIL, which serialises them (the
   kernels themselves run without it, on blocks they own until given back). Blocks
   are 64-byte aligned; each carries its size in a header before it. Every
   translation unit (extension module) has its own slots. */
#ifndef PYDL_WORKSPACE_H
#define PYDL_WORKSPACE_H

#include <stdlib.h>
#include <stdint.h>

#define PYDL_WS_SLOTS 8                         /* idle blocks kept */
#define PYDL_WS_KEEP_BYTES ((size_t)64 << 20)   /* at most this much idle memory */
#define PYDL_WS_HEADER 64                       /* keeps the block 64-byte aligned */

static void* pydl_ws_idle[PYDL_WS_SLOTS];
static size_t pydl_ws_idle_bytes;

static inline size_t pydl_ws_size(void* p) {
    return *(size_t*)((char*)p - PYDL_WS_HEADER);
}

static inline void pydl_ws_release(void* p) {
    void* raw = ((void**)((char*)p - PYDL_WS_HEADER))[1];
    free(raw);
}

/* A block of at least `size` bytes, or NULL when out of memory. The smallest idle
   block that fits is reused; otherwise a new block is allocated. */
static void* pydl_workspace_take(size_t size) {
    int i, best = -1;
    char* raw;
    char* p;
    for (i = 0; i < PYDL_WS_SLOTS; i++) {
        if (pydl_ws_idle[i] != NULL && pydl_ws_size(pydl_ws_idle[i]) >= size &&
                (best < 0 || pydl_ws_size(pydl_ws_idle[i]) < pydl_ws_size(pydl_ws_idle[best])))
            best = i;
    }
    if (best >= 0) {
        p = (char*)pydl_ws_idle[best];
        pydl_ws_idle[best] = NULL;
        pydl_ws_idle_bytes -= pydl_ws_size(p);
        return p;
    }
    if (size > SIZE_MAX - 2 * PYDL_WS_HEADER)
        return NULL;
    raw = (char*)malloc(size + 2 * PYDL_WS_HEADER);
    if (raw == NULL)
        return NULL;
    /* first 64-byte boundary at least a header past raw */
    p = raw + PYDL_WS_HEADER + (PYDL_WS_HEADER - ((uintptr_t)raw % PYDL_WS_HEADER)) % PYDL_WS_HEADER;
    *(size_t*)(p - PYDL_WS_HEADER) = size;
    ((void**)(p - PYDL_WS_HEADER))[1] = raw;
    return p;
}

/* Gives a block of pydl_workspace_take back (NULL is ignored). It is kept idle while
   a slot is free and the idle total stays within PYDL_WS_KEEP_BYTES, else it replaces
   a smaller idle block, else it is freed. */
static void pydl_workspace_give(void* p) {
    int i, empty = -1, smallest = -1;
    size_t size;
    if (p == NULL)
        return;
    size = pydl_ws_size(p);
    if (size > PYDL_WS_KEEP_BYTES) {    /* never kept: do not evict the idle blocks */
        pydl_ws_release(p);
        return;
    }
    for (i = 0; i < PYDL_WS_SLOTS; i++) {
        if (pydl_ws_idle[i] == NULL) {
            if (empty < 0)
                empty = i;
        } else if (smallest < 0 ||
                   pydl_ws_size(pydl_ws_idle[i]) < pydl_ws_size(pydl_ws_idle[smallest])) {
            smallest = i;
        }
    }
    /* make room: drop smaller idle blocks while over the budget or out of slots */
    while ((empty < 0 || pydl_ws_idle_bytes + size > PYDL_WS_KEEP_BYTES) && smallest >= 0 &&
           pydl_ws_size(pydl_ws_idle[smallest]) < size) {
        pydl_ws_idle_bytes -= pydl_ws_size(pydl_ws_idle[smallest]);
        pydl_ws_release(pydl_ws_idle[smallest]);
        pydl_ws_idle[smallest] = NULL;
        empty = smallest;
        smallest = -1;
        for (i = 0; i < PYDL_WS_SLOTS; i++)
            if (pydl_ws_idle[i] != NULL && (smallest < 0 ||
                    pydl_ws_size(pydl_ws_idle[i]) < pydl_ws_size(pydl_ws_idle[smallest])))
                smallest = i;
    }
    if (empty >= 0 && pydl_ws_idle_bytes + size <= PYDL_WS_KEEP_BYTES) {
        pydl_ws_idle[empty] = p;
        pydl_ws_idle_bytes += size;
    } else {
        pydl_ws_release(p);
    }
}

/* Frees every idle block (returns the bytes released). */
static size_t pydl_workspace_trim(void) {
    int i;
    size_t released = pydl_ws_idle_bytes;
    for (i = 0; i < PYDL_WS_SLOTS; i++) {
        if (pydl_ws_idle[i] != NULL) {
            pydl_ws_release(pydl_ws_idle[i]);
            pydl_ws_idle[i] = NULL;
        }
    }
    pydl_ws_idle_bytes = 0;
    return released;
}

#endif
