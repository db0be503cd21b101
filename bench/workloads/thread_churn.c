/* Short-lived threads: a pool-less server or a parallel loop that starts a thread per task. Each
   task thread allocates 200 blocks of mixed sizes, frees three quarters of them in random order,
   and hands the rest to the main thread, which frees them after joining it: memory of a thread
   that has exited, freed by another. Two task threads run at a time, created and joined in a loop,
   so what this measures is mostly what a thread's first malloc and its exit cost.

     thread_churn [pairs of threads]   (default 6000) */
#include "workload.h"

enum { kBlocksPerTask = 200, kHandedBack = kBlocksPerTask / 4 };

struct task {
  uint64_t seed;
  uint64_t sum;
  struct block handed_back[kHandedBack];
};

static void *run_task(void *argument) {
  struct task *task = argument;
  uint64_t random = task->seed;
  struct block block[kBlocksPerTask];
  for (unsigned i = 0; i < kBlocksPerTask; ++i) block[i] = new_block(mixed_size(&random), i);
  /* A random order (Fisher-Yates), so the frees do not simply undo the mallocs. */
  for (unsigned i = kBlocksPerTask - 1; i > 0; --i) {
    const unsigned j = (unsigned)(next_random(&random) % (i + 1));
    const struct block swapped = block[i];
    block[i] = block[j];
    block[j] = swapped;
  }
  for (unsigned i = 0; i < kBlocksPerTask; ++i) {
    if (i < kHandedBack) task->handed_back[i] = block[i];
    else task->sum += free_block(block[i]);
  }
  return NULL;
}

int main(int argc, char **argv) {
  const long pairs = workload_size(argc, argv, 6000);
  uint64_t sum = 0;
  for (long pair = 0; pair < pairs; ++pair) {
    pthread_t thread[2];
    struct task task[2];
    for (unsigned t = 0; t < 2; ++t) {
      task[t] = (struct task){.seed = seed_for((uint64_t)pair * 2 + t)};
      start_thread(&thread[t], run_task, &task[t]);
    }
    for (unsigned t = 0; t < 2; ++t) {
      pthread_join(thread[t], NULL);
      sum += task[t].sum;
      for (unsigned i = 0; i < kHandedBack; ++i) sum += free_block(task[t].handed_back[i]);
    }
  }
  print_checksum(sum);
  return 0;
}
