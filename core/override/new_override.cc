// Every replaceable form of operator new and delete, on nodealloc. operator new follows the
// standard: on failure, call the new-handler and try again, and throw std::bad_alloc when there
// is none; the nothrow forms return nullptr instead. new hands out blocks of the family kNew, new[]
// of kNewArray, and each delete gives back its own (kFamilyCheck reports a mismatch); the sized
// deletes pass their size and alignment on (kSizedDeleteCheck).
#include <cstddef>
#include <new>

#include "api/c_api_impl.h"

#define NODEALLOC_EXPORT __attribute__((visibility("default")))

namespace {

using nodealloc::Family;
using nodealloc::capi::free_impl;
using nodealloc::capi::sized_free_impl;

void* allocate_or_handle(std::size_t size, std::size_t alignment, Family family) {
  for (;;) {
    void* block = alignment == 0 ? nodealloc::capi::malloc_impl(size, family)
                                  : nodealloc::capi::memalign_impl(alignment, size, family);
    if (block != nullptr) return block;
    std::new_handler handler = std::get_new_handler();
    if (handler == nullptr) throw std::bad_alloc();
    handler();
  }
}

void* allocate_nothrow(std::size_t size, std::size_t alignment, Family family) noexcept {
  try {
    return allocate_or_handle(size, alignment, family);
  } catch (...) {
    return nullptr;
  }
}

constexpr std::size_t align_of(std::align_val_t alignment) { return static_cast<std::size_t>(alignment); }

constexpr Family kNew = Family::kNew;
constexpr Family kArray = Family::kNewArray;

}  // namespace

NODEALLOC_EXPORT void* operator new(std::size_t size) { NODEALLOC_RECORD_CALLER(); return allocate_or_handle(size, 0, kNew); }
NODEALLOC_EXPORT void* operator new[](std::size_t size) { NODEALLOC_RECORD_CALLER(); return allocate_or_handle(size, 0, kArray); }
NODEALLOC_EXPORT void* operator new(std::size_t size, const std::nothrow_t&) noexcept { NODEALLOC_RECORD_CALLER();
  return allocate_nothrow(size, 0, kNew);
}
NODEALLOC_EXPORT void* operator new[](std::size_t size, const std::nothrow_t&) noexcept { NODEALLOC_RECORD_CALLER();
  return allocate_nothrow(size, 0, kArray);
}
NODEALLOC_EXPORT void* operator new(std::size_t size, std::align_val_t alignment) { NODEALLOC_RECORD_CALLER();
  return allocate_or_handle(size, align_of(alignment), kNew);
}
NODEALLOC_EXPORT void* operator new[](std::size_t size, std::align_val_t alignment) { NODEALLOC_RECORD_CALLER();
  return allocate_or_handle(size, align_of(alignment), kArray);
}
NODEALLOC_EXPORT void* operator new(std::size_t size, std::align_val_t alignment,
                                    const std::nothrow_t&) noexcept { NODEALLOC_RECORD_CALLER();
  return allocate_nothrow(size, align_of(alignment), kNew);
}
NODEALLOC_EXPORT void* operator new[](std::size_t size, std::align_val_t alignment,
                                      const std::nothrow_t&) noexcept { NODEALLOC_RECORD_CALLER();
  return allocate_nothrow(size, align_of(alignment), kArray);
}

NODEALLOC_EXPORT void operator delete(void* block) noexcept { NODEALLOC_RECORD_CALLER(); free_impl(block, kNew); }
NODEALLOC_EXPORT void operator delete[](void* block) noexcept { NODEALLOC_RECORD_CALLER(); free_impl(block, kArray); }
NODEALLOC_EXPORT void operator delete(void* block, const std::nothrow_t&) noexcept { NODEALLOC_RECORD_CALLER(); free_impl(block, kNew); }
NODEALLOC_EXPORT void operator delete[](void* block, const std::nothrow_t&) noexcept { NODEALLOC_RECORD_CALLER(); free_impl(block, kArray); }
NODEALLOC_EXPORT void operator delete(void* block, std::size_t size) noexcept { NODEALLOC_RECORD_CALLER(); sized_free_impl(block, size, 0, kNew); }
NODEALLOC_EXPORT void operator delete[](void* block, std::size_t size) noexcept { NODEALLOC_RECORD_CALLER();
  sized_free_impl(block, size, 0, kArray);
}
NODEALLOC_EXPORT void operator delete(void* block, std::align_val_t) noexcept { NODEALLOC_RECORD_CALLER(); free_impl(block, kNew); }
NODEALLOC_EXPORT void operator delete[](void* block, std::align_val_t) noexcept { NODEALLOC_RECORD_CALLER(); free_impl(block, kArray); }
NODEALLOC_EXPORT void operator delete(void* block, std::size_t size, std::align_val_t alignment) noexcept { NODEALLOC_RECORD_CALLER();
  sized_free_impl(block, size, align_of(alignment), kNew);
}
NODEALLOC_EXPORT void operator delete[](void* block, std::size_t size, std::align_val_t alignment) noexcept { NODEALLOC_RECORD_CALLER();
  sized_free_impl(block, size, align_of(alignment), kArray);
}
NODEALLOC_EXPORT void operator delete(void* block, std::align_val_t, const std::nothrow_t&) noexcept { NODEALLOC_RECORD_CALLER();
  free_impl(block, kNew);
}
NODEALLOC_EXPORT void operator delete[](void* block, std::align_val_t, const std::nothrow_t&) noexcept { NODEALLOC_RECORD_CALLER();
  free_impl(block, kArray);
}
