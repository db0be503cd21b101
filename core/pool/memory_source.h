// MemorySource: the platform, seen through one allocator instance's memory limit.
//
// Every byte an instance maps goes through here, so bytes_mapped() is exact and the limit holds:
// a map() that would take the instance past its limit fails like an OS refusal (nullptr), and
// the allocator answers the request with NULL / ENOMEM.
//
// Kept memory: mappings an instance holds only in case it needs them again (the large blocks'
// mapping cache) register as KeptMemory, and map_trading_kept() asks them to give back as many
// bytes before it maps new ones. The pool maps its chunks so: when a program's slab memory grows,
// large mappings it freed long ago go back to the OS instead of staying resident beside it, and a
// slab request is never refused under the limit for memory the cache holds.
#pragma once

#include <atomic>
#include <cstddef>

#include "platform/platform.h"

namespace nodealloc {

class KeptMemory {
 public:
  // Gives back kept mappings of at least `bytes` in all (or all there are), oldest first.
  virtual void give_back(std::size_t bytes) noexcept = 0;

 protected:
  ~KeptMemory() = default;
};

class MemorySource {
 public:
  MemorySource(Platform& platform, std::size_t limit) : platform_(platform), limit_(limit) {}

  // The instance's kept memory, if any (set once, before the first map_trading_kept()).
  void set_kept_memory(KeptMemory* kept) noexcept { kept_ = kept; }

  void* map(std::size_t size, std::size_t alignment) noexcept {
    if (!charge(size)) return nullptr;
    void* memory = platform_.map(size, alignment);
    if (memory == nullptr) mapped_.fetch_sub(size, std::memory_order_relaxed);
    return memory;
  }

  // map(), after the kept memory gave back `size` bytes.
  void* map_trading_kept(std::size_t size, std::size_t alignment) noexcept {
    if (kept_ != nullptr) kept_->give_back(size);
    return map(size, alignment);
  }

  void unmap(void* memory, std::size_t size) noexcept {
    platform_.unmap(memory, size);
    mapped_.fetch_sub(size, std::memory_order_relaxed);
  }

  // Grows a mapping or a part of one (platform.h's remap), within the limit like map().
  void* remap(void* memory, std::size_t old_size, std::size_t new_size) noexcept {
    const std::size_t growth = new_size - old_size;
    if (!charge(growth)) return nullptr;
    void* moved = platform_.remap(memory, old_size, new_size);
    if (moved == nullptr) mapped_.fetch_sub(growth, std::memory_order_relaxed);
    return moved;
  }

  void discard(void* memory, std::size_t size) noexcept { platform_.discard(memory, size); }
  bool protect(void* memory, std::size_t size) noexcept { return platform_.protect(memory, size); }

  // Holds a whole mapping back as bare address space: its pages go back to the OS and it becomes
  // inaccessible, but stays mapped (and counted in bytes_mapped() and the limit: it is address
  // space the platform gave), so nothing else is placed at its addresses until it is unmapped.
  // False when the OS refuses to protect it; it is then merely discarded.
  bool hold(void* memory, std::size_t size) noexcept {
    platform_.discard(memory, size);
    return platform_.protect(memory, size);
  }

  std::size_t bytes_mapped() const noexcept { return mapped_.load(std::memory_order_relaxed); }
  std::size_t limit() const noexcept { return limit_; }

 private:
  // Counts `bytes` more as mapped, unless that would pass the limit (or overflow).
  bool charge(std::size_t bytes) noexcept {
    const std::size_t before = mapped_.fetch_add(bytes, std::memory_order_relaxed);
    if (before + bytes > limit_ || before + bytes < before) {
      mapped_.fetch_sub(bytes, std::memory_order_relaxed);
      return false;
    }
    return true;
  }

  Platform& platform_;
  KeptMemory* kept_ = nullptr;
  const std::size_t limit_;
  std::atomic<std::size_t> mapped_{0};
};

}  // namespace nodealloc
