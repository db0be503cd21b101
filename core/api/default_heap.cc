// See default_heap.h.
#include "api/default_heap.h"

#include <pthread.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <new>

#include "api/nodealloc.h"
#include "base/options.h"

namespace nodealloc {
namespace detail {
constinit thread_local ThreadCache* current_thread_cache __attribute__((tls_model("initial-exec"))) = nullptr;
std::atomic<Allocator*> default_heap{nullptr};
alignas(Allocator) unsigned char default_heap_storage[sizeof(Allocator)];
}  // namespace detail

namespace {

using detail::default_heap;
pthread_once_t heap_once = PTHREAD_ONCE_INIT;
pthread_key_t cache_key;

void release_thread_cache(void* cache) {
  detail::current_thread_cache = nullptr;
  default_heap.load(std::memory_order_acquire)->release_cache(static_cast<ThreadCache*>(cache));
}

void before_fork() { default_heap.load(std::memory_order_acquire)->lock_for_fork(); }
void after_fork() { default_heap.load(std::memory_order_acquire)->unlock_after_fork(); }

void print_statistics_at_exit() { na_print_statistics(); }

void create_heap() {
  Allocator* allocator = new (detail::default_heap_storage) Allocator();
  pthread_key_create(&cache_key, release_thread_cache);
  pthread_atfork(before_fork, after_fork, after_fork);
  default_heap.store(allocator, std::memory_order_release);
  // NODEALLOC_STATS=1 is the older spelling of NODEALLOC_OPTIONS=stats=1.
  const char* stats = std::getenv("NODEALLOC_STATS");
  if (options().stats || (stats != nullptr && stats[0] == '1')) std::atexit(print_statistics_at_exit);
}

}  // namespace

Allocator& detail::create_default_heap() noexcept {
  pthread_once(&heap_once, create_heap);
  return *default_heap.load(std::memory_order_acquire);
}

ThreadCache* detail::claim_current_thread_cache() noexcept {
  ThreadCache* cache = default_allocator().claim_cache();
  if (cache == nullptr) return nullptr;
  detail::current_thread_cache = cache;
  pthread_setspecific(cache_key, cache);
  return cache;
}

}  // namespace nodealloc
