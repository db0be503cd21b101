// The hardening layer: every mitigation of base/mitigations.h, behind one interface the heap
// calls at fixed points of its paths. Each call compiles to nothing when its mitigation is off,
// so with -Dhardening=none the allocator's paths are exactly the unhardened ones.
//
//   path                 call                        mitigations
//   free-list push, pop  free_link::store / next     kEncodedFreeLinks, kFreeListCheck (cache/)
//   carve                block_state::seal_free      kBackPointerChecksum (cache/ seals what it carves)
//   malloc (slab)        on_slab_hand_out            kEncodedFreeLinks (clears the link), kDoubleFree
//                                                    and kFamilyCheck (set the state), kFreeListCheck
//                                                    and kBackPointerChecksum (check it), kFreedFill
//   malloc (large)       on_large_hand_out           kDoubleFree, kFamilyCheck (seal the fresh word)
//   free                 check_pointer(block)        kPointerCheck, before anything is read at it
//   free                 on_free(block, family)      kDoubleFree, kFamilyCheck
//   free (slab), carve   on_slab_freed / fill        kFreedFill (cache/ fills what it carves)
//   free (slab), last    Quarantine::admit           kQuarantine (each thread cache holds one)
//   malloc, realloc      canary::arm_slab / _large   kCanaries (the heap arms the slack after the request)
//   free                 canary::check_slab / _large kCanaries (and checks it)
//   sized delete, free   check_sized_delete(...)     kSizedDeleteCheck (sized delete, C23 free_sized)
//   realloc, usable_size check_live(block)           kPointerCheck + kDoubleFree: a freed block is invalid
//   large malloc / free  on_large_allocated / _freed kPointerCheck: the table of live large blocks;
//                                                    kDoubleFree: freed mappings held back a while
//   validate()           is_live(block)              the oracle's view of the live bit
//
// Where things are: secret.h (the key), free_link.h (encoded, checked free-list links),
// block_state.h (the sealed state: live bit, family, checksum), live_table.h (live large blocks),
// quarantine.h (freed blocks held back from reuse), canary.h (the slack after the request), this
// file's .cc (the pointer check). The chunk
// registry the pointer check asks first is the pool's
// (pool/chunk_registry.h): it must know every chunk the moment it is mapped.
//
// Layer: above pool/ (it reads chunks, slab headers and size classes), below cache/ (whose free
// lists use free_link.h) and heap/ (which calls this interface); large/ never calls it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>  // std::lock_guard

#include "base/config.h"
#include "base/mitigations.h"
#include "base/mutex.h"
#include "base/report.h"
#include "hardening/block_state.h"
#include "hardening/call_site.h"
#include "hardening/canary.h"
#include "hardening/free_link.h"
#include "hardening/freed_fill.h"
#include "hardening/live_table.h"
#include "pool/chunk.h"
#include "pool/chunk_registry.h"
#include "pool/memory_source.h"

namespace nodealloc {

class Hardening {
 public:
  explicit Hardening(MemorySource& source) : source_(source), live_large_(source) {}
  ~Hardening();
  Hardening(const Hardening&) = delete;
  Hardening& operator=(const Hardening&) = delete;

  // A slab block of `usable` bytes has just left a free list and is handed out by a call of
  // `family`: it must be sealed free, and its fill whole (kFreedFill).
  static void on_slab_hand_out(void* block, std::size_t usable, Family family) noexcept {
    free_link::clear(block);
    block_state::on_hand_out(block, family);
    freed_fill::check(block, usable);
  }
  // A fresh large block is handed out by a call of `family`.
  static void on_large_hand_out(void* block, Family family) noexcept { block_state::on_fresh_hand_out(block, family); }
  // A slab block came back and passed on_free; fill it before it joins a free list.
  static void on_slab_freed(void* block, std::size_t usable) noexcept { freed_fill::fill(block, usable); }
  // A block comes back through a call of `family`, after check_pointer.
  static void on_free(void* block, Family family) noexcept { block_state::on_free(block, family); }
  static void check_family(const void* block, Family family) noexcept { block_state::check_family(block, family); }

  // kSizedDeleteCheck: `size` (and `alignment`, 0 for none) must be what a block of this class
  // (or this large block, `usable` bytes) is made for. `family`: the sized release's (a sized
  // delete, or C23's free_sized for kMalloc), which names the error.
  void check_sized_delete(const void* block, std::size_t size, std::size_t alignment, unsigned class_index,
                          std::size_t usable, Family family) noexcept {
    if constexpr (enabled(Mitigation::kSizedDeleteCheck)) {
      check_sized_delete_slow(block, size, alignment, class_index, usable, family);
    }
  }
  static bool is_live(const void* block) noexcept { return block_state::is_live(block); }

  // kPointerCheck: returns only when `block` is a block nodealloc handed out (live or free: the
  // live bit tells those apart); reports anything else. Reads nothing at `block` before knowing
  // it lies in nodealloc's memory.
  void check_pointer(const void* block) noexcept {
    if constexpr (enabled(Mitigation::kPointerCheck)) check_pointer_checked(block, FatalError::kDoubleFree);
  }

  // check_pointer, and a slab block must also be live: a freed one is reported as `if_free`.
  void check_live(const void* block, FatalError if_free) noexcept {
    if constexpr (enabled(Mitigation::kPointerCheck)) check_live_slow(block, if_free);
  }

  // False when the table of live large blocks cannot grow (out of memory): the caller gives the
  // block back and answers the request with NULL.
  bool on_large_allocated(const void* block, const void* header) noexcept {
    if constexpr (!enabled(Mitigation::kPointerCheck)) return true;
    std::lock_guard<Mutex> lock(mutex_);
    return live_large_.insert(reinterpret_cast<std::uintptr_t>(block), reinterpret_cast<std::uintptr_t>(header));
  }

  // A large block was freed and its mapping [mapping, mapping + length) taken off the live list.
  // kDoubleFree holds the mapping back (hold_back below) and returns true; false means the caller
  // unmaps it now.
  bool on_large_freed(const void* block, void* mapping, std::size_t length) noexcept;
  // Unmaps every held-back mapping (release_free_memory: the program asked for everything back).
  // A second free of one of those blocks then reads as an invalid free.
  void release_held_back() noexcept;

  // For fork(): held across the fork with the allocator's other locks.
  Mutex& mutex() noexcept { return mutex_; }

 private:
  // The pointer check, inline for slab blocks (the common case: a registry bit, a page-table
  // load, a multiply), out of line for the rest. `if_recently_freed`: the error for a large block
  // freed lately (a double free when freeing).
  void check_pointer_checked(const void* block, FatalError if_recently_freed) noexcept {
    if (!chunk_registry::contains(block)) [[unlikely]] return check_large_pointer(block, if_recently_freed);
    const SlabHeader* header = slab_containing(block);
    if (header == nullptr) [[unlikely]] report_not_in_a_slab(block);
    if (!slab_position(*header, block).is_block) [[unlikely]] report_not_a_block_start(block, *header);
    if (SlabNode::header_of(block) != header) [[unlikely]] report_corrupted_back_pointer(block);
  }
  [[gnu::noinline]] void check_large_pointer(const void* block, FatalError if_recently_freed) noexcept;
  [[noreturn, gnu::cold, gnu::noinline]] static void report_not_in_a_slab(const void* block) noexcept;
  [[noreturn, gnu::cold, gnu::noinline]] static void report_not_a_block_start(const void* block,
                                                                             const SlabHeader& header) noexcept;
  [[noreturn, gnu::cold, gnu::noinline]] static void report_corrupted_back_pointer(const void* block) noexcept;
  [[gnu::noinline]] void check_live_slow(const void* block, FatalError if_free) noexcept;
  [[gnu::noinline]] static void check_sized_delete_slow(const void* block, std::size_t size, std::size_t alignment,
                                                        unsigned class_index, std::size_t usable,
                                                        Family family) noexcept;
  // What a pointer outside every chunk is: a live large block (and its header), one freed lately,
  // or neither.
  enum class LargeState { kLive, kRecentlyFreed, kUnknown };
  // `sites`: a block freed lately's call sites (kCallSites).
  LargeState large_state(const void* block, std::uintptr_t* header, call_site::Sites* sites) noexcept;

  // The last kHeldBack large blocks freed (kDoubleFree), their mappings held back as inaccessible
  // address space (MemorySource::hold): nothing can be mapped at a held address, so a second free
  // of one is named a double free, even if a new large block of the same size came since (it
  // went elsewhere), and a use after free faults. The oldest is unmapped when a new one comes;
  // a double free after that, once its address may have been mapped again for a new block,
  // cannot be told from a valid free. Cost: kHeldBack mappings of address space (64 by default:
  // base/config.h), no memory, and two system calls per large free (discard, protect) besides
  // the unmap, which comes later.
  struct HeldBack {
    std::uintptr_t block = 0;
    void* mapping = nullptr;
    std::size_t length = 0;
    call_site::Sites sites;  // kCallSites: its header is out of reach once held
  };
  static constexpr unsigned kHeldBack = Config::kHeldBackLargeBlocks;
  static void unmap_held(MemorySource& source, HeldBack held) noexcept;

  MemorySource& source_;
  Mutex mutex_;
  LiveTable live_large_;
  HeldBack held_back_[kHeldBack];
  unsigned next_held_ = 0;
};

}  // namespace nodealloc
