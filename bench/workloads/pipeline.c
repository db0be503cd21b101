/* A producer/consumer pipeline: one thread allocates and fills messages, a second reads and frees
   them, as a network reader hands requests to a worker. Every block is freed by a thread other than
   the one that allocated it, so this is the price of a remote free (and of memory piling up in the
   freeing thread's cache, or returned to its owner). The queue is a bounded single-producer,
   single-consumer ring of 4096 slots; a full or empty ring yields, rather than spins, because the
   machine may have fewer free cores than threads.

     pipeline [messages]   (default 6000000) */
#include "workload.h"  /* first: it defines _GNU_SOURCE */

#include <sched.h>
#include <stdatomic.h>

enum { kRingSlots = 4096 };

static struct block ring[kRingSlots];
static atomic_size_t produced, consumed;  /* counts only grow; slot = count % kRingSlots */
static long messages;
static uint64_t consumer_sum;

static void *consume(void *unused) {
  (void)unused;
  uint64_t sum = 0;
  for (long n = 0; n < messages; ++n) {
    while (atomic_load_explicit(&produced, memory_order_acquire) == (size_t)n) sched_yield();
    const struct block message = ring[n % kRingSlots];
    atomic_store_explicit(&consumed, (size_t)n + 1, memory_order_release);
    sum += free_block(message);
  }
  consumer_sum = sum;
  return NULL;
}

int main(int argc, char **argv) {
  messages = workload_size(argc, argv, 6000000);
  pthread_t consumer;
  start_thread(&consumer, consume, NULL);
  uint64_t random = seed_for(0);
  for (long n = 0; n < messages; ++n) {
    /* Messages are small: 16 B to 1 KiB. */
    const struct block message = new_block(16 + (size_t)(next_random(&random) % 1009), (uint64_t)n);
    while ((size_t)n - atomic_load_explicit(&consumed, memory_order_acquire) >= kRingSlots) sched_yield();
    ring[n % kRingSlots] = message;
    atomic_store_explicit(&produced, (size_t)n + 1, memory_order_release);
  }
  pthread_join(consumer, NULL);
  print_checksum(consumer_sum);
  return 0;
}
