// The C API (nodealloc.h) over the process-wide heap, with glibc 2.36's answers to odd requests.
#include <errno.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>

#include "api/default_heap.h"
#include "api/nodealloc.h"
#include "platform/platform.h"

using namespace nodealloc;

namespace {

void* enomem_if_null(void* block) {
  if (block == nullptr) errno = ENOMEM;
  return block;
}

// glibc's memalign: an alignment above half the address space is EINVAL; one below 16 is
// malloc's; one that is not a power of two is rounded up to the next.
void* memalign_like_glibc(std::size_t alignment, std::size_t size) {
  if (alignment > std::numeric_limits<std::size_t>::max() / 2 + 1) {
    errno = EINVAL;
    return nullptr;
  }
  if (alignment <= kMinAlignment) return na_malloc(size);
  if (!is_power_of_two(alignment)) alignment = std::size_t{1} << (64 - __builtin_clzl(alignment));
  ThreadCache* cache = current_cache();
  if (cache == nullptr) return enomem_if_null(nullptr);
  return enomem_if_null(default_allocator().allocate_aligned(*cache, size, alignment));
}

}  // namespace

extern "C" {

void* na_malloc(size_t size) {
  ThreadCache* cache = current_cache();
  if (cache == nullptr) [[unlikely]] return enomem_if_null(nullptr);
  void* block = default_allocator().allocate(*cache, size);
  if (block == nullptr) [[unlikely]] errno = ENOMEM;
  return block;
}

void na_free(void* block) {
  if (block == nullptr) return;
  ThreadCache* cache = current_cache();
  if (cache == nullptr) [[unlikely]] return;  // no cache can be had: the block stays allocated
  default_allocator().deallocate(*cache, block);
}

void* na_calloc(size_t count, size_t size) {
  ThreadCache* cache = current_cache();
  if (cache == nullptr) return enomem_if_null(nullptr);
  return enomem_if_null(default_allocator().allocate_zeroed(*cache, count, size));
}

void* na_realloc(void* block, size_t size) {
  if (block != nullptr && size == 0) {
    na_free(block);
    return nullptr;
  }
  ThreadCache* cache = current_cache();
  if (cache == nullptr) return enomem_if_null(nullptr);
  return enomem_if_null(default_allocator().reallocate(*cache, block, size));
}

void* na_reallocarray(void* block, size_t count, size_t size) {
  std::size_t bytes = 0;
  if (__builtin_mul_overflow(count, size, &bytes)) return enomem_if_null(nullptr);
  return na_realloc(block, bytes);
}

void* na_memalign(size_t alignment, size_t size) { return memalign_like_glibc(alignment, size); }

// glibc 2.36's aligned_alloc is memalign: no check that size is a multiple of the alignment.
void* na_aligned_alloc(size_t alignment, size_t size) { return memalign_like_glibc(alignment, size); }

int na_posix_memalign(void** result, size_t alignment, size_t size) {
  if (alignment % sizeof(void*) != 0 || !is_power_of_two(alignment)) return EINVAL;
  const int saved = errno;
  void* block = memalign_like_glibc(alignment, size);
  errno = saved;
  if (block == nullptr) return ENOMEM;
  *result = block;
  return 0;
}

void* na_valloc(size_t size) { return memalign_like_glibc(page_size(), size); }

void* na_pvalloc(size_t size) {
  const std::size_t page = page_size();
  std::uintptr_t rounded = 0;
  if (!checked_align_up(size == 0 ? page : size, page, &rounded)) return enomem_if_null(nullptr);
  return memalign_like_glibc(page, rounded);
}

size_t na_usable_size(const void* block) {
  return block == nullptr ? 0 : default_allocator().usable_size(block);
}

void na_release_free_memory(void) {
  if (ThreadCache* cache = detail::current_thread_cache) cache->flush_all();
  default_allocator().release_free_memory();
}

void na_print_statistics(void) {
  const Statistics stats = default_allocator().statistics();
  char line[160];
  int length = std::snprintf(line, sizeof line,
                             "nodealloc: in use %zu B, mapped %zu B, dirty %zu B, large blocks %zu\n",
                             stats.bytes_in_use, stats.bytes_mapped, stats.bytes_dirty,
                             stats.live_large_blocks);
  std::fwrite(line, 1, static_cast<std::size_t>(length), stderr);
  for (unsigned c = 0; c < kClassCount; ++c) {
    if (stats.slabs[c] == 0) continue;
    length = std::snprintf(line, sizeof line, "nodealloc:   class %2u (%5u B): %zu live, %zu slabs\n", c,
                           size_class(c).usable, stats.live_blocks[c], stats.slabs[c]);
    std::fwrite(line, 1, static_cast<std::size_t>(length), stderr);
  }
}

}  // extern "C"
