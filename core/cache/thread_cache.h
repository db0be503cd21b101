// ThreadCache: one thread's free lists, and the slabs it owns. The fast path lives here.
//
// Per size class a cache holds
//   - a free list of blocks (LIFO, linked through each free block's first word, encoded and
//     checked by hardening/free_link.h): malloc pops, free pushes, no lock, no atomic. A free that takes it past limit(class) flushes half of it;
//     a refill may make it longer than the limit, since it takes a slab's whole free list at once;
//   - the slab it is carving ("current": a refill takes its whole local free list, else carves a
//     batch of fresh buffers, smaller for a cache's first carves of a class, base/config.h's slow
//     start, so a class it barely uses touches a page, not a batch) and a list of other owned
//     slabs that have free blocks ("partial", a SlabList: header words 7 and 8, word 7 the seed's
//     free link), among them at most Config::kKeptEmptySlabsPerClass empty slabs per class, kept
//     to absorb churn.
//
// A block freed into a cache may belong to any slab, of any owner. When a list grows past its
// limit, half of it is flushed: blocks of slabs this cache owns go onto the slab's local free list;
// blocks of other owners go back to their owner through the slab's remote free list.
//
// Cross-thread frees, lock-free. A slab's remote list and each cache's "notified" stack of slabs
// are Treiber stacks that many threads push onto (CAS on the head) and only the owner empties, by
// exchanging the head with null. Such a stack has no ABA problem: a push's CAS only needs the head
// to still be the value it linked its node to, which is exactly what it compares; a pop-one (the
// operation ABA breaks, where the head's next pointer may be stale) never happens. A pusher that
// makes a slab's remote list non-empty also pushes the slab onto its owner's notified stack, so
// the owner finds remote frees without scanning its slabs; the owner empties a slab's remote list
// only after taking the slab off that stack, so a slab is never on the stack twice.
//
// With kQuarantine (full preset) a cache also holds a quarantine (hardening/quarantine.h): a
// block the user frees waits there, and reaches the free list above only when a later free evicts
// it, at random, or when the cache is flushed. Without it the member has no bytes and a free goes
// straight to the list.
//
// Lifetime: caches are never unmapped while their allocator lives. A thread's cache is released
// at thread exit (flushed, its empty slabs returned) and later claimed by another thread with its
// remaining slabs, so blocks freed into a dead thread's slabs are reclaimed, and a remote pusher
// never touches freed memory.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "base/fault_injection.h"
#include "hardening/block_state.h"
#include "hardening/free_link.h"
#include "hardening/freed_fill.h"
#include "hardening/quarantine.h"
#include "pool/pool.h"
#include "pool/slab.h"
#include "pool/slab_list.h"
#include "size_class/size_classes.h"

namespace nodealloc {

struct FreeList {
  void* head = nullptr;
  std::uint32_t count = 0;
  std::uint32_t limit = 0;  // the class's cache_limit, copied here to save a load on free()
};

constexpr std::uint32_t refill_batch(unsigned class_index) { return size_class(class_index).refill_batch; }
constexpr std::uint32_t list_limit(unsigned class_index) { return size_class(class_index).cache_limit; }

class ThreadCache {
 public:
  explicit ThreadCache(Pool& pool) : pool_(pool) {
    for (unsigned c = 0; c < kClassCount; ++c) lists_[c].limit = list_limit(c);
  }
  ThreadCache(const ThreadCache&) = delete;
  ThreadCache& operator=(const ThreadCache&) = delete;

  // A block of the class, or nullptr when no memory can be had. Not yet marked allocated.
  void* allocate(unsigned class_index) noexcept {
    FreeList& list = lists_[class_index];
    void* block = list.head;
    if (block != nullptr) [[likely]] {
      list.head = free_link::next(block, class_index);
      --list.count;
      return block;
    }
    return refill_and_allocate(class_index);
  }

  // Takes back a block of the class (any owner's).
  void deallocate(void* block, unsigned class_index) noexcept {
    FreeList& list = lists_[class_index];
    free_link::store(block, NODEALLOC_FAULT(lost_free_link) ? nullptr : list.head);
    list.head = block;
    if (++list.count > list.limit) [[unlikely]] flush(class_index, list.count / 2);
  }

  // Takes back a block the user has just freed (not live, filled, poisoned): through the
  // quarantine, which gives it or an older resident to deallocate().
  void deallocate_freed(void* block, unsigned class_index) noexcept {
    quarantine_.admit(block, class_index, [this](void* leaving, unsigned c) { deallocate(leaving, c); });
  }

  // Every quarantined block onto its free list now.
  void drain_quarantine() noexcept {
    quarantine_.drain([this](void* leaving, unsigned c) { deallocate(leaving, c); });
  }

  // Everything back: every quarantined and cached block to its slab, remote frees collected, empty owned slabs to
  // the pool. What stays owned is slabs with live blocks.
  void flush_all() noexcept;

  // Moves blocks other threads freed into this cache's slabs onto the slabs' local lists.
  void collect_remote_frees() noexcept;

  const FreeList& list(unsigned class_index) const noexcept { return lists_[class_index]; }
  SlabHeader* current_slab(unsigned class_index) const noexcept { return current_[class_index]; }
  SlabHeader* partial_slabs(unsigned class_index) const noexcept { return partial_[class_index].front(); }
  const CacheQuarantine& quarantine() const noexcept { return quarantine_; }

  // Pushes the chain first..last (linked through the blocks' first words) onto the remote free
  // list of their slab, owned by another cache. Any thread.
  static void free_to_remote_slab(SlabHeader* header, void* first, void* last, std::uint32_t count) noexcept;

  // For the allocator's registry of caches.
  std::atomic<bool> claimed{false};
  ThreadCache* next_cache = nullptr;

 private:
  void* refill_and_allocate(unsigned class_index) noexcept;
  void flush(unsigned class_index, std::uint32_t count) noexcept;
  void give_back_to_own_slab(SlabHeader* header, void* first, void* last, std::uint32_t count) noexcept;
  void slab_gained_free_blocks(SlabHeader* header, unsigned class_index) noexcept;
  std::uint32_t take_blocks(SlabHeader* header, unsigned class_index) noexcept;

  Pool& pool_;
  FreeList lists_[kClassCount];
  SlabHeader* current_[kClassCount] = {};
  SlabList partial_[kClassCount];
  std::uint8_t carves_[kClassCount] = {};  // carves so far, counted up to Config::kSlowStartSteps
  std::uint8_t empty_slabs_[kClassCount] = {};  // slabs on partial_ with no block out: up to Config::kKeptEmptySlabsPerClass
  std::atomic<SlabHeader*> notified_{nullptr};
  [[no_unique_address]] CacheQuarantine quarantine_;
};

}  // namespace nodealloc
