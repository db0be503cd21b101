// The bodies of the C API, inline, so that both the na_* functions (c_api.cc) and the malloc
// override (override/) compile them into their own functions: a call to malloc in a preloaded
// program then runs the fast path without a further call through the PLT to na_malloc.
//
// glibc 2.36's answers are encoded here, once: see nodealloc.h.
#pragma once

#include <errno.h>

#include <cstddef>
#include <cstdint>
#include <limits>

#include "api/default_heap.h"
#include "base/fault_injection.h"
#include "platform/platform.h"

namespace nodealloc::capi {

[[gnu::cold]] inline void* out_of_memory() {
  errno = ENOMEM;
  return nullptr;
}

// `family` says which calls will give the block back (free, or the delete of the override's
// operator new / new[]): kFamilyCheck checks it.
inline void* malloc_impl(std::size_t size, Family family = Family::kMalloc) {
  ThreadCache* cache = current_cache();
  if (cache == nullptr) [[unlikely]] return out_of_memory();
  void* block = default_allocator_of_cache_holder().allocate(*cache, size, family);
  if (block == nullptr) [[unlikely]] return out_of_memory();
  return block;
}

inline void free_impl(void* block, Family family = Family::kMalloc) {
  if (block == nullptr) return;
  ThreadCache* cache = current_cache();
  if (cache == nullptr) [[unlikely]] return;  // no cache can be had: the block stays allocated
  default_allocator_of_cache_holder().deallocate(*cache, block, family);
}

// Sized operator delete: `size` (and `alignment`, 0 for none) as the caller says it allocated.
inline void sized_free_impl(void* block, std::size_t size, std::size_t alignment, Family family) {
  if (block == nullptr) return;
  ThreadCache* cache = current_cache();
  if (cache == nullptr) [[unlikely]] return;
  default_allocator_of_cache_holder().deallocate_sized(*cache, block, size, alignment, family);
}

inline void* calloc_impl(std::size_t count, std::size_t size) {
  ThreadCache* cache = current_cache();
  if (cache == nullptr) return out_of_memory();
  void* block = default_allocator_of_cache_holder().allocate_zeroed(*cache, count, size);
  return block != nullptr ? block : out_of_memory();
}

inline void* realloc_impl(void* block, std::size_t size) {
  if (block != nullptr && size == 0) {  // glibc frees and returns NULL
    free_impl(block);
    return nullptr;
  }
  ThreadCache* cache = current_cache();
  if (cache == nullptr) return out_of_memory();
  void* moved = default_allocator_of_cache_holder().reallocate(*cache, block, size);
  return moved != nullptr ? moved : out_of_memory();
}

inline void* reallocarray_impl(void* block, std::size_t count, std::size_t size) {
  std::size_t bytes = 0;
  if (__builtin_mul_overflow(count, size, &bytes) && !NODEALLOC_FAULT(reallocarray_wraps)) return out_of_memory();
  return realloc_impl(block, bytes);
}

// glibc's memalign (and 2.36's aligned_alloc, which is memalign): an alignment above half the
// address space is EINVAL; one up to 16 is malloc's; one that is not a power of two is rounded up.
inline void* memalign_impl(std::size_t alignment, std::size_t size, Family family = Family::kMalloc) {
  if (alignment > std::numeric_limits<std::size_t>::max() / 2 + 1) {
    errno = EINVAL;
    return nullptr;
  }
  if (alignment <= kMinAlignment) return malloc_impl(size, family);
  if (!is_power_of_two(alignment)) alignment = std::size_t{1} << (64 - __builtin_clzl(alignment));
  ThreadCache* cache = current_cache();
  if (cache == nullptr) return out_of_memory();
  void* block = default_allocator_of_cache_holder().allocate_aligned(*cache, size, alignment, family);
  return block != nullptr ? block : out_of_memory();
}

inline int posix_memalign_impl(void** result, std::size_t alignment, std::size_t size) {
  if (alignment % sizeof(void*) != 0 || !is_power_of_two(alignment)) return EINVAL;
  const int saved = errno;  // POSIX: errno is left alone
  void* block = memalign_impl(alignment, size);
  errno = saved;
  if (block == nullptr) return ENOMEM;
  *result = block;
  return 0;
}

inline void* valloc_impl(std::size_t size) { return memalign_impl(page_size(), size); }

inline void* pvalloc_impl(std::size_t size) {
  const std::size_t page = page_size();
  std::uintptr_t rounded = 0;
  if (!checked_align_up(size == 0 ? page : size, page, &rounded)) return out_of_memory();
  return memalign_impl(page, rounded);
}

inline std::size_t usable_size_impl(const void* block) {
  return block == nullptr ? 0 : default_allocator().usable_size(block);
}

// glibc 2.36's mallopt answers (malloc/malloc.c, __libc_mallopt; tests/c_api_test.cc compares
// against it): 0 for an M_MXFAST beyond its largest fast bin (80 * sizeof(size_t) / 4 bytes), else
// 1, unknown parameters included. nodealloc has no tunable behind any of them: the value is ignored.
inline int mallopt_impl(int parameter, int value) {
  constexpr int kMxFast = 1;  // M_MXFAST, as <malloc.h> numbers it
  constexpr int kMaxFast = 80 * static_cast<int>(sizeof(std::size_t)) / 4;
  if (parameter == kMxFast) return value >= 0 && value <= kMaxFast ? 1 : 0;
  return 1;
}

}  // namespace nodealloc::capi
