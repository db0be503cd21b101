/* One heap bug per run, in a nodealloc block, for memcheck to see (run-memcheck checks its report):

     memcheck_program <bug> <block>

   bug:   clean (no bug: memcheck must report nothing), use-after-free, read-past-end,
          uninitialised (a branch on fresh bytes), leak (a block no pointer reaches)
   block: small (a slab block), large (its own mapping), realloc (a slab block resized in place
          by na_realloc: memcheck must know its new size, and keep the kept bytes' state)

   The program calls nodealloc's C API (na_malloc, na_free, na_realloc), which memcheck does not
   replace: what memcheck knows of these blocks, it knows from nodealloc's annotations
   (core/base/sanitizer.h). Each block's size is printed to stdout, so the runner can match
   memcheck's "block of size N". Exit status 0 unless the arguments are wrong.

   Built with MEMCHECK_DROP_IN, it calls malloc, free and realloc instead, for a run with the
   drop-in preloaded (memcheck_dropin_program): then memcheck must be told not to replace them
   (--soname-synonyms=somalloc=nouserintercepts), and the blocks are nodealloc's only then. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef MEMCHECK_DROP_IN
#define na_malloc malloc
#define na_free free
#define na_realloc realloc
#else
#include "api/nodealloc.h"
#endif

/* kLarge is not a multiple of 16: the full preset places a large block against its guard page,
   rounded down to 16 bytes, so its first byte past the end is slack memcheck sees (a read at a
   page-aligned end would hit the guard page: SIGSEGV, before memcheck could say more). */
enum { kSmall = 100, kShrunk = 90, kLarge = (1 << 20) + 100 };

/* Reads through a volatile pointer, so the compiler keeps every read of the bug. */
static unsigned char peek(const unsigned char *bytes, size_t offset) {
  return ((const volatile unsigned char *)bytes)[offset];
}

/* A live block of the kind, with its requested size in *size, written in full. */
static unsigned char *make(const char *block, size_t *size) {
  unsigned char *bytes = NULL;
  if (strcmp(block, "small") == 0) {
    *size = kSmall;
    bytes = na_malloc(*size);
  } else if (strcmp(block, "large") == 0) {
    *size = kLarge;
    bytes = na_malloc(*size);
  } else if (strcmp(block, "realloc") == 0) {
    /* 100 -> 90 bytes stays in its class: resized in place (the moved case is a plain malloc). */
    unsigned char *first = na_malloc(kSmall);
    if (first == NULL) return NULL;
    memset(first, 1, kSmall);
    *size = kShrunk;
    bytes = na_realloc(first, *size);
    if (bytes != first) fprintf(stderr, "memcheck_program: the realloc moved the block\n");
  } else {
    return NULL;
  }
  if (bytes != NULL) memset(bytes, 2, *size);
  return bytes;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: memcheck_program clean|use-after-free|read-past-end|uninitialised|leak small|large|realloc\n");
    return 2;
  }
  const char *bug = argv[1];
  size_t size = 0;
  unsigned char *bytes = make(argv[2], &size);
  if (bytes == NULL) {
    fprintf(stderr, "memcheck_program: unknown block %s, or no memory\n", argv[2]);
    return 2;
  }
  printf("%zu\n", size);
  fflush(stdout);
  unsigned sum = 0;
  if (strcmp(bug, "clean") == 0) {
    for (size_t i = 0; i < size; i += 7) sum += peek(bytes, i);
    na_free(bytes);
  } else if (strcmp(bug, "use-after-free") == 0) {
    na_free(bytes);
    sum += peek(bytes, size / 2);
  } else if (strcmp(bug, "read-past-end") == 0) {
    sum += peek(bytes, size);
    na_free(bytes);
  } else if (strcmp(bug, "uninitialised") == 0) {
    /* Fresh bytes: a new block of the same kind, never written (for realloc: grown in place). */
    na_free(bytes);
    if (strcmp(argv[2], "realloc") == 0) {
      unsigned char *first = na_malloc(kShrunk);
      memset(first, 3, kShrunk);
      bytes = na_realloc(first, kSmall);
      size = kSmall;
    } else {
      bytes = na_malloc(size);
    }
    if (peek(bytes, size - 1) == 42) puts("42");  /* for realloc: a byte past the 90 kept */
    na_free(bytes);
  } else if (strcmp(bug, "leak") == 0) {
    bytes = NULL;  /* the only pointer to the block */
  } else {
    fprintf(stderr, "memcheck_program: unknown bug %s\n", bug);
    return 2;
  }
  printf("%u\n", sum & 1u);
  return 0;
}
