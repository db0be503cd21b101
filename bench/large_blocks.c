/* Large blocks to and from the allocator, as a program that keeps a few big buffers and replaces
   them does: 16 live slots; each round frees one slot, chosen at random, and refills it with a
   block of 64 KiB to 4 MiB, writing one byte per 4 KiB page of it (the page faults of filling a
   buffer, without the cost of filling it). Prints a checksum of bytes it wrote, so no write is
   optimized away and the output is the same under every allocator.

     large_blocks [rounds]   (default 5000)

   Run it under each allocator with LD_PRELOAD and compare CPU time and peak RSS (README's
   "Large blocks" says how the figures there were made). Like alloc_pairs, it links no allocator:
   it must call the malloc the dynamic linker binds. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

enum { kSlots = 16, kPage = 4096 };

int main(int argc, char **argv) {
  const long rounds = argc > 1 ? atol(argv[1]) : 5000;
  const size_t min_size = (size_t)64 << 10, max_size = (size_t)4 << 20;
  unsigned char *slot[kSlots] = {0};
  uint64_t random = 88172645463325252ull, sum = 0;
  for (long round = 0; round < rounds; ++round) {
    random ^= random << 13;  /* xorshift64: the same sizes in every run and under every allocator */
    random ^= random >> 7;
    random ^= random << 17;
    const unsigned i = (unsigned)(random % kSlots);
    const size_t size = min_size + (size_t)(random >> 20) % (max_size - min_size);
    free(slot[i]);
    slot[i] = malloc(size);
    if (slot[i] == NULL) {
      fprintf(stderr, "large_blocks: malloc(%zu) failed\n", size);
      return 1;
    }
    for (size_t offset = 0; offset < size; offset += kPage) slot[i][offset] = (unsigned char)round;
    /* A byte the loop wrote (the first of the middle page): any other byte is whatever the
       allocator's memory held, and the checksum would differ between allocators. */
    sum += slot[i][size / 2 / kPage * kPage];
  }
  for (unsigned i = 0; i < kSlots; ++i) free(slot[i]);
  printf("%llu\n", (unsigned long long)sum);
  return 0;
}
