// The OS platform (platform.h) on Linux: anonymous private mmap, munmap, mremap(MREMAP_MAYMOVE),
// madvise(MADV_DONTNEED), mprotect(PROT_NONE).
// Alignments above the page size are had by mapping size + alignment and trimming both ends.
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>

#include "base/bits.h"
#include "base/fault_injection.h"
#include "platform/platform.h"

namespace nodealloc {
namespace {

class OsPlatform final : public Platform {
 public:
  void* map(std::size_t size, std::size_t alignment) noexcept override {
    const std::size_t page = page_size();
    if (size == 0 || size % page != 0 || !is_power_of_two(alignment) || alignment % page != 0) {
      return nullptr;
    }
    std::uintptr_t span = 0;
    if (!checked_add(size, alignment - page, &span)) return nullptr;
    void* raw = ::mmap(nullptr, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) return nullptr;
    const auto begin = reinterpret_cast<std::uintptr_t>(raw);
    std::uintptr_t aligned = 0;
    checked_align_up(begin, alignment, &aligned);  // cannot overflow: the span was mapped
    if (aligned > begin) ::munmap(raw, aligned - begin);
    const std::uintptr_t end = begin + span;
    if (end > aligned + size) ::munmap(reinterpret_cast<void*>(aligned + size), end - aligned - size);
    return reinterpret_cast<void*>(aligned);
  }

  void unmap(void* memory, std::size_t size) noexcept override {
    if (NODEALLOC_FAULT(unmap_keeps_last_page) && size > page_size()) size -= page_size();
    ::munmap(memory, size);
  }

  void* remap(void* memory, std::size_t old_size, std::size_t new_size) noexcept override {
    void* moved = ::mremap(memory, old_size, new_size, MREMAP_MAYMOVE);
    return moved == MAP_FAILED ? nullptr : moved;
  }

  void discard(void* memory, std::size_t size) noexcept override {
    ::madvise(memory, size, MADV_DONTNEED);
  }

  bool protect(void* memory, std::size_t size) noexcept override {
    return ::mprotect(memory, size, PROT_NONE) == 0;
  }
};

}  // namespace

// Neither needs a guard of the C++ runtime (core/meson.build says why core/ uses none): the page
// size is read again by a thread that races the first reader (the same value), and the platform
// is constant-initialised.
std::size_t page_size() noexcept {
  static std::atomic<std::size_t> cached{0};
  std::size_t size = cached.load(std::memory_order_relaxed);
  if (size == 0) [[unlikely]] {
    size = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
    cached.store(size, std::memory_order_relaxed);
  }
  return size;
}

Platform& os_platform() noexcept {
  static constinit OsPlatform platform;
  return platform;
}

}  // namespace nodealloc
