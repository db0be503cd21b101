/* One read of a nodealloc block per run, for MemorySanitizer to judge (run-msan checks its verdict):

     msan_program <case>

   Cases that branch on bytes nobody wrote, which MSan must report as a use of an uninitialised
   value in this program (not inside nodealloc):
     fresh-small, fresh-large, fresh-aligned   a block just allocated
     grown-in-place                            the bytes a realloc that kept the block added
     moved-new                                 the bytes past the old size of a block realloc moved
     grown-new                                 the bytes past the old room of a large block realloc
                                               grew (its mapping grown in the none preset, else
                                               copied)
   Cases that branch only on bytes that are defined, which MSan must pass:
     written        a block written in full
     calloc-small, calloc-large                zeroed blocks (a large one is fresh zero pages,
                                               never written by nodealloc)
     moved-kept     the bytes a moving realloc copied
     grown-kept     the bytes a large block's growth kept

   Before the read it prints "reading" to stdout: a report that comes before that line came from
   inside the allocator, which the runner counts as a failure. Exit status 0 unless the arguments
   are wrong or the block could not be had. */
#include <stdio.h>
#include <string.h>

#include "api/nodealloc.h"

enum { kSmall = 100, kLarge = (1 << 20) + 100 };

/* Branches on the byte, so MSan checks it here (a copy alone would not be reported). */
__attribute__((noinline)) static int branch_on(const unsigned char *bytes, size_t offset) {
  printf("reading\n");
  fflush(stdout);
  if (((const volatile unsigned char *)bytes)[offset] == 0x5a) {
    printf("found the byte\n");
    return 1;
  }
  return 0;
}

static void fill(unsigned char *bytes, size_t size) { memset(bytes, 7, size); }

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: msan_program <case> (the comment in msan_program.c lists them)\n");
    return 2;
  }
  const char *name = argv[1];
  unsigned char *bytes = NULL;
  size_t offset = 0;
  if (strcmp(name, "fresh-small") == 0) {
    bytes = na_malloc(kSmall);
    offset = kSmall / 2;
  } else if (strcmp(name, "fresh-large") == 0) {
    bytes = na_malloc(kLarge);
    offset = kLarge / 2;
  } else if (strcmp(name, "fresh-aligned") == 0) {
    bytes = na_aligned_alloc(256, kSmall);
    offset = 1;
  } else if (strcmp(name, "grown-in-place") == 0) {
    /* A large block grown within its mapping stays in place (a slab block's room past its
       requested size is not known in every preset, so a large block is the portable case). */
    unsigned char *first = na_malloc(kLarge);
    if (first == NULL) return 2;
    fill(first, kLarge);
    bytes = na_realloc(first, kLarge + 64);
    if (bytes != first) {
      fprintf(stderr, "msan_program: the realloc moved the block\n");
      return 2;
    }
    offset = kLarge + 32;
  } else if (strcmp(name, "moved-new") == 0 || strcmp(name, "moved-kept") == 0) {
    unsigned char *first = na_malloc(kSmall);
    if (first == NULL) return 2;
    fill(first, kSmall);
    bytes = na_realloc(first, 5000);
    offset = strcmp(name, "moved-new") == 0 ? 4000 : kSmall - 1;
  } else if (strcmp(name, "grown-new") == 0 || strcmp(name, "grown-kept") == 0) {
    unsigned char *first = na_malloc(kLarge);
    if (first == NULL) return 2;
    fill(first, kLarge);
    bytes = na_realloc(first, 3 * kLarge);
    offset = strcmp(name, "grown-new") == 0 ? 2 * kLarge : kLarge - 1;
  } else if (strcmp(name, "written") == 0) {
    bytes = na_malloc(kSmall);
    if (bytes != NULL) fill(bytes, kSmall);
    offset = kSmall - 1;
  } else if (strcmp(name, "calloc-small") == 0) {
    bytes = na_calloc(1, kSmall);
    offset = kSmall / 2;
  } else if (strcmp(name, "calloc-large") == 0) {
    bytes = na_calloc(1, kLarge);
    offset = kLarge / 2;
  } else {
    fprintf(stderr, "msan_program: unknown case %s\n", name);
    return 2;
  }
  if (bytes == NULL) {
    fprintf(stderr, "msan_program: no memory\n");
    return 2;
  }
  int found = branch_on(bytes, offset);
  na_free(bytes);
  return found;  /* 0: no byte is 0x5a */
}
