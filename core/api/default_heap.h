// The process-wide heap behind the C API and the malloc override: one Allocator, created on the
// first allocation of the process (before constructors run, when preloaded) and never destroyed
// (frees may come after exit handlers and static destructors), and one ThreadCache per thread.
//
// The thread's cache pointer is initial-exec TLS: one %fs-relative load, no __tls_get_addr call,
// no allocation. A pthread key's destructor releases the cache at thread exit. fork() is handled
// by pthread_atfork handlers that hold every allocator lock across the fork.
#pragma once

#include "heap/allocator.h"

#include <atomic>
#include <new>

namespace nodealloc {

namespace detail {
// constinit: no TLS init function, no guard, on the fast path.
extern constinit thread_local ThreadCache* current_thread_cache
    __attribute__((tls_model("initial-exec")));
extern std::atomic<Allocator*> default_heap;
extern unsigned char default_heap_storage[];
ThreadCache* claim_current_thread_cache() noexcept;
Allocator& create_default_heap() noexcept;
}  // namespace detail

// The process-wide allocator, created on first use.
inline Allocator& default_allocator() noexcept {
  Allocator* heap = detail::default_heap.load(std::memory_order_acquire);
  if (heap != nullptr) [[likely]] return *heap;
  return detail::create_default_heap();
}

// The process-wide allocator, for a thread that has its cache: the heap was created before any
// cache was claimed (and that happened-before through claim_cache's lock), so no check and no
// load are needed; the heap's address is a link-time constant.
inline Allocator& default_allocator_of_cache_holder() noexcept {
  return *std::launder(reinterpret_cast<Allocator*>(detail::default_heap_storage));
}

// The calling thread's cache, or nullptr when none can be had (out of memory).
inline ThreadCache* current_cache() noexcept {
  ThreadCache* cache = detail::current_thread_cache;
  if (cache != nullptr) [[likely]] return cache;
  return detail::claim_current_thread_cache();
}

}  // namespace nodealloc
