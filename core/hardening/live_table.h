// LiveTable: the live large blocks, for kPointerCheck (base/mitigations.h): each block's address
// and the address of its header. free() of a pointer outside every chunk is valid only if it is
// in here, and only if its back-pointer still names the header recorded here (a corrupted
// back-pointer of a large block is reported, never followed). Open addressing with linear probing
// and backward-shift deletion (no tombstones), at most half full, its array mapped from the
// allocator's MemorySource. Not thread-safe: Hardening holds its lock around it.
//
// The keys are block addresses: to memcheck (-Dvalgrind=true) the array is no-access between
// calls, each call opening a MetadataAccess window over it (base/sanitizer.h), so that its words do
// not make a leaked large block "still reachable" to --leak-check.
#pragma once

#include <cstddef>
#include <cstdint>

#include "base/sanitizer.h"
#include "platform/platform.h"
#include "pool/memory_source.h"

namespace nodealloc {

class LiveTable {
 public:
  explicit LiveTable(MemorySource& source) : source_(source) {}
  ~LiveTable() {
    if (slots_ != nullptr) source_.unmap(slots_, capacity_ * sizeof(Slot));
  }
  LiveTable(const LiveTable&) = delete;
  LiveTable& operator=(const LiveTable&) = delete;

  // False when the table cannot grow (out of memory). `key` is not zero.
  bool insert(std::uintptr_t key, std::uintptr_t value) noexcept {
    if ((count_ + 1) * 2 > capacity_ && !grow()) return false;
    const MetadataAccess window(slots_, capacity_ * sizeof(Slot));
    place(key, value);
    return true;
  }

  // The value recorded with `key`, or 0 when it is not in the table.
  std::uintptr_t find(std::uintptr_t key) const noexcept {
    if (slots_ == nullptr) return 0;
    const MetadataAccess window(slots_, capacity_ * sizeof(Slot));
    for (std::size_t i = slot_of(key); slots_[i].key != 0; i = (i + 1) & (capacity_ - 1)) {
      if (slots_[i].key == key) return slots_[i].value;
    }
    return 0;
  }

  void erase(std::uintptr_t key) noexcept {
    if (slots_ == nullptr) return;
    const MetadataAccess window(slots_, capacity_ * sizeof(Slot));
    std::size_t i = slot_of(key);
    while (slots_[i].key != key) {
      if (slots_[i].key == 0) return;
      i = (i + 1) & (capacity_ - 1);
    }
    // Backward shift: move later entries of the probe run into the hole when that keeps them
    // reachable from their home slot.
    for (std::size_t j = (i + 1) & (capacity_ - 1); slots_[j].key != 0; j = (j + 1) & (capacity_ - 1)) {
      const std::size_t home = slot_of(slots_[j].key);
      const bool hole_between = i <= j ? (home <= i || home > j) : (home <= i && home > j);
      if (hole_between) {
        slots_[i] = slots_[j];
        i = j;
      }
    }
    slots_[i] = {0, 0};
    --count_;
  }

 private:
  struct Slot {
    std::uintptr_t key;
    std::uintptr_t value;
  };

  std::size_t slot_of(std::uintptr_t key) const noexcept {
    return static_cast<std::size_t>((key >> 4) * 0x9e3779b97f4a7c15ULL >> 20) & (capacity_ - 1);
  }

  // Inside a window over the array, with room for one more.
  void place(std::uintptr_t key, std::uintptr_t value) noexcept {
    std::size_t i = slot_of(key);
    while (slots_[i].key != 0) i = (i + 1) & (capacity_ - 1);
    slots_[i] = {key, value};
    ++count_;
  }

  bool grow() noexcept {
    const std::size_t capacity = capacity_ == 0 ? page_size() / sizeof(Slot) : 2 * capacity_;
    auto* slots = static_cast<Slot*>(source_.map(capacity * sizeof(Slot), page_size()));
    if (slots == nullptr) return false;
    Slot* old_slots = slots_;
    const std::size_t old_capacity = capacity_;
    slots_ = slots;
    capacity_ = capacity;
    count_ = 0;
    {
      const MetadataAccess old_window(old_slots, old_capacity * sizeof(Slot));
      const MetadataAccess new_window(slots_, capacity_ * sizeof(Slot));
      for (std::size_t i = 0; i < old_capacity; ++i) {
        if (old_slots[i].key != 0) place(old_slots[i].key, old_slots[i].value);
      }
    }
    if (old_slots != nullptr) source_.unmap(old_slots, old_capacity * sizeof(Slot));
    return true;
  }

  MemorySource& source_;
  Slot* slots_ = nullptr;
  std::size_t capacity_ = 0;
  std::size_t count_ = 0;
};

}  // namespace nodealloc
