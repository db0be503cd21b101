// The malloc drop-in: libnodealloc.so defines the C allocation functions, so that
// LD_PRELOAD=libnodealloc.so puts every allocation of an unmodified program on nodealloc, from
// the process's first malloc (made by the dynamic loader's clients before any constructor runs).
// Each function is the C API's body (api/c_api_impl.h), inlined; nothing here has logic of its own.
#include <malloc.h>
#include <stdlib.h>

#include "api/c_api_impl.h"
#include "api/nodealloc.h"

using namespace nodealloc::capi;

#define NODEALLOC_EXPORT extern "C" __attribute__((visibility("default")))

NODEALLOC_EXPORT void* malloc(size_t size) noexcept { NODEALLOC_RECORD_CALLER(); return malloc_impl(size); }
NODEALLOC_EXPORT void free(void* block) noexcept { NODEALLOC_RECORD_CALLER(); free_impl(block); }
NODEALLOC_EXPORT void* calloc(size_t count, size_t size) noexcept { NODEALLOC_RECORD_CALLER(); return calloc_impl(count, size); }
NODEALLOC_EXPORT void* realloc(void* block, size_t size) noexcept { NODEALLOC_RECORD_CALLER(); return realloc_impl(block, size); }
NODEALLOC_EXPORT void* reallocarray(void* block, size_t count, size_t size) noexcept { NODEALLOC_RECORD_CALLER();
  return reallocarray_impl(block, count, size);
}
NODEALLOC_EXPORT void* memalign(size_t alignment, size_t size) noexcept { NODEALLOC_RECORD_CALLER();
  return memalign_impl(alignment, size);
}
NODEALLOC_EXPORT void* aligned_alloc(size_t alignment, size_t size) noexcept { NODEALLOC_RECORD_CALLER();
  if (NODEALLOC_FAULT(aligned_alloc_unaligned)) return malloc_impl(size);
  return memalign_impl(alignment, size);
}
NODEALLOC_EXPORT int posix_memalign(void** result, size_t alignment, size_t size) noexcept { NODEALLOC_RECORD_CALLER();
  return posix_memalign_impl(result, alignment, size);
}
NODEALLOC_EXPORT void* valloc(size_t size) noexcept { NODEALLOC_RECORD_CALLER(); return valloc_impl(size); }
NODEALLOC_EXPORT void* pvalloc(size_t size) noexcept { NODEALLOC_RECORD_CALLER(); return pvalloc_impl(size); }
NODEALLOC_EXPORT void free_sized(void* block, size_t size) noexcept {
  NODEALLOC_RECORD_CALLER();
  sized_free_impl(block, size, 0, nodealloc::Family::kMalloc);
}
NODEALLOC_EXPORT void free_aligned_sized(void* block, size_t alignment, size_t size) noexcept {
  NODEALLOC_RECORD_CALLER();
  sized_free_impl(block, size, alignment, nodealloc::Family::kMalloc);
}
NODEALLOC_EXPORT int mallopt(int parameter, int value) noexcept { return mallopt_impl(parameter, value); }
// glibc's heap reports, with nodealloc's figures (api/heap_reports.cc).
NODEALLOC_EXPORT struct mallinfo2 mallinfo2() noexcept { return na_mallinfo2(); }
NODEALLOC_EXPORT struct mallinfo mallinfo() noexcept {
  const struct mallinfo2 wide = na_mallinfo2();  // truncated to int, as glibc's mallinfo does
  struct mallinfo info = {};
  info.arena = static_cast<int>(wide.arena);
  info.ordblks = static_cast<int>(wide.ordblks);
  info.smblks = static_cast<int>(wide.smblks);
  info.hblks = static_cast<int>(wide.hblks);
  info.hblkhd = static_cast<int>(wide.hblkhd);
  info.usmblks = static_cast<int>(wide.usmblks);
  info.fsmblks = static_cast<int>(wide.fsmblks);
  info.uordblks = static_cast<int>(wide.uordblks);
  info.fordblks = static_cast<int>(wide.fordblks);
  info.keepcost = static_cast<int>(wide.keepcost);
  return info;
}
NODEALLOC_EXPORT void malloc_stats() noexcept { na_malloc_stats(); }
NODEALLOC_EXPORT int malloc_info(int options, FILE* stream) noexcept { return na_malloc_info(options, stream); }
NODEALLOC_EXPORT size_t malloc_usable_size(void* block) noexcept { NODEALLOC_RECORD_CALLER(); return usable_size_impl(block); }
// glibc-internal names some programs and libraries call directly.
NODEALLOC_EXPORT void cfree(void* block) noexcept { NODEALLOC_RECORD_CALLER(); free_impl(block); }
NODEALLOC_EXPORT int malloc_trim(size_t) noexcept { NODEALLOC_RECORD_CALLER();
  na_release_free_memory();
  return 1;
}
