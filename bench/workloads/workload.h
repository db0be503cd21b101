/* What the whole-program workloads of tools/bench-programs share: a seeded PRNG, the size mix,
   writing and reading back a block, and the argument handling.

   Every workload is a plain C program that links no allocator: tools/bench-programs runs it under
   each allocator with LD_PRELOAD, so it must call whatever malloc the dynamic linker binds. Its
   output must be the same under every allocator, so everything it prints comes from a fixed-seed
   PRNG and from the bytes it wrote into its blocks, never from addresses or timings. Each block
   is written where it is used (one byte a cache line, and its last byte) and read back just before
   it is freed: an allocator that hands a block out twice or moves it wrongly changes the checksum,
   and no compiler can drop the work. The header is static inline only, so each program is one
   translation unit with no library of its own. */
#ifndef NODEALLOC_BENCH_WORKLOAD_H
#define NODEALLOC_BENCH_WORKLOAD_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE  /* dladdr */
#endif
#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { kCacheLine = 64 };

/* xorshift64*: small, fast, and the same stream on every run; each thread seeds its own. */
static inline uint64_t next_random(uint64_t *state) {
  *state ^= *state >> 12;
  *state ^= *state << 25;
  *state ^= *state >> 27;
  return *state * 2685821657736338717ull;
}

static inline uint64_t seed_for(uint64_t stream) { return 0x9E3779B97F4A7C15ull * (stream + 1); }

/* The request sizes of a typical C or C++ program: mostly small objects, some buffers, a few pages.
   70% 8-64 B, 20% 65-512 B, 8% 513 B-4 KiB, 2% 4-32 KiB. */
static inline size_t mixed_size(uint64_t *state) {
  const uint64_t r = next_random(state);
  const unsigned bucket = (unsigned)(r % 100);
  const uint64_t spread = r >> 8;
  if (bucket < 70) return 8 + spread % 57;
  if (bucket < 90) return 65 + spread % 448;
  if (bucket < 98) return 513 + spread % 3584;
  return 4097 + spread % 28672;
}

static inline unsigned char *allocate(size_t size) {
  unsigned char *block = malloc(size);
  if (block == NULL) {
    fprintf(stderr, "workload: malloc(%zu) failed\n", size);
    exit(1);
  }
  return block;
}

/* Writes a byte derived from tag into every cache line of the block and into its last byte. */
static inline void write_block(unsigned char *block, size_t size, uint64_t tag) {
  for (size_t offset = 0; offset < size; offset += kCacheLine)
    block[offset] = (unsigned char)(tag + offset / kCacheLine);
  block[size - 1] = (unsigned char)(tag >> 8);
}

/* Reads back what write_block wrote: the block's share of the checksum. */
static inline uint64_t read_block(const unsigned char *block, size_t size) {
  uint64_t sum = 0;
  for (size_t offset = 0; offset < size; offset += kCacheLine) sum += block[offset];
  return sum * 31 + block[size - 1];
}

/* A block and its size, as the workloads keep them. */
struct block {
  unsigned char *bytes;
  size_t size;
};

static inline struct block new_block(size_t size, uint64_t tag) {
  struct block block = {allocate(size), size};
  write_block(block.bytes, size, tag);
  return block;
}

/* Reads the block back and frees it: its share of the checksum. */
static inline uint64_t free_block(struct block block) {
  const uint64_t sum = read_block(block.bytes, block.size);
  free(block.bytes);
  return sum;
}

/* The workload's one argument (its size, default_size when absent), or, for
   "--which-malloc", the file malloc is bound to, printed and exit: the runner checks with it that
   a preload took effect, since the loader only warns about a library it cannot load. */
static inline long workload_size(int argc, char **argv, long default_size) {
  if (argc > 1 && strcmp(argv[1], "--which-malloc") == 0) {
    Dl_info info;
    void *(*bound)(size_t) = malloc;
    if (dladdr((void *)bound, &info) == 0 || info.dli_fname == NULL) {
      puts("?");
      exit(1);
    }
    puts(info.dli_fname);
    exit(0);
  }
  const long size = argc > 1 ? atol(argv[1]) : default_size;
  if (size <= 0) {
    fprintf(stderr, "usage: %s [size > 0] | --which-malloc\n", argv[0]);
    exit(2);
  }
  return size;
}

static inline void start_thread(pthread_t *thread, void *(*body)(void *), void *argument) {
  if (pthread_create(thread, NULL, body, argument) != 0) {
    fputs("workload: pthread_create failed\n", stderr);
    exit(1);
  }
}

static inline void print_checksum(uint64_t sum) { printf("checksum %016llx\n", (unsigned long long)sum); }

#endif
