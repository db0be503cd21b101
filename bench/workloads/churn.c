/* One thread, many short-lived small blocks among some long-lived ones: the shape of a parser, a
   compiler pass or a request handler. Each step allocates a burst of 1-32 blocks of mixed sizes and
   frees it, newest first or oldest first (both orders are common, and they stress a free list
   differently); every fourth step also replaces one of 4096 long-lived blocks, so the heap is
   never empty and freed memory sits between blocks still in use.

     churn [steps]   (default 800000) */
#include "workload.h"

enum { kLongLived = 4096, kMaxBurst = 32 };

int main(int argc, char **argv) {
  const long steps = workload_size(argc, argv, 800000);
  uint64_t random = seed_for(0), sum = 0;
  struct block kept[kLongLived];
  for (unsigned i = 0; i < kLongLived; ++i) kept[i] = new_block(mixed_size(&random), i);
  struct block burst[kMaxBurst];
  for (long step = 0; step < steps; ++step) {
    const unsigned count = 1 + (unsigned)(next_random(&random) % kMaxBurst);
    for (unsigned i = 0; i < count; ++i) burst[i] = new_block(mixed_size(&random), (uint64_t)step + i);
    const int newest_first = (step & 1) != 0;
    for (unsigned j = 0; j < count; ++j) sum += free_block(burst[newest_first ? count - 1 - j : j]);
    if (step % 4 == 0) {
      const unsigned i = (unsigned)(next_random(&random) % kLongLived);
      sum += free_block(kept[i]);
      kept[i] = new_block(mixed_size(&random), (uint64_t)step);
    }
  }
  for (unsigned i = 0; i < kLongLived; ++i) sum += free_block(kept[i]);
  print_checksum(sum);
  return 0;
}
