// Quarantine (kQuarantine, the full preset): freed slab blocks wait here, one quarantine per
// thread cache, before they go back to the cache's free lists, and they leave in random order.
//
//   slots_[0 .. count_)   {block, class index}: the residents, in no particular order
//   bytes_                the residents' usable bytes, summed
//   limit_                the byte bound: the run-time option quarantine_size (0: no quarantine)
//   random_               xorshift64* state, seeded per quarantine from base/entropy.h
//
// Invariants: count_ <= Config::kQuarantineSlots and bytes_ <= limit_ (a block larger than the
// bound is never admitted: it goes straight to the cache). A resident is a freed slab block: not
// live (on_free cleared the bit before it came), filled (kFreedFill) and poisoned (mark_freed), on
// no free list, and counted as used by its slab, as a block on a cache list is; statistics() and
// validate() read the residents through for_each(). Nothing here reads or writes block memory: a
// resident's link word is written only when it leaves, by the cache's own free-list code.
//
// Admission: in a full quarantine the new block takes the slot of a resident chosen at random,
// which leaves, for real, through `free_block` (the cache's deallocate); otherwise residents
// chosen at random leave while the quarantine is out of slots or the new block's bytes would pass
// the bound, and the new block takes the next slot. Either way the block just freed is not the
// one that leaves (unless it is larger than the whole bound: then it is not held back at all),
// so it is not handed out next, and the order in which freed blocks come back
// does not follow the order they were freed in.
//
// The owning cache's thread is the only one that touches a quarantine (statistics() and
// validate() read it when no other thread is inside the allocator), so nothing here is atomic.
// A cache drains its quarantine when it is flushed (thread exit, release_free_memory).
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "base/config.h"
#include "base/mitigations.h"
#include "size_class/size_classes.h"

namespace nodealloc {

class Quarantine {
 public:
  static constexpr unsigned kSlots = Config::kQuarantineSlots;

  // Reads the byte bound (quarantine_size) and seeds the eviction order.
  Quarantine() noexcept;
  Quarantine(const Quarantine&) = delete;
  Quarantine& operator=(const Quarantine&) = delete;

  // Takes a freed block of the class; whatever must leave to make room goes to
  // free_block(block, class_index), which may be the new block itself only when it is larger
  // than the whole bound.
  template <class FreeBlock>
  void admit(void* block, unsigned class_index, FreeBlock&& free_block) noexcept {
    const std::size_t usable = size_class(class_index).usable;
    if (count_ == kSlots) [[likely]] {
      // The steady state: the new block takes a random resident's slot, and that one leaves,
      // unless it is smaller and the bytes would pass the bound.
      Slot& slot = slots_[random_below(kSlots)];
      const std::size_t leaving_usable = size_class(slot.class_index).usable;
      if (bytes_ - leaving_usable + usable <= limit_) [[likely]] {
        const Slot leaving = slot;
        slot = {block, class_index};
        bytes_ = bytes_ - leaving_usable + usable;
        return free_block(leaving.block, leaving.class_index);
      }
    }
    admit_by_evicting(block, class_index, usable, free_block);
  }

  // Every resident leaves through free_block(block, class_index).
  template <class FreeBlock>
  void drain(FreeBlock&& free_block) noexcept {
    while (count_ > 0) {
      const Slot slot = slots_[--count_];
      bytes_ -= size_class(slot.class_index).usable;
      free_block(slot.block, slot.class_index);
    }
  }

  // visit(block, class_index) for every resident.
  template <class Visit>
  void for_each(Visit&& visit) const noexcept {
    for (unsigned i = 0; i < count_; ++i) visit(slots_[i].block, slots_[i].class_index);
  }

  unsigned count() const noexcept { return count_; }
  std::size_t bytes() const noexcept { return bytes_; }
  std::size_t limit() const noexcept { return limit_; }

 private:
  struct Slot {
    void* block;
    unsigned class_index;
  };

  // Uniform enough over [0, bound) for bound <= kSlots: the top 32 bits, scaled.
  unsigned random_below(unsigned bound) noexcept {
    random_ ^= random_ >> 12;
    random_ ^= random_ << 25;
    random_ ^= random_ >> 27;
    const std::uint64_t word = random_ * 0x2545f4914f6cdd1dULL;
    return static_cast<unsigned>(((word >> 32) * bound) >> 32);
  }

  // Residents chosen at random leave until the new block fits, which then takes the last slot.
  // Out of line: the steady state above is the path every free takes.
  template <class FreeBlock>
  [[gnu::noinline]] void admit_by_evicting(void* block, unsigned class_index, std::size_t usable,
                                           FreeBlock& free_block) noexcept {
    if (usable > limit_) return free_block(block, class_index);  // it could never fit: not held back
    while (count_ == kSlots || bytes_ + usable > limit_) {
      const unsigned index = random_below(count_);
      const Slot leaving = slots_[index];
      slots_[index] = slots_[--count_];
      bytes_ -= size_class(leaving.class_index).usable;
      free_block(leaving.block, leaving.class_index);
    }
    slots_[count_++] = {block, class_index};
    bytes_ += usable;
  }

  unsigned count_ = 0;
  std::size_t bytes_ = 0;
  std::size_t limit_;
  std::uint64_t random_;
  Slot slots_[kSlots];  // only [0, count_) is ever read
};

// What a thread cache holds when kQuarantine is off: no bytes (as a [[no_unique_address]]
// member), and a free goes straight through.
struct NoQuarantine {
  template <class FreeBlock>
  static void admit(void* block, unsigned class_index, FreeBlock&& free_block) noexcept {
    free_block(block, class_index);
  }
  template <class FreeBlock>
  static void drain(FreeBlock&&) noexcept {}
  template <class Visit>
  static void for_each(Visit&&) noexcept {}
  static unsigned count() noexcept { return 0; }
  static std::size_t bytes() noexcept { return 0; }
};

using CacheQuarantine = std::conditional_t<enabled(Mitigation::kQuarantine), Quarantine, NoQuarantine>;

}  // namespace nodealloc
