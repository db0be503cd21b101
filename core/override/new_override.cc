// Every replaceable form of operator new and delete, on nodealloc. operator new follows the
// standard: on failure, call the new-handler and try again, and throw std::bad_alloc when there
// is none; the nothrow forms return nullptr instead.
#include <cstddef>
#include <new>

#include "api/c_api_impl.h"

#define NODEALLOC_EXPORT __attribute__((visibility("default")))

namespace {

void* allocate_or_handle(std::size_t size, std::size_t alignment) {
  for (;;) {
    void* block = alignment == 0 ? nodealloc::capi::malloc_impl(size)
                                  : nodealloc::capi::memalign_impl(alignment, size);
    if (block != nullptr) return block;
    std::new_handler handler = std::get_new_handler();
    if (handler == nullptr) throw std::bad_alloc();
    handler();
  }
}

void* allocate_nothrow(std::size_t size, std::size_t alignment) noexcept {
  try {
    return allocate_or_handle(size, alignment);
  } catch (...) {
    return nullptr;
  }
}

constexpr std::size_t align_of(std::align_val_t alignment) { return static_cast<std::size_t>(alignment); }

}  // namespace

NODEALLOC_EXPORT void* operator new(std::size_t size) { return allocate_or_handle(size, 0); }
NODEALLOC_EXPORT void* operator new[](std::size_t size) { return allocate_or_handle(size, 0); }
NODEALLOC_EXPORT void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
  return allocate_nothrow(size, 0);
}
NODEALLOC_EXPORT void* operator new[](std::size_t size, const std::nothrow_t&) noexcept {
  return allocate_nothrow(size, 0);
}
NODEALLOC_EXPORT void* operator new(std::size_t size, std::align_val_t alignment) {
  return allocate_or_handle(size, align_of(alignment));
}
NODEALLOC_EXPORT void* operator new[](std::size_t size, std::align_val_t alignment) {
  return allocate_or_handle(size, align_of(alignment));
}
NODEALLOC_EXPORT void* operator new(std::size_t size, std::align_val_t alignment,
                                    const std::nothrow_t&) noexcept {
  return allocate_nothrow(size, align_of(alignment));
}
NODEALLOC_EXPORT void* operator new[](std::size_t size, std::align_val_t alignment,
                                      const std::nothrow_t&) noexcept {
  return allocate_nothrow(size, align_of(alignment));
}

NODEALLOC_EXPORT void operator delete(void* block) noexcept { nodealloc::capi::free_impl(block); }
NODEALLOC_EXPORT void operator delete[](void* block) noexcept { nodealloc::capi::free_impl(block); }
NODEALLOC_EXPORT void operator delete(void* block, const std::nothrow_t&) noexcept { nodealloc::capi::free_impl(block); }
NODEALLOC_EXPORT void operator delete[](void* block, const std::nothrow_t&) noexcept { nodealloc::capi::free_impl(block); }
NODEALLOC_EXPORT void operator delete(void* block, std::size_t) noexcept { nodealloc::capi::free_impl(block); }
NODEALLOC_EXPORT void operator delete[](void* block, std::size_t) noexcept { nodealloc::capi::free_impl(block); }
NODEALLOC_EXPORT void operator delete(void* block, std::align_val_t) noexcept { nodealloc::capi::free_impl(block); }
NODEALLOC_EXPORT void operator delete[](void* block, std::align_val_t) noexcept { nodealloc::capi::free_impl(block); }
NODEALLOC_EXPORT void operator delete(void* block, std::size_t, std::align_val_t) noexcept { nodealloc::capi::free_impl(block); }
NODEALLOC_EXPORT void operator delete[](void* block, std::size_t, std::align_val_t) noexcept { nodealloc::capi::free_impl(block); }
NODEALLOC_EXPORT void operator delete(void* block, std::align_val_t, const std::nothrow_t&) noexcept {
  nodealloc::capi::free_impl(block);
}
NODEALLOC_EXPORT void operator delete[](void* block, std::align_val_t, const std::nothrow_t&) noexcept {
  nodealloc::capi::free_impl(block);
}
