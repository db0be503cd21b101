/* nodealloc's C API: the process-wide heap, one thread cache per thread.
 *
 * Every function behaves as its glibc 2.36 namesake does (na_malloc as malloc, ...), including the
 * answers to impossible requests: NULL with errno ENOMEM for sizes that cannot be had (and for
 * calloc/reallocarray overflow); na_posix_memalign returns EINVAL or ENOMEM and leaves errno
 * alone (glibc's also sets errno to ENOMEM when it returns ENOMEM: POSIX defines only the return
 * value); na_realloc(p, 0) frees p and returns NULL; a failed na_realloc leaves p intact.
 * fuzz/differential_fuzzer.cc compares each answer with glibc's own. */
#ifndef NODEALLOC_H
#define NODEALLOC_H

#include <malloc.h>
#include <stddef.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#define NODEALLOC_NOEXCEPT noexcept /* as glibc's __THROW declares the C library's own */
#else
#define NODEALLOC_NOEXCEPT
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

/* C23's sized frees: `size` (and `alignment`) as the block was allocated with (malloc, calloc,
 * realloc; aligned_alloc for free_aligned_sized). The hardened presets check it (kSizedDeleteCheck:
 * "sized free mismatch"); NULL does nothing. The drop-in exports them as free_sized and
 * free_aligned_sized, which glibc 2.36 does not declare, so this header does. */
void na_free_sized(void *block, size_t size);
void na_free_aligned_sized(void *block, size_t alignment, size_t size);
void free_sized(void *block, size_t size) NODEALLOC_NOEXCEPT;
void free_aligned_sized(void *block, size_t alignment, size_t size) NODEALLOC_NOEXCEPT;

/* As glibc's mallopt: 1 for a parameter glibc knows (nodealloc has no tunable behind it: the
 * value is accepted and ignored), 0 for one it does not. */
int na_mallopt(int parameter, int value);

/* glibc's heap reports, with nodealloc's figures, safe to call while other threads allocate (the
 * drop-in exports them under glibc's names: mallinfo2, mallinfo, malloc_stats, malloc_info):
 *   arena     bytes of the chunks slabs are carved from      hblks / hblkhd  live large blocks, their bytes
 *   uordblks  bytes of slab blocks out of their slabs (live, or cached by a thread)
 *   fordblks  arena - uordblks                               ordblks  free blocks in slabs in use
 *   keepcost  what a trim gives back: free slab pages still backed,   smblks, usmblks, fsmblks  0
 *             and the freed large mappings kept for reuse
 * mallinfo's int fields are mallinfo2's, truncated as glibc truncates them. malloc_stats writes
 * glibc's lines to stderr; malloc_info writes glibc's XML shape (options must be 0: else it returns EINVAL, as glibc does). */
struct mallinfo2 na_mallinfo2(void);
void na_malloc_stats(void);
int na_malloc_info(int options, FILE *stream);

/* Returns free memory to the OS: empty slabs, dirty pages, empty chunks, kept large mappings. */
void na_release_free_memory(void);

/* Writes the heap's statistics to stderr (what NODEALLOC_OPTIONS=stats=1 prints at exit). */
void na_print_statistics(void);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif

#endif /* NODEALLOC_H */
