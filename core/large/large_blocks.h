// Large blocks: requests above the largest size class, or aligned beyond any class, each in a
// mapping of its own that goes back to the OS on free.
//
//   mapping (page-aligned; aligned to `alignment` when that is above a page)
//   +------------------------+-----------------------------------------------------+
//   | page 0: SlabHeader     | data area: padding | back-pointer | block | tail    |
//   +------------------------+-----------------------------------------------------+
//
//   with kLargeGuardPages (full preset): the block ends against an inaccessible guard page
//   +------------------------+-------------------------------------------+----------+
//   | page 0: SlabHeader     | padding | back-pointer | block | < align  |  guard   |
//   +------------------------+-------------------------------------------+----------+
//
// The header is the same 16-word header slabs use, with class kLargeClass, and the block carries
// the same back-pointer, placed by the Node (a one-buffer SlabNode over the data area): free()
// and the lookup treat every block alike and only then branch on the class. Every live large
// block is on one SlabList (words 7 and 8), under a lock, for statistics, validate() and the
// allocator's destructor. Whether a pointer is a live large block is the hardening layer's
// question (its table of live blocks), not this one's.
#pragma once

#include <cstddef>
#include <mutex>  // std::lock_guard

#include "base/mutex.h"
#include "pool/memory_source.h"
#include "pool/slab.h"
#include "pool/slab_list.h"

namespace nodealloc {

class LargeBlocks {
 public:
  explicit LargeBlocks(MemorySource& source) : source_(source) {}
  ~LargeBlocks();
  LargeBlocks(const LargeBlocks&) = delete;
  LargeBlocks& operator=(const LargeBlocks&) = delete;

  // A whole mapping: what a large block gives back.
  struct Mapping {
    void* address;
    std::size_t length;
  };

  // A block of `size` bytes aligned to `alignment` (a power of two), or nullptr.
  void* allocate(std::size_t size, std::size_t alignment) noexcept;
  // Gives the block's mapping back to the OS.
  void deallocate(SlabHeader* header) noexcept { unmap(retire(header)); }
  // Takes the block off the list of live blocks and returns its mapping, still mapped: the caller
  // unmaps it (unmap) or holds it back (the hardening layer keeps freed addresses unused a while).
  Mapping retire(SlabHeader* header) noexcept;
  // ASan forgets the mapping's poison, and it goes back to the OS.
  void unmap(Mapping mapping) noexcept;

  // Bytes usable from `block` to the end of its mapping (or to its guard page).
  static std::size_t usable_size(const SlabHeader& header, const void* block) noexcept;
  // The bytes of the guard page at the end of each mapping: a page with kLargeGuardPages, else 0.
  static std::size_t guard_bytes() noexcept;

  // Live large blocks and the bytes their mappings take, now and at their peak (malloc_stats
  // reports glibc's "max mmap regions"): read under the lock, so any thread may ask.
  struct Counts {
    std::size_t blocks = 0;
    std::size_t bytes = 0;
    std::size_t peak_blocks = 0;
    std::size_t peak_bytes = 0;
  };
  Counts counts() noexcept {
    std::lock_guard<Mutex> lock(mutex_);
    return counts_;
  }

  template <class Visitor>
  void for_each(Visitor&& visit) {
    std::lock_guard<Mutex> lock(mutex_);
    blocks_.for_each(visit);
  }

  Mutex& mutex() noexcept { return mutex_; }

 private:
  MemorySource& source_;
  Mutex mutex_;
  SlabList blocks_;
  Counts counts_;  // under mutex_
};

}  // namespace nodealloc
