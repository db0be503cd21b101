/* nodealloc's C API: the process-wide heap, one thread cache per thread.
 *
 * Every function behaves as its glibc 2.36 namesake does (na_malloc as malloc, ...), including the
 * answers to impossible requests: NULL with errno ENOMEM for sizes that cannot be had (and for
 * calloc/reallocarray overflow); na_posix_memalign returns EINVAL or ENOMEM and leaves errno
 * alone; na_realloc(p, 0) frees p and returns NULL; a failed na_realloc leaves p intact. */
#ifndef NODEALLOC_H
#define NODEALLOC_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#pragma GCC visibility push(default)

void *na_malloc(size_t size);
void *na_calloc(size_t count, size_t size);
void *na_realloc(void *block, size_t size);
void *na_reallocarray(void *block, size_t count, size_t size);
void na_free(void *block);
void *na_aligned_alloc(size_t alignment, size_t size);
void *na_memalign(size_t alignment, size_t size);
int na_posix_memalign(void **result, size_t alignment, size_t size);
void *na_valloc(size_t size);
void *na_pvalloc(size_t size);
size_t na_usable_size(const void *block);

/* Returns free memory to the OS: empty slabs, dirty pages, empty chunks. */
void na_release_free_memory(void);

/* Writes the heap's statistics to stderr (what NODEALLOC_OPTIONS=stats=1 prints at exit). */
void na_print_statistics(void);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif

#endif /* NODEALLOC_H */
