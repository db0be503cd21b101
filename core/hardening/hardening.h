// The hardening layer: every mitigation of base/mitigations.h, behind one interface the heap
// calls at fixed points of its paths. Each call compiles to nothing when its mitigation is off,
// so with -Dhardening=none the allocator's paths are exactly the unhardened ones.
//
//   path                 call                        mitigations
//   free-list push, pop  free_link::store / next     kEncodedFreeLinks, kFreeListCheck (cache/)
//   malloc (any block)   on_hand_out(block, family)  kEncodedFreeLinks (clears the link), kDoubleFree
//                                                    and kFamilyCheck (set the state), kFreeListCheck
//   free                 check_pointer(block)        kPointerCheck, before anything is read at it
//   free                 on_free(block, family)      kDoubleFree, kFamilyCheck
//   free (slab), carve   on_slab_freed / fill        kFreedFill (cache/ fills what it carves)
//   malloc (slab)        on_slab_hand_out            kFreedFill (checks the fill)
//   free (slab), last    Quarantine::admit           kQuarantine (each thread cache holds one)
//   sized delete         check_sized_delete(...)     kSizedDeleteCheck
//   realloc, usable_size check_live(block)           kPointerCheck + kDoubleFree: a freed block is invalid
//   large malloc / free  on_large_allocated / _freed kPointerCheck: the table of live large blocks
//   validate()           is_live(block)              the oracle's view of the live bit
//
// Where things are: free_link.h (encoded, checked free-list links), block_state.h (the live
// bit), live_table.h (live large blocks), quarantine.h (freed blocks held back from reuse), this
// file's .cc (the pointer check). The chunk registry the pointer check asks first is the pool's
// (pool/chunk_registry.h): it must know every chunk the moment it is mapped.
//
// Layer: above pool/ (it reads chunks, slab headers and size classes), below cache/ (whose free
// lists use free_link.h) and heap/ (which calls this interface); large/ never calls it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>

#include "base/mitigations.h"
#include "base/report.h"
#include "hardening/block_state.h"
#include "hardening/free_link.h"
#include "hardening/freed_fill.h"
#include "hardening/live_table.h"
#include "pool/memory_source.h"

namespace nodealloc {

class Hardening {
 public:
  explicit Hardening(MemorySource& source) : live_large_(source) {}
  Hardening(const Hardening&) = delete;
  Hardening& operator=(const Hardening&) = delete;

  // A block (slab or large) is handed out by a call of `family`; a slab block has just left a
  // free list.
  static void on_hand_out(void* block, Family family) noexcept {
    free_link::clear(block);
    block_state::on_hand_out(block, family);
  }
  // The same, for a slab block of `usable` bytes: its fill must be whole (kFreedFill).
  static void on_slab_hand_out(void* block, std::size_t usable, Family family) noexcept {
    on_hand_out(block, family);
    freed_fill::check(block, usable);
  }
  // A slab block came back and passed on_free; fill it before it joins a free list.
  static void on_slab_freed(void* block, std::size_t usable) noexcept { freed_fill::fill(block, usable); }
  // A block comes back through a call of `family`, after check_pointer.
  static void on_free(void* block, Family family) noexcept { block_state::on_free(block, family); }
  static void check_family(const void* block, Family family) noexcept { block_state::check_family(block, family); }

  // kSizedDeleteCheck: `size` (and `alignment`, 0 for none) must be what a block of this class
  // (or this large block, `usable` bytes) is made for.
  void check_sized_delete(const void* block, std::size_t size, std::size_t alignment, unsigned class_index,
                          std::size_t usable) noexcept {
    if constexpr (enabled(Mitigation::kSizedDeleteCheck)) {
      check_sized_delete_slow(block, size, alignment, class_index, usable);
    }
  }
  static bool is_live(const void* block) noexcept { return block_state::is_live(block); }

  // kPointerCheck: returns only when `block` is a block nodealloc handed out (live or free: the
  // live bit tells those apart); reports anything else. Reads nothing at `block` before knowing
  // it lies in nodealloc's memory.
  void check_pointer(const void* block) noexcept {
    if constexpr (enabled(Mitigation::kPointerCheck)) check_pointer_slow(block);
  }

  // check_pointer, and a slab block must also be live: a freed one is reported as `if_free`.
  void check_live(const void* block, FatalError if_free) noexcept {
    if constexpr (enabled(Mitigation::kPointerCheck)) check_live_slow(block, if_free);
  }

  // False when the table of live large blocks cannot grow (out of memory): the caller gives the
  // block back and answers the request with NULL.
  bool on_large_allocated(const void* block, const void* header) noexcept {
    if constexpr (!enabled(Mitigation::kPointerCheck)) return true;
    std::lock_guard<std::mutex> lock(mutex_);
    forget_recently_freed(reinterpret_cast<std::uintptr_t>(block));
    return live_large_.insert(reinterpret_cast<std::uintptr_t>(block), reinterpret_cast<std::uintptr_t>(header));
  }

  void on_large_freed(const void* block) noexcept {
    if constexpr (!enabled(Mitigation::kPointerCheck)) return;
    std::lock_guard<std::mutex> lock(mutex_);
    live_large_.erase(reinterpret_cast<std::uintptr_t>(block));
    recently_freed_[next_recent_++ % kRecentlyFreed] = reinterpret_cast<std::uintptr_t>(block);
  }

  // For fork(): held across the fork with the allocator's other locks.
  std::mutex& mutex() noexcept { return mutex_; }

 private:
  // `if_recently_freed`: the error for a large block freed lately (a double free when freeing).
  [[gnu::noinline]] void check_pointer_slow(const void* block,
                                            FatalError if_recently_freed = FatalError::kDoubleFree) noexcept;
  [[gnu::noinline]] void check_live_slow(const void* block, FatalError if_free) noexcept;
  [[gnu::noinline]] static void check_sized_delete_slow(const void* block, std::size_t size, std::size_t alignment,
                                                        unsigned class_index, std::size_t usable) noexcept;
  // What a pointer outside every chunk is: a live large block (and its header), one freed lately,
  // or neither.
  enum class LargeState { kLive, kRecentlyFreed, kUnknown };
  LargeState large_state(const void* block, std::uintptr_t* header) noexcept;
  void forget_recently_freed(std::uintptr_t block) noexcept {
    for (std::uintptr_t& entry : recently_freed_) {
      if (entry == block) entry = 0;
    }
  }

  // The addresses of the last kRecentlyFreed large blocks freed, so that freeing one again is
  // named a double free, not an invalid free. An address mapped again for a new large block
  // leaves the list: freeing that one is valid (and a second free of the old one, after the
  // address was reused, cannot be told from it: the block is live again).
  static constexpr unsigned kRecentlyFreed = 64;

  std::mutex mutex_;
  LiveTable live_large_;
  std::uintptr_t recently_freed_[kRecentlyFreed] = {};
  unsigned next_recent_ = 0;
};

}  // namespace nodealloc
