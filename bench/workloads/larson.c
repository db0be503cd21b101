/* A larson-style server: 2 threads, each owning a table of 2000 blocks of 8 B to 2 KiB, each round
   replacing 2000 blocks of its table chosen at random; between rounds the threads swap tables, as
   a server hands its connections' buffers from one worker to another. So about half of all frees
   are of blocks another thread allocated, the sizes vary, and the heap stays about the same size:
   what lives is always about 2 x 2000 blocks. The rounds are synchronized by a barrier so that
   each thread's sequence of sizes and frees, and with it the checksum, is the same in every run.

     larson [rounds]   (default 1000) */
#include "workload.h"

enum { kThreads = 2, kBlocksPerTable = 2000, kReplacementsPerRound = 2000 };

struct table {
  struct block block[kBlocksPerTable];
};

static struct table tables[kThreads];
static pthread_barrier_t round_done;
static long rounds;

struct worker {
  unsigned id;
  uint64_t sum;
};

static void *serve(void *argument) {
  struct worker *self = argument;
  uint64_t random = seed_for(self->id);
  for (long round = 0; round < rounds; ++round) {
    /* Round r works on table (id + r) % 2: the tables change hands every round. */
    struct table *table = &tables[(self->id + (unsigned)round) % kThreads];
    for (unsigned n = 0; n < kReplacementsPerRound; ++n) {
      const uint64_t r = next_random(&random);
      const unsigned i = (unsigned)(r % kBlocksPerTable);
      self->sum += free_block(table->block[i]);
      table->block[i] = new_block(8 + (size_t)(r >> 32) % 2041, r);
    }
    pthread_barrier_wait(&round_done);
  }
  return NULL;
}

int main(int argc, char **argv) {
  rounds = workload_size(argc, argv, 1000);
  uint64_t random = seed_for(kThreads);
  for (unsigned t = 0; t < kThreads; ++t)
    for (unsigned i = 0; i < kBlocksPerTable; ++i)
      tables[t].block[i] = new_block(8 + (size_t)(next_random(&random) % 2041), i);
  pthread_barrier_init(&round_done, NULL, kThreads);
  pthread_t thread[kThreads];
  struct worker worker[kThreads];
  for (unsigned t = 0; t < kThreads; ++t) {
    worker[t] = (struct worker){t, 0};
    start_thread(&thread[t], serve, &worker[t]);
  }
  uint64_t sum = 0;
  for (unsigned t = 0; t < kThreads; ++t) {
    pthread_join(thread[t], NULL);
    sum += worker[t].sum;
  }
  for (unsigned t = 0; t < kThreads; ++t)
    for (unsigned i = 0; i < kBlocksPerTable; ++i) sum += free_block(tables[t].block[i]);
  print_checksum(sum);
  return 0;
}
