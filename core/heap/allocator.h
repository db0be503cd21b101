// Allocator: one heap instance, the C++ API that tests, fuzzers and properties drive.
//
//   Allocator ── Pool (chunks → slabs) ── MemorySource (limit) ── Platform (OS or a test's)
//       │ │ └── LargeBlocks (one mapping each)
//       │ └──── Hardening (the mitigations the preset compiles in; nothing when it is none)
//       └────── ThreadCache × n (claimed by threads; one thread may switch between several)
//
// Every block, small or large, has a back-pointer to a 16-word header, so deallocate() and the
// lookup start the same way, with the Node's lookup (SlabNode, pool/slab.h): back-pointer,
// header, class. Then a small block goes to the calling thread's cache (any slab's blocks may
// sit in any cache); a large one goes back to the OS. The hardening layer is called at fixed
// points on the way (hardening/hardening.h has the table), with the family of the call (malloc,
// new, new[]) that handed a block out or gives it back.
//
// Answers for impossible requests: allocate() returns nullptr (the C API turns that into ENOMEM);
// alignments that are not powers of two are refused. The instance never aborts on a request.
//
// Thread safety: any thread may call anything with a cache it has claimed, and may free blocks of
// any cache. statistics() and validate() are exact when no other thread is inside the allocator
// (they take the pool and large-block locks, but thread caches are lock-free and owner-private).
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <mutex>  // std::lock_guard

#include "base/mitigations.h"
#include "base/mutex.h"
#include "base/report.h"
#include "base/sanitizer.h"
#include "cache/thread_cache.h"
#include "hardening/hardening.h"
#include "large/large_blocks.h"
#include "platform/platform.h"
#include "pool/memory_source.h"
#include "pool/pool.h"
#include "pool/slab.h"
#include "size_class/size_classes.h"

namespace nodealloc {

struct AllocatorOptions {
  Platform* platform = nullptr;  // nullptr: the OS
  std::size_t memory_limit = std::numeric_limits<std::size_t>::max();
  // Freed large mappings kept for reuse, in bytes (large/large_blocks.h: its bounds, and why the
  // hardened presets keep none by default); 0 gives every one back to the OS at once.
  std::size_t large_cache_bytes = kDefaultLargeCacheBytes;
};

struct Statistics {
  std::size_t bytes_in_use = 0;   // bytes live blocks occupy (room_of): their usable sizes, unless
                                  // kCanaries makes usable_size the requested size
  std::size_t bytes_mapped = 0;   // everything mapped from the platform: chunks, large, caches
  std::size_t bytes_dirty = 0;    // free slab pages still backed (pool.h's policy)
  std::size_t live_blocks[kClassCount] = {};
  std::size_t live_large_blocks = 0;
  std::size_t slabs[kClassCount] = {};
};

// What the heap holds, safe to ask while other threads allocate and free (mallinfo2,
// malloc_stats, malloc_info): every figure is read from counters other threads write atomically
// or under the lock it is read under, never by walking a list another thread changes. Figures of
// a moving heap are each a moment's, not one moment's all together.
struct HeapUsage {
  std::size_t chunk_bytes = 0;        // chunks mapped: the slabs' memory, free pages included
  std::size_t slab_bytes_out = 0;     // blocks out of their slabs: live, or cached by a thread (or,
                                      // in full, quarantined), at their class's usable size
  std::size_t free_slab_blocks = 0;   // blocks of in-use slabs that are free in their slab
  std::size_t large_blocks = 0;       // live large blocks
  std::size_t large_bytes = 0;        // their mappings
  std::size_t peak_large_blocks = 0;  // the most at once, and their bytes
  std::size_t peak_large_bytes = 0;
  std::size_t dirty_bytes = 0;        // free slab pages still backed: a trim gives them back
  std::size_t kept_large_mappings = 0;  // freed large mappings kept for reuse (none preset): a
  std::size_t kept_large_bytes = 0;     // trim unmaps them, and their bytes
  std::size_t bytes_mapped = 0;       // everything: chunks, large blocks, kept mappings, caches, tables
};

struct ValidationResult {
  bool ok = true;
  char message[192] = {};
  explicit operator bool() const { return ok; }
};

// What the pure lookup of a live block finds, without writing anything.
struct BlockInfo {
  SlabHeader* header = nullptr;  // from the back-pointer
  std::byte* node = nullptr;     // the header's node slot: the data area the block is in
  unsigned class_index = kNoClass;  // kNoClass for large blocks
};

class Allocator {
 public:
  explicit Allocator(const AllocatorOptions& options = {});
  ~Allocator();
  Allocator(const Allocator&) = delete;
  Allocator& operator=(const Allocator&) = delete;

  // A thread cache for the calling thread (a dormant one if any, with its slabs), or nullptr.
  ThreadCache* claim_cache() noexcept;
  // Flushes the cache and makes it dormant. The caller stops using it.
  void release_cache(ThreadCache* cache) noexcept;

  // `family` is the family of calls that will give the block back (kFamilyCheck checks it).
  void* allocate(ThreadCache& cache, std::size_t size, Family family = Family::kMalloc) noexcept {
    const unsigned class_index = canary::class_for_request(size);
    if (class_index != kNoClass) [[likely]] {
      void* block = cache.allocate(class_index);
      if (block != nullptr) [[likely]] hand_out(block, size, size_class(class_index).usable, family);
      return block;
    }
    return allocate_large(size, kMinAlignment, family);
  }

  // `alignment` must be a power of two; anything else gives nullptr.
  void* allocate_aligned(ThreadCache& cache, std::size_t size, std::size_t alignment,
                         Family family = Family::kMalloc) noexcept;
  // count * size zeroed bytes; nullptr when the product overflows.
  void* allocate_zeroed(ThreadCache& cache, std::size_t count, std::size_t size) noexcept;
  // As C realloc, minus realloc(p, 0) (the C API decides that): nullptr keeps `block` intact.
  void* reallocate(ThreadCache& cache, void* block, std::size_t size) noexcept;

  // `block` must be live: anything else is reported and aborts in hardened builds
  // (base/mitigations.h), and is undefined behaviour without them. The block's header comes
  // from the Node's lookup: its back-pointer.
  // `family` is the family of the call that gives it back: free, delete or delete[].
  void deallocate(ThreadCache& cache, void* block, Family family = Family::kMalloc) noexcept {
    hardening_.check_pointer(block);
    release(cache, block, family);
  }

  // Sized operator delete: deallocate, after kSizedDeleteCheck has checked that `size` (and
  // `alignment`, 0 when the delete has none) is what the block was allocated for.
  void deallocate_sized(ThreadCache& cache, void* block, std::size_t size, std::size_t alignment,
                        Family family) noexcept;

  std::size_t usable_size(const void* block) const noexcept;

  // Pure: the Node's lookup (back-pointer, header, node slot), and the class; writes nothing.
  static BlockInfo lookup(const void* block) noexcept;

  // Collects remote frees into dormant caches, returns empty slabs, discards dirty pages, unmaps
  // empty chunks (pool.h's policy, all at once), the large mappings the hardening layer holds
  // back and those the mapping cache keeps.
  void release_free_memory() noexcept;

  Statistics statistics() noexcept;
  HeapUsage usage() noexcept;
  ValidationResult validate() noexcept;

  std::size_t memory_limit() const noexcept { return source_.limit(); }

  // fork(): lock everything before, unlock after (both parent and child).
  void lock_for_fork() noexcept;
  void unlock_after_fork() noexcept;

 private:
  // The block goes back, after the pointer check.
  void release(ThreadCache& cache, void* block, Family family) noexcept {
    SlabHeader* header = SlabNode::lookup(SlabHeader::kNodePosition, block).header;
    Hardening::on_free(block, family);
    const unsigned class_index = header->class_index();
    if (class_index < kClassCount) [[likely]] {
      const std::size_t usable = size_class(class_index).usable;
      canary::check_slab(block, usable);
      mark_freed(block, usable);
      Hardening::on_slab_freed(block, usable);
      cache.deallocate_freed(block, class_index);
      return;
    }
    deallocate_large(header, block);
  }

  // A slab block that left a free list goes to the user.
  static void hand_out(void* block, std::size_t size, std::size_t usable, Family family) noexcept {
    Hardening::on_slab_hand_out(block, usable, family);
    canary::arm_slab(block, size, usable);
    mark_live(block, size, usable);
  }
  // A fresh large block with `room` bytes to its end goes to the user.
  static void hand_out_large(void* block, std::size_t size, std::size_t room, Family family) noexcept {
    Hardening::on_large_hand_out(block, family);
    canary::arm_large(*SlabNode::header_of(block), block, size, room);
    mark_live(block, size, room);
  }

  static void mark_live(void* block, std::size_t size, std::size_t usable) noexcept {
    mark_allocated(block, size);
    if (usable > size) mark_no_access(static_cast<std::byte*>(block) + size, usable - size);
  }
  // The usable bytes of a block whose header is `header`; unchecked (usable_size() checks). With
  // kCanaries, the requested size; else its room.
  static std::size_t usable_of(const SlabHeader& header, const void* block) noexcept;
  // The bytes a block occupies: its class's usable size, or a large block's bytes to the end of
  // its mapping (or guard page).
  static std::size_t room_of(const SlabHeader& header, const void* block) noexcept;
  void* allocate_large(std::size_t size, std::size_t alignment, Family family, bool zeroed = false) noexcept;
  void deallocate_large(SlabHeader* header, void* block) noexcept;

  MemorySource source_;
  Pool pool_;
  LargeBlocks large_;
  Hardening hardening_;
  Mutex caches_mutex_;
  ThreadCache* caches_ = nullptr;
};

}  // namespace nodealloc
