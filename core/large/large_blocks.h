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
//
// The mapping cache: a freed block's mapping may be kept, whole and still backed, for a later
// block, so that a program that frees and allocates large blocks in a loop pays neither an
// mmap/munmap pair nor the page faults of a fresh mapping each time. Bounds: at most kCacheSlots
// mappings and `cache_bytes` in all, none longer than kMaxKeptLength (a longer one goes back to
// the OS at once); the oldest leaves first, so a kept mapping lives at most kCacheSlots later
// frees. The length bound is about resident memory: a kept mapping stays backed, and nothing
// ages it out but later large frees, so one big buffer freed early would stay resident for the
// rest of a program's run (sqlite's workload: a buffer realloc doubles from 80 KiB to 10 MiB, freed,
// kept until exit). 8 MiB keeps every block of bench/large_blocks (64 KiB-4 MiB) in reach. For
// the same reason the pool trades kept mappings for the chunks it maps (give_back below). A request takes the smallest kept mapping
// that holds it (and is aligned as it needs), cut to what a fresh mapping would be, the part cut
// off kept as a mapping of its own; when none holds it, and its alignment is a page, it grows the
// biggest kept one (MemorySource::remap, mremap: the pages it had stay backed, only the added ones
// fault). Either way a block's mapping is as long as a fresh one, so its layout and room are
// exactly a fresh one's. 16 slots: on bench/large_blocks (README's "Large blocks") 8 slots took
// 427k page faults, 16 343k, and 32 289k but a peak RSS 13% above glibc's (16: 5% below).
// Kept mappings count against the memory limit (they stay mapped); a map() that fails empties
// the cache and tries once more, so a request is never refused for memory the cache holds.
// drain_cache() (na_release_free_memory, malloc_trim) gives them all back, and give_back() as many
// bytes as the pool is about to map for a chunk (pool/memory_source.h says why). A reused mapping holds
// old bytes: allocate() zeroes the block when asked (calloc), which writes pages already backed
// where a fresh mapping would fault. Off (0 bytes) in the hardened presets and with guard pages:
// a block placed in a reused mapping sits at the freed block's address with a live back-pointer,
// so a double free of the old pointer would free the new block unseen (kDoubleFree,
// kPointerCheck), and the guard page would be in the wrong place.
//
// Growth in place: realloc of a live block past its room grows the block's own mapping (grow(),
// mremap) to the length a fresh mapping for the new size would have, instead of mapping one and
// copying: a string builder that adds a few bytes a time then pays no copy, and its kept pages no
// new faults. The header page moves with the mapping when the OS moves it; grow() rewrites its
// data pointer, length and block (the back-pointer through the Node, as allocate() writes it) and
// relinks it, so the grown block's layout and room are exactly a fresh one's. Only for a block
// placed as malloc places it (kMinAlignment: a block aligned further sits deeper in its mapping,
// and C realloc owes it only malloc's alignment, which the copy gives), and only where the cache
// is on by default, for the same reason: in the hardened presets a block moved by mremap would
// need the table of live blocks, the held-back addresses and the guard page rewritten behind the
// hardening layer. A refused remap (the OS, or the memory limit, which counts the added bytes)
// changes nothing, and realloc copies as before.
#pragma once

#include <cstddef>
#include <mutex>  // std::lock_guard

#include "base/mitigations.h"
#include "base/mutex.h"
#include "pool/memory_source.h"
#include "pool/slab.h"
#include "pool/slab_list.h"

namespace nodealloc {

// The mapping cache's default bound: 64 MiB without double-free checks, else none (see above).
inline constexpr std::size_t kDefaultLargeCacheBytes =
    enabled(Mitigation::kDoubleFree) || enabled(Mitigation::kPointerCheck) ? 0 : std::size_t{64} << 20;
// Whether grow() grows live blocks: where the cache is on by default (see above).
inline constexpr bool kGrowsLiveLargeBlocks = kDefaultLargeCacheBytes > 0;

class LargeBlocks final : public KeptMemory {
 public:
  static constexpr unsigned kCacheSlots = 16;
  static constexpr std::size_t kMaxKeptLength = std::size_t{8} << 20;

  LargeBlocks(MemorySource& source, std::size_t cache_bytes) noexcept;
  ~LargeBlocks();
  LargeBlocks(const LargeBlocks&) = delete;
  LargeBlocks& operator=(const LargeBlocks&) = delete;

  // A whole mapping: what a large block gives back.
  struct Mapping {
    void* address;
    std::size_t length;
  };

  // A block of `size` bytes aligned to `alignment` (a power of two), or nullptr. Its first `size`
  // bytes are zero when `zeroed` (a fresh mapping is; a reused one is zeroed).
  void* allocate(std::size_t size, std::size_t alignment, bool zeroed = false) noexcept;
  // The live block at `block` (header `header`), grown to `size` bytes (more than its room) by
  // growing its mapping to a fresh block's length: its first bytes kept, the rest of its room as
  // a fresh block's. Returns the block, where it was or moved (its old address then unmapped), or
  // nullptr, with nothing changed, when the OS or the memory limit refuses, the block is not
  // placed as malloc places it, or kGrowsLiveLargeBlocks is off. The old block's annotation ends
  // (mark_freed) and the data area is annotated as a fresh one's; the caller hands the block out.
  void* grow(SlabHeader* header, void* block, std::size_t size) noexcept;
  // Gives the block's mapping back to the OS, bypassing the cache.
  void deallocate(SlabHeader* header) noexcept { unmap(retire(header)); }
  // Takes the block off the list of live blocks and returns its mapping, still mapped: the caller
  // gives it back (release, unmap) or holds it back (the hardening layer keeps freed addresses
  // unused a while).
  Mapping retire(SlabHeader* header) noexcept;
  // A retired mapping goes to the mapping cache, or back to the OS when the cache is off or the
  // mapping is too big for it; a mapping the cache pushes out goes back to the OS.
  void release(Mapping mapping) noexcept;
  // ASan forgets the mapping's poison, and it goes back to the OS.
  void unmap(Mapping mapping) noexcept;
  // Every kept mapping goes back to the OS. True when there was one.
  bool drain_cache() noexcept;
  // Kept mappings of at least `bytes` in all go back to the OS, oldest first (MemorySource asks,
  // before the pool maps a chunk).
  void give_back(std::size_t bytes) noexcept override;

  // Bytes usable from `block` to the end of its mapping (or to its guard page).
  static std::size_t usable_size(const SlabHeader& header, const void* block) noexcept;
  // The bytes of the guard page at the end of each mapping: a page with kLargeGuardPages, else 0.
  static std::size_t guard_bytes() noexcept;

  // Live large blocks and the bytes their mappings take, now and at their peak (malloc_stats
  // reports glibc's "max mmap regions"), and the mappings the cache keeps: read under the lock,
  // so any thread may ask.
  struct Counts {
    std::size_t blocks = 0;
    std::size_t bytes = 0;
    std::size_t peak_blocks = 0;
    std::size_t peak_bytes = 0;
    std::size_t kept_mappings = 0;
    std::size_t kept_bytes = 0;
  };
  Counts counts() noexcept {
    std::lock_guard<Mutex> lock(mutex_);
    Counts counts = counts_;
    counts.kept_mappings = kept_count_;
    counts.kept_bytes = kept_bytes_;
    return counts;
  }

  template <class Visitor>
  void for_each(Visitor&& visit) {
    std::lock_guard<Mutex> lock(mutex_);
    blocks_.for_each(visit);
  }

  Mutex& mutex() noexcept { return mutex_; }

 private:
  // A kept mapping of exactly `length` bytes at an address aligned to `alignment`, out of the
  // cache: one that holds it, cut to `length`, or a smaller one grown to it; or nullptr.
  void* take_kept(std::size_t length, std::size_t alignment) noexcept;
  // The length of a fresh mapping for a block of `size` bytes aligned to `alignment` (at least a
  // word): header page, room to align, the block, in whole pages, and the guard page. False when
  // it overflows.
  static bool mapping_length(std::size_t size, std::size_t alignment, std::size_t* length) noexcept;
  // Kept mappings of at least `bytes` in all (all of them for SIZE_MAX), oldest first, go back to
  // the OS; how many did. drain_cache() and give_back() both.
  unsigned unmap_oldest(std::size_t bytes) noexcept;
  // Takes kept_[index] out of the cache, under mutex_.
  Mapping remove_kept(unsigned index) noexcept;

  MemorySource& source_;
  const std::size_t cache_limit_;
  Mutex mutex_;
  SlabList blocks_;
  Counts counts_;  // under mutex_
  // The mapping cache, under mutex_: kept_[0, kept_count_), oldest first.
  Mapping kept_[kCacheSlots] = {};
  unsigned kept_count_ = 0;
  std::size_t kept_bytes_ = 0;
};

}  // namespace nodealloc
