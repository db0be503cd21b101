// The C API (nodealloc.h): each function is its body in c_api_impl.h.
#include <cstdio>

#include "api/c_api_impl.h"
#include "api/nodealloc.h"

using namespace nodealloc;
using namespace nodealloc::capi;

extern "C" {

void* na_malloc(size_t size) { NODEALLOC_RECORD_CALLER(); return malloc_impl(size); }
void na_free(void* block) { NODEALLOC_RECORD_CALLER(); free_impl(block); }
void* na_calloc(size_t count, size_t size) { NODEALLOC_RECORD_CALLER(); return calloc_impl(count, size); }
void* na_realloc(void* block, size_t size) { NODEALLOC_RECORD_CALLER(); return realloc_impl(block, size); }
void* na_reallocarray(void* block, size_t count, size_t size) { NODEALLOC_RECORD_CALLER(); return reallocarray_impl(block, count, size); }
void* na_memalign(size_t alignment, size_t size) { NODEALLOC_RECORD_CALLER(); return memalign_impl(alignment, size); }
void* na_aligned_alloc(size_t alignment, size_t size) { NODEALLOC_RECORD_CALLER(); return memalign_impl(alignment, size); }
int na_posix_memalign(void** result, size_t alignment, size_t size) { NODEALLOC_RECORD_CALLER();
  return posix_memalign_impl(result, alignment, size);
}
void* na_valloc(size_t size) { NODEALLOC_RECORD_CALLER(); return valloc_impl(size); }
void* na_pvalloc(size_t size) { NODEALLOC_RECORD_CALLER(); return pvalloc_impl(size); }
size_t na_usable_size(const void* block) { NODEALLOC_RECORD_CALLER(); return usable_size_impl(block); }
void na_free_sized(void* block, size_t size) { NODEALLOC_RECORD_CALLER(); sized_free_impl(block, size, 0, Family::kMalloc); }
void na_free_aligned_sized(void* block, size_t alignment, size_t size) {
  NODEALLOC_RECORD_CALLER();
  sized_free_impl(block, size, alignment, Family::kMalloc);
}
int na_mallopt(int parameter, int value) { return mallopt_impl(parameter, value); }

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
