// Large blocks: requests above the largest size class, or aligned beyond any class, each in a
// mapping of its own that goes back to the OS on free.
//
//   mapping (page-aligned; aligned to `alignment` when that is above a page)
//   +------------------------+-----------------------------------------------------+
//   | page 0: SlabHeader     | data area: padding | back-pointer | block | tail    |
//   +------------------------+-----------------------------------------------------+
//
// The header is the same 16-word header slabs use, with class kLargeClass, and the block carries
// the same back-pointer, placed by the Node's place_block(): free() and the lookup treat every
// block alike and only then branch on the class. Words 7 and 8 link every live large block into
// one list, under a lock, for statistics, validate() and the allocator's destructor. With
// kPointerCheck, a table of live blocks' addresses answers contains() for the pointer check.
#pragma once

#include <cstddef>
#include <mutex>

#include "large/live_table.h"
#include "pool/memory_source.h"
#include "pool/slab.h"

namespace nodealloc {

class LargeBlocks {
 public:
  explicit LargeBlocks(MemorySource& source) : source_(source), live_(source) {}
  ~LargeBlocks();
  LargeBlocks(const LargeBlocks&) = delete;
  LargeBlocks& operator=(const LargeBlocks&) = delete;

  // A block of `size` bytes aligned to `alignment` (a power of two), or nullptr.
  void* allocate(std::size_t size, std::size_t alignment) noexcept;
  void deallocate(SlabHeader* header, void* block) noexcept;

  // Whether `block` is a live large block (kept only with kPointerCheck; else always false).
  bool contains(const void* block) noexcept {
    std::lock_guard<std::mutex> lock(mutex_);
    return live_.contains(reinterpret_cast<std::uintptr_t>(block));
  }

  // Bytes usable from `block` to the end of its mapping.
  static std::size_t usable_size(const SlabHeader& header, const void* block) noexcept;

  template <class Visitor>
  void for_each(Visitor&& visit) {
    std::lock_guard<std::mutex> lock(mutex_);
    for (SlabHeader* h = blocks_; h != nullptr; h = slab::get_ptr<SlabHeader>(*h, header_slot::kFreeLink)) {
      visit(*h);
    }
  }

  std::mutex& mutex() noexcept { return mutex_; }

 private:
  MemorySource& source_;
  std::mutex mutex_;
  SlabHeader* blocks_ = nullptr;
  LiveTable live_;
};

}  // namespace nodealloc
